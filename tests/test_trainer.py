"""The training loop of a run: its folder, seeds, resume after a kill, the switch to averaged
weights, early stopping, and the pinned numbers of a seeded run."""

import json
import math

import pytest
import safetensors
import safetensors.torch
from safetensors.torch import load_file

import lstmlm
from lstmlm import LstmlmError, apply_overrides, train
from lstmlm.batching import window_lengths
from lstmlm.builders import build_corpus
from lstmlm.evaluation import DynamicEvaluation, NeuralCache, stream_perplexity
from lstmlm.rundir import RunDir
from lstmlm.training import schedule, step, trainer

from .conftest import (schedule_of, train_killed_at_step, train_worse_after_first_epoch,
                       untrained_perplexity)

PPL_KEYS = ("epoch", "lr", "train_ppl", "valid_ppl")


# tiny_config's numbers (torch 2.13.0 CPU, one thread).
PINNED_TRAIN_PPL = [15.146398, 14.674488, 14.502296]


PINNED_TEST_PPL = 14.318119


# Another BLAS build or CPU kind sums in another order: float32 rounding (~1e-7 a step) grows
# over a few hundred steps to about 1e-6 of the perplexity. 1e-5 allows for that, while any
# change of the computation (another random draw, update or loss) moves them far more.
PINNED_RELATIVE_TOLERANCE = 1e-5


@pytest.mark.parametrize("rate, shown", [(1.0, "1.000"), (0.0625, "0.062"), (1e-3, "0.001"),
                                         (3e-4, "0.0003"), (1.5e-5, "1.5e-05"), (30.0, "30.000")])
def test_the_learning_rate_is_printed_so_that_it_shows(rate, shown):
    assert trainer.format_rate(rate) == shown


def test_run_directory_holds_everything_and_eval_reproduces_it(tmp_path, tiny_config):
    result = train(tiny_config, runs_dir=tmp_path / "runs", echo=None)
    run_dir = result.run_dir
    assert sorted(path.name for path in run_dir.iterdir()) == [
        "best.safetensors", "config.json", "curves.png", "last.safetensors", "losses.jsonl",
        "metrics.csv", "metrics.jsonl", "plan.json", "results.json", "train.log", "vocab.json"]
    assert lstmlm.Config.load(run_dir / "config.json") == tiny_config
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [entry["epoch"] for entry in metrics] == [1, 2, 3]
    assert [entry["lr"] for entry in metrics] == [1.0, 0.5, 0.25]
    # It learns the toy grammar: every epoch validates well below the same model untrained
    # (no order between epochs is assumed: that depends on how a machine rounds).
    untrained = untrained_perplexity(tiny_config, "valid")
    assert all(entry["valid_ppl"] < 0.95 * untrained for entry in metrics)
    assert all(entry["words_per_sec"] > 0 and entry["seconds"] > 0 for entry in metrics)
    model = lstmlm.load(run_dir)
    assert model.evaluate("test") == pytest.approx(result.test_perplexity, rel=1e-9)
    assert model.evaluate("valid") == pytest.approx(result.valid_perplexity, rel=1e-9)
    assert json.loads((run_dir / "results.json").read_text())["test_ppl"] == result.test_perplexity


def test_same_seed_same_numbers_and_runs_never_clobbered(tmp_path, tiny_config):
    first = train(tiny_config, runs_dir=tmp_path, echo=None)
    second = train(tiny_config, runs_dir=tmp_path, echo=None)
    assert first.run_dir != second.run_dir and first.run_dir.exists()
    assert [[getattr(entry, key) for key in PPL_KEYS] for entry in first.history] == \
        [[getattr(entry, key) for key in PPL_KEYS] for entry in second.history]
    other = train(apply_overrides(tiny_config, ["seed=8"]), runs_dir=tmp_path, echo=None)
    assert other.history[0].train_ppl != first.history[0].train_ppl


def test_test_each_epoch_records_the_test_perplexity_of_every_epoch(tmp_path, tiny_config):
    lines = []
    config = apply_overrides(tiny_config, ["test_each_epoch=true"])
    result = train(config, runs_dir=tmp_path, echo=lines.append)
    metrics = RunDir(result.run_dir).metrics()
    assert all(entry.test_ppl > 0 for entry in metrics)
    assert [round(entry.test_ppl, 3) for entry in metrics] == [  # the log, to 3 decimals
        float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("Epoch: ")
        and "Test Perplexity" in line]
    # The epoch-end test pass measures what the final evaluation measures for those weights.
    best = min(metrics, key=lambda entry: entry.valid_ppl)
    assert best.test_ppl == pytest.approx(result.test_perplexity, rel=1e-9)
    elapsed = [entry.elapsed for entry in metrics]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0
    plain = train(tiny_config, runs_dir=tmp_path, echo=None)
    assert [entry.valid_ppl for entry in RunDir(plain.run_dir).metrics()] == \
        [entry.valid_ppl for entry in metrics]  # measuring test changes nothing of training
    assert all(entry.test_ppl is None for entry in RunDir(plain.run_dir).metrics())


@pytest.mark.parametrize("checkpoint_every, kill_at_step", [(None, 100), (7, 100), (7, 164)])
def test_resume_after_a_kill_ends_like_an_uninterrupted_run(tmp_path, tiny_config, monkeypatch,
                                                             checkpoint_every, kill_at_step):
    config = apply_overrides(tiny_config, {"checkpoint_every": checkpoint_every})
    reference = train(config, runs_dir=tmp_path / "reference", echo=None)
    run_dir = train_killed_at_step(config, tmp_path / "killed", kill_at_step, monkeypatch)
    resumed = train(resume=run_dir, echo=None)
    assert resumed.run_dir == run_dir
    assert [[getattr(entry, key) for key in PPL_KEYS] for entry in resumed.history] == \
        [[getattr(entry, key) for key in PPL_KEYS] for entry in reference.history]
    assert resumed.test_perplexity == reference.test_perplexity
    assert "resuming" in (run_dir / "train.log").read_text()
    losses = RunDir(run_dir).losses()
    assert losses == RunDir(reference.run_dir).losses()
    assert [len(entry["losses"]) for entry in losses] == [82, 82, 82]


def test_corpus_too_short_for_one_batch(tmp_path, tiny_config):
    config = apply_overrides(tiny_config, {"batch_size": 500, "num_steps": 50})
    with pytest.raises(LstmlmError, match="training split too short"):
        train(config, runs_dir=tmp_path / "runs", echo=None)
    assert not (tmp_path / "runs").exists()


def test_log_lines_report_progress_and_epochs(tmp_path, tiny_config):
    lines = []
    train(tiny_config, runs_dir=tmp_path, echo=lines.append)
    assert sum("perplexity:" in line and "wps" in line for line in lines) == 3 * 10
    assert sum(line.startswith("Epoch: 2 Valid Perplexity") for line in lines) == 1
    assert lines[-2].startswith("Test Perplexity:") and lines[-1].startswith("Finished in")


def test_adam_run_resumes_exactly_with_its_optimizer_state(tmp_path, tiny_config, monkeypatch):
    config = apply_overrides(tiny_config, {"optimizer": "adam", "learning_rate": 0.01,
                                           "lr_decay": 1.0, "loss_average": "token",
                                           "checkpoint_every": 10})
    reference = train(config, runs_dir=tmp_path / "reference", echo=None)
    assert [entry.lr for entry in reference.history] == [0.01] * 3
    run_dir = train_killed_at_step(config, tmp_path / "killed", 125, monkeypatch)
    resumed = train(resume=run_dir, echo=None)
    assert [[getattr(entry, key) for key in PPL_KEYS] for entry in resumed.history] == \
        [[getattr(entry, key) for key in PPL_KEYS] for entry in reference.history]


def test_tied_model_saves_loads_and_resumes(tmp_path, tiny_config, monkeypatch):
    config = apply_overrides(tiny_config, {"tie_weights": True, "embedding_size": 6,
                                           "optimizer": "adamw", "learning_rate": 0.01,
                                           "weight_decay": 0.01, "lr_decay": 1.0})
    reference = train(config, runs_dir=tmp_path / "reference", echo=None)
    model = lstmlm.load(reference.run_dir)
    assert model.network.decoder.weight is model.network.embedding.weight
    assert model.evaluate("test") == pytest.approx(reference.test_perplexity, rel=1e-9)
    run_dir = train_killed_at_step(config, tmp_path / "killed", 130, monkeypatch)
    resumed = train(resume=run_dir, echo=None)
    assert [[getattr(entry, key) for key in PPL_KEYS] for entry in resumed.history] == \
        [[getattr(entry, key) for key in PPL_KEYS] for entry in reference.history]


def test_zaremba_path_numbers_are_pinned(tmp_path, tiny_config):
    """The default (Zaremba) model and training give exactly the numbers they gave before any
    option was added; new options must leave this path untouched."""
    result = train(tiny_config, runs_dir=tmp_path, echo=None)
    assert [entry.train_ppl for entry in result.history] == \
        pytest.approx(PINNED_TRAIN_PPL, rel=PINNED_RELATIVE_TOLERANCE)
    assert result.test_perplexity == pytest.approx(PINNED_TEST_PPL, rel=PINNED_RELATIVE_TOLERANCE)


def test_early_stopping_after_patience_epochs_without_improvement(tmp_path, tiny_config):
    lines = []
    result = train_worse_after_first_epoch(tiny_config, tmp_path, echo=lines.append,
                                           max_max_epoch=6, early_stopping_patience=2)
    assert [entry.epoch for entry in result.history] == [1, 2, 3]  # best 1, then 2 without
    assert any(line.startswith("Early stopping") for line in lines)


def test_one_cycle_run_sets_adams_beta1_at_each_update(tmp_path, tiny_config):
    config = apply_overrides(tiny_config, {"optimizer": "adam", "learning_rate": 0.01,
                                           "lr_schedule": "onecycle", "warmup_epochs": 1})
    result = train(config, runs_dir=tmp_path, echo=None)
    assert [entry.lr for entry in result.history] == pytest.approx([0.0004, 0.01, 0.00500002])
    assert result.test_perplexity < 0.9 * untrained_perplexity(config)
    with safetensors.safe_open(str(result.run_dir / RunDir.LAST), "pt") as handle:
        (group,) = json.loads(handle.metadata()["optimizer"])["param_groups"]
    windows = len(result.history) * len(window_lengths(
        len(build_corpus(config.data).train), config.optimisation.batch_size, config.optimisation.num_steps))
    # Set before the last update, at the position one window short of the end.
    assert group["betas"][0] == pytest.approx(
        schedule_of(config).beta1(3 - 3 / windows), abs=1e-9) and group["betas"][0] > 0.94


@pytest.mark.parametrize("averaging", [
    {"optimizer": "ntasgd", "lr_decay": 1.0},
    {"optimizer": "sgd", "lr_schedule": "cosine", "average_last": 0.5},
], ids=["nt-asgd", "average-last"])
def test_averaging_switches_evaluates_averaged_weights_and_resumes(tmp_path, tiny_config,
                                                                   monkeypatch, averaging):
    # NT-ASGD's trigger fires after the second epoch whatever the perplexities (its arithmetic
    # is tested above), so the switch does not depend on how a machine rounds; average_last
    # averages the last half of 4 epochs.
    monkeypatch.setattr(schedule, "should_average", lambda valid_ppls, nonmono: len(valid_ppls) == 2)
    config = apply_overrides(tiny_config, {**averaging, "max_max_epoch": 4,
                                           "checkpoint_every": 25})
    lines = []
    reference = train(config, runs_dir=tmp_path / "reference", echo=lines.append)
    switches = [line for line in lines if line.startswith("Switching to averaged SGD")]
    assert len(switches) == 1
    switched_after = int(switches[0].split("after epoch ")[1].split(":")[0])
    assert switched_after == 2
    # The epoch's valid perplexity is that of the averaged weights ASGD keeps in its state.
    model = lstmlm.load(reference.run_dir).network
    tensors = load_file(str(reference.run_dir / RunDir.LAST))
    averages = {index: tensor for name, tensor in tensors.items()
                for index in [name.split(".")[1]] if name.endswith(".ax")}
    for index, parameter in enumerate(model.parameters()):
        parameter.data.copy_(averages[str(index)])
    corpus = build_corpus(config.data)
    assert stream_perplexity(model, corpus.valid, 1, config.evaluation.num_steps) == \
        pytest.approx(reference.history[-1].valid_ppl, rel=1e-9)
    # A run killed after the switch resumes with ASGD and its averages.
    kill_at = (switched_after * 82) + 30
    run_dir = train_killed_at_step(config, tmp_path / "killed", kill_at, monkeypatch)
    resumed = train(resume=run_dir, echo=None)
    assert [[getattr(entry, key) for key in PPL_KEYS] for entry in resumed.history] == \
        [[getattr(entry, key) for key in PPL_KEYS] for entry in reference.history]
    assert resumed.test_perplexity == reference.test_perplexity


def test_variable_windows_scale_the_learning_rate_and_resume_exactly(tmp_path, tiny_config,
                                                                     monkeypatch):
    config = apply_overrides(tiny_config, {"variable_length": True, "num_steps": 10,
                                           "checkpoint_every": 9, "lr_decay": 1.0})
    real_step, seen = step.train_step, []

    def recording_step(model, optimizer, inputs, *args, **kwargs):
        seen.append((inputs.size(1), optimizer.param_groups[0]["lr"]))
        return real_step(model, optimizer, inputs, *args, **kwargs)

    monkeypatch.setattr(step, "train_step", recording_step)
    reference = train(config, runs_dir=tmp_path / "reference", echo=None)
    monkeypatch.setattr(step, "train_step", real_step)
    assert len({length for length, _ in seen}) > 3
    assert all(lr == pytest.approx(1.0 * length / 10) for length, lr in seen)
    run_dir = train_killed_at_step(config, tmp_path / "killed", 50, monkeypatch)
    resumed = train(resume=run_dir, echo=None)
    assert [[getattr(entry, key) for key in PPL_KEYS] for entry in resumed.history] == \
        [[getattr(entry, key) for key in PPL_KEYS] for entry in reference.history]


def test_awd_style_run_loads_evaluates_and_generates(tmp_path, tiny_config):
    config = apply_overrides(tiny_config, {
        "tie_weights": True, "embedding_size": 6, "variational_dropout": True,
        "hidden_keep_prob": 0.9,
        "embedding_dropout": 0.05, "weight_drop": 0.2, "init_method": "awd",
        "lr_schedule": "cosine", "warmup_epochs": 0.5, "loss_average": "token",
        "learning_rate": 5.0, "max_grad_norm": 0.5})
    result = train(config, runs_dir=tmp_path, echo=None)
    assert [entry.lr for entry in result.history] == \
        [0.0, pytest.approx(5.0 * 0.5 * (1 + math.cos(math.pi * 0.2))),
         pytest.approx(5.0 * 0.5 * (1 + math.cos(math.pi * 0.6)))]
    model = lstmlm.load(result.run_dir)
    assert model.network.layers is not None and model.network.weight_drop == 0.2
    assert model.evaluate("test") == pytest.approx(result.test_perplexity, rel=1e-9)
    assert result.test_perplexity < 0.9 * untrained_perplexity(config)
    assert len(model.generate("the cat", 5, seed=1).split()) <= 5
    # Every consumer of the state handles layers of different sizes (8, then 6).
    untrained = untrained_perplexity(config)
    assert model.evaluate("test", dynamic=DynamicEvaluation()) < 0.9 * untrained
    assert model.evaluate("test", cache=NeuralCache(window=20)) < 0.9 * untrained
    (score,) = model.score(["the cat sees mary"])
    assert score.logprob < 0 and score.words == 4


def test_a_sampled_softmax_run_learns_repeats_with_its_seed_and_says_what_it_reports(
        tmp_path, tiny_config):
    config = apply_overrides(tiny_config, {"softmax_samples": 6})
    lines = []
    result = train(config, runs_dir=tmp_path / "first", echo=lines.append)
    assert ("sampled softmax: training perplexity is over the target and 6 sampled words, "
            "evaluation over all") in lines
    assert result.test_perplexity < 0.9 * untrained_perplexity(config)
    assert lstmlm.load(result.run_dir).evaluate("test") == \
        pytest.approx(result.test_perplexity, rel=1e-9)
    again = train(config, runs_dir=tmp_path / "again", echo=None)
    assert again.test_perplexity == result.test_perplexity


def test_softmax_samples_beyond_the_vocabulary_fail_before_a_run_directory_exists(tmp_path,
                                                                                  tiny_config):
    config = apply_overrides(tiny_config, {"softmax_samples": 17})
    with pytest.raises(LstmlmError, match=r"softmax_samples must stay below the vocabulary "
                                          r"size \(17 words\), got 17"):
        train(config, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_adaptive_cutoffs_beyond_the_vocabulary_fail_before_a_run_directory_exists(tmp_path,
                                                                                   tiny_config):
    config = apply_overrides(tiny_config, {"softmax": "adaptive", "adaptive_cutoffs": "4,50",
                                           "adaptive_div_value": 2})
    with pytest.raises(LstmlmError, match=r"adaptive_cutoffs must stay below the vocabulary "
                                          r"size \(17 words\), got 4,50"):
        train(config, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
