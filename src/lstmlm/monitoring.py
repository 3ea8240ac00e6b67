"""TensorBoard event files of a run (optional: `pip install -e ".[tensorboard]"`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import LstmlmError

def require_tensorboard() -> None:
    """Raise LstmlmError unless the tensorboard package is installed (checked at the start of
    a run, not when the first event is written)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise LstmlmError("tensorboard=true needs the tensorboard package: "
                          "pip install -e \".[tensorboard]\" (or pip install tensorboard)")


class TensorBoardLog:
    """Scalars of a run in the folder `log_dir`, against the global training step.

    A resumed run drops the events written after its checkpoint (`purge_step`), so the curves
    of a run killed and resumed are those of an uninterrupted one.
    """

    def __init__(self, log_dir: Path, global_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir), purge_step=global_step or None)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
