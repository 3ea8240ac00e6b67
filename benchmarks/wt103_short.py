"""A shortened CPU run of the `wt103` preset on a synthetic corpus of WikiText-103's vocabulary.

    python benchmarks/wt103_short.py [--folder DIR] [--train-words 20000] [--eval-words 5000]
        [-- lstmlm train options]

WikiText-103 cannot be downloaded here and a full run needs a GPU for about 12 hours, so this
trains the preset's model (3 LSTM layers, a 400-wide embedding, the adaptive softmax at
20000/40000/200000, Adam, its dropout and schedule) for one epoch at the narrowest width its
budget may choose (default options: `--set time_budget=none --set hidden_size=1024 --set
max_max_epoch=1 --runs-dir /tmp/lstmlm-wt103-runs`; on 2 CPU cores a step of the widest,
2048, takes minutes) on a short corpus in
WikiText-103's file layout (`wiki.{train,valid,test}.tokens`, written once into --folder, never
into the repository). Its training split holds each of WikiText-103's 267,735 word types once,
so the vocabulary and the softmax have their full size, followed by Zipf-distributed lines
(p(rank) ~ 1/rank, as benchmarks/large_corpus.py); valid and test are Zipf lines only.

The words are drawn independently, so no model can beat a unigram model by much; the run is
judged against two unigram references printed beside it: the training split's word frequencies
(what a unigram language model of this data scores on test) and the test split's own (no model
without context does better).
"""

import argparse
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from common import machine
from large_corpus import MEAN_LINE, write_split

VOCAB = 267_735  # WikiText-103's word types, <unk> included


def write_corpus(folder: Path, train_words: int, eval_words: int) -> None:
    """The corpus described above, written unless `folder` already holds one of these sizes."""
    marker = folder / "sizes.json"
    sizes = [train_words, eval_words, VOCAB]
    if marker.exists() and json.loads(marker.read_text()) == sizes:
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with open(folder / "wiki.train.tokens", "w", encoding="utf-8") as out:
        every_word = rng.permutation(VOCAB)
        for start in range(0, VOCAB, MEAN_LINE):
            out.write(" ".join(f"w{rank}" for rank in every_word[start:start + MEAN_LINE]) + "\n")
        write_split(out, train_words, VOCAB, rng)
    for split in ("valid", "test"):
        with open(folder / f"wiki.{split}.tokens", "w", encoding="utf-8") as out:
            write_split(out, eval_words, VOCAB, rng)
    marker.write_text(json.dumps(sizes))


def word_counts(path: Path) -> Counter:
    """Each word's count in a split, `<eos>` (one per line) included."""
    counts = Counter()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            counts.update(line.split())
            counts["<eos>"] += 1
    return counts


def unigram_perplexity(model: Counter, test: Counter) -> float:
    """Perplexity on `test` of the unigram model with `model`'s relative frequencies."""
    total = sum(model.values())
    log_likelihood = sum(count * math.log(model[word] / total) for word, count in test.items())
    return math.exp(-log_likelihood / sum(test.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/lstmlm-wt103-short")
    parser.add_argument("--train-words", type=int, default=20_000)
    parser.add_argument("--eval-words", type=int, default=5_000)
    parser.add_argument("train_options", nargs="*",
                        default=["--set", "time_budget=none", "--set", "hidden_size=1024", "--set",
                                 "max_max_epoch=1", "--runs-dir", "/tmp/lstmlm-wt103-runs"])
    args = parser.parse_args()
    folder = Path(args.folder)
    write_corpus(folder, args.train_words, args.eval_words)
    train, test = word_counts(folder / "wiki.train.tokens"), word_counts(folder / "wiki.test.tokens")
    print(f"machine: {machine()}")
    print(f"corpus: {folder} ({sum(train.values()):,} training words with <eos>, "
          f"{len(train):,} word types)")
    command = [sys.executable, "-m", "lstmlm", "train", "--preset", "wt103", "--data",
               str(folder), *args.train_options]
    print("$ " + " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    print(f"unigram references on test: the training split's frequencies "
          f"{unigram_perplexity(train, test):,.1f}, the test split's own "
          f"{unigram_perplexity(test, test):,.1f}; uniform over the vocabulary {len(train):,}")


if __name__ == "__main__":
    main()
