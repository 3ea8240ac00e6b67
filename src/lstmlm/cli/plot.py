"""`lstmlm plot`: the loss and perplexity curves of runs."""

from __future__ import annotations

import argparse

NAME = "plot"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="loss and perplexity curves of runs")
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("--out", default="curves.png")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    from ..plotting import plot_runs  # matplotlib is loaded only to draw

    print(plot_runs(args.run_dirs, args.out))
