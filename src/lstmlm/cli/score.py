"""`lstmlm score`: the log-probability of each sentence, or each word's surprisal."""

from __future__ import annotations

import argparse
import dataclasses
import json

from ..scoring import corpus_score
from ..textfiles import read_input
from .options import add_model_options, load_model

NAME = "score"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="log-probability of each line's sentence")
    add_model_options(parser)
    parser.add_argument("file", nargs="?", default="-", help="sentences, one per line "
                                                             "(default: standard input)")
    parser.add_argument("--format", default="text", choices=["text", "jsonl"])
    parser.add_argument("--per-word", action="store_true",
                        help="one line per word: sentence, position, word, OOV (0/1) and "
                             "surprisal in bits, the closing <eos> included")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    model = load_model(args)
    sentences = [line for line in read_input(args.file) if line.strip()]
    if args.per_word:
        for number, words in enumerate(model.surprisals(sentences), start=1):
            for position, word in enumerate(words, start=1):
                if args.format == "jsonl":
                    print(json.dumps({"sentence": number, "position": position,
                                      **word.to_dict()}))
                else:
                    print(f"{number}\t{position}\t{word.word}\t{int(word.oov)}\t{word.bits:.4f}")
        return
    scores = model.score(sentences)
    total = corpus_score(scores)
    for score in scores:
        if args.format == "jsonl":
            print(json.dumps(score.to_dict()))
        else:
            print(f"{score.logprob:.4f}\t{score.log10prob:.4f}\t{score.words}\t{score.oov}\t"
                  f"{score.perplexity:.3f}\t{score.sentence}")
    if args.format == "jsonl":
        print(json.dumps({"corpus": dataclasses.asdict(total)}))
    else:
        print(f"corpus: {total.sentences} sentences, {total.words} words, {total.oov} OOV, "
              f"logprob {total.logprob:.4f}, perplexity {total.perplexity:.3f}")
