"""Learning-rate schedules, optimizers, and NT-ASGD's trigger and averaged weights."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable

import torch

from ..config import OptimizerName, ScheduleName

# One-cycle's rate starts at a 25th of the peak and ends at a 10,000th of that, and beta1
# runs from 0.95 to 0.85 and back: the defaults of PyTorch's OneCycleLR and fastai.
ONECYCLE_START = 1 / 25
ONECYCLE_END = ONECYCLE_START / 1e4
ONECYCLE_BETA1 = (0.85, 0.95)


@dataclass(frozen=True)
class LearningRateSchedule:
    """The learning rate as a function of training progress (in epochs, counted from 0).

    step: `learning_rate * lr_decay ** max(epoch + 1 - max_epoch, 0)` (Zaremba); plateau:
    times `lr_decay` for each finished epoch that did not improve on the best valid
    perplexity before it; cosine: linear warm-up over `warmup_epochs`, then half a cosine down
    to 0 at `max_max_epoch`; onecycle (Smith 2018, as fastai and PyTorch's OneCycleLR lay it
    out): linear from a 25th of the rate to the rate over `warmup_epochs`, then half a cosine
    down to a 10,000th of that start, with Adam's beta1 moving the opposite way (`beta1`).
    Both hold the peak after the warm-up until the last `anneal_share` of the rest.
    """

    kind: ScheduleName
    learning_rate: float
    lr_decay: float = 1.0
    max_epoch: int = 1
    max_max_epoch: float = 1.0
    warmup_epochs: float = 0.0
    anneal_share: float = 1.0

    def rate(self, progress: float, valid_ppls: Iterable[float] = ()) -> float:
        """The rate `progress` epochs into training, after epochs of `valid_ppls`."""
        if self.kind == "step":
            return self.learning_rate * self.lr_decay ** max(int(progress) + 1 - self.max_epoch, 0)
        if self.kind == "plateau":
            return self.learning_rate * self.lr_decay ** plateaus(valid_ppls)
        start, end = ((ONECYCLE_START * self.learning_rate, ONECYCLE_END * self.learning_rate)
                      if self.kind == "onecycle" else (0.0, 0.0))
        return self.cycle(progress, start, self.learning_rate, end)

    def beta1(self, progress: float) -> float | None:
        """Adam's beta1 `progress` epochs into training under onecycle (None otherwise): high
        while the rate is low, so that the step's size stays about even."""
        if self.kind != "onecycle":
            return None
        return self.cycle(progress, ONECYCLE_BETA1[1], ONECYCLE_BETA1[0], ONECYCLE_BETA1[1])

    def cycle(self, progress: float, start: float, peak: float, end: float) -> float:
        """Linear from `start` to `peak` over the warm-up, held at `peak` until the last
        `anneal_share` of the rest, then half a cosine down to `end` at `max_max_epoch`."""
        if progress < self.warmup_epochs:
            return start + (peak - start) * progress / self.warmup_epochs
        fraction = (progress - self.warmup_epochs) / (self.max_max_epoch - self.warmup_epochs)
        annealed = max(fraction - (1 - self.anneal_share), 0.0) / self.anneal_share
        return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * min(annealed, 1.0)))


def plateaus(valid_ppls: Iterable[float]) -> int:
    """How many epochs did not improve on the best valid perplexity before them."""
    count, best = 0, math.inf
    for valid_ppl in valid_ppls:
        if valid_ppl >= best:
            count += 1
        best = min(best, valid_ppl)
    return count


def should_average(valid_ppls: list[float], nonmono: int) -> bool:
    """NT-ASGD's trigger (Merity et al. 2017): the last valid perplexity is worse than the best
    of the epochs before the last `nonmono` ones."""
    earlier = valid_ppls[:-1]
    return len(earlier) > nonmono and valid_ppls[-1] > min(earlier[:len(earlier) - nonmono])


# The devices with fused SGD, Adam and AdamW kernels.
FUSED_DEVICES = ("cpu", "cuda")


def build_optimizer(parameters: Iterable[torch.nn.Parameter], name: OptimizerName, lr: float,
                    weight_decay: float = 0.0, averaging: bool = False) -> torch.optim.Optimizer:
    """Plain SGD (the Zaremba presets, and NT-ASGD before it averages), Adam or AdamW;
    `averaging` gives NT-ASGD's second phase: ASGD with `t0=0` and `lambd=0`, i.e. SGD that
    keeps the running average of the weights since the switch."""
    if averaging:
        return torch.optim.ASGD(parameters, lr=lr, t0=0, lambd=0.0, weight_decay=weight_decay)
    parameters = list(parameters)
    optimizers = {"sgd": torch.optim.SGD, "ntasgd": torch.optim.SGD, "adam": torch.optim.Adam,
                  "adamw": torch.optim.AdamW}
    # The step is bound by memory: the fused kernel reads each weight and its gradient once,
    # where the per-tensor loop passes over them for the weight decay and again for the step.
    fused = all(parameter.device.type in FUSED_DEVICES for parameter in parameters)
    optimizer = optimizers[name](parameters, lr=lr, weight_decay=weight_decay, fused=fused or None)
    if fused:
        # The fused kernels write the weights without bumping their version counters, which
        # caches keyed on them (the model's transposed decoder) and autograd's checks read.
        optimizer.register_step_post_hook(
            lambda optimizer, args, kwargs: torch.autograd.graph.increment_version(parameters))
    return optimizer


@contextmanager
def averaged_weights(optimizer: torch.optim.Optimizer):
    """Within the block, the parameters hold ASGD's running averages (no-op for other optimizers)."""
    averages = [(parameter, optimizer.state[parameter]["ax"])
                for group in optimizer.param_groups for parameter in group["params"]
                if isinstance(optimizer, torch.optim.ASGD) and "ax" in optimizer.state[parameter]]
    saved = [parameter.detach().clone() for parameter, _ in averages]
    with torch.no_grad():
        for parameter, average in averages:
            parameter.copy_(average)
    try:
        yield
    finally:
        with torch.no_grad():
            for (parameter, _), original in zip(averages, saved):
                parameter.copy_(original)


def averaging_reason(epoch: int, valid_ppls: list[float], optimizer: OptimizerName,
                     nonmono: int, average_last: float, max_max_epoch: float) -> str | None:
    """Why the weights start being averaged after `epoch` (not averaged yet), if they do:
    NT-ASGD's trigger, or the start of the last share of the epochs that average_last
    averages."""
    if epoch >= max_max_epoch:
        return None
    if optimizer == "ntasgd" and should_average(valid_ppls, nonmono):
        return f"valid perplexity is worse than {nonmono} epochs before"
    if average_last and epoch >= (1 - average_last) * max_max_epoch:
        return f"average_last averages the last {average_last:g} of the {max_max_epoch:g} epochs"
    return None
