"""`lstmlm import`: a published checkpoint (pytorch/examples, colorlessgreenRNNs, awd-lstm-lm)
as a model folder, read without running its code."""

from __future__ import annotations

import argparse

from ..config import NORMALIZATIONS
from ..importing import FORMATS, GATES, import_checkpoint

NAME = "import"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(
        NAME, help="a published LSTM checkpoint (word-language-model, awd-lstm) as a model "
                   "folder, read without running its code")
    parser.add_argument("format", choices=FORMATS,
                        help="word-language-model: pytorch/examples' RNNModel, as "
                             "colorlessgreenRNNs and neural-complexity save it (or its "
                             "state_dict, with --cell); awd-lstm: salesforce/awd-lstm-lm's")
    parser.add_argument("checkpoint", help="the .pt file")
    parser.add_argument("out_dir", help="a new (or empty) folder")
    vocabulary = parser.add_mutually_exclusive_group(required=True)
    vocabulary.add_argument("--vocab", metavar="FILE",
                            help="the vocabulary, one word per line in id order (as "
                                 "colorlessgreen's vocab.txt)")
    vocabulary.add_argument("--corpus-train", metavar="FILE",
                            help="the training text: ids rebuilt as data.Dictionary numbers "
                                 "them (first appearance, <eos> after each line)")
    parser.add_argument("--normalize", default="none", choices=NORMALIZATIONS,
                        help="the text conventions the model was trained with, applied by "
                             "default by surprisal, pairs, syntaxgym and agreement (wikipedia: "
                             "Gulordava et al.'s; default: none)")
    parser.add_argument("--cell", choices=tuple(GATES),
                        help="the cell of a bare state_dict (a pickled RNNModel names its own)")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    print(import_checkpoint(args.format, args.checkpoint, args.out_dir, vocab=args.vocab,
                            corpus_train=args.corpus_train, normalization=args.normalize,
                            cell=args.cell))
