"""`lstmlm states`: every layer's hidden (and cell) state after each token of stimuli, in an
HDF5 file."""

from __future__ import annotations

import argparse

from .. import states, surprisal
from ..errors import LstmlmError
from ..textfiles import input_name, input_text
from .options import add_model_options, add_normalize_option, add_stimuli_options, load_model

NAME = "states"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(
        NAME, help="every layer's hidden state after each token of stimuli (HDF5)")
    add_model_options(parser)
    add_stimuli_options(parser)
    add_normalize_option(parser)
    parser.add_argument("--layers", default="all", metavar="LIST",
                        help="comma-separated layers, from 1 (default: all)")
    parser.add_argument("--what", default="h", metavar="LIST",
                        help="comma-separated: h (the hidden state), c (an LSTM's cell state), "
                             "gates (an LSTM's i, f, g, o; a GRU's r, z, n); default: h")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="the HDF5 file to write")
    return {NAME: parser}


def parse_layers(text: str) -> list[int] | None:
    if text == "all":
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise LstmlmError(f"--layers {text}: expected all or layer numbers (1,2)") from None


def run(args: argparse.Namespace) -> None:
    # Read and checked before the model is loaded, so bad input fails fast.
    stimuli = surprisal.read_stimuli(input_text(args.stimuli), input_name(args.stimuli),
                                     args.text_column)
    layers = parse_layers(args.layers)
    what = tuple(part.strip() for part in args.what.split(",") if part.strip())
    model = load_model(args)
    print(states.write_states(model, stimuli, args.out, layers, what, args.normalize))
