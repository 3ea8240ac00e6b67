"""A run's progress: the state a resume restores, and the running totals of an epoch."""

import math

import pytest
import torch

from lstmlm import budget
from lstmlm.budget import Costs
from lstmlm.rundir import EpochMetrics
from lstmlm.training import TrainState, best_epoch
from lstmlm.training.progress import EpochProgress


def metrics(epoch: int, valid_ppl: float) -> EpochMetrics:
    return EpochMetrics(epoch=epoch, lr=1.0, train_ppl=50.0, valid_ppl=valid_ppl,
                        words_per_sec=1000, seconds=1.0)


def test_the_state_round_trips_with_its_history_and_costs():
    state = TrainState(epoch=2, step=5, history=[metrics(1, 90.0), metrics(2, 80.0)],
                       costs=Costs(epoch=10.0, validation=1.0, finish=3.0), averaging_since=2)
    restored = TrainState.from_dict(state.to_dict())
    assert restored == state and restored.valid_perplexities() == [90.0, 80.0]


def test_the_best_epoch_is_the_first_of_the_lowest_valid_perplexity():
    assert best_epoch([metrics(1, 90.0), metrics(2, 70.0), metrics(3, 70.0),
                       metrics(4, 75.0)]) == 2


def test_an_epoch_s_totals_and_its_position_after_a_checkpoint(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(budget, "monotonic", lambda: now[0])
    state = TrainState()
    progress = EpochProgress([5, 5, 5, 5], state, torch.device("cpu"))
    for loss in (20.0, 10.0):
        now[0] += 2.0
        progress.add(torch.tensor(loss), targets=10)  # 10 targets: 2 rows x 5 steps
    assert progress.words(batch_size=2) == 20
    assert progress.perplexity(batch_size=2) == pytest.approx(math.exp(30.0 / 20))
    assert progress.window_seconds() == 2.0 and progress.seconds() == 4.0
    progress.checkpointed(state)
    assert (state.step, state.epoch_cost, state.epoch_seconds) == (2, 30.0, 4.0)
    assert state.step_losses == pytest.approx([2.0, 1.0])
    resumed = EpochProgress([5, 5, 5, 5], state, torch.device("cpu"))
    assert resumed.done == 2 and resumed.seconds() == 4.0
