"""The options several commands share, defined once."""

from __future__ import annotations

import argparse

from .. import api
from ..config import NORMALIZATIONS
from ..errors import LstmlmError
from ..export import WEIGHT_CHOICES

MODEL_HELP = "a run directory, or a model folder written by lstmlm export"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The model a command uses: its run directory or folder, the device, the weights and an
    int8 quantisation."""
    parser.add_argument("run_dir", help=MODEL_HELP)
    parser.add_argument("--device")
    add_weights_option(parser)
    parser.add_argument("--quantize", choices=api.QUANTIZATIONS,
                        help="int8: dynamic int8 quantisation of the recurrent layers and the "
                             "decoder, for CPU inference")
    parser.add_argument("--ablate", action="append", default=[], metavar="L:U,U,...",
                        help="zero these units' output and cell state at every step (layer L "
                             "from 1, units from 0); repeatable")


def add_weights_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default="best", choices=WEIGHT_CHOICES,
                        help="best: the best-on-valid weights (default); last: those training "
                             "ended with, which the reference implementations report")


def add_stimuli_options(parser: argparse.ArgumentParser) -> None:
    """The stimuli file of surprisal, predict and states, and its text column."""
    parser.add_argument("stimuli", nargs="?", default="-",
                        help="sentences one per line, or a CSV/TSV table with --text-column "
                             "(default: standard input)")
    parser.add_argument("--text-column", help="the table's column of sentences")


def add_normalize_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--normalize", choices=NORMALIZATIONS,
                        help="bring the text to the model's conventions: ptb (lower case, "
                             "punctuation dropped, clitics split as do n't, numbers as N), "
                             "clean (clean_text's), none; default: the model's own (its "
                             "config's normalization); the output names the one used")


def parse_ablations(specs: list[str]) -> dict[int, list[int]]:
    """`--ablate 1:3,7 --ablate 2:0` as {1: [3, 7], 2: [0]}."""
    ablation: dict[int, list[int]] = {}
    for spec in specs:
        layer, colon, units = spec.partition(":")
        try:
            numbers = [int(unit) for unit in units.split(",")]
            ablation.setdefault(int(layer), []).extend(numbers)
        except ValueError:
            raise LstmlmError(f"--ablate {spec}: expected LAYER:UNIT,UNIT,... (e.g. 2:126,338)"
                              ) from None
        if not colon:
            raise LstmlmError(f"--ablate {spec}: expected LAYER:UNIT,UNIT,... (e.g. 2:126,338)")
    return ablation


def load_model(args: argparse.Namespace) -> api.LanguageModel:
    """The model add_model_options named."""
    return api.load(args.run_dir, device=args.device, weights=args.weights,
                    quantize=args.quantize, ablate=parse_ablations(args.ablate))
