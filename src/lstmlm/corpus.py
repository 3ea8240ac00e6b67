"""A corpus: its train, valid and test splits found (a dataset, a folder, one file split by
lines), read and cleaned as asked, and turned into id streams with the vocabulary of the
training split, cached so that a large corpus is tokenised once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from . import datasets, tokencache
from .errors import LstmlmError
from .normalization import clean_lines
from .textfiles import file_lines, read_lines
from .vocabulary import Vocabulary, vocabulary_and_ids

SPLITS = ("train", "valid", "test")


@dataclass
class Corpus:
    """The three splits as id streams, and the vocabulary built from the training split."""

    vocab: Vocabulary
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    def split(self, name: str) -> torch.Tensor:
        if name not in SPLITS:
            raise LstmlmError(f"unknown split {name!r} (known: {', '.join(SPLITS)})")
        return getattr(self, name)


def corpus_files(data: str) -> dict[str, Path] | Path:
    """The train/valid/test files of `data` (a dataset name or a folder), or the one file that
    is split into them."""
    path = datasets.SAMPLE_DIR if data == datasets.SAMPLE else Path(data)
    if data in datasets.DATASETS:
        path = datasets.resolve(data)
        names = list(datasets.DATASETS[data].sha256)
        if len(names) == 1:  # one text, split like a --data FILE
            return path / names[0]
    if path.is_dir():
        for pattern in ("{split}.txt", "ptb.{split}.txt", "wiki.{split}.tokens"):
            files = {split: path / pattern.format(split=split) for split in SPLITS}
            if any(file.exists() for file in files.values()):
                return files
        raise LstmlmError(f"{path} has no train.txt/valid.txt/test.txt (or ptb.*.txt, "
                          f"wiki.*.tokens)")
    if path.is_file():
        return path
    raise LstmlmError(f"no dataset, folder or file named {data!r} "
                      f"(known datasets: {', '.join([datasets.SAMPLE, *datasets.DATASETS])})")


def split_files(data: str, clean: bool = False) -> dict[str, list[str]]:
    """Lines of train/valid/test for `data`: a dataset name, a folder, or one file to split.

    `clean` applies `clean_lines` to each file before any split.
    """
    return _split_lines_of(corpus_files(data), clean)


def _split_lines_of(files: dict[str, Path] | Path, clean: bool) -> dict[str, list[str]]:
    def read(path: Path) -> list[str]:
        lines = read_lines(path)
        if clean and not (lines := clean_lines(lines)):
            raise LstmlmError(f"corpus file {path} has no words left after cleaning")
        return lines

    if isinstance(files, Path):
        return split_lines(read(files))
    return {split: read(path) for split, path in files.items()}


def split_lines(lines: list[str]) -> dict[str, list[str]]:
    """Contiguous 90/5/5 split by lines, so the result is deterministic."""
    if len(lines) < 20:
        raise LstmlmError(f"a single-file corpus needs at least 20 lines to split, got {len(lines)}")
    train_end = int(len(lines) * 0.9)
    valid_end = int(len(lines) * 0.95)
    return {"train": lines[:train_end], "valid": lines[train_end:valid_end],
            "test": lines[valid_end:]}


def load_corpus(data: str, vocab_size: int = 0, min_freq: int = 1,
                vocab: Vocabulary | None = None, clean: bool = False) -> Corpus:
    """Read `data` into id streams, building the vocabulary from train unless one is given
    (every training word, or the `vocab_size` most frequent ones).

    `clean` applies `clean_lines` (lowercase, no punctuation) to the text first. The ids of a
    corpus of three split files are cached (`tokencache`), so a large corpus is tokenised once;
    its files are read a line at a time.
    """
    files = corpus_files(data)
    if clean or isinstance(files, Path):
        lines = _split_lines_of(files, clean)
        vocab, arrays = _encode_splits(lines, vocab_size, min_freq, vocab)
    else:
        vocab, arrays = cached_ids(files, vocab_size, min_freq, vocab)
    # The streams are held as int64, the index type the embedding and the loss take.
    return Corpus(vocab, *(torch.from_numpy(np.asarray(arrays[split], dtype=np.int64))
                           for split in SPLITS))


def cached_ids(files: dict[str, Path], vocab_size: int, min_freq: int,
               vocab: Vocabulary | None) -> tuple[Vocabulary, dict[str, np.ndarray]]:
    """The vocabulary and int32 ids of three split files, from the token cache if it holds
    them, else streamed from the files and stored in the cache."""
    options = {"vocab_size": vocab_size, "min_freq": min_freq,
               "vocab": None if vocab is None else vocab.words}
    key = tokencache.entry_key(files, options)
    cached = tokencache.load(key)
    if cached is not None:
        words, arrays = cached
        return vocab or Vocabulary(words), arrays
    vocab, arrays = _encode_splits({split: file_lines(path) for split, path in files.items()},
                                   vocab_size, min_freq, vocab)
    tokencache.store(key, vocab.words, arrays)
    return vocab, arrays


def _encode_splits(lines: dict[str, Iterable[str]], vocab_size: int, min_freq: int,
                   vocab: Vocabulary | None) -> tuple[Vocabulary, dict[str, np.ndarray]]:
    """The int32 ids of each split's lines, with the vocabulary built from train unless given."""
    arrays = {}
    if vocab is None:
        vocab, arrays["train"] = vocabulary_and_ids(lines["train"], vocab_size, min_freq)
    for split in SPLITS:
        if split not in arrays:
            arrays[split] = vocab.encode_lines(lines[split])
    return vocab, arrays
