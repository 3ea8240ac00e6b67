"""Generation latency (ms per word) and scoring throughput (words/sec) of a trained run.

    python benchmarks/generation_scoring.py RUN_DIR [--device cpu]

Scores the PTB test sentences (3,761 lines) and generates 500 words, greedy and sampled.
"""

import argparse
import time

from common import machine
from lstmlm import load
from lstmlm.corpus import split_files
from lstmlm.scoring import corpus_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--words", type=int, default=500)
    args = parser.parse_args()
    model = load(args.run_dir, device=args.device)
    print(f"machine: {machine()}; device {model.device}")
    print("| measurement | value |")
    print("|---|---|")
    for strategy in ("greedy", "sample"):
        model.generate("the", 5, strategy=strategy, seed=0)  # warm-up
        started = time.perf_counter()
        model.generate("the", args.words, strategy=strategy, seed=0)
        per_word = (time.perf_counter() - started) / args.words * 1000
        print(f"| generation, {strategy} | {per_word:.2f} ms/word |")
    sentences = split_files("ptb")["test"]
    started = time.perf_counter()
    total = corpus_score(model.score(sentences))
    seconds = time.perf_counter() - started
    words = total.words + total.sentences  # every word and each closing <eos> is predicted
    print(f"| scoring {total.sentences:,} PTB test sentences | {seconds:.1f} s, "
          f"{words / seconds:,.0f} words/sec, corpus ppl {total.perplexity:.2f} |")
    started = time.perf_counter()
    stream = model.evaluate("test")
    print(f"| lstmlm eval (stream, state carried) | {time.perf_counter() - started:.1f} s, "
          f"ppl {stream:.2f} |")


if __name__ == "__main__":
    main()
