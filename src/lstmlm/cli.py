"""Command line: parses arguments and calls the library; every error is one line, exit 2."""

from __future__ import annotations

import argparse
import sys

from . import api, datasets
from .config import PRESETS, apply_overrides, get_preset
from .errors import LstmlmError
from .training import train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lstmlm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train_parser = commands.add_parser("train", help="train a model (or --resume a run)")
    train_parser.add_argument("--preset", default="small", help=f"one of {', '.join(PRESETS)}")
    train_parser.add_argument("--data", help="ptb (default), a folder with train/valid/test.txt, "
                                             "or one text file split 90/5/5 by lines")
    train_parser.add_argument("--seed", type=int)
    train_parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    train_parser.add_argument("--set", dest="overrides", action="append", default=[],
                              metavar="KEY=VALUE", help="override a config field (repeatable)")
    train_parser.add_argument("--runs-dir", default="runs", help="where new runs go (default runs/)")
    train_parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    train_parser.add_argument("--quiet", action="store_true", help="print nothing but the result")

    eval_parser = commands.add_parser("eval", help="perplexity of a trained run")
    eval_parser.add_argument("run_dir")
    eval_parser.add_argument("--split", default="test", choices=["train", "valid", "test"])
    eval_parser.add_argument("--data", help="evaluate on other data with the run's vocabulary")
    eval_parser.add_argument("--device")

    download_parser = commands.add_parser("download", help="fetch and verify a dataset")
    download_parser.add_argument("name", nargs="?", default="ptb", choices=sorted(datasets.DATASETS))

    commands.add_parser("presets", help="list the presets and their values")
    return parser


def run_train(args) -> None:
    if args.resume:
        if args.overrides or args.data or args.seed is not None or args.device:
            raise LstmlmError("--resume continues a run with its saved config; "
                              "drop --set/--data/--seed/--device")
        result = train(resume=args.resume, echo=None if args.quiet else print)
    else:
        overrides = {key: value for key, value in (("data", args.data), ("seed", args.seed),
                                                   ("device", args.device)) if value is not None}
        config = apply_overrides(get_preset(args.preset), args.overrides)
        config = apply_overrides(config, overrides)
        result = train(config, runs_dir=args.runs_dir, echo=None if args.quiet else print)
    print(f"run: {result.run_dir}")
    print(f"valid perplexity: {result.valid_perplexity:.3f}")
    print(f"test perplexity: {result.test_perplexity:.3f}")


def run_eval(args) -> None:
    model = api.load(args.run_dir, device=args.device)
    perplexity = model.evaluate(args.split, data=args.data)
    print(f"{args.split} perplexity: {perplexity:.3f}")


def run_presets(args) -> None:
    names = list(PRESETS)
    keys = list(PRESETS[names[0]])
    print("preset  " + " ".join(f"{key:>13}" for key in keys))
    for name in names:
        print(f"{name:<7} " + " ".join(f"{PRESETS[name][key]:>13.6g}" for key in keys))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"train": run_train, "eval": run_eval, "presets": run_presets,
                "download": lambda a: print(datasets.resolve(a.name))}
    try:
        handlers[args.command](args)
    except LstmlmError as error:
        print(f"lstmlm: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lstmlm: interrupted (a run continues with: lstmlm train --resume RUN_DIR)",
              file=sys.stderr)
        return 130
    return 0
