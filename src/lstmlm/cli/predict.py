"""`lstmlm predict`: the model's most probable words before each token of stimuli, and with
--full every next-word distribution in lm-zoo's HDF5 layout."""

from __future__ import annotations

import argparse
import json
import sys

from .. import predictions, surprisal
from ..errors import LstmlmError
from ..hdf5 import require_h5py
from ..textfiles import input_name, input_text
from .options import add_model_options, add_normalize_option, add_stimuli_options, load_model

NAME = "predict"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(
        NAME, help="the most probable words before each token of stimuli (JSON Lines), and "
                   "every next-word distribution (HDF5)")
    add_model_options(parser)
    add_stimuli_options(parser)
    add_normalize_option(parser)
    parser.add_argument("--top", type=int, default=5, metavar="K",
                        help="the K most probable words per token (default 5)")
    parser.add_argument("--full", metavar="OUT.h5",
                        help="also write every next-word distribution to OUT.h5, as lm-zoo's "
                             "get_predictions.hdf5 lays it out")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    # Read before the model is loaded, so bad input fails fast.
    stimuli = surprisal.read_stimuli(input_text(args.stimuli), input_name(args.stimuli),
                                     args.text_column)
    if args.top < 1:
        raise LstmlmError(f"--top must be at least 1, got {args.top}")
    if args.full:
        require_h5py()
    model = load_model(args)
    normalization = args.normalize or model.normalization
    print(f"lstmlm: surprisal and entropy in bits; normalization: {normalization}; each "
          f"sentence from a fresh state", file=sys.stderr)
    for row in predictions.prediction_rows(model, stimuli, args.top, normalization):
        print(json.dumps(row))
    if args.full:
        predictions.write_distributions(model, stimuli, args.full, normalization)
