"""`lstmlm surprisal`: the surprisal of each word of experimental stimuli, and of regions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import surprisal
from ..errors import LstmlmError
from ..files import atomic_write_text
from ..tables import TABLE_FORMATS, table_text
from ..textfiles import input_name, input_text
from .options import add_model_options, add_normalize_option, add_stimuli_options, load_model

NAME = "surprisal"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(
        NAME, help="surprisal of each word of experimental stimuli (and of regions)")
    add_model_options(parser)
    add_stimuli_options(parser)
    parser.add_argument("--keep", default="", metavar="COLUMNS",
                        help="comma-separated columns to carry into the output")
    parser.add_argument("--region-column",
                        help="each row is one region named by this column; consecutive rows "
                             "with the same --keep values make a sentence (without it, | in "
                             "the text separates regions)")
    add_normalize_option(parser)
    parser.add_argument("--unit", default="bits", choices=surprisal.UNITS,
                        help="bits: -log2 p (default); nats: -ln p")
    parser.add_argument("--context", default="independent", choices=surprisal.CONTEXTS,
                        help="independent: each sentence from the start state (default); "
                             "carry: the sentences read in order as one stream")
    parser.add_argument("--measures", default="surprisal", metavar="LIST",
                        help="comma-separated: surprisal, entropy (of the distribution that "
                             "predicts the token), entropy_reduction, rank, topk=K (the K most "
                             "probable words); default: surprisal")
    parser.add_argument("--format", default="tsv", choices=TABLE_FORMATS)
    parser.add_argument("--regions", metavar="FILE",
                        help="write the region table (summed surprisal) to FILE")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    # Read before the model is loaded, so bad input fails fast.
    measures, top = surprisal.parse_measures(args.measures)
    stimuli = surprisal.read_stimuli(
        input_text(args.stimuli), input_name(args.stimuli), args.text_column,
        tuple(column.strip() for column in args.keep.split(",") if column.strip()),
        args.region_column)
    if args.regions and not surprisal.has_regions(stimuli):
        raise LstmlmError(f"--regions: {input_name(args.stimuli)} has no regions (separate them "
                          f"with | in the text, or name a --region-column)")
    table = surprisal.compute(load_model(args), stimuli, args.normalize, args.unit,
                              args.context, measures=measures, top=top)
    print(f"lstmlm: surprisal in {table.unit}; normalization: {table.normalization}; "
          f"context: {table.context}", file=sys.stderr)
    if args.regions:
        atomic_write_text(Path(args.regions),
                          table_text(surprisal.region_rows(table), args.format))
    print(table_text(surprisal.token_rows(table), args.format), end="")
