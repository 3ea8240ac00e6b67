"""The named presets: the published values of each recipe, and every preset builds."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from lstmlm import PRESETS, Config, LstmlmError, apply_overrides, get_preset
from lstmlm.builders import build_network

ISSUE_TABLE = {  # the values of the presets exactly as published in ptb_word_lm.py
    "small": (0.1, 1.0, 5, 2, 20, 200, 4, 13, 1.0, 0.5, 20),
    "medium": (0.05, 1.0, 5, 2, 35, 650, 6, 39, 0.5, 0.8, 20),
    "large": (0.04, 1.0, 10, 2, 35, 1500, 14, 55, 0.35, 1 / 1.15, 20),
    "test": (0.1, 1.0, 1, 1, 2, 2, 1, 1, 1.0, 0.5, 20),
}


COLUMNS = ("init_scale", "learning_rate", "max_grad_norm", "num_layers", "num_steps",
           "hidden_size", "max_epoch", "max_max_epoch", "keep_prob", "lr_decay", "batch_size")


def published(config: Config) -> tuple:
    """The columns of ISSUE_TABLE, the keep probability read back from the dropout."""
    values = dict(config.flat(), keep_prob=round(1 - config.regularisation.dropout, 12))
    return tuple(values[column] for column in COLUMNS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds(name):
    config = get_preset(name)
    assert config.preset == name and config == Config.from_dict(config.to_dict())
    # Its model, at every width its time budget may choose, on the meta device (shapes only, no
    # memory), for WikiText-103's vocabulary, above every preset's adaptive-softmax cutoffs.
    for hidden_size in sorted({config.model.hidden_size, *config.budget_sizes()}):
        with torch.device("meta"):
            model = build_network(dataclasses.replace(config.model, hidden_size=hidden_size),
                                config.regularisation, vocab_size=267_737)
        assert model.layer_sizes[0] == hidden_size


@pytest.mark.parametrize("name", sorted(ISSUE_TABLE))
def test_zaremba_presets_have_the_published_values_and_defaults(name):
    config = get_preset(name)
    assert published(config) == ISSUE_TABLE[name]
    # The published vocab_size=10000 is PTB's whole vocabulary, which no cap (none) gives too
    # (test_datasets checks the count), while other corpora keep all their words.
    values = config.flat()
    assert values["vocab_size"] is None
    assert (values["optimizer"], values["loss_average"], values["embedding_size"]) == \
        ("sgd", "batch", None)
    assert (values["clean_text"], values["sample_every"], values["sample_words"]) == \
        (False, None, 0)
    assert (values["cell"], values["tie_weights"], values["weight_decay"]) == \
        ("lstm", False, 0.0)


@pytest.mark.parametrize("name", ["medium", "large"])
def test_tied_presets_are_zaremba_plus_tied_weights(name):
    tied = get_preset(f"{name}-tied")
    assert tied.run.precision == "auto" and get_preset(name).run.precision == "fp32"
    assert apply_overrides(tied, {"preset": name, "tie_weights": False, "precision": "fp32"}) \
        == get_preset(name)


def test_presets_that_want_speed_pick_their_precision_and_zaremba_stays_fp32():
    assert {name for name in PRESETS if get_preset(name).run.precision == "auto"} == \
        {"medium-tied", "large-tied", "awd", "cpu-fast", "wt103"}


def test_cpu_fast_is_a_two_hour_budget_sized_from_the_machine():
    config = get_preset("cpu-fast")
    assert config.budget.seconds == 2 * 3600
    assert config.budget_sizes() == [512, 400, 320, 256] and config.budget.min_epochs == 10


def test_wt103_is_a_twelve_hour_budget_with_the_adaptive_softmax_at_its_vocabulary():
    config = get_preset("wt103")
    model = config.model
    assert config.data.corpus == "wikitext-103" and config.budget.seconds == 12 * 3600
    assert config.budget_sizes() == [2048, 1536, 1024] and config.budget.min_epochs == 8
    assert (model.num_layers, model.embedding_size, model.tie_weights) == (3, 400, False)
    # WikiText-103's vocabulary: 267,735 words and <eos>; the last cluster still has units.
    assert model.cutoffs(267_736) == (20000, 40000, 200000)
    assert min(config.budget_sizes()) // model.adaptive_div_value ** 3 >= 16
    for size in config.budget_sizes():
        apply_overrides(config, {"hidden_size": size}).model.cutoffs(267_736)
    with pytest.raises(LstmlmError, match="below the vocabulary size"):
        model.cutoffs(33_278)  # WikiText-2's vocabulary needs its own cutoffs


def test_recipe_presets():
    shakespeare = SimpleNamespace(**get_preset("shakespeare").flat())
    assert (shakespeare.hidden_size, shakespeare.embedding_size, shakespeare.num_layers) == (128, 128, 1)
    assert (shakespeare.batch_size, shakespeare.num_steps, shakespeare.max_max_epoch) == (100, 50, 10)
    assert (shakespeare.optimizer, shakespeare.learning_rate, shakespeare.max_grad_norm) == \
        ("adam", 0.001, 4.5)
    assert (shakespeare.sample_every, shakespeare.checkpoint_every, shakespeare.min_freq) == (50, 500, 6)
    assert shakespeare.sample_primes == ("thou art more", "to be or not to",
                                         "wherefore art thou")
    assert shakespeare.sample_strategy == "greedy"  # the cookbook logs argmax continuations
    tutorial = SimpleNamespace(**get_preset("tutorial").flat())
    assert (tutorial.embedding_size, tutorial.hidden_size, tutorial.num_layers) == (128, 1024, 1)
    assert (tutorial.batch_size, tutorial.num_steps, tutorial.optimizer, tutorial.learning_rate,
            tutorial.max_grad_norm, tutorial.max_max_epoch, tutorial.sample_words) == \
        (20, 30, "adam", 0.002, 0.5, 5, 1000)
    assert (tutorial.sample_start, tutorial.sample_allow_unk) == ("random", True)


def test_awd_preset_has_the_published_ptb_values():
    assert get_preset("awd").regularisation.dropouts() == {
        "input_dropout": 0.4, "hidden_dropout": 0.25, "output_dropout": 0.4}
    awd = SimpleNamespace(**get_preset("awd").flat())
    assert (awd.num_layers, awd.embedding_size, awd.hidden_size, awd.tie_weights) == (3, 400, 1150, True)
    assert (awd.variational_dropout, awd.embedding_dropout, awd.weight_drop) == (True, 0.1, 0.5)
    assert (awd.ar_alpha, awd.tar_beta, awd.weight_decay) == (2.0, 1.0, 1.2e-6)
    assert (awd.optimizer, awd.nonmono, awd.learning_rate, awd.max_grad_norm) == ("ntasgd", 5, 30.0, 0.25)
    assert (awd.batch_size, awd.num_steps, awd.variable_length, awd.max_max_epoch) == (20, 70, True, 500)
    assert (awd.init_method, awd.loss_average, awd.lr_decay) == ("awd", "token", 1.0)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(LstmlmError, match="unknown preset 'huge'.*small"):
        get_preset("huge")
