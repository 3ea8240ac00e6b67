"""`lstmlm train`: train a preset (with --set changes) in a new run directory, or resume a run."""

from __future__ import annotations

import argparse

from .. import datasets
from ..config import apply_overrides
from ..errors import LstmlmError
from ..presets import PRESETS, get_preset

NAME = "train"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="train a model (or --resume a run)")
    parser.add_argument("--preset", default="small", help=f"one of {', '.join(PRESETS)}")
    parser.add_argument("--data", help=f"{', '.join(datasets.DATASETS)} (downloaded and "
                                       f"cached), {datasets.SAMPLE} (shipped with lstmlm), a "
                                       f"folder with train/valid/test.txt, or one text file "
                                       f"split 90/5/5 by lines (default: the preset's)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--time-budget", metavar="DURATION",
                        help="end the whole run within this time (e.g. 90s, 45m, 2h, 1h30m): "
                             "epochs are planned from the measured speed")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field (repeatable); with "
                                                  "--resume, how long and how fast it goes on")
    parser.add_argument("--runs-dir", default="runs", help="where new runs go (default runs/)")
    parser.add_argument("--name", help="the new run's folder in --runs-dir (default: "
                                       "PRESET-DATE-TIME)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    parser.add_argument("--quiet", action="store_true", help="print nothing but the result")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    from ..training import train  # the trainer is not needed by the other commands

    echo = None if args.quiet else print
    if args.resume:
        if args.data or args.seed is not None or args.device or args.time_budget or args.name:
            raise LstmlmError("--resume continues a run with its saved config; "
                              "drop --data/--seed/--device/--time-budget/--name")
        result = train(resume=args.resume, resume_changes=args.overrides, echo=echo)
    else:
        options = {key: value for key, value in (("data", args.data), ("seed", args.seed),
                                                 ("device", args.device),
                                                 ("time_budget", args.time_budget))
                   if value is not None}
        config = apply_overrides(apply_overrides(get_preset(args.preset), args.overrides),
                                 options)
        result = train(config, runs_dir=args.runs_dir, name=args.name, echo=echo)
    if not result.main_process:
        return  # rank 0 of a distributed run reports for all of them
    print(f"run: {result.run_dir}")
    print(f"valid perplexity: {result.valid_perplexity:.3f}")
    print(f"test perplexity: {result.test_perplexity:.3f}")
    if result.last_test_perplexity is not None:
        print(f"test perplexity of the last weights: {result.last_test_perplexity:.3f}")
    if result.adapted_test_perplexity is not None:
        print(f"test perplexity adapted at evaluation time: "
              f"{result.adapted_test_perplexity:.3f}")
