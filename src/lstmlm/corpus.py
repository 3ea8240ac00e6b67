"""Reading text into word ids, the vocabulary, and the reference's batching.

Semantics follow TensorFlow's `ptb/reader.py`: every line's words followed by `<eos>`;
the vocabulary comes from the training split only, ordered by descending count, then
alphabetically; the id stream is cut into `batch_size` contiguous rows and read in windows
of `num_steps` with targets shifted by one.
"""

from __future__ import annotations

import json
import random
from array import array
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from . import datasets, tokencache
from .errors import LstmlmError
from .files import atomic_write_text

EOS = "<eos>"
UNK = "<unk>"
SPLITS = ("train", "valid", "test")


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


GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG", re.MULTILINE)
GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG", re.MULTILINE)
NOT_WORD = re.compile(r"[^\w\s'-]+")


def strip_gutenberg(text: str) -> str:
    """The text between Project Gutenberg's START and END markers (all of it if they are absent)."""
    start, end = GUTENBERG_START.search(text), GUTENBERG_END.search(text)
    begin = text.index("\n", start.end()) + 1 if start else 0
    return text[begin:end.start() if end else len(text)]


def clean_line(line: str) -> str:
    """Lowercase, drop punctuation except hyphens and apostrophes, collapse whitespace.

    The typographic apostrophe (U+2019, as in the current pg100.txt's `o’er`) is read as `'`,
    so it never splits a word and both spellings are one vocabulary entry.
    """
    return " ".join(NOT_WORD.sub(" ", line.lower().replace("\u2019", "'")).split())


def clean_lines(lines: list[str]) -> list[str]:
    """`clean_line` on every line, keeping the non-empty ones (the cookbook's text cleaning)."""
    cleaned = (clean_line(line) for line in strip_gutenberg("\n".join(lines)).splitlines())
    return [line for line in cleaned if line]


def file_lines(path: Path, keep_ends: bool = False) -> Iterator[str]:
    """The lines of a UTF-8 file, read one at a time (a line ends at a newline, which is
    dropped with a carriage return before it unless `keep_ends`). A missing, undecodable or
    empty file is an LstmlmError."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise LstmlmError(f"corpus file not found: {path}") from None
    except OSError as error:
        raise LstmlmError(f"cannot read corpus file {path}: {error.strerror}") from None
    with handle:
        offset, has_words = 0, False
        for raw in handle:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise LstmlmError(f"corpus file {path} is not UTF-8 (bad byte at offset "
                                  f"{offset + error.start})") from None
            offset += len(raw)
            has_words = has_words or not line.isspace()
            yield line if keep_ends else line.rstrip("\r\n")
    if not has_words:
        raise LstmlmError(f"corpus file {path} is empty")


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, with file_lines' checks."""
    return list(file_lines(path))


def read_text(path: Path) -> str:
    """The whole text of a UTF-8 file as it is (a CSV cell may hold its own line breaks), with
    file_lines' checks."""
    return "".join(file_lines(path, keep_ends=True))


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


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut the stream into `batch_size` contiguous rows, dropping the remainder (as the reference)."""
    batch_len = len(ids) // batch_size
    return ids[: batch_size * batch_len].view(batch_size, batch_len)


def epoch_size(num_ids: int, batch_size: int, num_steps: int) -> int:
    """Number of full training windows per epoch: `(len // batch_size - 1) // num_steps`."""
    return (num_ids // batch_size - 1) // num_steps


def window_lengths(num_ids: int, batch_size: int, num_steps: int, variable: bool = False,
                   seed: int = 0) -> list[int]:
    """The training windows' lengths for one epoch (only full windows, as the reference).

    Fixed: `epoch_size` windows of `num_steps`. Variable (AWD-LSTM): each window's mean is
    `num_steps`, or half of it with probability 0.05, and its length is drawn from a normal
    with standard deviation 5, at least 5. The draw is seeded so that a resumed epoch sees the
    same windows.
    """
    if not variable:
        return [num_steps] * epoch_size(num_ids, batch_size, num_steps)
    generator = random.Random(seed)
    remaining, lengths = num_ids // batch_size - 1, []
    while True:
        mean = num_steps if generator.random() < 0.95 else num_steps / 2
        length = max(5, int(generator.gauss(mean, 5)))
        if length > remaining:
            return lengths
        lengths.append(length)
        remaining -= length


def windows_of_lengths(rows: torch.Tensor, lengths: list[int],
                       start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) windows of the given lengths, from the `start`-th window on."""
    begin = sum(lengths[:start])
    for length in lengths[start:]:
        yield rows[:, begin:begin + length], rows[:, begin + 1:begin + length + 1]
        begin += length


def windows(rows: torch.Tensor, num_steps: int, *, include_partial: bool = False,
            start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) windows of `num_steps` over batched rows, targets shifted by one.

    Full windows only by default, as the reference trains; evaluation passes `include_partial`
    so that every one of the `len - 1` targets is scored. `start` skips the first windows.
    """
    usable = rows.size(1) - 1
    lengths = [num_steps] * (usable // num_steps)
    if include_partial and usable % num_steps:
        lengths.append(usable % num_steps)
    return windows_of_lengths(rows, lengths, start)
