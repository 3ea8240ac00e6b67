"""`lstmlm download`: fetch a dataset into the cache and verify it."""

from __future__ import annotations

import argparse

from .. import datasets

NAME = "download"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="fetch and verify a dataset")
    parser.add_argument("name", nargs="?", default="ptb", choices=sorted(datasets.DATASETS))
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    print(datasets.resolve(args.name))
