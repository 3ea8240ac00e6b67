import itertools
import warnings

import pytest
import torch

from lstmlm import LstmlmError
from lstmlm.generation import choose, generate_ids, text_of


@pytest.fixture
def model(toy_model):
    return toy_model


def test_text_writes_eos_as_line_breaks():
    assert text_of(["a", "b", "<eos>", "c", "<eos>"]) == "a b\nc\n"
    assert text_of(["<eos>", "a"]) == "\na"


def test_greedy_is_deterministic(model):
    first = model.generate("the cat", 30, strategy="greedy")
    assert first == model.generate("the cat", 30, strategy="greedy", seed=5)
    assert len(first.split()) == 30 - first.count("\n")


def test_sampling_with_a_seed_is_repeatable(model):
    first = model.generate("", 40, seed=3)
    assert first == model.generate("", 40, seed=3)
    assert first != model.generate("", 40, seed=4)


def test_top_k_one_and_tiny_temperature_equal_greedy(model):
    greedy = model.generate("a dog", 25, strategy="greedy")
    assert model.generate("a dog", 25, top_k=1, seed=1) == greedy
    assert model.generate("a dog", 25, temperature=1e-4, seed=2) == greedy


def test_choose_respects_top_k_and_top_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    generator = torch.Generator().manual_seed(0)
    picks = {choose(logits, top_k=2, generator=generator) for _ in range(200)}
    assert picks == {0, 1}
    picks = {choose(logits, top_p=0.75, generator=generator) for _ in range(200)}
    assert picks == {0, 1}  # 0.5 < 0.75, so the nucleus needs the second id too
    assert {choose(logits, top_p=0.4, generator=generator) for _ in range(50)} == {0}


def test_unk_never_appears_when_masked(model):
    words = list(zip(range(2000), model.generate_words("", seed=0)))
    assert "<unk>" not in {word for _, word in words}
    allowed = [word for _, word in zip(range(2000), model.generate_words("", seed=0, allow_unk=True))]
    assert "<unk>" in allowed  # the toy vocabulary maps several frequent words to <unk>


def test_stop_at_unk_ends_before_the_first_unknown_word(model):
    stream = list(itertools.islice(model.generate_words("", seed=0, allow_unk=True), 2000))
    assert "<unk>" in stream  # the toy vocabulary maps several frequent words to <unk>
    stopped = list(model.generate_words("", seed=0, allow_unk=True, stop_at_unk=True))
    assert stopped == stream[:stream.index("<unk>")]


def test_stop_at_eos_and_sentences_of_min_length(model):
    text = model.generate("", 500, stop_at_eos=True, seed=1)
    assert "\n" not in text and len(text.split()) < 500
    sentences = model.generate_sentences(5, min_length=4, seed=2)
    assert len(sentences) == 5 and all(len(sentence.split()) >= 4 for sentence in sentences)


def test_oov_prime_words_warn_and_empty_prime_starts_a_sentence(model):
    with pytest.warns(UserWarning, match="not in the vocabulary.*zebra"):
        model.generate("zebra the", 3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.generate("", 3, seed=0)


@pytest.mark.parametrize("options, message", [
    ({"temperature": -1}, "temperature must be >= 0"),
    ({"top_p": 0}, "top-p must be in (0, 1]"),
    ({"top_p": 1.5}, "top-p must be in (0, 1]"),
    ({"top_k": -2}, "top-k must be >= 0"),
    ({"strategy": "beam"}, "unknown strategy 'beam'"),
])
def test_bad_generation_options(model, options, message):
    with pytest.raises(LstmlmError) as error:
        model.generate("the", 5, **options)
    assert message in str(error.value)
    with pytest.raises(LstmlmError, match="number of words must be >= 1"):
        model.generate("the", 0)


def test_greedy_sentences_that_repeat_fail_clearly(model):
    with pytest.raises(LstmlmError, match="no sentence of at least 50 words"):
        model.generate_sentences(1, min_length=50, strategy="greedy", max_attempts=3)


def test_generation_restores_the_training_mode_when_the_stream_is_closed(model):
    network = model.network.train()
    stream = generate_ids(network, [0], strategy="greedy")
    next(stream)
    assert not network.training  # no dropout while generating
    stream.close()
    assert network.training
    network.eval()
