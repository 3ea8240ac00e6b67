"""Time budgets: the clock of a run, and how many epochs of a measured speed fit in what is
left of it.

Pure arithmetic on durations and speeds, apart from the trainer, so that planning can be tested
with any throughput (a fast bfloat16 CPU, a slow float32 one) without training anything.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from .errors import LstmlmError

# Kept free at the end of a budget for what estimates miss (checkpoint writes, a slower
# machine): a share of the budget plus a few seconds.
SAFETY_FRACTION = 0.02
SAFETY_SECONDS = 5.0
# Evaluation estimates are stretched by this share while training, as a machine that slowed
# down would take longer to evaluate too.
RESERVE_MARGIN = 0.25
# Writing results, the curves plot and the last checkpoint after the final evaluation.
FINISH_SECONDS = 3.0
# Measuring a model's speed takes this share of the budget, within these bounds (seconds).
MEASURING_FRACTION, MEASURING_BOUNDS = 0.002, (2.0, 20.0)


def format_duration(seconds: float) -> str:
    """"2h 00m", "4m 10s" or "42s"."""
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


def plural(count: int, noun: str = "epoch") -> str:
    """`1 epoch`, `2 epochs`: a count and its noun."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def measuring_seconds(budget: float) -> float:
    """How long to time training steps when planning a budget of `budget` seconds."""
    low, high = MEASURING_BOUNDS
    return min(high, max(low, budget * MEASURING_FRACTION))


def monotonic() -> float:
    """The clock budgets are kept with (a module function, so tests can replace it)."""
    return time.monotonic()


class Clock:
    """A run's time budget (seconds; 0: none) and the seconds it has spent since `started` (a
    `monotonic()` reading; default now), counting what earlier processes spent before a
    resume. The one place a running run keeps its budget."""

    def __init__(self, budget: float = 0.0, started: float | None = None):
        self.budget = budget
        self.started = monotonic() if started is None else started
        self.spent_before = 0.0

    def elapsed(self) -> float:
        return self.spent_before + monotonic() - self.started

    def left(self) -> float:
        """Seconds of the budget left (infinite without a budget)."""
        return self.budget - self.elapsed() if self.budget else math.inf


@dataclass(frozen=True)
class Throughput:
    """Measured speeds: training words/sec and evaluation (streamed, no gradient) words/sec."""

    train_words_per_sec: float
    eval_words_per_sec: float


@dataclass(frozen=True)
class Costs:
    """Estimated seconds of one training epoch, the evaluation after it (valid, and test too
    with test_each_epoch), and the end of the run (the best weights evaluated on valid and
    test, the last ones on test, then results, plot and checkpoint)."""

    epoch: float
    validation: float
    finish: float

    @classmethod
    def of(cls, throughput: Throughput, train_words: int, valid_words: int,
           test_words: int, test_each_epoch: bool = False) -> "Costs":
        """Costs estimated from measured speeds and the splits' lengths."""
        evaluated = valid_words + (test_words if test_each_epoch else 0)
        return cls.from_validation(evaluated / throughput.eval_words_per_sec,
                                   train_words / throughput.train_words_per_sec,
                                   valid_words, test_words, evaluated)

    @classmethod
    def from_validation(cls, validation: float, epoch: float, valid_words: int,
                        test_words: int, evaluated_words: int | None = None) -> "Costs":
        """Costs from an epoch's evaluation that took `validation` seconds over
        `evaluated_words` (default: the valid split's). The final evaluation streams valid and
        test at the same speed, and test once more for the last weights where they are not the
        best ones."""
        evaluated_words = evaluated_words or valid_words
        return cls(epoch=epoch, validation=validation,
                   finish=validation * (valid_words + 2 * test_words) / evaluated_words
                   + FINISH_SECONDS)

    def reserve(self) -> float:
        """Seconds a running epoch keeps free for its validation and the final evaluation,
        with a margin for a machine that slows down."""
        return (self.validation + self.finish) * (1 + RESERVE_MARGIN) + SAFETY_SECONDS

    def epochs_within(self, seconds: float) -> int:
        """How many whole epochs, each followed by validation, fit in `seconds` with the finish
        and the safety margin kept free."""
        usable = seconds * (1 - SAFETY_FRACTION) - SAFETY_SECONDS - self.finish
        return max(0, math.floor(usable / (self.epoch + self.validation)))

    def describe(self) -> str:
        return (f"an epoch {format_duration(self.epoch)} + validation "
                f"{format_duration(self.validation)}, final evaluation {format_duration(self.finish)}")


@dataclass(frozen=True)
class Plan:
    """What a budget allows: the hidden size chosen, the epochs, their costs, and the log."""

    hidden_size: int
    epochs: int
    costs: Costs
    lines: tuple[str, ...]


def plan(budget: float, sizes: list[int], min_epochs: int,
         measure: Callable[[int], Throughput], words: tuple[int, int, int],
         seconds_left: Callable[[], float], test_each_epoch: bool = False) -> Plan:
    """Choose the largest hidden size in `sizes` (tried largest first) for which at least
    `min_epochs` epochs fit in what is left of `budget`, else the smallest one.

    `measure(size)` measures the throughput of a model of that size; `words` are the train,
    valid and test lengths; `seconds_left()` reads the clock after each measurement, so the
    time spent measuring is counted; `test_each_epoch` counts a test pass after each epoch. Raises LstmlmError if not even one epoch fits.
    """
    sizes = sorted(set(sizes), reverse=True)
    lines = []
    for index, size in enumerate(sizes):
        throughput = measure(size)
        costs = Costs.of(throughput, *words, test_each_epoch)
        epochs = costs.epochs_within(seconds_left())
        smaller = epochs < min_epochs and index < len(sizes) - 1
        lines.append(f"time budget {format_duration(budget)}, hidden_size {size}: measured "
                     f"{throughput.train_words_per_sec:,.0f} words/sec training, "
                     f"{throughput.eval_words_per_sec:,.0f} evaluating; {plural(epochs)} fit"
                     + (f" (fewer than {min_epochs}: trying a smaller model)" if smaller else ""))
        if not smaller:
            break
    if epochs < 1:
        # The budget for which epochs_within would give one epoch.
        needed = costs.epoch + costs.validation + costs.finish + SAFETY_SECONDS
        raise LstmlmError(f"time budget {format_duration(budget)} is too small: one epoch with "
                          f"validation and the final evaluation need about "
                          f"{format_duration(needed / (1 - SAFETY_FRACTION))} "
                          f"({costs.describe()})")
    lines.append(f"plan: {plural(epochs)} of hidden_size {size} fit in "
                 f"{format_duration(budget)} ({costs.describe()})")
    return Plan(size, epochs, costs, tuple(lines))
