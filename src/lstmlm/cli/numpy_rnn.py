"""`lstmlm numpy-rnn`: the from-scratch NumPy RNN of WildML's tutorial: train, generate, and
check its gradients."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .. import numpy_rnn

NAME = "numpy-rnn"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="the from-scratch NumPy RNN tutorial model")
    numpy_commands = parser.add_subparsers(dest="numpy_command", required=True)
    train = numpy_commands.add_parser("train", help="train on a text or CSV file")
    train.add_argument("--data", required=True, help="text file, or CSV with --csv-column")
    train.add_argument("--csv-column")
    train.add_argument("--hidden", type=int, default=100)
    train.add_argument("--vocab", type=int, default=8000)
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--learning-rate", type=float, default=0.005)
    train.add_argument("--bptt-truncate", type=int, default=4)
    train.add_argument("--evaluate-loss-after", type=int, default=1)
    train.add_argument("--max-sentences", type=int, help="use only the first N sentences")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="numpy-rnn.npz")
    generate = numpy_commands.add_parser("generate", help="sample sentences from a model")
    generate.add_argument("model")
    generate.add_argument("--sentences", type=int, default=10)
    generate.add_argument("--min-length", type=int, default=7)
    generate.add_argument("--seed", type=int)
    gradcheck = numpy_commands.add_parser("gradcheck", help="check BPTT against numerical "
                                                            "gradients")
    gradcheck.add_argument("--vocab", type=int, default=100)
    gradcheck.add_argument("--hidden", type=int, default=10)
    return {NAME: parser, **{f"{NAME} {name}": command
                             for name, command in numpy_commands.choices.items()}}


def run(args: argparse.Namespace) -> None:
    if args.numpy_command == "train":
        corpus = numpy_rnn.load_sentence_corpus(Path(args.data), args.vocab, args.csv_column,
                                                args.max_sentences)
        word, count = corpus.least_frequent
        print(f"Parsed {corpus.sentences} sentences.")
        print(f"Found {corpus.unique_tokens} unique words tokens.")
        print(f"Using vocabulary size {len(corpus.index_to_word)}.")
        print(f"The least frequent word in our vocabulary is '{word}' and appeared {count} times.")
        model = numpy_rnn.RNNNumpy(len(corpus.index_to_word), args.hidden, args.bptt_truncate,
                                   args.seed)
        model.train_with_sgd(corpus.x_train, corpus.y_train, args.learning_rate, args.epochs,
                             args.evaluate_loss_after)
        print(f"final loss: {model.calculate_loss(corpus.x_train, corpus.y_train):.6f}")
        model.save(Path(args.out), corpus.index_to_word)
        print(f"saved {args.out}")
    elif args.numpy_command == "generate":
        model, index_to_word = numpy_rnn.RNNNumpy.load(Path(args.model))
        rng = np.random.default_rng(args.seed)
        for _ in range(args.sentences):
            print(" ".join(model.generate_sentence(index_to_word, args.min_length, rng)))
    else:
        for name, error in numpy_rnn.gradient_check_report(args.vocab, args.hidden).items():
            print(f"{name}: worst relative error {error:.3e}")
        print("gradient check passed")
