"""Tokenised corpora cached on disk, so that a large corpus is read into ids only once.

An entry is a folder named by a key (the source files' sha256 and the vocabulary options)
holding the vocabulary's words, one int32 `.npy` array per split, and a manifest with each
array's length and sha256. An entry is built in a temporary folder and renamed into place
whole, and it is used only if every array matches its manifest: a partial or corrupt entry is
rebuilt, never read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .datasets import cache_dir, file_digest
from .errors import WriteError
from .files import replacing_folder, writing

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WORDS = "words.json"


def tokens_dir() -> Path:
    """Where entries live: `LSTMLM_TOKEN_CACHE_DIR`, else `tokens/` in the dataset cache."""
    return Path(os.environ.get("LSTMLM_TOKEN_CACHE_DIR") or cache_dir() / "tokens")


def entry_key(files: dict[str, Path], options: dict) -> str:
    """The key of a corpus: its files' contents and the options that shape its ids."""
    description = {"format": FORMAT_VERSION, "options": options,
                   "files": {split: file_digest(path) for split, path in files.items()}}
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:32]


def load(key: str) -> tuple[list[str], dict[str, np.ndarray]] | None:
    """The vocabulary words and id arrays (memory-mapped) of entry `key`, or None if there is
    no entry or it does not match its manifest."""
    folder = tokens_dir() / key
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        words = json.loads((folder / WORDS).read_text(encoding="utf-8"))
        arrays = {}
        for split, expected in manifest["arrays"].items():
            path = folder / f"{split}.npy"
            if file_digest(path) != expected["sha256"]:
                return None
            arrays[split] = np.load(path, mmap_mode="r")
            if arrays[split].shape != (expected["length"],) or arrays[split].dtype != np.int32:
                return None
        if len(words) != manifest["vocabulary"]:
            return None
        return words, arrays
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(key: str, words: list[str], arrays: dict[str, np.ndarray]) -> None:
    """Write entry `key` whole (a staging folder renamed into place), replacing a bad one."""
    try:
        with writing(tokens_dir() / key), replacing_folder(tokens_dir() / key) as staging:
            manifest = {"format": FORMAT_VERSION, "vocabulary": len(words), "arrays": {}}
            for split, ids in arrays.items():
                np.save(staging / f"{split}.npy", np.asarray(ids, dtype=np.int32))
                manifest["arrays"][split] = {"length": len(ids),
                                             "sha256": file_digest(staging / f"{split}.npy")}
            (staging / WORDS).write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    except WriteError:
        if load(key) is None:  # not another process's complete entry, written meanwhile
            raise
