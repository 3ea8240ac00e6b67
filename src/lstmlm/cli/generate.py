"""`lstmlm generate`: text from a model, continuing a prime."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import atomic_write_text
from .options import add_model_options, load_model

NAME = "generate"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="generate text from a trained run")
    add_model_options(parser)
    parser.add_argument("--prime", default="", help="text to continue (default: a sentence "
                                                    "start)")
    parser.add_argument("--words", type=int, default=50)
    parser.add_argument("--strategy", default="sample", choices=["greedy", "sample"])
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="0: no limit")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--allow-unk", action="store_true",
                        help="let <unk> be generated (masked out by default)")
    parser.add_argument("--stop-at-eos", action="store_true")
    parser.add_argument("--sentences", type=int,
                        help="generate this many sentences instead of --words words")
    parser.add_argument("--min-length", type=int, default=1,
                        help="with --sentences: regenerate sentences shorter than this")
    parser.add_argument("--out", help="write the text to this file too")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    model = load_model(args)
    options = dict(strategy=args.strategy, temperature=args.temperature, top_k=args.top_k,
                   top_p=args.top_p, seed=args.seed, allow_unk=args.allow_unk)
    if args.sentences is not None:
        text = "\n".join(model.generate_sentences(args.sentences, args.min_length, args.prime,
                                                  **options))
    else:
        text = model.generate(args.prime, args.words, stop_at_eos=args.stop_at_eos, **options)
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text + "\n")
