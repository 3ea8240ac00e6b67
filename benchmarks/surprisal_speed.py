"""Speed of `lstmlm surprisal` and `lstmlm syntaxgym`: words per second.

    python benchmarks/surprisal_speed.py [--sentences 4000]

A model of the `small` preset's shape (2 × 200 LSTM units) over the sample corpus's vocabulary
(untrained: the speed does not depend on the weights) reads the sample's test lines as
stimuli: each sentence on its own, then all of them as one carried stream, then as a SyntaxGym
suite of two conditions (the line, and the line with two words swapped) cut into three
regions. Each is timed after one untimed pass over the first 100 sentences. Words count the
scored ones, each sentence's `<eos>` included.
"""

import argparse
import random
import time

import torch

from common import machine, sample_model_and_lines, write_result
from lstmlm import surprisal, syntaxgym


def suite_of(lines: list[str]) -> syntaxgym.Suite:
    draw, items = random.Random(0), []
    for number, line in enumerate(lines, start=1):
        words = line.split()
        swapped = list(words)
        first = draw.randrange(len(words) - 1)
        swapped[first], swapped[first + 1] = swapped[first + 1], swapped[first]
        cut = [0, len(words) // 3, 2 * len(words) // 3, len(words)]
        items.append(syntaxgym.Item(number, {
            condition: tuple(surprisal.Region(index + 1, str(index + 1),
                                              " ".join(text[cut[index]:cut[index + 1]]))
                             for index in range(3))
            for condition, text in (("original", words), ("swapped", swapped))}))
    formula = syntaxgym.parse_formula("(2;%swapped%) + (3;%swapped%) > (2;%original%) + "
                                      "(3;%original%)", {"original", "swapped"}, {1, 2, 3},
                                      "benchmark")
    return syntaxgym.Suite("swap", {1: "1", 2: "2", 3: "3"}, items, [formula], "benchmark")


def timed(run, words: int) -> tuple[float, float]:
    began = time.perf_counter()
    run()
    seconds = time.perf_counter() - began
    return seconds, words / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=4000)
    args = parser.parse_args()
    model, lines = sample_model_and_lines()
    lines = [lines[index % len(lines)] for index in range(args.sentences)]
    stimuli = surprisal.read_stimuli("\n".join(lines), "sample test lines")
    suite = suite_of(lines)
    words = sum(len(line.split()) + 1 for line in lines)
    runs = {
        "surprisal, independent sentences": (
            lambda part: surprisal.compute(model, stimuli[:part]), words),
        "surprisal, --context carry": (
            lambda part: surprisal.compute(model, stimuli[:part], context="carry"), words),
        "syntaxgym, 2 conditions × 3 regions": (
            lambda part: syntaxgym.evaluate(model, [syntaxgym.Suite(
                suite.name, suite.region_names, suite.items[:part], suite.predictions,
                suite.source)]), 2 * words),
    }
    print(f"machine: {machine()}")
    print("| what | sentences | words (with <eos>) | seconds | words/sec |")
    print("|---|---|---|---|---|")
    rows = []
    for what, (run, counted) in runs.items():
        run(100)
        seconds, rate = timed(lambda: run(len(lines)), counted)
        rows.append({"what": what, "sentences": len(lines), "words": counted,
                     "seconds": round(seconds, 2), "words_per_sec": round(rate),
                     "threads": torch.get_num_threads()})
        print(f"| {what} | {len(lines):,} | {counted:,} | {seconds:.1f} | {rate:,.0f} |",
              flush=True)
    print(f"wrote {write_result('surprisal_speed', rows)}")


if __name__ == "__main__":
    main()
