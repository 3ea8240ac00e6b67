import math
import warnings

import pytest
import torch

import lstmlm
from lstmlm import LstmlmError, apply_overrides, train
from lstmlm.evaluation import DynamicEvaluation, NeuralCache, stream_perplexity
from lstmlm.generation import choose, text_of
from lstmlm.scoring import corpus_score

from .conftest import write_corpus


@pytest.fixture(scope="module")
def model(tmp_path_factory, request):
    """A tiny model trained on the toy grammar, with a vocabulary that leaves `<unk>` frequent."""
    folder = write_corpus(tmp_path_factory.mktemp("corpus"), lines=300)
    config = apply_overrides(lstmlm.get_preset("test"), {
        "data": str(folder), "hidden_size": 16, "batch_size": 4, "num_steps": 5, "vocab_size": 12,
        "max_max_epoch": 2, "learning_rate": 1.0, "max_grad_norm": 5.0})
    result = train(config, runs_dir=tmp_path_factory.mktemp("runs"), echo=None)
    return lstmlm.load(result.run_dir)


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
    assert model.vocab.unk_id is not None
    words = list(zip(range(2000), model.generate_words("", seed=0)))
    assert "<unk>" not in {word for _, word in words}
    allowed = [word for _, word in zip(range(2000), model.generate_words("", seed=0, allow_unk=True))]
    assert "<unk>" in allowed  # the toy vocabulary maps several frequent words to <unk>


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


def test_plot_writes_a_png_and_refuses_runs_without_epochs(model, tmp_path):
    png = (model.run_dir / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1200, 450)
    from lstmlm.plotting import plot_runs

    out = plot_runs([model.run_dir, model.run_dir], tmp_path / "both.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    (empty / "vocab.json").write_text('{"words": ["<unk>"]}')
    with pytest.raises(LstmlmError, match="no finished epoch to plot"):
        plot_runs([empty], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_dynamic_evaluation_adapts_to_a_held_out_stream_and_restores_weights(model):
    from lstmlm.evaluation import dynamic_perplexity

    # A held-out stream that keeps repeating one sentence: a model that adapts should gain.
    ids = model.vocab.encode(("john eats the fish <eos> " * 60).split())
    before = {name: tensor.clone() for name, tensor in model.network.state_dict().items()}
    static = stream_perplexity(model.network, ids)
    dynamic = dynamic_perplexity(model.network, ids, DynamicEvaluation(num_steps=5,
                                                                       learning_rate=0.05))
    assert dynamic < static * 0.8
    for name, tensor in model.network.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert stream_perplexity(model.network, ids) == static
    rms = DynamicEvaluation(num_steps=5, learning_rate=0.001, method="rms")
    assert dynamic_perplexity(model.network, ids, rms) < static
    with pytest.raises(LstmlmError, match="method must be sgd or rms"):
        dynamic_perplexity(model.network, ids, DynamicEvaluation(method="adam"))


def test_cache_distribution_sums_to_one_and_favours_cached_words():
    from lstmlm.evaluation import mix_with_cache

    generator = torch.Generator().manual_seed(0)
    vocab_probabilities = torch.softmax(torch.randn(50, generator=generator), dim=0)
    keys = torch.randn(7, 4, generator=generator)
    values = torch.tensor([3, 3, 9, 1, 3, 40, 9])
    mixed = mix_with_cache(vocab_probabilities, keys, values, keys[0], theta=0.5, lambda_=0.3)
    assert mixed.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert (mixed >= 0).all()
    uncached = torch.ones(50, dtype=torch.bool)
    uncached[values] = False
    torch.testing.assert_close(mixed[uncached], 0.7 * vocab_probabilities[uncached])
    assert mixed[3] > vocab_probabilities[3]
    empty = mix_with_cache(vocab_probabilities, keys[:0], values[:0], keys[0], 0.5, 0.3)
    torch.testing.assert_close(empty, vocab_probabilities)


def test_cache_lowers_perplexity_on_a_repetitive_stream(model):
    from lstmlm.evaluation import cache_perplexity

    ids = model.vocab.encode(("john eats the fish <eos> " * 40).split())
    static = stream_perplexity(model.network, ids)
    assert cache_perplexity(model.network, ids, NeuralCache(window=50, lambda_=0.3)) < static
    assert cache_perplexity(model.network, ids, NeuralCache(lambda_=0.0)) == \
        pytest.approx(static, rel=1e-6)
    with pytest.raises(LstmlmError, match="cache needs window >= 1"):
        cache_perplexity(model.network, ids, NeuralCache(window=0))
    with pytest.raises(LstmlmError, match="cannot be combined"):
        model.evaluate("test", dynamic=DynamicEvaluation(), cache=NeuralCache())
