"""`lstmlm agreement`: accuracy on number agreement test sets (colorlessgreenRNNs' .tab, and
Linzen et al.'s .gold/.text)."""

from __future__ import annotations

import argparse

from .. import agreement
from ..tables import TABLE_FORMATS, table_text
from .options import add_model_options, add_normalize_option, load_model

NAME = "agreement"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(
        NAME, help="number agreement accuracy (colorlessgreenRNNs' generated.tab, Linzen et "
                   "al.'s .gold with its .text)")
    add_model_options(parser)
    parser.add_argument("files", nargs="+",
                        help=".tab files, or .gold files with the .text of the same name")
    add_normalize_option(parser)
    parser.add_argument("--context", default="independent", choices=agreement.CONTEXTS,
                        help="independent: each prefix from a fresh state after <eos> "
                             "(default); carry: the file's sentences as one stream, as "
                             "evaluate_target_word.py reads them")
    parser.add_argument("--format", default="tsv", choices=TABLE_FORMATS)
    parser.add_argument("--by-item", action="store_true",
                        help="print each item's two log-probabilities before the summary")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    # Read before the model is loaded, so bad input fails fast.
    items = [item for name in args.files for item in agreement.read_items(name)]
    report = agreement.evaluate(load_model(args), items, args.normalize, args.context)
    if args.by_item:
        rows = [agreement.item_row(score) for score in report.scores]
        print(table_text(rows, args.format) + ("\n" if args.format != "jsonl" else ""), end="")
    print(table_text(agreement.report_rows(report), args.format), end="")
