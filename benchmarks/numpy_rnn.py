"""Speed of the NumPy RNN: one SGD step on the tutorial's shape, and one epoch of 10,000 sentences.

    python benchmarks/numpy_rnn.py

The tutorial's shape: vocabulary 8,000, hidden 100, a 45-word sentence, full softmax, BPTT
truncated at 4. It reported about 350 ms per step in NumPy on a laptop, 70 ms with Theano on
a CPU and 23 ms on a GPU.
"""

import statistics
import time

import numpy as np

from common import machine
from lstmlm import datasets
from lstmlm.numpy_rnn import RNNNumpy, load_sentence_corpus


def loop_step(model: RNNNumpy, x, y, learning_rate: float) -> None:
    """The tutorial's SGD step: the per-time-step BPTT and dense updates."""
    dU, dV, dW = model.bptt_loop(x, y)
    model.U -= learning_rate * dU
    model.V -= learning_rate * dV
    model.W -= learning_rate * dW


def step_milliseconds(step, model: RNNNumpy, x, y, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step(model, x, y, 0.005)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(0)
    model = RNNNumpy(8000, 100, bptt_truncate=4, seed=0)
    x, y = rng.integers(0, 8000, 45), rng.integers(0, 8000, 45)
    loop_ms = step_milliseconds(loop_step, model, x, y, 5)
    fast_ms = step_milliseconds(RNNNumpy.sgd_step, model, x, y, 30)
    data = datasets.resolve("ptb") / "ptb.train.txt"
    corpus = load_sentence_corpus(data, 8000, max_sentences=10000)
    model = RNNNumpy(len(corpus.index_to_word), 100, bptt_truncate=4, seed=0)
    words = sum(len(sentence) for sentence in corpus.y_train)
    started = time.perf_counter()
    for sentence_x, sentence_y in zip(corpus.x_train, corpus.y_train):
        model.sgd_step(sentence_x, sentence_y, 0.005)
    epoch_seconds = time.perf_counter() - started
    print(f"machine: {machine()}")
    print("| measurement | this machine | tutorial |")
    print("|---|---|---|")
    print(f"| SGD step, loop BPTT (8000 x 100, 45 words, truncate 4) | {loop_ms:.1f} ms | "
          "~350 ms NumPy |")
    print(f"| SGD step, vectorised BPTT (`sgd_step`) | {fast_ms:.2f} ms | 70 ms Theano CPU, "
          "23 ms GPU |")
    print(f"| one epoch, vectorised, {len(corpus.x_train):,} PTB sentences ({words:,} words) | "
          f"{epoch_seconds:.1f} s | |")


if __name__ == "__main__":
    main()
