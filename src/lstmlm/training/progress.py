"""A run's progress: the state a resume restores, and the running totals of the epoch being
trained."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import budget
from ..budget import Costs
from ..config import Config
from ..distributed import World
from ..plan import RunPlan
from ..rundir import EpochMetrics


@dataclass
class TrainResult:
    """What a finished run reports; the same numbers are in the run directory."""

    run_dir: Path
    history: list[EpochMetrics]
    valid_perplexity: float
    test_perplexity: float
    # The test perplexity of the weights training ended with, where they are not the best ones
    # (the number the reference implementations report).
    last_test_perplexity: float | None = None
    # The test perplexity with the config's final_eval adaptation (None for static).
    adapted_test_perplexity: float | None = None
    # False in the processes of a distributed run other than rank 0, which reports for all.
    main_process: bool = True
    # The request as the user made it, and the plan the run ended by.
    config: Config | None = None
    plan: RunPlan | None = None


@dataclass
class TrainState:
    """A run's progress: everything a resume needs besides tensors, saved as JSON."""

    epoch: int = 0  # epochs finished
    step: int = 0  # windows of the current epoch done
    global_step: int = 0  # windows since the start
    epoch_cost: float = 0.0  # the current epoch's summed loss so far
    epoch_seconds: float = 0.0  # its training seconds before the last checkpoint
    step_losses: list[float] = field(default_factory=list)  # its loss per word of each window
    history: list[EpochMetrics] = field(default_factory=list)
    losses: list[dict] = field(default_factory=list)  # step_losses of each finished epoch
    averaging_since: int = 0  # the epoch NT-ASGD started averaging after (0: not yet)
    elapsed_seconds: float = 0.0  # spent by this run's processes so far
    out_of_time: bool = False  # the time budget ran out
    # What the time budget is kept with: the plan's estimate at first, then updated from each
    # validation pass.
    costs: Costs | None = None
    world_size: int = 1  # the processes the run trains with (torchrun's WORLD_SIZE)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainState":
        values = dict(values)
        values["history"] = [EpochMetrics.from_dict(entry) for entry in values["history"]]
        if values.get("costs"):
            values["costs"] = Costs(**values["costs"])
        return cls(**values)

    def valid_perplexities(self) -> list[float]:
        return [entry.valid_ppl for entry in self.history]


def best_epoch(history: list[EpochMetrics]) -> int:
    """The epoch with the lowest valid perplexity (the earliest of equals)."""
    return min(history, key=lambda entry: entry.valid_ppl).epoch


class EpochProgress:
    """The running totals of the epoch being trained: its summed loss and each window's loss
    per word (kept on the device, so no step waits for a transfer), and its training time (on
    the clock time budgets are kept with). In
    a distributed run the totals it reports are those of all processes."""

    def __init__(self, lengths: list[int], state: TrainState, device: torch.device,
                 world: World = World()):
        self.lengths = lengths
        self.world = world
        self.cost = torch.tensor(state.epoch_cost, dtype=torch.float64, device=device)
        # Written in place, one tensor for the epoch: a small tensor kept for each window pins
        # the freed memory around it, and the resident memory grew by megabytes a window.
        self.window_losses = torch.zeros(len(lengths), dtype=torch.float32, device=device)
        self.start_step = self.done = self.flushed = state.step
        self.seconds_before = state.epoch_seconds
        self.began = self.since_checkpoint = budget.monotonic()

    def add(self, loss: torch.Tensor, targets: int) -> None:
        """Count a trained window whose summed loss is `loss` over `targets` targets."""
        self.cost += loss.double()
        self.window_losses[self.done] = loss / targets
        self.done += 1

    def window_seconds(self) -> float | None:
        """The mean time of this process's windows so far (None before the first)."""
        trained = self.done - self.start_step
        return (budget.monotonic() - self.began) / trained if trained else None

    def seconds(self) -> float:
        """Training seconds of the epoch, earlier processes' included."""
        return self.seconds_before + budget.monotonic() - self.since_checkpoint

    def words(self, batch_size: int) -> int:
        """Words trained so far this epoch, by all processes (`batch_size` rows each)."""
        return sum(self.lengths[:self.done]) * batch_size * self.world.size

    def perplexity(self, batch_size: int) -> float:
        return math.exp(self.world.sum(self.cost).item() / self.words(batch_size))

    def flush(self, state: TrainState) -> None:
        """Move the losses of the windows since the last flush (averaged over the processes)
        into the state, in one transfer."""
        if self.done > self.flushed:
            losses = self.world.sum(self.window_losses[self.flushed:self.done]) / self.world.size
            state.step_losses.extend(losses.tolist())
            self.flushed = self.done

    def checkpointed(self, state: TrainState) -> None:
        """Record the position in the state before a mid-epoch checkpoint."""
        self.flush(state)
        # Each process keeps its own share of the cost; perplexity() adds them up.
        state.step, state.epoch_cost, state.epoch_seconds = self.done, self.cost.item(), self.seconds()
        self.seconds_before, self.since_checkpoint = state.epoch_seconds, budget.monotonic()
