"""Training curves of one or more runs, drawn with matplotlib.

A `matplotlib.figure.Figure` is drawn directly, without pyplot: no global backend is chosen and
no window opens, so plotting works headless and leaves a notebook's own backend alone.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .errors import LstmlmError
from .files import atomic_write
from .rundir import RunDir


def plot_runs(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write a PNG with each run's training loss per step and train/valid perplexity per epoch."""
    figure = Figure(figsize=(12, 4.5))
    loss_axes, ppl_axes = figure.subplots(1, 2)
    plotted = 0
    for path in run_dirs:
        run_dir = RunDir.open(path)
        metrics = run_dir.metrics()
        if not metrics:
            continue
        losses = [loss for entry in run_dir.losses() for loss in entry["losses"]]
        plotted += 1
        label = run_dir.name
        loss_axes.plot(range(1, len(losses) + 1), losses, linewidth=0.6, label=label)
        epochs = [entry.epoch for entry in metrics]
        line, = ppl_axes.plot(epochs, [entry.train_ppl for entry in metrics], "o-",
                              label=f"{label} train")
        ppl_axes.plot(epochs, [entry.valid_ppl for entry in metrics], "s--",
                      color=line.get_color(), label=f"{label} valid")
    if not plotted:
        raise LstmlmError("no finished epoch to plot in " + ", ".join(map(str, run_dirs)))
    loss_axes.set(title="training loss per step", xlabel="step", ylabel="cross-entropy (nats/word)")
    ppl_axes.set(title="perplexity per epoch", xlabel="epoch", ylabel="perplexity", yscale="log")
    for axes in (loss_axes, ppl_axes):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    out = Path(out)
    atomic_write(out, lambda temp: figure.savefig(temp, format="png", dpi=100))
    return out
