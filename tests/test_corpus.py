"""Finding, reading and caching a corpus's three splits."""

import pytest

from lstmlm import LstmlmError, load_corpus
from lstmlm.corpus import split_lines


def test_single_file_split_is_contiguous_90_5_5():
    lines = [f"line {i}" for i in range(100)]
    splits = split_lines(lines)
    assert splits["train"] == lines[:90] and splits["valid"] == lines[90:95]
    assert splits["test"] == lines[95:]


def test_load_corpus_from_folder_and_from_one_file(tmp_path, tiny_corpus):
    corpus = load_corpus(str(tiny_corpus), vocab_size=100)
    assert corpus.vocab.words[-1] == "<unk>" and "<eos>" in corpus.vocab.ids
    train_lines = (tiny_corpus / "train.txt").read_text().splitlines()
    assert len(corpus.train) == sum(len(line.split()) + 1 for line in train_lines)
    first = train_lines[0].split() + ["<eos>"]
    assert corpus.vocab.decode(corpus.train[:len(first)]) == first
    single = tmp_path / "all.txt"
    single.write_text("".join(f"w{i % 7} w{i % 3}\n" for i in range(40)), encoding="utf-8")
    corpus = load_corpus(str(single))
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (36 * 3, 2 * 3, 2 * 3)


def test_vocabulary_comes_from_training_split_only(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "train.txt").write_text("a b\n")
    (folder / "valid.txt").write_text("a zzz\n")
    (folder / "test.txt").write_text("b\n")
    corpus = load_corpus(str(folder))
    assert "zzz" not in corpus.vocab.ids
    assert corpus.valid.tolist() == [corpus.vocab.ids["a"], corpus.vocab.unk_id,
                                     corpus.vocab.ids["<eos>"]]


def test_folder_without_split_files_is_an_error(tmp_path):
    with pytest.raises(LstmlmError, match="has no train.txt"):
        load_corpus(str(tmp_path))


def test_unknown_data_name_is_an_error():
    with pytest.raises(LstmlmError, match="no dataset, folder or file named 'nope'"):
        load_corpus("nope")


def test_ptb_reads_as_the_reference(ptb_dir):
    corpus = load_corpus(str(ptb_dir))
    assert len(corpus.vocab) == 10000
    assert corpus.vocab.words[:3] == ["the", "<unk>", "<eos>"]
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (929589, 73760, 82430)
