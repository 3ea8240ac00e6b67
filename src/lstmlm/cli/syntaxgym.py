"""`lstmlm syntaxgym`: region surprisals and prediction accuracy of SyntaxGym suites."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import syntaxgym
from ..budget import plural
from ..files import atomic_write_text
from ..tables import TABLE_FORMATS, table_text
from ..textfiles import input_name, input_text
from .options import add_model_options, add_normalize_option, load_model

NAME = "syntaxgym"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(
        NAME, help="region surprisals and prediction accuracy of SyntaxGym suites")
    add_model_options(parser)
    parser.add_argument("suites", nargs="+", help="SyntaxGym test suite JSON files (- for "
                                                  "standard input)")
    add_normalize_option(parser)
    parser.add_argument("--format", default="text", choices=["text", *TABLE_FORMATS])
    parser.add_argument("--regions", metavar="FILE",
                        help="write the region table (suite, item, condition, region, content, "
                             "surprisal in bits) to FILE")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    suites = [syntaxgym.read_suite(input_text(name), input_name(name)) for name in args.suites]
    results = syntaxgym.evaluate(load_model(args), suites, args.normalize)
    if args.regions:
        atomic_write_text(Path(args.regions), table_text(
            syntaxgym.region_rows(results), "tsv" if args.format == "text" else args.format))
    rows = syntaxgym.summary_rows(results)
    if args.format != "text":
        print(table_text(rows, args.format), end="")
        return
    for row in rows:
        if row["level"] == "prediction":
            print(f"{row['suite']}\tprediction {row['prediction']}\t{row['formula']}\t"
                  f"{100 * row['accuracy']:.1f}% of {plural(row['items'], 'item')}")
        elif row["accuracy"] is None:
            print(f"{row['suite']}\tno predictions; region values ({row['metrics']}) with "
                  f"--regions; normalization: {row['normalization']}")
        else:
            print(f"{row['suite']}\taccuracy\t{100 * row['accuracy']:.1f}% of "
                  f"{plural(row['items'], 'item')} (every prediction holds); normalization: "
                  f"{row['normalization']}")
