import dataclasses
import json
from types import SimpleNamespace

import pytest
import torch

from lstmlm import PRESETS, Config, LstmlmError, apply_overrides, get_preset
from lstmlm.builders import build_network
from lstmlm.config import FLAT, format_value

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


def test_unknown_preset_lists_known_ones():
    with pytest.raises(LstmlmError, match="unknown preset 'huge'.*small"):
        get_preset("huge")


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
