"""The training recipe: set a run up from its request (or its saved state), plan it, then train
it."""

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
from ..config import Config, apply_overrides, override_pairs
from ..presets import get_preset
from ..corpus import Corpus
from ..datasets import DATASETS, SAMPLE
from ..distributed import World, cpu_threads, join, world_from_environment
from ..errors import LstmlmError, RunInterrupted, WriteError
from ..files import writing
from ..hardware import keep_freed_memory, resolve_precision, select_device
from ..plan import RunPlan
from ..rundir import RunDir
from ..vocabulary import Vocabulary
from .loggers import require_tensorboard
from .planning import capped_corpus, plan_run
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


# What a resumed run may change (`resume_changes`): how long and how fast it goes on.
RESUMABLE_FIELDS = ("max_max_epoch", "max_epoch", "learning_rate", "lr_decay", "max_grad_norm",
                    "early_stopping_patience")


def train(config: Config | None = None, *, runs_dir: str | Path = "runs",
          name: str | None = None, resume: str | Path | None = None,
          resume_changes: list[str] | dict | None = None,
          echo: Callable[[str], None] | None = print,
          progress_bar: bool | None = None) -> TrainResult:
    """Train a model as `config` asks in a new run directory, or continue the run at `resume`
    (with `resume_changes`, `name=value` pairs of RESUMABLE_FIELDS, e.g. more epochs: recorded
    as a new plan).

    The new directory is `runs_dir/name`, which must not exist yet, or without a name
    `runs_dir/PRESET-DATE-TIME`.

    Returns the final valid and test perplexity of the best-on-valid weights, the request and
    the plan the run trained by. `echo` receives each log line (None: silent); `progress_bar`
    defaults to showing a tqdm bar on a terminal. The precision (`auto` resolved for this
    machine) and, with a `time_budget`, the measured plan are settled before the run directory
    is created, so a request the machine cannot meet fails without leaving one; config.json
    holds the request as asked and plan.json what was settled.

    Started by torchrun (several processes), the processes train one model together with
    DistributedDataParallel, each on its own block of `batch_size` rows; rank 0 alone writes
    the run directory and the log.
    """
    # A time budget covers the whole call, reading the corpus included.
    started = budget.monotonic()
    world = world_from_environment()
    if resume is not None:
        run_dir = RunDir.open(resume)
        config, plan = run_dir.load_config(), run_dir.load_plan()
        if resume_changes:
            plan = changed_plan(plan, resume_changes, len(run_dir.metrics()))
    else:
        config, run_dir, plan = config or get_preset("small"), None, None
        if name is not None:
            RunDir.check_new(runs_dir, name)
    if config.logging.tensorboard:
        require_tensorboard()
    device, opened = join(world, select_device(config.run.device))
    try:
        result = _train(config, plan, run_dir, world, device,
                        Clock(config.budget.seconds or 0.0, started), runs_dir=runs_dir,
                        name=name, echo=echo, progress_bar=progress_bar)
        if opened:
            # Rank 0 writes the results after the others are done; tearing the group down
            # while it still runs has aborted the other process (gloo, 2 cores under load).
            torch.distributed.barrier()
        return result
    finally:
        if opened:
            torch.distributed.destroy_process_group()


def changed_plan(plan: RunPlan, changes: list[str] | dict, epochs_done: int) -> RunPlan:
    """`plan` with `changes` (of RESUMABLE_FIELDS) for the epochs after `epochs_done`."""
    pairs = dict(override_pairs(changes))
    fixed = [name for name in pairs if name not in RESUMABLE_FIELDS]
    if fixed:
        raise LstmlmError(f"a resumed run can change {', '.join(RESUMABLE_FIELDS)}; "
                          f"{fixed[0]} is settled when a run starts")
    optimisation = apply_overrides(Config(optimisation=plan.optimisation), pairs).optimisation
    note = "resumed with " + ", ".join(f"{name}={value}" for name, value in pairs.items())
    return dataclasses.replace(plan, optimisation=optimisation, after_epoch=epochs_done,
                               notes=(note,))


def corpus_path(config: Config) -> str:
    """The corpus the request names, a path made absolute so that `--resume` and `eval` work
    from any directory."""
    data = config.data.corpus
    if data not in (*DATASETS, SAMPLE) and Path(data).exists():
        return str(Path(data).resolve())
    return data


def _train(config: Config, plan: RunPlan | None, run_dir: RunDir | None, world: World,
           device: torch.device, clock: Clock, *, runs_dir: str | Path, name: str | None,
           echo: Callable[[str], None] | None, progress_bar: bool | None) -> TrainResult:
    """train() once its process has joined the others: `plan` and `run_dir` are those of the
    run to resume, or None for a new one."""
    resuming = run_dir is not None
    if device.type == "cpu":
        keep_freed_memory()  # each window's large buffers reused, not mapped anew
    # Before the corpus is read (and perhaps downloaded): the machine may refuse the request.
    precision = resolve_precision(plan.precision if resuming else config.run.precision, device,
                                  config.model.cell)
    first_lines = [f"precision {precision.precision} ({precision.reason})"]
    if world.distributed:
        rows = config.optimisation.batch_size
        first_lines.append(f"distributed: {world.size} processes, batch_size {rows} each "
                           f"({world.size * rows} rows in all)")
    threads = cpu_threads(world) if device.type == "cpu" else None
    if threads:
        first_lines.append(threads)
    data = plan.data if resuming else corpus_path(config)
    vocab = run_dir.load_vocab() if resuming else None
    # Rank 0 first, so that one process downloads and fills the caches the others then read.
    corpus = world.main_first(lambda: read_corpus(config, data, vocab, world.size))
    if resuming and world.is_main and plan != run_dir.load_plan():
        # Changed by the resume, and recorded once the machine and the corpus have taken it.
        run_dir.add_plan(plan)
    if not resuming:
        plan = world.from_main(lambda: plan_run(config, corpus, device, precision.precision,
                                                clock, world.size, data))
        first_lines.extend(plan.notes)
        if config.model.softmax_samples:
            first_lines.append(f"sampled softmax: training perplexity is over the target and "
                               f"{config.model.softmax_samples} sampled words, evaluation over "
                               f"all")
        run_dir = RunDir(world.from_main(
            lambda: str(new_run_dir(runs_dir, name, config, plan, corpus.vocab).path)))
    if world.is_main:
        if progress_bar is None:
            progress_bar = echo is not None and sys.stderr.isatty()
        log = RunLog(run_dir / RunDir.LOG, echo and (tqdm.write if progress_bar else echo))
    else:
        progress_bar, log = False, lambda line: None
    trainer = Trainer(config, plan, corpus, run_dir, log, progress_bar, clock=clock,
                      device=device, world=world)
    try:
        with writing(run_dir.path):
            return trainer.run(resuming, first_lines)
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir) from None
    except WriteError as failure:
        raise WriteError(f"{failure}; `lstmlm train --resume {run_dir}` continues from the last "
                         f"complete checkpoint") from None


def read_corpus(config: Config, data: str, vocab: Vocabulary | None, processes: int) -> Corpus:
    """The corpus at `data`, read as the request says (with `vocab` when resuming), cut where
    the request caps windows or evaluation words."""
    return capped_corpus(build_corpus(config.data, vocab, data), config, processes)


def new_run_dir(runs_dir: str | Path, name: str | None, config: Config, plan: RunPlan,
                vocab: Vocabulary) -> RunDir:
    """A new run directory holding the request, its first plan and the vocabulary."""
    run_dir = RunDir.create(runs_dir, config.preset, name)
    run_dir.save_config(config)
    run_dir.add_plan(plan)
    run_dir.save_vocab(vocab)
    return run_dir
