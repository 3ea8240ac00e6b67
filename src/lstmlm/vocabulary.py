"""The vocabulary: words to ids and back, and the id streams of lines of text.

As TensorFlow's `ptb/reader.py`: every line's words followed by `<eos>`; a vocabulary built
from counts is ordered by descending count, then alphabetically, and always holds `<unk>`.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from .errors import LstmlmError
from .files import atomic_write_text

EOS = "<eos>"
UNK = "<unk>"


def words_of_lines(lines: Iterable[str]) -> list[str]:
    """Each line's whitespace-separated words followed by `<eos>`."""
    words = []
    for line in lines:
        words.extend(line.split())
        words.append(EOS)
    return words


class _FirstSeen(dict):
    """Word -> id in order of first appearance, a new word getting the next id."""

    def __missing__(self, word: str) -> int:
        self[word] = index = len(self)
        return index


class _OrUnknown(dict):
    """Word -> id, a word not in the vocabulary giving the unknown word's id."""

    def __init__(self, ids: dict[str, int], unk_id: int):
        super().__init__(ids)
        self.unk_id = unk_id

    def __missing__(self, word: str) -> int:
        return self.unk_id


def ids_of_lines(lines: Iterable[str], table: dict[str, int]) -> np.ndarray:
    """The int32 ids of `words_of_lines(lines)` through `table`, without building that list
    (one C-level lookup per word)."""
    ids, lookup = array("i"), table.__getitem__
    eos_id = lookup(EOS)
    for line in lines:
        ids.extend(map(lookup, line.split()))
        ids.append(eos_id)
    return np.frombuffer(ids, dtype=np.int32)


def vocabulary_and_ids(lines: Iterable[str], max_size: int = 0,
                       min_freq: int = 1) -> tuple["Vocabulary", np.ndarray]:
    """The vocabulary built from `lines` (as `Vocabulary.build` on their words) and their ids,
    in one pass: words are numbered as they first appear and counted, then renumbered."""
    table = _FirstSeen()
    first_seen = ids_of_lines(lines, table)
    words = list(table)
    counts = Counter(dict(zip(words, np.bincount(first_seen, minlength=len(words)).tolist())))
    vocab = Vocabulary.from_counts(counts, max_size, min_freq)
    renumber = np.array([vocab.ids.get(word, vocab.unk_id) for word in words], dtype=np.int32)
    return vocab, renumber[first_seen]


class Vocabulary:
    """A bijection between words and ids; always contains `<unk>`."""

    def __init__(self, words: list[str]):
        if len(set(words)) != len(words):
            raise LstmlmError("vocabulary has duplicate words")
        if UNK not in words:
            raise LstmlmError(f"vocabulary lacks {UNK}")
        self.words = list(words)
        self.ids = {word: index for index, word in enumerate(self.words)}
        self.unk_id = self.ids[UNK]

    @classmethod
    def build(cls, words: Iterable[str], max_size: int = 0, min_freq: int = 1) -> "Vocabulary":
        """`from_counts` of the words' counts."""
        return cls.from_counts(Counter(words), max_size, min_freq)

    @classmethod
    def from_counts(cls, counts: Counter, max_size: int = 0, min_freq: int = 1) -> "Vocabulary":
        """The words counted at least `min_freq` times, most frequent first (ties in alphabetical
        order), plus `<unk>`: all of them, or the `max_size` most frequent (`<unk>` included)
        if `max_size` is not 0."""
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = [word for word, count in ordered if count >= min_freq]
        if max_size:
            kept = kept[:max_size]
        if UNK not in kept:
            kept = (kept[: max_size - 1] if max_size else kept) + [UNK]
        return cls(kept)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: list[str]) -> torch.Tensor:
        return torch.tensor([self.ids.get(word, self.unk_id) for word in words], dtype=torch.long)

    def encode_lines(self, lines: Iterable[str]) -> np.ndarray:
        """The int32 ids of `words_of_lines(lines)`, without building that list."""
        return ids_of_lines(lines, _OrUnknown(self.ids, self.unk_id))

    def decode(self, ids) -> list[str]:
        return [self.words[int(index)] for index in ids]

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps({"words": self.words}, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Vocabulary":
        try:
            words = json.loads(Path(path).read_text(encoding="utf-8"))["words"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise LstmlmError(f"cannot read vocabulary {path}: {error}") from None
        return cls(words)
