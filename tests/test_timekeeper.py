"""A time budget while a run trains: epochs cut where the budget ends, and the schedule laid
out again (a new plan) for the speed an epoch really took. The machine is faked."""

import json

import pytest
import safetensors
import safetensors.torch

from lstmlm import apply_overrides, train
from lstmlm.rundir import RunDir
from lstmlm.training import schedule_of as plan_schedule
from lstmlm.training import trainer

from .conftest import FakeMachine, schedule_of, train_killed_at_step, windows_per_epoch


def test_a_time_budget_plans_the_epochs_and_stretches_the_schedule(tmp_path, tiny_config,
                                                                   monkeypatch):
    # An epoch takes 100 s and evaluation is nearly free: 1001 s hold 9.72 epochs (and 0.3 s)
    # after the 2% margin, 5 s and the 3 s finish.
    machine = FakeMachine(monkeypatch, tiny_config)
    config = apply_overrides(tiny_config, {"time_budget": "1001s", "lr_schedule": "cosine",
                                           "warmup_epochs": 1.0, "learning_rate": 2.0})
    lines = []
    result = train(config, runs_dir=tmp_path, echo=lines.append)
    assert len(result.history) == 10
    assert [entry.fraction for entry in result.history[:9]] == [1.0] * 9
    last_windows = round(0.72 * machine.windows)
    assert result.history[-1].fraction == round(last_windows / machine.windows, 4)
    assert (f"Epoch 10 trains {last_windows} of its {machine.windows} windows "
            f"({last_windows / machine.windows:.2f} of an epoch), where the schedule ends") in lines
    assert not any(line.startswith("Time budget: ") for line in lines)  # as planned throughout
    # The request stays as asked; the plan stretched its schedule.
    assert RunDir(result.run_dir).load_config() == config
    assert result.config is config
    planned = RunDir(result.run_dir).load_plan().optimisation
    assert planned.max_max_epoch == 9.72 and planned.warmup_epochs == pytest.approx(3.24)
    assert config.optimisation.max_max_epoch == 3 and config.budget.seconds == 1001
    assert lines[2].startswith("time budget 16m 41s, hidden_size 8: measured")
    assert lines[3].startswith("plan: 9.72 epochs of hidden_size 8 fit in 16m 41s")
    assert result.history[-1].lr == pytest.approx(schedule_of(
        apply_overrides(config, {"max_max_epoch": 9.72, "warmup_epochs": 3.24})).rate(9))
    assert machine.clock.now <= 1001 - 20


def test_epoch_end_test_passes_cost_a_budgeted_run_nothing(tmp_path, tiny_config, monkeypatch):
    clock = FakeMachine(monkeypatch, tiny_config).clock
    real_perplexity = trainer.Trainer.perplexity

    def slow_test(self, split):  # each test pass takes 60 s
        clock.now += 60.0 if split == "test" else 0.0
        return real_perplexity(self, split)

    monkeypatch.setattr(trainer.Trainer, "perplexity", slow_test)
    config = apply_overrides(tiny_config, {"time_budget": 1001})
    runs = []
    for tested in (False, True):
        clock.now = 0.0
        runs.append(train(apply_overrides(config, {"test_each_epoch": tested}),
                          runs_dir=tmp_path, echo=None))
    plain, tested = (RunDir(run.run_dir).metrics() for run in runs)
    assert [entry.valid_ppl for entry in tested] == [entry.valid_ppl for entry in plain]
    assert len(tested) == 10 and all(entry.test_ppl is not None for entry in tested)
    # The final evaluation (best and last weights on test) counts alike in both runs.
    assert [entry.elapsed for entry in tested] == [entry.elapsed for entry in plain]


def test_a_slower_machine_gets_its_schedule_laid_out_again(tmp_path, tiny_config, monkeypatch):
    # Planned: 9.72 epochs of 100 s in 1001 s. Each epoch takes 300 s, so after the first one
    # 701 s are left: two more epochs and 0.24 of another.
    machine = FakeMachine(monkeypatch, tiny_config, actual=300.0)
    config = apply_overrides(tiny_config, {"time_budget": 1001, "lr_schedule": "cosine"})
    lines = []
    result = train(config, runs_dir=tmp_path, echo=lines.append)
    assert ("Time budget: the schedule is laid out again for 3.24 epochs (planned 9.72): an "
            "epoch took 5m 00s, the plan's estimate was 1m 40s") in lines
    assert [entry.fraction for entry in result.history] == \
        [1.0, 1.0, 1.0, round(round(0.24 * machine.windows) / machine.windows, 4)]
    assert not any(line.startswith("Time budget: epoch") for line in lines)  # none cut short
    plans = RunDir(result.run_dir).plans()
    assert [(plan.after_epoch, plan.optimisation.max_max_epoch) for plan in plans] == \
        [(0, 9.72), (1, 3.24)]
    assert RunDir(result.run_dir).load_config() == config  # the request is as asked
    # The cosine reaches its end with the budget instead of being cut off at a third of it.
    assert result.history[-1].lr == pytest.approx(plan_schedule(plans[-1]).rate(3))
    assert plan_schedule(plans[-1]).rate(3.24) == pytest.approx(0.0)
    assert machine.clock.now <= 1001


def test_a_machine_that_slows_down_mid_epoch_ends_it_early_and_still_evaluates(
        tmp_path, tiny_config, monkeypatch):
    # As planned for 8.5 epochs, then five times slower: the ninth epoch cannot finish.
    windows = windows_per_epoch(tiny_config)
    machine = FakeMachine(monkeypatch, tiny_config, window_seconds=lambda n: 100 / windows * (
        1 if n < 8.5 * windows else 5))
    lines = []
    result = train(apply_overrides(tiny_config, {"time_budget": 1001}), runs_dir=tmp_path,
                   echo=lines.append)
    history = result.history
    assert len(history) == 9 and history[7].fraction == 1
    assert 0.5 < history[8].fraction < 1
    assert any(line.startswith("Time budget: epoch 9 ends after") for line in lines)
    assert machine.clock.now <= 1001
    assert (result.run_dir / "results.json").exists() and (result.run_dir / "best.safetensors").exists()
    assert json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 9


def test_resume_counts_the_time_spent_before(tmp_path, tiny_config, monkeypatch):
    clock = FakeMachine(monkeypatch, tiny_config, window_seconds=lambda n: 1.0).clock
    config = apply_overrides(tiny_config, {"time_budget": 1000, "checkpoint_every": 10})
    run_dir = train_killed_at_step(config, tmp_path / "runs", 25, monkeypatch)
    with safetensors.safe_open(run_dir / RunDir.LAST, "pt") as handle:
        state = json.loads(handle.metadata()["state"])
    assert state["elapsed_seconds"] == 20.0  # saved at step 20; the kill came at step 25
    clock.now = 5000.0  # the clock of a new process starts anywhere
    lines = []
    train(resume=run_dir, echo=lines.append)
    assert "time budget 16m 40s: 20s spent before this resume" in lines
