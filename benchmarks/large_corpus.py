"""Reading a WikiText-103-sized corpus: first read, cached read, and peak memory.

    python benchmarks/large_corpus.py [--words 103227021] [--vocab 267735] [--folder DIR]

Writes (once, into --folder, default /tmp/lstmlm-zipf; never into the repository) a synthetic
corpus with WikiText-103's training size and vocabulary: Zipf-distributed words (p(rank) ~
1/rank) on lines of 0 to 114 words (57 on average, as WikiText-103), and valid/test splits of
WikiText-103's sizes. Then `lstmlm.load_corpus` reads it in a fresh process with an empty token
cache, and again in another process from the cache. Targets: first read <= 3
minutes, cached read <= 5 seconds on 2 cores, and no more than about 2 GB of memory on top of
the id arrays.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from common import machine

SPLIT_WORDS = {"valid": 217_646, "test": 245_569}  # WikiText-103's, <eos> included
MEAN_LINE = 57

CHILD = """
import json, resource, sys, time
import lstmlm
started = time.perf_counter()
corpus = lstmlm.load_corpus(sys.argv[1])
seconds = time.perf_counter() - started
words = sum(len(corpus.split(split)) for split in ("train", "valid", "test"))
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "words": words, "vocabulary": len(corpus.vocab)}))
"""

BASELINE = """
import json, resource
import lstmlm.corpus
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def write_split(out: TextIO, words: int, vocab: int, rng: np.random.Generator) -> None:
    """Write `words` Zipf-distributed words (<eos> counted) to `out` as lines of `w<rank>`
    tokens."""
    probabilities = 1.0 / np.arange(1, vocab + 1)
    probabilities /= probabilities.sum()
    names = [f"w{rank}" for rank in range(vocab)]
    left = words
    while left > 0:
        lengths = rng.integers(0, 2 * MEAN_LINE + 1, size=10_000)
        ids = rng.choice(vocab, size=int(lengths.sum()), p=probabilities).tolist()
        start = 0
        for length in lengths:
            if left <= 0:
                break
            length = min(int(length), left - 1)
            out.write(" ".join(map(names.__getitem__, ids[start:start + length])) + "\n")
            start += length
            left -= length + 1


def read_in_child(script: str, *args: str, env: dict) -> dict:
    output = subprocess.run([sys.executable, "-c", script, *args], env=env, check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=103_227_021)
    parser.add_argument("--vocab", type=int, default=267_735)
    parser.add_argument("--folder", default="/tmp/lstmlm-zipf")
    args = parser.parse_args()
    folder = Path(args.folder)
    sizes = {"train": args.words, **SPLIT_WORDS}
    marker = folder / "sizes.json"
    if not marker.exists() or json.loads(marker.read_text()) != [sizes, args.vocab]:
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        started = time.perf_counter()
        for split, words in sizes.items():
            with open(folder / f"{split}.txt", "w", encoding="utf-8") as out:
                write_split(out, words, args.vocab, rng)
        marker.write_text(json.dumps([sizes, args.vocab]))
        print(f"wrote the corpus in {time.perf_counter() - started:.0f} s")
    size_mb = sum((folder / f"{split}.txt").stat().st_size for split in sizes) / 1e6
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, LSTMLM_TOKEN_CACHE_DIR=cache)
        baseline = read_in_child(BASELINE, env=env)["peak_kib"] / 2 ** 20
        first = read_in_child(CHILD, str(folder), env=env)
        cached = read_in_child(CHILD, str(folder), env=env)
    arrays_gib = first["words"] * 8 / 2 ** 30  # the Corpus holds int64 ids
    print(f"machine: {machine()}")
    print(f"corpus: {folder} ({size_mb:,.0f} MB, {first['words']:,} words with <eos>, "
          f"{first['vocabulary']:,} in the vocabulary)")
    print(f"| read | seconds | peak memory GiB | of which id arrays (int64) | above arrays and "
          f"the import ({baseline:.2f} GiB) |")
    print("|---|---|---|---|---|")
    for name, result in (("first (tokenise and cache)", first), ("cached", cached)):
        peak = result["peak_kib"] / 2 ** 20
        print(f"| {name} | {result['seconds']:.1f} | {peak:.2f} | {arrays_gib:.2f} | "
              f"{peak - arrays_gib - baseline:.2f} |")
    met = first["seconds"] <= 180 and cached["seconds"] <= 5
    print(f"target first <= 180 s, cached <= 5 s: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
