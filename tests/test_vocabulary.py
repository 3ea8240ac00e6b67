"""The vocabulary and the id streams of lines, as the reference reads them."""

from lstmlm import Vocabulary
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
