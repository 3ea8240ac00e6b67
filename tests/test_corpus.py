import pytest
import torch

from lstmlm import LstmlmError, Vocabulary, load_corpus
from lstmlm.batching import batchify, epoch_size, window_lengths, windows
from lstmlm.corpus import split_lines
from lstmlm.normalization import clean_line, clean_lines
from lstmlm.textfiles import read_lines
from lstmlm.vocabulary import words_of_lines


def test_each_line_ends_with_eos_including_blank_lines():
    assert words_of_lines([" a b ", "", "c"]) == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]


def test_vocabulary_orders_by_count_then_alphabet_and_adds_unk():
    vocab = Vocabulary.build("b a c b a b d".split(), max_size=10)
    assert vocab.words == ["b", "a", "c", "d", "<unk>"]
    assert vocab.encode(["a", "zebra"]).tolist() == [1, vocab.unk_id]


def test_vocabulary_keeps_corpus_unk_in_frequency_order():
    vocab = Vocabulary.build("<unk> <unk> x".split(), max_size=10)
    assert vocab.words == ["<unk>", "x"]


def test_vocab_size_and_min_freq_cap_the_vocabulary():
    words = "a a a b b c".split()
    assert Vocabulary.build(words, max_size=3).words == ["a", "b", "<unk>"]
    assert Vocabulary.build(words, max_size=10, min_freq=2).words == ["a", "b", "<unk>"]


def test_vocabulary_round_trips_through_json(tmp_path):
    vocab = Vocabulary.build("ü b b".split(), max_size=5)
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json").words == vocab.words


def test_producer_matches_reference_semantics():
    # The reference test: raw_data = [4, 3, 2, 1, 0, 5, 6, 1, 1, 1, 1, 0, 3, 4, 1],
    # batch_size 3, num_steps 2 gives x0 = [[4, 3], [5, 6], [1, 0]], y0 = [[3, 2], [6, 1], [0, 3]]
    # and x1 = [[2, 1], [1, 1], [3, 4]], y1 = [[1, 0], [1, 1], [4, 1]].
    raw = torch.tensor([4, 3, 2, 1, 0, 5, 6, 1, 1, 1, 1, 0, 3, 4, 1])
    rows = batchify(raw, 3)
    produced = list(windows(rows, 2))
    assert epoch_size(len(raw), 3, 2) == len(produced) == 2
    (x0, y0), (x1, y1) = produced
    assert x0.tolist() == [[4, 3], [5, 6], [1, 0]] and y0.tolist() == [[3, 2], [6, 1], [0, 3]]
    assert x1.tolist() == [[2, 1], [1, 1], [3, 4]] and y1.tolist() == [[1, 0], [1, 1], [4, 1]]


def test_partial_windows_score_every_target_once():
    ids = torch.arange(23)
    rows = batchify(ids, 1)
    targets = torch.cat([y.flatten() for _, y in windows(rows, 5, include_partial=True)])
    assert targets.tolist() == list(range(1, 23))
    assert [x.size(1) for x, _ in windows(rows, 5, include_partial=True)] == [5, 5, 5, 5, 2]


def test_windows_start_skips_done_windows():
    rows = batchify(torch.arange(40), 2)
    assert [x.tolist() for x, _ in windows(rows, 3, start=4)] == \
        [x.tolist() for x, _ in list(windows(rows, 3))[4:]]


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


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    (b"", "is empty"),
    (b"  \n\n", "is empty"),
    (b"caf\xe9\n", "is not UTF-8"),
])
def test_bad_corpus_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LstmlmError, match=message):
        read_lines(path)


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


def test_fixed_and_variable_window_lengths():
    assert window_lengths(10_000, 20, 35) == [35] * epoch_size(10_000, 20, 35)
    lengths = window_lengths(100_000, 20, 35, variable=True, seed=3)
    assert lengths == window_lengths(100_000, 20, 35, variable=True, seed=3)
    assert lengths != window_lengths(100_000, 20, 35, variable=True, seed=4)
    assert sum(lengths) <= 100_000 // 20 - 1 and min(lengths) >= 5
    assert 30 < sum(lengths) / len(lengths) < 36
    assert any(length < 27 for length in lengths)  # some windows are drawn around 35 / 2


def test_cleaning_keeps_apostrophes_and_hyphens_inside_words():
    assert clean_line("O’er the hill, o'er the DALE -- well-met!") == \
        "o'er the hill o'er the dale -- well-met"
    assert clean_lines(["", "  Hello, World!  ", "..."]) == ["hello world"]


def test_lines_end_at_newlines_with_or_without_carriage_returns(tmp_path):
    (tmp_path / "corpus.txt").write_bytes(b"a b\r\nc\n\nd\xc3\xa9")
    assert read_lines(tmp_path / "corpus.txt") == ["a b", "c", "", "d\u00e9"]
    (tmp_path / "bad.txt").write_bytes(b"fine\nst\xe9\n")
    with pytest.raises(LstmlmError, match=r"is not UTF-8 \(bad byte at offset 7\)"):
        read_lines(tmp_path / "bad.txt")
