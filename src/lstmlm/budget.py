"""Time budgets: the clock of a run, and how many epochs of a measured speed fit in what is
left of it, the last one a fraction where a whole one does not fit.

Pure arithmetic on durations and speeds, apart from the trainer, so that planning can be tested
with any throughput (a fast bfloat16 CPU, a slow float32 one) without training anything.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

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
# A plan's last epoch is a multiple of this share of an epoch, and at least one of them: less
# would not pay for the validation after it.
EPOCH_STEP = 0.01
MIN_LAST_EPOCH = 0.1


def format_duration(seconds: float) -> str:
    """"2h 00m", "4m 10s" or "42s"."""
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


def plural(count: float, noun: str = "epoch") -> str:
    """`1 epoch`, `2 epochs`, `11.5 epochs`: a count and its noun."""
    return f"{count:g} {noun}{'' if count == 1 else 's'}"


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
    resume and leaving out what ran `off_the_clock`. The one place a running run keeps its
    budget."""

    def __init__(self, budget: float = 0.0, started: float | None = None):
        self.budget = budget
        self.started = monotonic() if started is None else started
        self.spent_before = 0.0
        self.excluded = 0.0

    def elapsed(self) -> float:
        return self.spent_before + monotonic() - self.started - self.excluded

    def left(self) -> float:
        """Seconds of the budget left (infinite without a budget)."""
        return self.budget - self.elapsed() if self.budget else math.inf

    @contextmanager
    def off_the_clock(self) -> Iterator[None]:
        """Within the block, time does not count: for what observes a run without being part
        of it (an epoch-end test pass of a benchmark)."""
        began = monotonic()
        try:
            yield
        finally:
            self.excluded += monotonic() - began


@dataclass(frozen=True)
class Throughput:
    """Measured speeds: training words/sec, evaluation (streamed, no gradient) words/sec, and
    evaluation-time adaptation's words/sec (0: not measured)."""

    train_words_per_sec: float
    eval_words_per_sec: float
    adapt_words_per_sec: float = 0.0


@dataclass(frozen=True)
class Costs:
    """Estimated seconds of one training epoch, the validation after it, and the end of the run
    (the best weights evaluated on valid and test, the last ones on test, then results, plot
    and checkpoint; and evaluation-time adaptation, whose share of it is `adaptation`)."""

    epoch: float
    validation: float
    finish: float
    adaptation: float = 0.0

    @classmethod
    def of(cls, throughput: Throughput, train_words: int, valid_words: int, test_words: int,
           adapted_words: int = 0) -> "Costs":
        """Costs estimated from measured speeds and the splits' lengths; `adapted_words` are
        those evaluation-time adaptation streams at the end."""
        adaptation = adapted_words / throughput.adapt_words_per_sec if adapted_words else 0.0
        return cls.from_validation(valid_words / throughput.eval_words_per_sec,
                                   train_words / throughput.train_words_per_sec,
                                   valid_words, test_words, adaptation)

    @classmethod
    def from_validation(cls, validation: float, epoch: float, valid_words: int,
                        test_words: int, adaptation: float = 0.0) -> "Costs":
        """Costs from an epoch's validation that took `validation` seconds. The final
        evaluation streams valid and test at the same speed, and test once more for the last
        weights where they are not the best ones; `adaptation` seconds follow it."""
        return cls(epoch=epoch, validation=validation,
                   finish=validation * (valid_words + 2 * test_words) / valid_words
                   + FINISH_SECONDS + adaptation, adaptation=adaptation)

    def reserve(self) -> float:
        """Seconds a running epoch keeps free for its validation and the final evaluation,
        with a margin for a machine that slows down."""
        return (self.validation + self.finish) * (1 + RESERVE_MARGIN) + SAFETY_SECONDS

    def epochs_within(self, seconds: float, budget: float) -> float:
        """How many epochs, each followed by validation, fit in `seconds` of a `budget` with
        the finish and the safety margin (a share of the budget, and a few seconds) kept free:
        the whole ones, then a last fraction (in steps of EPOCH_STEP, at least MIN_LAST_EPOCH)
        in what they leave."""
        usable = seconds - SAFETY_FRACTION * budget - SAFETY_SECONDS - self.finish
        whole = max(0, math.floor(usable / (self.epoch + self.validation)))
        left = usable - whole * (self.epoch + self.validation) - self.validation
        fraction = math.floor(max(0.0, left) / self.epoch / EPOCH_STEP) * EPOCH_STEP
        return round(whole + (fraction if fraction >= MIN_LAST_EPOCH else 0.0), 2)

    def seconds_for(self, epochs: float, budget: float) -> float:
        """The seconds of a `budget` whose epochs_within is `epochs` (the inverse, up to its
        rounding)."""
        return (math.ceil(epochs) * self.validation + epochs * self.epoch + self.finish
                + SAFETY_SECONDS + SAFETY_FRACTION * budget)

    def describe(self) -> str:
        adapted = (f", adaptation {format_duration(self.adaptation)} of it" if self.adaptation
                   else "")
        return (f"an epoch {format_duration(self.epoch)} + validation "
                f"{format_duration(self.validation)}, final evaluation "
                f"{format_duration(self.finish)}{adapted}")


@dataclass(frozen=True)
class Shape:
    """A model a budget can choose: its width, and whether its softmax is the adaptive one."""

    hidden_size: int
    adaptive: bool = False

    def __str__(self) -> str:
        return f"hidden_size {self.hidden_size}" + (", adaptive softmax" if self.adaptive else "")


@dataclass(frozen=True)
class Plan:
    """What a budget allows: the shape chosen, the epochs (the last one may be a fraction),
    their costs, and the log."""

    shape: Shape
    epochs: float
    costs: Costs
    lines: tuple[str, ...]


def plan(budget: float, shapes: list[Shape], min_epochs: int,
         measure: Callable[[Shape], Throughput], words: tuple[int, int, int],
         seconds_left: Callable[[], float], adapted_words: int = 0,
         cheapest_first: bool = False) -> Plan:
    """Choose the first of `shapes` (ordered from the most to the least costly on a CPU) for
    which at least `min_epochs` epochs fit in what is left of `budget`; where none does, the
    one that fits the most epochs, the earlier of equals. On a GPU, whose speed barely depends
    on the width, that is the widest; on a CPU, the last.

    `measure(shape)` measures the throughput of a model of that shape; `words` are the train,
    valid and test lengths; `seconds_left()` reads the clock after each measurement, so the
    time spent measuring is counted; `adapted_words` are those evaluation-time adaptation
    streams at the end. With `cheapest_first` (a CPU, where no wider model is faster), the
    last shape is measured first: where it fits fewer than `min_epochs`, it is the plan and
    the others, which fit fewer still, are not measured, since each measurement spends the
    budget. Raises LstmlmError if not even MIN_LAST_EPOCH of an epoch fits.
    """
    lines, measured = [], {}

    def epochs_of(shape: Shape) -> float:
        """Measure `shape` (once; its line logged) and the epochs it fits in what is left."""
        known = shape in measured
        if not known:
            throughput = measure(shape)
            measured[shape] = Costs.of(throughput, *words, adapted_words)
        epochs = measured[shape].epochs_within(seconds_left(), budget)
        if not known:
            lines.append(f"time budget {format_duration(budget)}, {shape}: measured "
                         f"{throughput.train_words_per_sec:,.0f} words/sec training, "
                         f"{throughput.eval_words_per_sec:,.0f} evaluating"
                         + (f", {throughput.adapt_words_per_sec:,.0f} adapting"
                            if adapted_words else "") + f"; {plural(epochs)} fit")
        return epochs

    shape = shapes[-1]
    if cheapest_first and len(shapes) > 1:
        epochs = epochs_of(shape)
        if epochs < min_epochs:
            lines[-1] += f" (fewer than {min_epochs}: no wider model fits more on this device)"
            return plan_of(budget, shape, epochs, measured[shape], seconds_left(), lines)
        lines[-1] += f" (at least {min_epochs}: measuring from the widest model)"
    for index, shape in enumerate(shapes):
        epochs = epochs_of(shape)
        cheaper = epochs < min_epochs and index < len(shapes) - 1
        if cheaper:
            lines[-1] += f" (fewer than {min_epochs}: trying a cheaper model)"
        else:
            break
    if epochs < min_epochs:
        # Measuring took its time whichever shape wins: compare them all at what is left.
        left = seconds_left()
        fitting = {candidate: measured[candidate].epochs_within(left, budget)
                   for candidate in shapes if candidate in measured}
        best = max(fitting, key=fitting.get)  # the earliest of equals
        if best != shape:
            shape, epochs = best, fitting[best]
            lines.append(f"none fits {min_epochs} epochs: {shape} fits the most")
    return plan_of(budget, shape, epochs, measured[shape], seconds_left(), lines)


def plan_of(budget: float, shape: Shape, epochs: float, costs: Costs, left: float,
            lines: list[str]) -> Plan:
    """The plan of `epochs` of `shape` within `budget`, `left` seconds of it unspent, or the
    LstmlmError of a budget in which not even MIN_LAST_EPOCH of an epoch fits."""
    if not epochs:
        needed = budget - left + costs.seconds_for(MIN_LAST_EPOCH, budget)
        raise LstmlmError(f"time budget {format_duration(budget)} is too small: "
                          f"{MIN_LAST_EPOCH:g} of an epoch with validation and the final "
                          f"evaluation need about {format_duration(needed)}, measuring included "
                          f"({costs.describe()})")
    lines.append(f"plan: {plural(epochs)} of {shape} fit in "
                 f"{format_duration(budget)} ({costs.describe()})")
    return Plan(shape, epochs, costs, tuple(lines))
