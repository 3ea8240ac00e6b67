"""`lstmlm export`: a run's model folder (config, plan, vocabulary, weights, model card)."""

from __future__ import annotations

import argparse

from ..export import export
from .options import add_weights_option

NAME = "export"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="write a run's model folder (config, vocabulary, "
                                            "weights, model card)")
    parser.add_argument("run_dir")
    parser.add_argument("out_dir", help="a new (or empty) folder")
    add_weights_option(parser)
    parser.add_argument("--onnx", action="store_true",
                        help="also write model.onnx (needs: pip install -e \".[onnx]\")")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    print(export(args.run_dir, args.out_dir, weights=args.weights, onnx=args.onnx))
