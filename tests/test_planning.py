"""Planning a run from its request: a time budget's measurement, the shape, epochs, schedule
and regularisation it chooses, and the one-cycle rule; the machine is faked."""

from types import SimpleNamespace

import pytest
import torch

import lstmlm
from lstmlm import LstmlmError, apply_overrides, budget, get_preset, train
from lstmlm.budget import Clock, Shape, Throughput
from lstmlm.evaluation import adaptation_words
from lstmlm.plan import RunPlan
from lstmlm.rundir import RunDir
from lstmlm.training import (budget_shapes, planning, regularisation_for_epochs,
                             regularisation_line, shaped, stretched_schedule)

from .conftest import FakeMachine, untrained_perplexity
from .test_budget import BUDGETS, DEVICE_KINDS, PTB_WORDS


def test_a_budget_plans_the_cost_of_the_adaptation(tmp_path, tiny_config, monkeypatch):
    FakeMachine(monkeypatch, tiny_config, adapt_words_per_sec=100.0)
    lines = []
    train(apply_overrides(tiny_config, {"time_budget": 1001, "final_eval": "dynamic"}),
          runs_dir=tmp_path, echo=lines.append)
    corpus = lstmlm.load_corpus(tiny_config.data.corpus, 50)
    adapted_words = adaptation_words("dynamic", len(corpus.valid), len(corpus.test))
    adaptation = adapted_words / 100.0
    plan = next(line for line in lines if line.startswith("plan: "))
    assert f"adaptation {budget.format_duration(adaptation)} of it" in plan
    # Fewer epochs than the 9.72 a static run gets: the adaptation's seconds come off them.
    epochs = float(plan.split()[1])
    assert epochs == pytest.approx(9.72 - adaptation / 100, abs=0.02)


def test_a_planned_run_trains_with_the_regularisation_of_its_length(tmp_path, tiny_config,
                                                                    monkeypatch):
    FakeMachine(monkeypatch, tiny_config)  # 930 s hold 9 epochs, and less than a tenth more
    # dropout 0.2 is for 17 epochs, 0 for 1: 9 epochs are halfway.
    config = apply_overrides(tiny_config, {"time_budget": 930, "max_max_epoch": 17,
                                           "budget_min_epochs": 1,
                                           "budget_short_regularisation": "dropout=0"})
    lines = []
    result = train(config, runs_dir=tmp_path, echo=lines.append)
    planned = RunDir(result.run_dir).load_plan()
    assert (planned.optimisation.max_max_epoch, planned.regularisation.dropout) == (9, 0.1)
    assert "regularisation for 9 epochs: dropout 0.1" in lines
    model = lstmlm.load(result.run_dir)
    assert model.plan.regularisation.dropout == 0.1 and model.config.regularisation.dropout == 0.2


def test_a_budget_too_short_for_sgd_trains_one_cycle_adam(tmp_path, tiny_config, monkeypatch):
    # 1001 s fit 9.72 epochs of 100 s: fewer than 12, so the run switches to one-cycle Adam,
    # measured at the same (faked) speed, and ends with the budget.
    machine = FakeMachine(monkeypatch, tiny_config)
    config = apply_overrides(tiny_config, {"time_budget": 1001, "lr_schedule": "cosine",
                                           "budget_onecycle_epochs": 12,
                                           "budget_onecycle_lr": 0.01})
    lines = []
    result = train(config, runs_dir=tmp_path, echo=lines.append)
    assert ("fewer than 12 epochs: Adam on the one-cycle schedule at 0.01 instead "
            "(budget_onecycle_epochs)") in lines
    saved = RunDir(result.run_dir).load_plan().optimisation
    assert (saved.optimizer, saved.lr_schedule, saved.max_max_epoch) == ("adam", "onecycle", 9.72)
    assert saved.warmup_epochs == pytest.approx(0.3 * 9.72)
    assert result.history[0].lr == pytest.approx(0.0004)
    assert result.test_perplexity < 0.9 * untrained_perplexity(config)
    assert machine.clock.now <= 1001


def test_a_budget_too_small_fails_before_a_run_directory_exists(tmp_path, tiny_config,
                                                                monkeypatch):
    FakeMachine(monkeypatch, tiny_config)
    # A tenth of a 100 s epoch and the 3 s finish need about 18 s.
    with pytest.raises(LstmlmError, match="time budget 15s is too small"):
        train(apply_overrides(tiny_config, {"time_budget": "15s"}), runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_measuring_throughput_leaves_the_random_state_alone(tiny_config):
    corpus = lstmlm.load_corpus(tiny_config.data.corpus, 50)
    torch.manual_seed(3)
    before = torch.get_rng_state()
    speed = planning.measure_throughput(RunPlan.of(tiny_config), tiny_config, corpus,
                                        torch.device("cpu"), 0.01)
    assert speed.train_words_per_sec > 0 and speed.eval_words_per_sec > 0
    assert torch.equal(torch.get_rng_state(), before)


def test_the_schedule_is_laid_out_for_the_planned_epochs():
    fast = get_preset("cpu-fast").optimisation
    cosine = stretched_schedule(fast, 17)
    assert cosine.max_max_epoch == 17
    assert cosine.warmup_epochs == pytest.approx(0.5 * 17 / fast.max_max_epoch)
    small = get_preset("small").optimisation
    step = stretched_schedule(small, 26)  # Zaremba: decay after epoch 4 of 13
    assert (step.max_max_epoch, step.max_epoch) == (26, 8)
    assert stretched_schedule(small, 2).max_epoch == 1


def test_regularisation_follows_the_planned_length():
    config = get_preset("cpu-fast")  # dropouts tuned for 34 epochs, short ones for 10
    full = {"dropout": 0.35, "hidden_dropout": 0.2, "weight_drop": 0.2,
            "embedding_dropout": 0.1}
    short = {"dropout": 0.25, "hidden_dropout": 0.1, "weight_drop": 0.1,
             "embedding_dropout": 0.05}
    assert (config.budget.min_epochs, config.optimisation.max_max_epoch) == (10, 34)
    for epochs, expected in [(10, short), (34, full), (38, full)]:
        planned = regularisation_for_epochs(config, epochs)
        assert {name: getattr(planned, name) for name in full} == expected
    # Shorter than 10 epochs: on the line from no regularisation at no epochs.
    half = regularisation_for_epochs(config, 5)
    assert {name: getattr(half, name) for name in full} == pytest.approx(
        {"dropout": 0.125, "hidden_dropout": 0.05, "weight_drop": 0.05,
         "embedding_dropout": 0.025})
    tiny = regularisation_for_epochs(config, 0.1)
    assert tiny.dropout == pytest.approx(0.0025) and tiny.weight_drop == pytest.approx(0.001)
    halfway = regularisation_for_epochs(config, 22)
    assert halfway.dropout == pytest.approx(0.3) and halfway.weight_drop == pytest.approx(0.15)
    assert regularisation_line(config, halfway, 22) == (
        "regularisation for 22 epochs: dropout 0.3, hidden_dropout 0.15, weight_drop 0.15, "
        "embedding_dropout 0.075")
    # Fields it does not list, and configs without it, are left as they are.
    assert halfway.ar_alpha == config.regularisation.ar_alpha
    small = get_preset("small")
    assert regularisation_for_epochs(small, 5) == small.regularisation


def test_the_adaptive_softmax_is_the_last_shape_and_only_with_its_cutoffs():
    config = get_preset("cpu-fast")
    assert budget_shapes(config) == [Shape(512), Shape(400), Shape(320), Shape(256),
                                     Shape(256, adaptive=True)]
    assert Shape(256, adaptive=True) not in budget_shapes(
        apply_overrides(config, {"budget_adaptive_cutoffs": ""}))
    adaptive = shaped(config, Shape(256, adaptive=True))
    assert (adaptive.softmax, adaptive.adaptive_cutoffs, adaptive.hidden_size) == (
        "adaptive", (2000,), 256)
    assert adaptive.tie_weights
    with pytest.raises(LstmlmError, match="budget_adaptive_cutoffs needs softmax=full"):
        apply_overrides(config, {"softmax": "adaptive", "adaptive_cutoffs": "100"})
    with pytest.raises(LstmlmError, match="adaptive_cutoffs must stay below the vocabulary"):
        config.budget_adaptive_model(1000)


ADAM_SLOWDOWN = 0.8  # Adam's update against SGD's at 256 units: 22,726 words/sec to 27,000


def planned_by_rule(kind: str, seconds: float, **overrides) -> tuple[RunPlan, list[str]]:
    """plan_budget's plan for cpu-fast (with `overrides`) on a device of `kind` for a budget
    of `seconds`, Adam measured at ADAM_SLOWDOWN of SGD's speed, and the plan's log."""
    config = apply_overrides(get_preset("cpu-fast"), {"time_budget": seconds, **overrides})
    measure, _ = DEVICE_KINDS[kind]()

    def measure_throughput(plan, config, corpus, device, measuring):
        speed = measure(Shape(plan.model.hidden_size, plan.model.softmax == "adaptive"))
        slowdown = ADAM_SLOWDOWN if plan.optimisation.optimizer == "adam" else 1.0
        return Throughput(speed.train_words_per_sec * slowdown, speed.eval_words_per_sec)

    corpus = SimpleNamespace(**{split: range(words) for split, words in
                                zip(("train", "valid", "test"), PTB_WORDS)})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planning, "measure_throughput", measure_throughput)
        patch.setattr(budget, "monotonic", lambda: 0.0)  # measuring takes no time
        device = torch.device("cuda" if kind == "gpu" else "cpu")
        plan = planning.plan_budget(RunPlan.of(config), config, corpus, device, Clock(seconds))
    return plan, list(plan.notes)


@pytest.mark.parametrize("kind", DEVICE_KINDS)
@pytest.mark.parametrize("name", BUDGETS)
def test_plans_shorter_than_budget_onecycle_epochs_train_one_cycle_adam(kind, name):
    # A threshold above cpu-fast's own, so that the rule decides at more of the budgets.
    rule = {"budget_onecycle_epochs": 20}
    sgd_plan, _ = planned_by_rule(kind, BUDGETS[name], budget_onecycle_epochs=0)
    plan, lines = planned_by_rule(kind, BUDGETS[name], **rule)
    sgd, planned = sgd_plan.optimisation, plan.optimisation
    if sgd.max_max_epoch >= 20:
        assert plan == sgd_plan
        return
    assert (planned.optimizer, planned.lr_schedule, planned.learning_rate) == \
        ("adam", "onecycle", 0.008)
    assert planned.warmup_epochs == pytest.approx(0.3 * planned.max_max_epoch)
    # SGD holds its rate until the last third; one-cycle anneals over all of its run.
    assert (sgd.anneal_share, planned.anneal_share) == (0.34, 1.0)
    # The same model, its epochs measured at Adam's speed: fewer of them.
    assert plan.model == sgd_plan.model
    assert planned.max_max_epoch < sgd.max_max_epoch
    switch = lines.index("fewer than 20 epochs: Adam on the one-cycle schedule at 0.008 "
                         "instead (budget_onecycle_epochs)")
    assert "words/sec" in lines[switch + 1] and not lines[switch - 1].startswith("plan:")
    assert lines[switch + 2].startswith(f"plan: {planned.max_max_epoch:g} epochs")


def test_the_trainer_measures_the_cheapest_shape_first_on_a_cpu_only():
    _, cpu = planned_by_rule("fp32 cpu", BUDGETS["5m"])
    assert cpu[0].startswith("time budget 5m 00s, hidden_size 256, adaptive softmax:")
    assert "no wider model fits more on this device" in cpu[0]
    _, gpu = planned_by_rule("gpu", BUDGETS["5m"])
    assert gpu[0].startswith("time budget 5m 00s, hidden_size 512:")
