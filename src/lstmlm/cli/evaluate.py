"""`lstmlm eval`: the perplexity of a model on a split, other data or standard input, with
dynamic evaluation or a neural cache."""

from __future__ import annotations

import argparse
import sys

from ..evaluation import DynamicEvaluation, NeuralCache
from .options import add_model_options, load_model

NAME = "eval"
DYNAMIC, CACHE = DynamicEvaluation(), NeuralCache()


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="perplexity of a trained run")
    add_model_options(parser)
    parser.add_argument("--split", default="test", choices=["train", "valid", "test"])
    parser.add_argument("--data", help="evaluate on other data with the run's vocabulary: a "
                                       "dataset, folder or file as train --data takes, or - for "
                                       "the text of standard input")
    parser.add_argument("--dynamic", action="store_true",
                        help="dynamic evaluation: adapt the weights to the text as it is read")
    parser.add_argument("--dynamic-lr", type=float, default=DYNAMIC.learning_rate)
    parser.add_argument("--dynamic-decay", type=float, default=DYNAMIC.decay)
    parser.add_argument("--dynamic-method", default=DYNAMIC.method, choices=["sgd", "rms"])
    parser.add_argument("--dynamic-steps", type=int, default=DYNAMIC.num_steps,
                        help="words per update")
    parser.add_argument("--cache", action="store_true",
                        help="mix in a neural cache of recent hidden states")
    parser.add_argument("--cache-window", type=int, default=CACHE.window)
    parser.add_argument("--cache-theta", type=float, default=CACHE.theta)
    parser.add_argument("--cache-lambda", type=float, default=CACHE.lambda_)
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    model = load_model(args)
    dynamic = DynamicEvaluation(num_steps=args.dynamic_steps, learning_rate=args.dynamic_lr,
                                decay=args.dynamic_decay,
                                method=args.dynamic_method) if args.dynamic else None
    cache = NeuralCache(window=args.cache_window, theta=args.cache_theta,
                        lambda_=args.cache_lambda) if args.cache else None
    how = " (dynamic evaluation)" if args.dynamic else " (neural cache)" if args.cache else ""
    if args.data == "-":
        perplexity = model.perplexity(sys.stdin.read(), dynamic=dynamic, cache=cache)
        print(f"standard input perplexity{how}: {perplexity:.3f}")
        return
    perplexity = model.evaluate(args.split, data=args.data, dynamic=dynamic, cache=cache)
    print(f"{args.split} perplexity{how}: {perplexity:.3f}")
