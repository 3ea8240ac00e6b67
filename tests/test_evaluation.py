"""Stream perplexity, dynamic evaluation and the neural cache."""

import dataclasses

import pytest
import torch

from lstmlm import LstmlmError, RecurrentLanguageModel
from lstmlm.cli import parse_args
from lstmlm.evaluation import (TUNING_WORDS, DynamicEvaluation, NeuralCache, adaptation_grid,
                               adaptation_words, adapted_perplexity, cache_perplexity,
                               dynamic_perplexity, mix_with_cache, stream_perplexity,
                               tune_adaptation)


@pytest.fixture
def model(toy_model):
    return toy_model


def test_stream_perplexity_is_the_same_for_any_window_length(model):
    ids = model.vocab.encode("the cat sees mary <eos> john eats some bread <eos>".split() * 5)
    one_window = stream_perplexity(model.network, ids, 1, 1000)
    assert stream_perplexity(model.network, ids, 1, 3) == pytest.approx(one_window, rel=1e-6)
    assert stream_perplexity(model.network, ids, 1, 1) == pytest.approx(one_window, rel=1e-6)


def test_stream_perplexity_of_an_untrained_model_is_about_the_vocabulary_size():
    torch.manual_seed(0)
    network = RecurrentLanguageModel(vocab_size=50, hidden_size=8, num_layers=1, init_scale=0.01)
    ids = torch.randint(0, 50, (400,))
    assert stream_perplexity(network, ids) == pytest.approx(50, rel=0.05)


def test_evaluation_restores_the_training_mode_on_an_error(model):
    network = model.network.train()
    out_of_vocabulary = torch.tensor([1, 2, 3, 999, 4, 5])  # fails inside the loop
    for evaluate in (stream_perplexity, dynamic_perplexity, cache_perplexity):
        with pytest.raises(IndexError):
            evaluate(network, out_of_vocabulary)
        assert network.training, evaluate.__name__
    network.eval()


def test_the_cli_defaults_are_the_library_defaults():
    args = parse_args(["eval", "RUN", "--dynamic", "--cache"])
    assert DynamicEvaluation(num_steps=args.dynamic_steps, learning_rate=args.dynamic_lr,
                             decay=args.dynamic_decay, method=args.dynamic_method) == \
        DynamicEvaluation()
    assert NeuralCache(window=args.cache_window, theta=args.cache_theta,
                       lambda_=args.cache_lambda) == NeuralCache()
    assert DynamicEvaluation().learning_rate == 0.03  # picked on valid (README)


def test_options_are_frozen_and_checked():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DynamicEvaluation().learning_rate = 1.0
    for bad in (DynamicEvaluation(learning_rate=0), DynamicEvaluation(decay=1.0),
                DynamicEvaluation(num_steps=0)):
        with pytest.raises(LstmlmError, match="dynamic evaluation needs"):
            bad.check()
    for bad in (NeuralCache(window=0), NeuralCache(theta=-1), NeuralCache(lambda_=1.5)):
        with pytest.raises(LstmlmError, match="cache needs"):
            bad.check()


def test_dynamic_evaluation_adapts_to_a_held_out_stream_and_restores_weights(model):
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


def test_dynamic_evaluation_of_an_adaptive_softmax_steps_over_the_clusters_a_window_misses(
        adaptive_model):
    # Only head words: no window reaches a tail cluster, whose weights get no gradient.
    ids = torch.tensor([0, 1, 2, 3] * 30)
    network = adaptive_model.network
    before = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    static = stream_perplexity(network, ids)
    for method, learning_rate in (("sgd", 0.05), ("rms", 0.001)):
        options = DynamicEvaluation(num_steps=5, learning_rate=learning_rate, method=method,
                                    decay=0.01)
        assert dynamic_perplexity(network, ids, options) < static
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_cache_distribution_sums_to_one_and_favours_cached_words():
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
    ids = model.vocab.encode(("john eats the fish <eos> " * 40).split())
    static = stream_perplexity(model.network, ids)
    assert cache_perplexity(model.network, ids, NeuralCache(window=50, lambda_=0.3)) < static
    assert cache_perplexity(model.network, ids, NeuralCache(lambda_=0.0)) == \
        pytest.approx(static, rel=1e-6)
    with pytest.raises(LstmlmError, match="cache needs window >= 1"):
        cache_perplexity(model.network, ids, NeuralCache(window=0))
    with pytest.raises(LstmlmError, match="cannot be combined"):
        model.evaluate("test", dynamic=DynamicEvaluation(), cache=NeuralCache())


@pytest.mark.parametrize("method", ["dynamic", "cache"])
def test_tuning_an_adaptation_takes_the_best_options_on_the_tuning_words(model, method):
    valid = model.vocab.encode(("john eats the fish <eos> the cat sees mary <eos> " * 30).split())
    adaptation = tune_adaptation(model.network, valid, method, words=120)
    tried = [adapted_perplexity(model.network, valid[:120], options)
             for options in adaptation_grid(method)]
    assert adaptation.options == adaptation_grid(method)[tried.index(min(tried))]
    assert adaptation.tuning_perplexity == min(tried) and adaptation.tuning_words == 120
    assert adaptation.perplexity(model.network, valid) == \
        adapted_perplexity(model.network, valid, adaptation.options)
    assert adaptation.describe().startswith(
        "dynamic evaluation, learning rate" if method == "dynamic" else "neural cache, window")
    assert adaptation_words(method, valid_words=50_000, test_words=80_000) == \
        len(adaptation_grid(method)) * TUNING_WORDS + 80_000
    assert adaptation_words("static", valid_words=50_000, test_words=80_000) == 0


def test_an_unknown_adaptation_is_an_error(model):
    with pytest.raises(LstmlmError, match="must be dynamic or cache, got 'rms'"):
        adaptation_grid("rms")
