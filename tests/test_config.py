"""The request of a run: its frozen sections, their checks, flat names and the names of
earlier versions, and values read from text and JSON."""

import dataclasses
import json

import pytest

from lstmlm import Config, LstmlmError, apply_overrides, get_preset
from lstmlm.config import FLAT, format_value


def test_dropouts_default_to_dropout():
    config = apply_overrides(get_preset("medium"), ["hidden_dropout=0.1"])
    assert config.regularisation.dropouts() == {"input_dropout": 0.5, "hidden_dropout": 0.1,
                                                 "output_dropout": 0.5}


def test_keep_probabilities_of_earlier_versions_are_read_as_their_dropouts():
    config = apply_overrides(get_preset("small"), ["keep_prob=0.65", "hidden_keep_prob=0.8",
                                                   "input_keep_prob=0"])
    assert config.regularisation.dropout == 0.35 and config.regularisation.hidden_dropout == 0.2
    assert config.regularisation.input_dropout is None  # 0 meant "keep_prob's"
    short = apply_overrides(get_preset("cpu-fast"),
                            ["budget_short_regularisation=keep_prob=0.75,weight_drop=0.1"])
    assert short.budget.short_regularisation == {"dropout": 0.25, "weight_drop": 0.1}


def test_overrides_parse_types_and_fractions():
    config = apply_overrides(get_preset("small"), ["hidden_size=64", "lr_decay=1/1.15",
                                                   "data=/tmp/x", "keep_prob= 0.5"])
    assert config.model.hidden_size == 64 and isinstance(config.model.hidden_size, int)
    assert config.optimisation.lr_decay == pytest.approx(1 / 1.15)
    assert config.data.corpus == "/tmp/x" and config.regularisation.dropout == 0.5
    assert get_preset("small").model.hidden_size == 200  # presets are not mutated


def test_a_config_is_frozen():
    config = get_preset("small")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.hidden_size = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.preset = "large"


@pytest.mark.parametrize("override, message", [
    (["time_budget=0"], "time_budget must be above 0 (none: no limit)"),
    (["embedding_size=0"], "embedding_size must be > 0 (none: hidden_size)"),
    (["early_stopping_patience=0"], "early_stopping_patience must be > 0 (none: never)"),
    (["max_windows=0"], "max_windows must be > 0"),
])
def test_unset_is_none_and_zero_is_an_error(override, message):
    with pytest.raises(LstmlmError) as error:
        apply_overrides(get_preset("small"), override)
    assert message in str(error.value)
    name = override[0].split("=")[0]
    assert apply_overrides(get_preset("small"), [f"{name}=none"]).flat()[name] is None


@pytest.mark.parametrize("override, message", [
    (["hiden_size=3"], "unknown key 'hiden_size'"),
    (["hidden_size=abc"], "bad value 'abc' for hidden_size"),
    (["hidden_size"], "expected key=value"),
    (["keep_prob=1.5"], "keep_prob must be in (0, 1]"),
    (["dropout=1"], "dropout must be in [0, 1)"),
    (["num_steps=0"], "num_steps must be > 0"),
    (["lr_decay=1/0"], "bad value"),
    (["device=tpu"], "device must be"),
    # Options that are each valid but make no sense together.
    (["variational_dropout=true"], "variational_dropout needs a dropout above 0"),
    (["embedding_dropout=1"], "embedding_dropout must be in"),
    (["weight_drop=-0.1"], "weight_drop must be in"),
    (["num_layers=1", "hidden_dropout=0.5"], "hidden_dropout needs num_layers > 1"),
    (["num_layers=1", "tie_weights=true", "embedding_size=100"],
     "tie_weights with embedding_size != hidden_size needs num_layers > 1"),
    (["optimizer=ntasgd", "lr_schedule=cosine"], "ntasgd averages at a fixed learning rate"),
    (["average_last=1"], "average_last must be in [0, 1)"),
    (["optimizer=adam", "average_last=0.3"], "average_last averages plain SGD's weights"),
    (["warmup_epochs=1"], "warmup_epochs is used only by lr_schedule=cosine or onecycle"),
    (["lr_schedule=onecycle"], "onecycle cycles Adam's beta1; optimizer sgd has none"),
    (["lr_schedule=cosine", "anneal_share=0"], "anneal_share must be in (0, 1]"),
    (["lr_schedule=cosine", "anneal_share=1.5"], "anneal_share must be in (0, 1]"),
    (["anneal_share=0.3"], "anneal_share is used only by lr_schedule=cosine or onecycle"),
    (["optimizer=adam", "lr_schedule=onecycle", "warmup_epochs=13"],
     "warmup_epochs must be shorter"),
    (["lr_schedule=cosine", "warmup_epochs=13"], "warmup_epochs must be shorter"),
    (["variable_length=true", "num_steps=5"], "variable_length needs num_steps >= 10"),
    (["precision=fp8"], "precision must be one of auto, fp32, bf16, fp16"),
    (["lr_schedule=linear"], "lr_schedule must be one of step, plateau, cosine, onecycle"),
    (["optimizer=lbfgs"], "optimizer must be one of sgd, adam, adamw, ntasgd"),
    (["sample_strategy=beam"], "sample_strategy must be one of greedy, sample"),
    (["sample_start=middle"], "sample_start must be one of eos, random"),
])
def test_bad_overrides_fail_naming_the_problem(override, message):
    with pytest.raises(LstmlmError) as error:
        apply_overrides(get_preset("small"), override)
    assert message in str(error.value)


def test_typed_fields_parse_from_the_command_line_and_format_back():
    config = apply_overrides(get_preset("small"), [
        "softmax=adaptive", "adaptive_cutoffs=2000, 6000", "sample_primes=the cat|to be",
        "budget_hidden_sizes=300,200", "budget_min_epochs=3",
        "budget_short_regularisation=dropout=0.1 weight_drop=0.1"])
    values = config.flat()
    assert values["adaptive_cutoffs"] == (2000, 6000) and values["budget_hidden_sizes"] == (300, 200)
    assert values["sample_primes"] == ("the cat", "to be")
    assert values["budget_short_regularisation"] == {"dropout": 0.1, "weight_drop": 0.1}
    for name in ("adaptive_cutoffs", "sample_primes", "budget_hidden_sizes",
                 "budget_short_regularisation"):
        text = format_value(name, values[name])
        assert apply_overrides(config, [f"{name}={text}"]) == config
    assert format_value("budget_short_regularisation", values["budget_short_regularisation"]) \
        == "dropout=0.1,weight_drop=0.1"
    # JSON holds them in sections, as lists and objects; a list of Python values works too.
    saved = json.loads(config.to_json())
    assert saved["model"]["adaptive_cutoffs"] == [2000, 6000]
    assert saved["logging"]["sample_primes"] == ["the cat", "to be"]
    assert Config.from_dict(saved) == config
    assert apply_overrides(config, {"adaptive_cutoffs": [10, 20]}).model.adaptive_cutoffs == \
        (10, 20)
    with pytest.raises(LstmlmError, match=r"bad value \['ten'\] for adaptive_cutoffs"):
        Config.from_dict(dict(saved, model=dict(saved["model"], adaptive_cutoffs=["ten"])))


def test_every_field_has_a_one_line_description():
    for name, (_, _, _, config_field) in FLAT.items():
        description = config_field.metadata.get("help", "")
        assert description and "\n" not in description, name


def test_config_round_trips_through_json(tmp_path):
    config = apply_overrides(get_preset("large"), ["seed=3"])
    (tmp_path / "config.json").write_text(config.to_json())
    assert Config.load(tmp_path / "config.json") == config
    assert Config.load(tmp_path / "config.json").optimisation.lr_decay == 1 / 1.15


def test_config_file_with_unknown_key_is_rejected(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 3, "colour": "red"}')
    with pytest.raises(LstmlmError, match="unknown key 'colour'"):
        Config.load(tmp_path / "config.json")


@pytest.mark.parametrize("overrides, message", [
    ({"softmax": "adaptive"}, "softmax=adaptive needs adaptive_cutoffs"),
    ({"softmax": "adaptive", "adaptive_cutoffs": "2000,1000"}, "increasing positive integers"),
    ({"softmax": "adaptive", "adaptive_cutoffs": "0,10"}, "increasing positive integers"),
    ({"softmax": "adaptive", "adaptive_cutoffs": "ten"}, "bad value 'ten' for adaptive_cutoffs"),
    ({"adaptive_cutoffs": "2000"}, "adaptive_cutoffs needs softmax=adaptive"),
    ({"softmax": "sampled"}, "softmax must be one of full, adaptive"),
    ({"softmax": "adaptive", "adaptive_cutoffs": "20,40", "tie_weights": True, "num_layers": 2,
      "hidden_size": 40, "embedding_size": 3}, r"embedding_size 3 divided by adaptive_div_value"),
    ({"softmax": "adaptive", "adaptive_cutoffs": "20,40,60", "hidden_size": 40},
     "last cluster would have no units"),
    ({"adaptive_div_value": 0.5}, "adaptive_div_value must be >= 1"),
    ({"softmax_samples": -1}, "softmax_samples must be above 0"),
    ({"softmax": "adaptive", "adaptive_cutoffs": "2000", "softmax_samples": 500},
     "softmax_samples must be above 0"),
    ({"vocab_size": 1}, "vocab_size must be at least 2"),
])
def test_softmax_and_vocabulary_options_are_checked(overrides, message):
    with pytest.raises(LstmlmError, match=message):
        apply_overrides(get_preset("small"), overrides)


def test_softmax_samples_are_checked_against_the_vocabulary_and_give_way_to_the_adaptive_one():
    config = apply_overrides(get_preset("cpu-fast"), {"softmax_samples": 1000})
    assert config.model.sampled_words(10000) == 1000
    with pytest.raises(LstmlmError, match=r"softmax_samples must stay below the vocabulary "
                                          r"size \(1000 words\), got 1000"):
        config.model.sampled_words(1000)
    adaptive = config.budget_adaptive_model(10000)
    assert adaptive.softmax == "adaptive" and adaptive.softmax_samples is None


def test_adaptive_cutoffs_are_checked_against_the_vocabulary():
    config = apply_overrides(get_preset("small"), {"softmax": "adaptive",
                                                   "adaptive_cutoffs": "2000,10000"})
    assert config.model.cutoffs(10001) == (2000, 10000)
    with pytest.raises(LstmlmError, match=r"below the vocabulary size \(10000 words\)"):
        config.model.cutoffs(10000)


def test_config_takes_a_duration_and_lists_of_sizes():
    config = apply_overrides(get_preset("small"), ["time_budget=1h30m"])
    assert config.budget.seconds == 5400
    assert config.budget_sizes() == [200]
    config = apply_overrides(config, {"budget_hidden_sizes": "300, 200"})
    assert config.budget_sizes() == [300, 200]
    with pytest.raises(LstmlmError, match="bad value '300,big' for budget_hidden_sizes"):
        apply_overrides(config, {"budget_hidden_sizes": "300,big"})
    with pytest.raises(LstmlmError, match="budget_hidden_sizes must be positive integers"):
        apply_overrides(config, {"budget_hidden_sizes": "300,0"})
    with pytest.raises(LstmlmError, match=r"time_budget must be above 0 \(none: no limit\)"):
        apply_overrides(config, {"time_budget": -1.0})


@pytest.mark.parametrize("value, message", [
    ("learning_rate=1", "takes name=value pairs of dropout"),
    ("dropout", "got 'dropout'"),
    ("dropout=lots", "bad value 'lots' for dropout"),
    ("dropout=1.5", "dropout must be in"),
    ("hidden_dropout=-0.1", "hidden_dropout must be in"),
])
def test_bad_short_regularisation_is_a_config_error(value, message):
    with pytest.raises(LstmlmError, match=message):
        apply_overrides(get_preset("cpu-fast"), {"budget_short_regularisation": value})
    with pytest.raises(LstmlmError, match="needs budget_min_epochs"):
        apply_overrides(get_preset("small"), {"budget_short_regularisation": "dropout=0.1"})


def test_budget_onecycle_epochs_needs_its_rate():
    with pytest.raises(LstmlmError, match="budget_onecycle_epochs needs budget_onecycle_lr"):
        apply_overrides(get_preset("cpu-fast"), {"budget_onecycle_lr": 0})
