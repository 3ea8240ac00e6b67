"""`lstmlm pairs`: minimal-pair accuracy (BLiMP JSONL, or good<TAB>bad lines)."""

from __future__ import annotations

import argparse

from .. import pairs
from ..budget import plural
from ..tables import table_text
from ..textfiles import input_name, read_input
from .options import add_model_options, add_normalize_option, load_model

NAME = "pairs"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="minimal-pair accuracy (BLiMP JSONL, or "
                                            "good<TAB>bad lines)")
    add_model_options(parser)
    parser.add_argument("files", nargs="+", help="BLiMP .jsonl files or TSV of good<TAB>bad "
                                                 "(- for standard input)")
    add_normalize_option(parser)
    parser.add_argument("--format", default="text", choices=["text", "jsonl", "tsv"])
    parser.add_argument("--by-pair", action="store_true",
                        help="also print each pair's two log-probabilities")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    # Read before the model is loaded, so bad input fails fast.
    minimal_pairs = [pair for name in args.files
                     for pair in pairs.read_pairs(read_input(name), input_name(name))]
    model = load_model(args)
    report = pairs.evaluate(model, minimal_pairs, args.normalize)
    pair_rows = [pairs.pair_row(score) for score in report.scores] if args.by_pair else []
    summary_rows = pairs.report_rows(report)
    if args.format == "jsonl":
        print(table_text(pair_rows + summary_rows, "jsonl"), end="")
        return
    if args.format == "tsv":
        # The pairs' table (with --by-pair), a blank line, then the summary's, each with a header.
        print(table_text(pair_rows, "tsv") + "\n" if pair_rows else "", end="")
        print(table_text(summary_rows, "tsv"), end="")
        return
    for score in report.scores if args.by_pair else ():
        print(f"{score.pair.uid}\t{score.good_logprob:.4f}\t{score.bad_logprob:.4f}\t"
              f"{int(score.correct)}\t{score.pair.good}\t{score.pair.bad}")
    for row in summary_rows[:-1]:  # the last, overall, row is the closing lines
        count = f"\t{plural(row['pairs'], 'pair')}" if "pairs" in row else ""
        print(f"{row['level']}\t{row['name']}{count}\t{100 * row['accuracy']:.1f}%")
    without = report.accuracy_without_oov
    print(f"normalization: {report.normalization}; {100 * report.oov_share:.1f}% of pairs have "
          f"an out-of-vocabulary word; accuracy without them: "
          + (f"{100 * without:.1f}%" if without is not None else "no such pair"))
    print(f"overall accuracy: {100 * report.overall:.1f}% (mean over "
          f"{len(report.phenomena)} phenomena, {len(report.scores)} pairs)")
