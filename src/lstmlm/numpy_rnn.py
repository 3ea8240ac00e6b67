"""A vanilla RNN language model in NumPy, after WildML's "Recurrent Neural Networks Tutorial".

    s_t = tanh(U x_t + W s_{t-1}),   o_t = softmax(V s_t)

Forward propagation, cross-entropy loss, backpropagation through time (the tutorial's
per-time-step loop, kept as the readable reference, and a vectorised version that computes
the same gradients), numerical gradient checking, SGD training and sentence generation.
It is a teaching tool and an independent reference for the PyTorch models.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import LstmlmError
from .files import atomic_write
from .textfiles import read_lines, read_text

SENTENCE_START = "SENTENCE_START"
SENTENCE_END = "SENTENCE_END"
UNKNOWN_TOKEN = "UNKNOWN_TOKEN"

# Sentence and word tokenizers that need no downloaded data (NLTK's punkt does): a sentence
# ends at ., ! or ? followed by whitespace; a word is a run of letters/digits with inner
# apostrophes or hyphens, or a single punctuation mark.
SENTENCE_BOUNDARY = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"\w+(?:['-]\w+)*|[^\w\s]")


@dataclass
class SentenceCorpus:
    """Training pairs and the vocabulary of a sentence corpus."""

    index_to_word: list[str]
    x_train: list[np.ndarray]  # each sentence without its last token
    y_train: list[np.ndarray]  # each sentence without its first token
    sentences: int
    unique_tokens: int
    least_frequent: tuple[str, int]

    @property
    def word_to_index(self) -> dict[str, int]:
        return {word: index for index, word in enumerate(self.index_to_word)}


def read_documents(path: Path, csv_column: str | None = None) -> list[str]:
    """The documents of a text file (one per line) or of one column of a CSV file.

    The CSV reader gets the text whole (as a file opened with `newline=""`), so a quoted cell
    that spans lines keeps its line breaks as whitespace between words.
    """
    if csv_column is None:
        return read_lines(path)
    text = read_text(path)  # the same missing/empty/UTF-8 checks as any corpus
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if csv_column not in (reader.fieldnames or []):
        raise LstmlmError(f"CSV file {path} has no column {csv_column!r} "
                          f"(columns: {', '.join(reader.fieldnames or [])})")
    return [row[csv_column] or "" for row in reader]


def tokenize(documents: list[str]) -> list[list[str]]:
    """Lowercased word lists, one per sentence of the documents."""
    sentences = []
    for document in documents:
        for sentence in SENTENCE_BOUNDARY.split(document.strip()):
            words = WORD.findall(sentence.lower())
            if words:
                sentences.append(words)
    return sentences


def build_corpus(sentences: list[list[str]], vocabulary_size: int = 8000,
                 max_sentences: int | None = None) -> SentenceCorpus:
    """Wrap sentences in start/end tokens, keep the `vocabulary_size - 1` most frequent words.

    The vocabulary always comes from every sentence; `max_sentences` keeps only the first
    ones as training pairs, as the tutorial trains on 100 sentences with the full corpus's
    vocabulary (so its loss starts at ln(vocabulary_size)).
    """
    if vocabulary_size < 3:
        raise LstmlmError(f"vocabulary size must be at least 3, got {vocabulary_size}")
    if not sentences:
        raise LstmlmError("the corpus has no sentences")
    tokenized = [[SENTENCE_START, *words, SENTENCE_END] for words in sentences]
    counts = Counter(word for sentence in tokenized for word in sentence)
    kept = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:vocabulary_size - 1]
    index_to_word = [word for word, _ in kept] + [UNKNOWN_TOKEN]
    word_to_index = {word: index for index, word in enumerate(index_to_word)}
    unknown = word_to_index[UNKNOWN_TOKEN]
    encoded = [np.array([word_to_index.get(word, unknown) for word in sentence])
               for sentence in tokenized[:max_sentences]]
    return SentenceCorpus(index_to_word, [ids[:-1] for ids in encoded],
                          [ids[1:] for ids in encoded], len(sentences), len(counts), kept[-1])


def load_sentence_corpus(path: Path, vocabulary_size: int = 8000, csv_column: str | None = None,
                         max_sentences: int | None = None) -> SentenceCorpus:
    sentences = tokenize(read_documents(Path(path), csv_column))
    return build_corpus(sentences, vocabulary_size, max_sentences)


class RNNNumpy:
    """The tutorial's RNN. Inputs are word indices: U x_t is a column of U, never a product."""

    def __init__(self, word_dim: int, hidden_dim: int = 100, bptt_truncate: int = 4,
                 seed: int | None = 0):
        self.word_dim, self.hidden_dim, self.bptt_truncate = word_dim, hidden_dim, bptt_truncate
        rng = np.random.default_rng(seed)
        # Uniform in [-1/sqrt(n), 1/sqrt(n)], n the number of incoming connections.
        self.U = rng.uniform(-np.sqrt(1 / word_dim), np.sqrt(1 / word_dim), (hidden_dim, word_dim))
        self.V = rng.uniform(-np.sqrt(1 / hidden_dim), np.sqrt(1 / hidden_dim), (word_dim, hidden_dim))
        self.W = rng.uniform(-np.sqrt(1 / hidden_dim), np.sqrt(1 / hidden_dim), (hidden_dim, hidden_dim))

    def forward_propagation(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outputs o (T x vocab, softmax) and states s ((T + 1) x hidden, s[-1] the zero state)."""
        steps = len(x)
        s = np.zeros((steps + 1, self.hidden_dim))
        for t in range(steps):
            s[t] = np.tanh(self.U[:, x[t]] + self.W @ s[t - 1])
        logits = s[:steps] @ self.V.T  # all output steps in one product
        logits -= logits.max(axis=1, keepdims=True)
        o = np.exp(logits)
        o /= o.sum(axis=1, keepdims=True)
        return o, s

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward_propagation(x)[0], axis=1)

    def calculate_total_loss(self, x_train: list[np.ndarray], y_train: list[np.ndarray]) -> float:
        """Cross-entropy summed over every word of every sentence."""
        total = 0.0
        for x, y in zip(x_train, y_train):
            o, _ = self.forward_propagation(x)
            total -= np.sum(np.log(o[np.arange(len(y)), y]))
        return total

    def calculate_loss(self, x_train: list[np.ndarray], y_train: list[np.ndarray]) -> float:
        """Mean cross-entropy per word; about ln(vocabulary size) for an untrained model."""
        return self.calculate_total_loss(x_train, y_train) / sum(len(y) for y in y_train)

    def bptt_loop(self, x: np.ndarray, y: np.ndarray):
        """Gradients (dU, dV, dW) of the sentence's total loss: the tutorial's loop, step by step."""
        steps = len(y)
        o, s = self.forward_propagation(x)
        dU, dV, dW = np.zeros_like(self.U), np.zeros_like(self.V), np.zeros_like(self.W)
        delta_o = o
        delta_o[np.arange(steps), y] -= 1.0
        for t in reversed(range(steps)):
            dV += np.outer(delta_o[t], s[t])
            delta_t = self.V.T @ delta_o[t] * (1 - s[t] ** 2)
            for bptt_step in range(t, max(0, t - self.bptt_truncate) - 1, -1):
                dW += np.outer(delta_t, s[bptt_step - 1])
                dU[:, x[bptt_step]] += delta_t
                delta_t = self.W.T @ delta_t * (1 - s[bptt_step - 1] ** 2)
        return dU, dV, dW

    def bptt(self, x: np.ndarray, y: np.ndarray):
        """The same gradients as `bptt_loop`, vectorised over time."""
        dU_columns, dV, dW = self._bptt_sparse(x, y)
        dU = np.zeros_like(self.U)
        np.add.at(dU.T, x, dU_columns)
        return dU, dV, dW

    def _bptt_sparse(self, x: np.ndarray, y: np.ndarray):
        """Gradients with dU as one column per input position (word x[t] gets column t).

        Instead of walking back from every t separately, it walks back one lag at a time for all
        t at once: after k lags, row i of `delta` holds the error of step t = k + i at step i.
        Only the columns of U for the sentence's words have a gradient, so returning them alone
        spares SGD a pass over the whole hidden x vocabulary matrix.
        """
        steps = len(y)
        o, s = self.forward_propagation(x)
        delta_o = o
        delta_o[np.arange(steps), y] -= 1.0
        dV = delta_o.T @ s[:steps]
        dU_columns, dW = np.zeros((steps, self.hidden_dim)), np.zeros_like(self.W)
        delta = (delta_o @ self.V) * (1 - s[:steps] ** 2)
        for lag in range(min(self.bptt_truncate, steps - 1) + 1):
            reached = steps - lag  # the errors have reached positions 0 .. reached - 1
            previous = s[np.arange(reached) - 1]  # s[-1] is the zero state
            dW += delta.T @ previous
            dU_columns[:reached] += delta
            delta = ((delta @ self.W) * (1 - previous ** 2))[1:]
        return dU_columns, dV, dW

    def gradient_check(self, x: np.ndarray, y: np.ndarray, h: float = 0.001,
                       error_threshold: float = 0.01, bptt: Callable | None = None) -> dict[str, float]:
        """Worst relative error between `bptt`'s gradients and central differences, per parameter.

        Raises LstmlmError if any exceeds `error_threshold`. Use bptt_truncate >= len(x) so that
        the analytic gradient is the exact one.
        """
        gradients = dict(zip("UVW", (bptt or self.bptt)(x, y)))
        worst = {}
        for name, gradient in gradients.items():
            parameter = getattr(self, name)
            worst[name] = 0.0
            for index in np.ndindex(parameter.shape):
                original = parameter[index]
                parameter[index] = original + h
                plus = self.calculate_total_loss([x], [y])
                parameter[index] = original - h
                minus = self.calculate_total_loss([x], [y])
                parameter[index] = original
                estimate = (plus - minus) / (2 * h)
                denominator = np.abs(estimate) + np.abs(gradient[index])
                if denominator > 0:
                    worst[name] = max(worst[name], np.abs(estimate - gradient[index]) / denominator)
            if worst[name] > error_threshold:
                raise LstmlmError(f"gradient check failed for {name}: relative error "
                                  f"{worst[name]:.3g} > {error_threshold}")
        return worst

    def sgd_step(self, x: np.ndarray, y: np.ndarray, learning_rate: float) -> None:
        """One SGD update on a sentence, with the vectorised BPTT (in place, no dense dU)."""
        dU_columns, dV, dW = self._bptt_sparse(x, y)
        np.subtract.at(self.U.T, x, learning_rate * dU_columns)
        dV *= learning_rate
        self.V -= dV
        self.W -= learning_rate * dW

    def train_with_sgd(self, x_train, y_train, learning_rate: float = 0.005, nepoch: int = 100,
                       evaluate_loss_after: int = 5, log: Callable[[str], None] = print) -> list:
        """SGD over the sentences in order; every `evaluate_loss_after` epochs log the mean loss
        and halve the learning rate if it rose. Returns [(examples seen, loss), ...]."""
        losses, seen = [], 0
        for epoch in range(nepoch):
            if epoch % evaluate_loss_after == 0:
                loss = self.calculate_loss(x_train, y_train)
                losses.append((seen, loss))
                log(f"{time.strftime('%Y-%m-%d %H:%M:%S')}: loss after {seen} examples "
                    f"epoch={epoch}: {loss:.6f}")
                if len(losses) > 1 and losses[-1][1] > losses[-2][1]:
                    learning_rate *= 0.5
                    log(f"setting learning rate to {learning_rate:g}")
            for x, y in zip(x_train, y_train):
                self.sgd_step(x, y, learning_rate)
                seen += 1
        return losses

    def generate_sentence(self, index_to_word: list[str], min_length: int = 0,
                          rng: np.random.Generator | None = None, max_attempts: int = 100,
                          max_words: int = 100) -> list[str]:
        """Sample words after SENTENCE_START until SENTENCE_END, never UNKNOWN_TOKEN; sentences
        shorter than `min_length` are thrown away and sampled again."""
        rng = rng or np.random.default_rng()
        word_to_index = {word: index for index, word in enumerate(index_to_word)}
        start, end = word_to_index[SENTENCE_START], word_to_index[SENTENCE_END]
        unknown = word_to_index[UNKNOWN_TOKEN]
        for _ in range(max_attempts):
            state, ids = np.zeros(self.hidden_dim), [start]
            while len(ids) <= max_words:
                state = np.tanh(self.U[:, ids[-1]] + self.W @ state)
                logits = self.V @ state
                probabilities = np.exp(logits - logits.max())
                probabilities[unknown] = 0.0
                next_id = int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))
                if next_id == end:
                    break
                ids.append(next_id)
            if len(ids) - 1 >= min_length:
                return [index_to_word[index] for index in ids[1:]]
        raise LstmlmError(f"no sentence of at least {min_length} words in {max_attempts} attempts")

    def save(self, path: Path, index_to_word: list[str]) -> None:
        """Parameters and vocabulary in a .npz file (no pickled objects)."""
        meta = json.dumps({"hidden_dim": self.hidden_dim, "bptt_truncate": self.bptt_truncate})

        def write(temp: Path) -> None:
            with open(temp, "wb") as handle:
                np.savez(handle, U=self.U, V=self.V, W=self.W, vocabulary=np.array(index_to_word),
                         meta=np.array(meta))

        atomic_write(Path(path), write)

    @classmethod
    def load(cls, path: Path) -> tuple["RNNNumpy", list[str]]:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                model = cls(len(data["vocabulary"]), meta["hidden_dim"], meta["bptt_truncate"])
                model.U, model.V, model.W = data["U"], data["V"], data["W"]
                return model, [str(word) for word in data["vocabulary"]]
        except (OSError, ValueError, KeyError) as error:
            raise LstmlmError(f"cannot read NumPy RNN model {path}: {error}") from None


def gradient_check_report(vocabulary_size: int = 100, hidden_dim: int = 10, steps: int = 8,
                          seed: int = 0) -> dict[str, float]:
    """Gradient-check both BPTT implementations on a random sentence; the worst errors of each."""
    if vocabulary_size < 3:
        raise LstmlmError(f"vocabulary size must be at least 3, got {vocabulary_size}")
    rng = np.random.default_rng(seed)
    model = RNNNumpy(vocabulary_size, hidden_dim, bptt_truncate=1000, seed=seed)
    x, y = rng.integers(0, vocabulary_size, steps), rng.integers(0, vocabulary_size, steps)
    report = {}
    for label, method in (("loop", model.bptt_loop), ("vectorised", model.bptt)):
        for name, error in model.gradient_check(x, y, bptt=method).items():
            report[f"{label} {name}"] = error
    return report
