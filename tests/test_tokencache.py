"""The token cache: a corpus tokenised once, entries checked before use."""

import pytest
import torch

from lstmlm import corpus as corpus_module
from lstmlm import load_corpus, tokencache
from lstmlm.vocabulary import Vocabulary, words_of_lines

from .conftest import write_corpus


def entries(token_cache) -> list[str]:
    return sorted(path.name for path in token_cache.iterdir() if not path.name.startswith("."))


def reading_fails(monkeypatch):
    """Make any read of the corpus files an error, so only the cache can answer."""
    def refuse(path):
        raise AssertionError(f"{path} was read")
    monkeypatch.setattr(corpus_module, "file_lines", refuse)


def test_a_corpus_is_tokenised_once_and_read_back_identically(tmp_path, token_cache, monkeypatch):
    folder = write_corpus(tmp_path / "corpus", seed=11)
    first = load_corpus(str(folder))
    lines = (folder / "train.txt").read_text().splitlines()
    assert first.train.tolist() == first.vocab.encode(words_of_lines(lines)).tolist()
    assert first.train.dtype == torch.int64
    assert len(entries(token_cache)) >= 1
    reading_fails(monkeypatch)
    second = load_corpus(str(folder))
    assert second.vocab.words == first.vocab.words
    for split in ("train", "valid", "test"):
        assert torch.equal(second.split(split), first.split(split))


def test_the_key_follows_the_files_and_the_vocabulary_options(tmp_path, token_cache):
    folder = write_corpus(tmp_path / "corpus", seed=12)
    before = set(entries(token_cache))
    load_corpus(str(folder))
    load_corpus(str(folder), vocab_size=5)
    load_corpus(str(folder), vocab=Vocabulary(["the", "cat", "<unk>", "<eos>"]))
    (folder / "test.txt").write_text("the cat sees mary\n")
    assert len(load_corpus(str(folder)).test) == 5
    assert len(set(entries(token_cache)) - before) == 4


@pytest.mark.parametrize("damage", ["truncate", "flip", "no manifest", "bad manifest"])
def test_a_damaged_entry_is_rebuilt_never_used(tmp_path, token_cache, damage):
    folder = write_corpus(tmp_path / "corpus", seed=13)
    expected = load_corpus(str(folder))
    key = tokencache.entry_key(corpus_module.corpus_files(str(folder)),
                               {"vocab_size": 0, "min_freq": 1, "vocab": None})
    entry = token_cache / key
    array = entry / "train.npy"
    if damage == "truncate":
        array.write_bytes(array.read_bytes()[:-8])
    elif damage == "flip":
        data = bytearray(array.read_bytes())
        data[-1] ^= 1
        array.write_bytes(bytes(data))
    elif damage == "no manifest":
        (entry / tokencache.MANIFEST).unlink()
    else:
        (entry / tokencache.MANIFEST).write_text("{")
    assert tokencache.load(key) is None
    rebuilt = load_corpus(str(folder))
    assert torch.equal(rebuilt.train, expected.train)
    assert tokencache.load(key) is not None
