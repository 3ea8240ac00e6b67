"""A time budget while the run trains: whether another window fits, and the schedule laid
out again for the epochs that fit at the speed an epoch really took."""

from __future__ import annotations

import dataclasses

import torch

from ..budget import Clock, Costs, format_duration, plural
from ..distributed import World
from ..plan import RunPlan
from ..rundir import EpochMetrics
from .planning import stretched_schedule
from .progress import EpochProgress


class BudgetKeeper:
    """The clock of a run with a time budget (a clock without one never runs out)."""

    def __init__(self, clock: Clock, world: World, device: torch.device):
        self.clock = clock
        self.world = world
        self.device = device

    def out_of_time(self, costs: Costs | None, progress: EpochProgress) -> bool:
        """Whether the budget's remainder would not cover one more window (timed by this
        epoch, or the plan's estimate before it has timed one), this epoch's validation and the
        final evaluation."""
        if not self.clock.budget:
            return False
        window = progress.window_seconds()
        if window is None:
            window = costs.epoch / len(progress.lengths)
        # Decided for all processes at once: one that stopped alone would leave the others
        # waiting for its gradients.
        return self.world.any(self.clock.left() < costs.reserve() + window, self.device)

    def replan(self, plan: RunPlan, costs: Costs | None, metrics: EpochMetrics
               ) -> tuple[Costs | None, RunPlan | None, str]:
        """After a whole epoch: the costs with the epoch's measured time, and where the epochs
        that fit at that speed differ from the plan's, a new plan whose schedule is laid out
        again for them (neither cut off nor early) with the line that says so."""
        epochs_planned = plan.optimisation.max_max_epoch
        if not (self.clock.budget and costs and metrics.fraction == 1 and metrics.seconds > 0
                and metrics.epoch < epochs_planned):
            return costs, None, ""
        estimated = costs.epoch
        costs = dataclasses.replace(costs, epoch=metrics.seconds)
        epochs = self.world.from_main(
            lambda: round(metrics.epoch + costs.epochs_within(self.clock.left(),
                                                               self.clock.budget), 2))
        if epochs == epochs_planned:
            return costs, None, ""
        line = (f"Time budget: the schedule is laid out again for {plural(epochs)} (planned "
                f"{epochs_planned:g}): an epoch took {format_duration(metrics.seconds)}, the "
                f"plan's estimate was {format_duration(estimated)}")
        replanned = dataclasses.replace(
            plan, optimisation=stretched_schedule(plan.optimisation, epochs),
            after_epoch=metrics.epoch, costs=costs, notes=(line,))
        return costs, replanned, line
