"""The training recipe: set a run up from its config (or its saved state), then train it."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from .. import budget
from ..budget import Clock
from ..builders import build_corpus
from ..config import Config, get_preset
from ..corpus import Corpus
from ..datasets import DATASETS, SAMPLE
from ..distributed import World, cpu_threads, join, world_from_environment
from ..errors import WriteError
from ..files import writing
from ..hardware import resolve_precision, select_device
from ..rundir import RunDir
from .loggers import require_tensorboard
from .planning import check_corpus_fits, plan_budget, smoke_config, smoke_corpus
from .progress import TrainResult
from .trainer import Trainer


class RunLog:
    """Prints a line (through tqdm when a bar is showing) and appends it to the run's train.log."""

    def __init__(self, path: Path, echo: Callable[[str], None] | None):
        self.path = path
        self.echo = echo

    def __call__(self, line: str) -> None:
        with writing(self.path), open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        if self.echo is not None:
            self.echo(line)


def train(config: Config | None = None, *, runs_dir: str | Path = "runs",
          name: str | None = None, resume: str | Path | None = None,
          echo: Callable[[str], None] | None = print,
          progress_bar: bool | None = None) -> TrainResult:
    """Train a model as `config` says in a new run directory, or continue the run at `resume`.

    The new directory is `runs_dir/name`, which must not exist yet, or without a name
    `runs_dir/PRESET-DATE-TIME`.

    Returns the final valid and test perplexity of the best-on-valid weights. `echo` receives
    each log line (None: silent); `progress_bar` defaults to showing a tqdm bar on a terminal.
    The precision (`auto` resolved for this machine) and, with a `time_budget`, the measured
    plan are settled before the run directory is created, so a request the machine cannot
    meet fails without leaving one; the saved config holds what was settled.

    Started by torchrun (several processes), the processes train one model together with
    DistributedDataParallel, each on its own block of `batch_size` rows; rank 0 alone writes
    the run directory and the log.
    """
    # A time budget covers the whole call, reading the corpus included.
    started = budget.monotonic()
    world = world_from_environment()
    if resume is not None:
        run_dir = RunDir.open(resume)
        config = run_dir.load_config()
    else:
        config = (config or get_preset("small")).validate()
        run_dir = None
        if name is not None:
            RunDir.check_new(runs_dir, name)
        if config.data not in (*DATASETS, SAMPLE) and Path(config.data).exists():
            # An absolute path keeps `--resume` and `eval` working from any directory.
            config = dataclasses.replace(config, data=str(Path(config.data).resolve()))
    if config.tensorboard:
        require_tensorboard()
    device, opened = join(world, select_device(config.device))
    try:
        result = _train(config, run_dir, world, device, Clock(config.time_budget, started),
                        runs_dir=runs_dir, name=name, echo=echo, progress_bar=progress_bar)
        if opened:
            # Rank 0 writes the results after the others are done; tearing the group down
            # while it still runs has aborted the other process (gloo, 2 cores under load).
            torch.distributed.barrier()
        return result
    finally:
        if opened:
            torch.distributed.destroy_process_group()


def _train(config: Config, run_dir: RunDir | None, world: World, device: torch.device,
           clock: Clock, *, runs_dir: str | Path, name: str | None,
           echo: Callable[[str], None] | None,
           progress_bar: bool | None) -> TrainResult:
    """train() once its process has joined the others: `run_dir` is the run to resume, or
    None for a new one."""
    resuming = run_dir is not None
    threads = cpu_threads(world) if device.type == "cpu" else None
    # Before the corpus is read (and perhaps downloaded): the machine may refuse the request.
    precision = resolve_precision(config.precision, device, config.cell)
    config = dataclasses.replace(config, precision=precision.precision)
    first_lines = [f"precision {precision.precision} ({precision.reason})"]
    if world.distributed:
        first_lines.append(f"distributed: {world.size} processes, batch_size {config.batch_size} "
                           f"each ({world.size * config.batch_size} rows in all)")
    if threads:
        first_lines.append(threads)

    def read_corpus() -> Corpus:
        if resuming:
            return smoke_corpus(build_corpus(config, run_dir.load_vocab()), config, world.size)
        corpus = smoke_corpus(build_corpus(config), config, world.size)
        check_corpus_fits(corpus, config, world.size)
        return corpus

    # Rank 0 first, so that one process downloads and fills the caches the others then read.
    corpus = world.main_first(read_corpus)
    costs = None
    if not resuming:
        if clock.budget:
            config, plan = world.from_main(
                lambda: plan_budget(config, corpus, device, clock, world.size))
            first_lines.extend(plan.lines)
            costs = plan.costs
        if config.softmax_samples:
            first_lines.append(f"sampled softmax: training perplexity is over the target and "
                               f"{config.softmax_samples} sampled words, evaluation over all")
        config = smoke_config(config)
        run_dir = RunDir(world.from_main(
            lambda: str(new_run_dir(runs_dir, name, config, corpus).path)))
    if world.is_main:
        if progress_bar is None:
            progress_bar = echo is not None and sys.stderr.isatty()
        log = RunLog(run_dir / RunDir.LOG, echo and (tqdm.write if progress_bar else echo))
    else:
        progress_bar, log = False, lambda line: None
    trainer = Trainer(config, corpus, run_dir, log, progress_bar, clock=clock, device=device,
                      costs=costs, world=world)
    try:
        with writing(run_dir.path):
            return trainer.run(resuming, first_lines)
    except WriteError as failure:
        raise WriteError(f"{failure}; `lstmlm train --resume {run_dir}` continues from the last "
                         f"complete checkpoint") from None


def new_run_dir(runs_dir: str | Path, name: str | None, config: Config,
                corpus: Corpus) -> RunDir:
    """A new run directory holding the resolved config and the vocabulary."""
    run_dir = RunDir.create(runs_dir, config.preset, name)
    run_dir.save_config(config)
    run_dir.save_vocab(corpus.vocab)
    return run_dir
