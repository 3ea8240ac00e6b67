"""Sentence scoring: per-sentence log-probabilities and corpus totals."""

import math

import pytest
import torch

from lstmlm import scoring
from lstmlm.evaluation import stream_perplexity
from lstmlm.scoring import corpus_score, score_sentences


@pytest.fixture
def model(toy_model):
    return toy_model


def test_sentence_score_equals_the_stream_perplexity_of_that_sentence(model):
    sentences = ["the cat sees mary", "john eats some bread", "mary likes a zebra"]
    scores = model.score(sentences)
    for sentence, score in zip(sentences, scores):
        words = sentence.split()
        ids = model.vocab.encode(["<eos>"] + words + ["<eos>"])
        assert score.perplexity == pytest.approx(stream_perplexity(model.network, ids), rel=1e-5)
        assert score.words == len(words) and score.log10prob == pytest.approx(score.logprob / math.log(10))
    assert [score.oov for score in scores] == [sum(word not in model.vocab.ids for word in s.split())
                                               for s in sentences]
    total = corpus_score(scores)
    assert total.perplexity == pytest.approx(
        math.exp(-sum(score.logprob for score in scores) / (total.words + len(sentences))))


def test_batched_scoring_equals_one_at_a_time(model):
    sentences = ["the cat", "a dog likes the fish and more", "john", "my friend eats mary"] * 5
    batched = model.score(sentences, batch_size=64)
    single = model.score(sentences, batch_size=1)
    for left, right in zip(batched, single):
        assert left.logprob == pytest.approx(right.logprob, rel=1e-5, abs=1e-5)


def test_scoring_restores_the_training_mode_on_an_error(model):
    network = model.network.train()
    with pytest.raises(ValueError):  # a batch size of 0 fails inside the scoring loop
        score_sentences(network, model.vocab, [["the", "cat"]], batch_size=0)
    assert network.training
    network.eval()


def test_surprisals_sum_to_the_sentence_log_probability(model):
    sentences = ["the cat sees mary", "john eats a zebra", ""]
    per_sentence = model.surprisals(sentences)
    for sentence, words, score in zip(sentences, per_sentence, model.score(sentences)):
        assert [word.word for word in words] == sentence.split() + ["<eos>"]
        assert [word.oov for word in words] == [token not in model.vocab.ids
                                                for token in sentence.split()] + [False]
        assert all(word.bits > 0 for word in words)
        assert sum(word.bits for word in words) * math.log(2) == pytest.approx(-score.logprob,
                                                                               rel=1e-9)
    assert per_sentence[1][3].oov  # "zebra" is not in the toy vocabulary
    # Each surprisal is that of the word in context: the first word's is -log2 p(word | <eos>).
    ids = model.vocab.encode(["<eos>", "the"])
    first = -math.log2(1 / stream_perplexity(model.network, ids))
    assert per_sentence[0][0].bits == pytest.approx(first, rel=1e-5)


def test_a_long_sentence_is_scored_in_windows_of_bounded_logits(model, monkeypatch):
    text = "the cat sees mary and john eats some bread " * 60
    sentences = [" ".join(text.split()[:200]), text]
    whole = model.surprisals(sentences)  # today's budget holds them at once
    steps_seen = []
    real_features = type(model.network).features

    def recording_features(network, input_ids, state):
        steps_seen.append(input_ids.shape)
        return real_features(network, input_ids, state)

    # A budget of 4 rows of logits: a batch of 2 sentences is read 2 steps at a time.
    monkeypatch.setattr(scoring, "LOGIT_BUDGET", 4 * model.network.vocab_size)
    monkeypatch.setattr(type(model.network), "features", recording_features)
    windowed = model.surprisals(sentences)
    assert {shape[1] for shape in steps_seen} <= {1, 2}
    assert max(shape[0] * shape[1] for shape in steps_seen) <= 4
    for left, right in zip(whole, windowed):
        assert [word.word for word in left] == [word.word for word in right]
        assert [word.bits for word in right] == pytest.approx([word.bits for word in left],
                                                              rel=1e-6)


# The conventions of docs/scoring-conventions.md, one test each.

def test_convention_log_bases(model):
    (score,) = model.score(["the cat sees mary"])
    bits = sum(word.bits for word in model.surprisals(["the cat sees mary"])[0])
    assert score.log10prob == pytest.approx(score.logprob / math.log(10))
    assert bits == pytest.approx(-score.logprob / math.log(2), rel=1e-6)


def test_convention_the_first_word_follows_a_sentence_end(model):
    # A sentence's first word is predicted from the zero state after <eos>.
    ids = model.vocab.encode(["<eos>", "the"])
    logits, _ = model.network(ids[None, :1], model.network.init_state(1))
    expected = torch.log_softmax(logits[0, 0].double(), dim=-1)[ids[1]].item()
    first = model.surprisals(["the cat"])[0][0]
    assert -first.bits * math.log(2) == pytest.approx(expected, rel=1e-5)


def test_convention_eos_is_scored_and_counted(model):
    (score,) = model.score(["john eats"])
    words = model.surprisals(["john eats"])[0]
    assert [word.word for word in words] == ["john", "eats", "<eos>"]
    assert score.perplexity == pytest.approx(math.exp(-score.logprob / 3))


def test_convention_oov_words_are_scored_as_unk(model):
    (with_oov,) = model.score(["the zebra sees mary"])
    (with_unk,) = model.score(["the <unk> sees mary"])
    assert with_oov.oov == 1 and with_unk.oov == 0
    assert with_oov.logprob == pytest.approx(with_unk.logprob, rel=1e-9)
    assert [word.oov for word in model.surprisals(["the zebra"])[0]] == [False, True, False]


def test_convention_a_score_does_not_depend_on_the_batch(model, monkeypatch):
    alone = model.score(["a dog likes the fish"])[0].logprob
    others = ["john", "my friend eats some bread and the cat sees mary", "the cat"] * 7
    for batch_size in (1, 2, 64):
        scores = model.score(others + ["a dog likes the fish"], batch_size=batch_size)
        assert scores[-1].logprob == pytest.approx(alone, rel=1e-5)
    monkeypatch.setattr(scoring, "LOGIT_BUDGET", 2 * model.network.vocab_size)
    assert model.score(["a dog likes the fish"])[0].logprob == pytest.approx(alone, rel=1e-5)
