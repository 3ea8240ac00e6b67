"""Speed of minimal-pair scoring (`lstmlm pairs`): pairs and words per second.

    python benchmarks/pairs_speed.py [--pairs 4000]

A model of the `small` preset's shape over the sample corpus's vocabulary (untrained: the
speed does not depend on the weights) scores BLiMP-shaped pairs made from the sample's own
test lines: each line as the good sentence, the same line with two words swapped as the bad
one. Timed after one untimed pass over the first 100 pairs.
"""

import argparse
import random
import time

import torch

from common import machine, sample_model_and_lines, write_result
from lstmlm import pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4000)
    args = parser.parse_args()
    model, lines = sample_model_and_lines()
    draw = random.Random(0)
    minimal = []
    for index in range(args.pairs):
        words = lines[index % len(lines)].split()
        swapped = list(words)
        first = draw.randrange(len(words) - 1)
        swapped[first], swapped[first + 1] = swapped[first + 1], swapped[first]
        minimal.append(pairs.MinimalPair(" ".join(words), " ".join(swapped), "swap"))
    pairs.evaluate(model, minimal[:100])
    began = time.perf_counter()
    report = pairs.evaluate(model, minimal)
    seconds = time.perf_counter() - began
    words = sum(len(pair.good.split()) + len(pair.bad.split()) + 2 for pair in minimal)
    row = {"pairs": len(minimal), "words": words, "seconds": round(seconds, 2),
           "pairs_per_sec": round(len(minimal) / seconds), "words_per_sec": round(words / seconds),
           "threads": torch.get_num_threads()}
    print(f"machine: {machine()}")
    print("| pairs | words (with <eos>) | seconds | pairs/sec | words/sec |")
    print("|---|---|---|---|---|")
    print(f"| {row['pairs']:,} | {words:,} | {seconds:.1f} | {row['pairs_per_sec']:,} | "
          f"{row['words_per_sec']:,} |")
    print(f"accuracy of the untrained model: {100 * report.overall:.1f}% (chance is about 50%)")
    print(f"wrote {write_result('pairs_speed', [row])}")


if __name__ == "__main__":
    main()
