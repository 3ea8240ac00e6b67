"""Where a run's metrics go: one interface, `log(metrics, step)` and `close()`, with
implementations for the run's log lines, TensorBoard event files and the progress bar.

The trainer reports two kinds of metrics, at the global training step:
- during an epoch: `train/epoch_fraction`, `train/loss`, `train/perplexity`,
  `train/learning_rate` and `train/words_per_sec`;
- after each validation: `epoch/number`, `epoch/train_perplexity` and `epoch/valid_perplexity`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Callable, Protocol

from tqdm import tqdm

from ..errors import LstmlmError


class MetricLogger(Protocol):
    """A sink of metrics."""

    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class TextLogger:
    """The reference implementation's lines, through `write` (train.log and the console):
    `0.100 perplexity: 123.456 speed: 1234 wps` during an epoch, then
    `Epoch: N Train Perplexity: ...` and `Epoch: N Valid Perplexity: ...`."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write

    def log(self, metrics: dict[str, float], step: int) -> None:
        if "train/perplexity" in metrics:
            self.write(f"{metrics['train/epoch_fraction']:.3f} perplexity: "
                       f"{metrics['train/perplexity']:.3f} "
                       f"speed: {metrics['train/words_per_sec']:.0f} wps")
        if "epoch/valid_perplexity" in metrics:
            epoch = int(metrics["epoch/number"])
            self.write(f"Epoch: {epoch} Train Perplexity: {metrics['epoch/train_perplexity']:.3f}")
            self.write(f"Epoch: {epoch} Valid Perplexity: {metrics['epoch/valid_perplexity']:.3f}")
            if "epoch/test_perplexity" in metrics:
                self.write(f"Epoch: {epoch} Test Perplexity: "
                           f"{metrics['epoch/test_perplexity']:.3f}")

    def close(self) -> None:
        pass


def require_tensorboard() -> None:
    """Raise LstmlmError unless the tensorboard package is installed (checked at the start of
    a run, not when the first event is written)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise LstmlmError("tensorboard=true needs the tensorboard package: "
                          "pip install -e \".[tensorboard]\" (or pip install tensorboard)")


class TensorBoardLogger:
    """Every metric as a scalar in the event files of `log_dir`, against the global step.

    A resumed run drops the events written after its checkpoint (`purge_step`), so the curves
    of a run killed and resumed are those of an uninterrupted one.
    """

    def __init__(self, log_dir: Path, global_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir), purge_step=global_step or None)

    def log(self, metrics: dict[str, float], step: int) -> None:
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class ProgressBarLogger:
    """A tqdm bar over each epoch's windows (on standard error), showing the latest perplexity
    and speed; nothing when not `enabled`."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: tqdm | None = None

    def start_epoch(self, epoch: int, windows: int, done: int) -> None:
        self.close()
        self.bar = tqdm(total=windows, initial=done, desc=f"epoch {epoch}",
                        disable=not self.enabled, leave=False, file=sys.stderr)

    def advance(self) -> None:
        self.bar.update(1)

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.bar is not None and "train/perplexity" in metrics:
            self.bar.set_postfix(ppl=f"{metrics['train/perplexity']:.1f}",
                                 wps=f"{metrics['train/words_per_sec']:.0f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
