"""fp32 against dynamic int8 quantisation (`--quantize int8`) for CPU inference.

    python benchmarks/quantization.py RUN_OR_FOLDER [--words 300]

For the model at RUN_OR_FOLDER, once in float32 and once quantised: the test split streamed at
batch 1 (words/sec and perplexity, as `lstmlm eval`), and greedy generation (ms per word).
"""

import argparse
import time

import torch
from common import machine

import lstmlm
from lstmlm.builders import build_corpus


def measure(path: str, quantize: str | None, words: int) -> dict:
    model = lstmlm.load(path, device="cpu", quantize=quantize)
    test_words = len(build_corpus(model.config.data, model.vocab, model.plan.data).test) - 1
    began = time.perf_counter()
    perplexity = model.evaluate("test")
    eval_seconds = time.perf_counter() - began
    model.generate("the", 10, strategy="greedy")  # warm-up
    began = time.perf_counter()
    model.generate("the", words, strategy="greedy")
    generate_seconds = time.perf_counter() - began
    return {"weights": quantize or "fp32", "ppl": perplexity,
            "eval_words_per_sec": test_words / eval_seconds,
            "ms_per_word": 1000 * generate_seconds / words}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--words", type=int, default=300, help="words to generate")
    args = parser.parse_args()
    rows = [measure(args.model, None, args.words), measure(args.model, "int8", args.words)]
    print(f"machine: {machine()}")
    print(f"model {args.model}; {torch.get_num_threads()} threads")
    print("| weights | test ppl | batch-1 eval words/sec | generation ms/word |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['weights']} | {row['ppl']:.3f} | {row['eval_words_per_sec']:,.0f} | "
              f"{row['ms_per_word']:.2f} |")
    fp32, int8 = rows
    print(f"int8: perplexity {100 * (int8['ppl'] / fp32['ppl'] - 1):+.2f}%, eval "
          f"{int8['eval_words_per_sec'] / fp32['eval_words_per_sec']:.2f}x, generation "
          f"{fp32['ms_per_word'] / int8['ms_per_word']:.2f}x")


if __name__ == "__main__":
    main()
