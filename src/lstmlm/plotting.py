"""Training curves of one or more runs, drawn headless with matplotlib."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot's import
import matplotlib.pyplot as plt  # noqa: E402

from . import checkpoint  # noqa: E402
from .errors import LstmlmError  # noqa: E402


def plot_runs(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write a PNG with each run's training loss per step and train/valid perplexity per epoch."""
    figure, (loss_axes, ppl_axes) = plt.subplots(1, 2, figsize=(12, 4.5))
    plotted = 0
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        metrics = checkpoint.read_jsonl(run_dir, checkpoint.METRICS_FILE)
        losses = [loss for entry in checkpoint.read_jsonl(run_dir, checkpoint.LOSSES_FILE)
                  for loss in entry["losses"]]
        if not metrics:
            continue
        plotted += 1
        label = run_dir.name
        loss_axes.plot(range(1, len(losses) + 1), losses, linewidth=0.6, label=label)
        epochs = [entry["epoch"] for entry in metrics]
        line, = ppl_axes.plot(epochs, [entry["train_ppl"] for entry in metrics], "o-",
                              label=f"{label} train")
        ppl_axes.plot(epochs, [entry["valid_ppl"] for entry in metrics], "s--",
                      color=line.get_color(), label=f"{label} valid")
    if not plotted:
        plt.close(figure)
        raise LstmlmError("no finished epoch to plot in " + ", ".join(map(str, run_dirs)))
    loss_axes.set(title="training loss per step", xlabel="step", ylabel="cross-entropy (nats/word)")
    ppl_axes.set(title="perplexity per epoch", xlabel="epoch", ylabel="perplexity", yscale="log")
    for axes in (loss_axes, ppl_axes):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    out = Path(out)
    checkpoint.atomic_write(out, lambda temp: figure.savefig(temp, format="png", dpi=100))
    plt.close(figure)
    return out
