"""Training: truncated BPTT with the Zaremba et al. (2014) defaults (SGD, step-decayed learning
rate) and the AWD-LSTM options (NT-ASGD, variable windows, AR/TAR), plateau and cosine
schedules, mixed precision (bf16, or fp16 with a gradient scaler), time budgets, and
data-parallel training over processes started by torchrun."""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from tqdm import tqdm

from . import budget, checkpoint
from .budget import Clock, Costs, Throughput, format_duration
from .config import Config, get_preset
from .corpus import (UNK, Corpus, batchify, corpus_of, window_lengths, windows,
                     windows_of_lengths)
from .datasets import DATASETS
from .distributed import World, cpu_threads, join, world_from_environment
from .errors import LstmlmError
from .evaluation import stream_nll, stream_perplexity, stream_rows
from .generation import Generator, text_of
from .hardware import (autocast, describe_machine, resolve_precision, select_device,
                       synchronize)
from .model import LSTMLanguageModel, State, detach_state
from .monitoring import TensorBoardLog, require_tensorboard
from .rundir import EpochMetrics, RunDir


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
    # False in the processes of a distributed run other than rank 0, which reports for all.
    main_process: bool = True


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


def learning_rate(config: Config, progress: float, valid_ppls: list[float] = ()) -> float:
    """The schedule's learning rate `progress` epochs into training (epochs counted from 0).

    step: `learning_rate * lr_decay ** max(epoch + 1 - max_epoch, 0)` (Zaremba); plateau:
    times `lr_decay` for each finished epoch (of `valid_ppls`, their valid perplexities) that
    did not improve on the best before it; cosine: linear warm-up over `warmup_epochs`, then
    half a cosine down to 0 at `max_max_epoch`.
    """
    if config.lr_schedule == "step":
        return config.learning_rate * config.lr_decay ** max(int(progress) + 1 - config.max_epoch, 0)
    if config.lr_schedule == "plateau":
        return config.learning_rate * config.lr_decay ** plateaus(valid_ppls)
    if progress < config.warmup_epochs:
        return config.learning_rate * progress / config.warmup_epochs
    fraction = (progress - config.warmup_epochs) / (config.max_max_epoch - config.warmup_epochs)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))


def plateaus(valid_ppls: list[float]) -> int:
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


class WindowLoss(torch.nn.Module):
    """A window's summed loss, the last layer's outputs (before and after the output dropout)
    and the state, in one forward call: the module DistributedDataParallel wraps, since it
    synchronises gradients only for what runs through `forward`."""

    def __init__(self, model: LSTMLanguageModel):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, hidden: State, targets: torch.Tensor):
        features, dropped, hidden = self.model.outputs(inputs, hidden)
        return self.model.summed_nll(dropped, targets), features, dropped, hidden


def train_step(model: LSTMLanguageModel, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
               targets: torch.Tensor, hidden: State, *, max_grad_norm: float,
               loss_average: str = "batch", ar_alpha: float = 0.0, tar_beta: float = 0.0,
               precision: str = "fp32", scaler: torch.amp.GradScaler | None = None,
               window_loss: torch.nn.Module | None = None) -> tuple[torch.Tensor, State]:
    """One truncated-BPTT update on a window; returns the summed loss over the window's
    targets and the detached state.

    The gradient is of the summed cross-entropy divided by the batch size (the reference's
    loss, `loss_average="batch"`) or by the number of targets ("token"), clipped by its global
    norm before the optimizer step. `ar_alpha` and `tar_beta` add activation regularisation
    (the mean square of the dropped-out last-layer outputs) and its temporal version (the mean
    square of their step-to-step change, before dropout), as AWD-LSTM does. With
    `precision` "bf16" or "fp16" the forward pass runs under autocast; the loss, the weights
    and the carried state stay in float32. fp16 needs `scaler`, which scales the loss so that
    small gradients survive float16 and skips steps whose gradients overflowed.
    `window_loss` runs the forward pass (WindowLoss(model), or in a distributed run its
    DistributedDataParallel wrapper, which averages the gradients over the processes).
    """
    window_loss = window_loss or WindowLoss(model)
    with autocast(inputs.device.type, precision):
        total, features, dropped, hidden = window_loss(inputs, hidden, targets)
    if precision != "fp32":
        features, dropped = features.float(), dropped.float()
        hidden = tuple(tensor.float() for tensor in hidden)
    objective = total / (inputs.size(0) if loss_average == "batch" else targets.numel())
    if ar_alpha:
        objective = objective + ar_alpha * dropped.pow(2).mean()
    if tar_beta:
        objective = objective + tar_beta * (features[:, 1:] - features[:, :-1]).pow(2).mean()
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        objective.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
    else:
        scaler.scale(objective).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
    return total.detach(), detach_state(hidden)


def new_scaler(config: Config, device: torch.device) -> torch.amp.GradScaler | None:
    """The gradient scaler fp16 training needs (None for the other precisions)."""
    return torch.amp.GradScaler(device.type) if config.precision == "fp16" else None


def step_options(config: Config) -> dict:
    """train_step's keyword options as `config` sets them."""
    return dict(max_grad_norm=config.max_grad_norm, loss_average=config.loss_average,
                ar_alpha=config.ar_alpha, tar_beta=config.tar_beta, precision=config.precision)


# Measuring throughput: untimed windows first (allocations, oneDNN primitive creation), then at
# least this many timed ones.
WARMUP_WINDOWS, MIN_TIMED_WINDOWS = 2, 3
# Words of the valid split streamed per evaluation batch row to time evaluation.
EVAL_SAMPLE_WORDS = 5000


def throwaway_training(config: Config, corpus: Corpus,
                       device: torch.device) -> tuple[LSTMLanguageModel, Iterator[int]]:
    """A fresh model of `config`'s shape, and an iterator that trains it on the next window of
    the training split at each `next` (the device's queue drained) and yields the window's
    number of targets: what measuring a training speed times."""
    model = LSTMLanguageModel.from_config(config, len(corpus.vocab)).to(device)
    optimizer = build_optimizer(config, model)
    scaler = new_scaler(config, device)
    window_loss = WindowLoss(model)
    rows = batchify(corpus.train, config.batch_size).to(device)

    def steps() -> Iterator[int]:
        hidden = model.init_state(config.batch_size)
        model.train()
        for inputs, targets in windows(rows, config.num_steps):
            _, hidden = train_step(model, optimizer, inputs, targets, hidden, scaler=scaler,
                                   window_loss=window_loss, **step_options(config))
            synchronize(device)
            yield targets.numel()

    return model, steps()


def measure_throughput(config: Config, corpus: Corpus, device: torch.device,
                       seconds: float) -> Throughput:
    """Train a throwaway model of `config`'s shape for about `seconds` and stream part of the
    valid split through it, timing both. The caller's model and random state are untouched."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        model, steps = throwaway_training(config, corpus, device)
        timings = []  # (seconds, words) of each window
        began = time.perf_counter()
        for words in steps:
            timings.append((time.perf_counter() - began, words))
            timed = timings[WARMUP_WINDOWS:]
            if len(timed) >= MIN_TIMED_WINDOWS and sum(took for took, _ in timed) >= seconds:
                break
            began = time.perf_counter()
        timed = timings[WARMUP_WINDOWS:] or timings  # a corpus of a few windows: time them all
        timed_seconds, timed_words = (sum(values) for values in zip(*timed))
        sample = corpus.valid[:EVAL_SAMPLE_WORDS * config.eval_batch_size]
        stream_perplexity(model, sample[:config.eval_num_steps * config.eval_batch_size + 1],
                          config.eval_batch_size, config.eval_num_steps)  # warm-up
        began = time.perf_counter()
        stream_perplexity(model, sample, config.eval_batch_size, config.eval_num_steps)
        synchronize(device)
        eval_seconds = time.perf_counter() - began
    return Throughput(timed_words / timed_seconds, len(sample) / eval_seconds)


def plan_budget(config: Config, corpus: Corpus, device: torch.device, clock: Clock,
                processes: int = 1) -> tuple[Config, budget.Plan]:
    """Measure, then fit the run into what is left of its time budget: the hidden size (from
    budget_hidden_sizes) and the number of epochs, the schedule (and with
    budget_short_regularisation the regularisation) laid out for that length. With several
    `processes` each trains and evaluates its share of the words at the speed measured here."""
    words = tuple(len(split) // processes for split in (corpus.train, corpus.valid, corpus.test))
    seconds = budget.measuring_seconds(config.time_budget)

    def measure(size: int) -> Throughput:
        return measure_throughput(dataclasses.replace(config, hidden_size=size), corpus, device,
                                  seconds)

    plan = budget.plan(config.time_budget, config.budget_sizes(), config.budget_min_epochs,
                       measure, words, clock.left)
    planned = budget.scaled_schedule(dataclasses.replace(config, hidden_size=plan.hidden_size),
                                     plan.epochs).validate()
    regularisation = budget.regularisation_line(planned)
    if regularisation:
        plan = dataclasses.replace(plan, lines=plan.lines + (regularisation,))
    return planned, plan


def build_optimizer(config: Config, model: torch.nn.Module,
                    averaging: bool = False) -> torch.optim.Optimizer:
    """Plain SGD (the Zaremba presets, and NT-ASGD before it averages), Adam or AdamW, at the
    config's initial learning rate; `averaging` gives NT-ASGD's second phase: ASGD with `t0=0`
    and `lambd=0`, i.e. SGD that keeps the running average of the weights since the switch."""
    if averaging:
        return torch.optim.ASGD(model.parameters(), lr=config.learning_rate, t0=0, lambd=0.0,
                                weight_decay=config.weight_decay)
    optimizers = {"sgd": torch.optim.SGD, "ntasgd": torch.optim.SGD, "adam": torch.optim.Adam,
                  "adamw": torch.optim.AdamW}
    return optimizers[config.optimizer](model.parameters(), lr=config.learning_rate,
                                        weight_decay=config.weight_decay)


class RunLog:
    """Prints a line (through tqdm when a bar is showing) and appends it to the run's train.log."""

    def __init__(self, path: Path, echo: Callable[[str], None] | None):
        self.path = path
        self.echo = echo

    def __call__(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        if self.echo is not None:
            self.echo(line)


def train(config: Config | None = None, *, runs_dir: str | Path = "runs",
          resume: str | Path | None = None, echo: Callable[[str], None] | None = print,
          progress_bar: bool | None = None) -> TrainResult:
    """Train a model as `config` says in a new run directory, or continue the run at `resume`.

    Returns the final valid and test perplexity of the best-on-valid weights. `echo` receives
    each log line (None: silent); `progress_bar` defaults to showing a tqdm bar on a terminal.
    The precision (`auto` resolved for this machine) and, with a `time_budget`, the measured
    plan are settled before the run directory is created, so a request the machine cannot
    meet fails without leaving one; the saved config holds what was settled.

    Started by torchrun (several processes), the processes train one model together with
    DistributedDataParallel, each on its own block of `batch_size` rows; rank 0 alone writes
    the run directory and the log.
    """
    clock = Clock()  # a time budget covers the whole call, reading the corpus included
    world = world_from_environment()
    if resume is not None:
        run_dir = RunDir.open(resume)
        config = run_dir.load_config()
    else:
        config = (config or get_preset("small")).validate()
        run_dir = None
        if config.data not in DATASETS and Path(config.data).exists():
            # An absolute path keeps `--resume` and `eval` working from any directory.
            config = dataclasses.replace(config, data=str(Path(config.data).resolve()))
    if config.tensorboard:
        require_tensorboard()
    device, opened = join(world, select_device(config.device))
    try:
        return _train(config, run_dir, world, device, clock, runs_dir=runs_dir, echo=echo,
                      progress_bar=progress_bar)
    finally:
        if opened:
            torch.distributed.destroy_process_group()


def _train(config: Config, run_dir: RunDir | None, world: World, device: torch.device,
           clock: Clock, *, runs_dir: str | Path, echo: Callable[[str], None] | None,
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
    clock.budget = config.time_budget

    def read_corpus() -> Corpus:
        if resuming:
            return corpus_of(config, run_dir.load_vocab())
        corpus = corpus_of(config)
        check_corpus_fits(corpus, config, world.size)
        return corpus

    # Rank 0 first, so that one process downloads and fills the caches the others then read.
    corpus = world.main_first(read_corpus)
    costs = None
    if not resuming:
        if config.time_budget:
            config, plan = world.from_main(
                lambda: plan_budget(config, corpus, device, clock, world.size))
            first_lines.extend(plan.lines)
            costs = plan.costs
        run_dir = RunDir(world.from_main(lambda: str(new_run_dir(runs_dir, config, corpus).path)))
    if world.is_main:
        if progress_bar is None:
            progress_bar = echo is not None and sys.stderr.isatty()
        log = RunLog(run_dir / RunDir.LOG, echo and (tqdm.write if progress_bar else echo))
    else:
        progress_bar, log = False, lambda line: None
    trainer = Trainer(config, corpus, run_dir, log, progress_bar, clock=clock, device=device,
                      costs=costs, world=world)
    return trainer.run(resuming, first_lines)


def new_run_dir(runs_dir: str | Path, config: Config, corpus: Corpus) -> RunDir:
    """A new run directory holding the resolved config and the vocabulary."""
    run_dir = RunDir.create(runs_dir, config.preset)
    run_dir.save_config(config)
    run_dir.save_vocab(corpus.vocab)
    return run_dir


def check_corpus_fits(corpus: Corpus, config: Config, processes: int = 1) -> None:
    """Raise LstmlmError if a split is too short for the config's batches (of every one of
    `processes` processes), or the adaptive softmax's cutoffs do not fit the vocabulary."""
    config.cutoffs(len(corpus.vocab))
    rows = config.batch_size * processes
    if not window_lengths(len(corpus.train), rows, config.num_steps,
                          config.variable_length, config.seed):
        raise LstmlmError(f"training split too short ({len(corpus.train)} words) for one batch of "
                          f"{rows} rows x num_steps={config.num_steps}")
    for split in ("valid", "test"):
        if len(corpus.split(split)) // (config.eval_batch_size * processes) < 2:
            raise LstmlmError(f"{split} split too short ({len(corpus.split(split))} words)")


def best_epoch(history: list[EpochMetrics]) -> int:
    """The epoch with the lowest valid perplexity (the earliest of equals)."""
    return min(history, key=lambda entry: entry.valid_ppl).epoch


class EpochProgress:
    """The running totals of the epoch being trained: its summed loss (kept on the device, so
    no step waits for a transfer), the per-word losses not yet saved, and its training time.
    In a distributed run the totals it reports are those of all processes."""

    def __init__(self, lengths: list[int], state: TrainState, device: torch.device,
                 world: World = World()):
        self.lengths = lengths
        self.world = world
        self.cost = torch.tensor(state.epoch_cost, dtype=torch.float64, device=device)
        self.pending_losses: list[torch.Tensor] = []
        self.start_step = self.done = state.step
        self.seconds_before = state.epoch_seconds
        self.began = self.since_checkpoint = time.perf_counter()

    def add(self, loss: torch.Tensor, targets: int) -> None:
        """Count a trained window whose summed loss is `loss` over `targets` targets."""
        self.cost += loss.double()
        self.pending_losses.append(loss / targets)
        self.done += 1

    def window_seconds(self) -> float | None:
        """The mean time of this process's windows so far (None before the first)."""
        trained = self.done - self.start_step
        return (time.perf_counter() - self.began) / trained if trained else None

    def seconds(self) -> float:
        """Training seconds of the epoch, earlier processes' included."""
        return self.seconds_before + time.perf_counter() - self.since_checkpoint

    def words(self, batch_size: int) -> int:
        """Words trained so far this epoch, by all processes (`batch_size` rows each)."""
        return sum(self.lengths[:self.done]) * batch_size * self.world.size

    def perplexity(self, batch_size: int) -> float:
        return math.exp(self.world.sum(self.cost).item() / self.words(batch_size))

    def flush(self, state: TrainState) -> None:
        """Move the pending losses (averaged over the processes) into the state, in one
        transfer."""
        if self.pending_losses:
            losses = self.world.sum(torch.stack(self.pending_losses)) / self.world.size
            state.step_losses.extend(losses.tolist())
            self.pending_losses.clear()

    def checkpointed(self, state: TrainState) -> None:
        """Record the position in the state before a mid-epoch checkpoint."""
        self.flush(state)
        # Each process keeps its own share of the cost; perplexity() adds them up.
        state.step, state.epoch_cost, state.epoch_seconds = self.done, self.cost.item(), self.seconds()
        self.seconds_before, self.since_checkpoint = state.epoch_seconds, time.perf_counter()


class Trainer:
    """The training loop of one run; all its progress is in `self.state`, so it can be saved."""

    def __init__(self, config: Config, corpus: Corpus, run_dir: RunDir,
                 log: Callable[[str], None], progress_bar: bool, *, clock: Clock,
                 device: torch.device, costs: Costs | None = None, world: World = World()):
        self.config = config
        self.world = world
        self.corpus = corpus
        self.run_dir = run_dir
        self.log = log
        self.progress_bar = progress_bar
        self.clock = clock
        self.device = device
        torch.manual_seed(config.seed)
        self.model = LSTMLanguageModel.from_config(config, len(corpus.vocab)).to(self.device)
        self.window_loss = WindowLoss(self.model)
        if world.distributed:
            # Every process starts from the same weights (the same seed), then seeds its own
            # dropout masks with seed + rank.
            torch.manual_seed(config.seed + world.rank)
            # The adaptive softmax leaves the clusters no target of a window falls in unused.
            self.window_loss = torch.nn.parallel.DistributedDataParallel(
                self.window_loss, device_ids=[device] if device.type == "cuda" else None,
                find_unused_parameters=config.softmax == "adaptive")
        self.optimizer = build_optimizer(config, self.model)
        self.scaler = new_scaler(config, self.device)
        # The training stream cut into batch_size rows per process; this process's block.
        self.train_rows = self.own_rows(batchify(corpus.train, self.rows()), config.batch_size)
        self.state = TrainState(costs=costs, world_size=world.size)
        self.hidden = None
        self.generator = Generator(self.model, corpus.vocab, config.clean_text)
        self.tensorboard: TensorBoardLog | None = None

    def rows(self, batch_size: int | None = None) -> int:
        """Rows of all processes together, for `batch_size` (default: the config's) each."""
        return (batch_size or self.config.batch_size) * self.world.size

    def own_rows(self, rows: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
        """This process's block of `batch_size` rows (along `dim`) of all processes' rows."""
        start = self.world.rank * batch_size
        return rows.narrow(dim, start, batch_size).to(self.device)

    def run(self, resuming: bool, first_lines: list[str] = ()) -> TrainResult:
        """Train until the last epoch, early stopping or the end of the time budget, then
        evaluate the best weights. `first_lines` (the precision chosen, the budget's plan) are
        logged after the run's own first line."""
        if resuming and (self.run_dir / RunDir.LAST).exists():
            self.restore()
        elif not resuming:
            self.log(f"run {self.run_dir}: preset {self.config.preset}, "
                     f"{len(self.corpus.vocab)} words, "
                     f"{sum(p.numel() for p in self.model.parameters()):,} parameters, "
                     f"device {self.device}")
        for line in first_lines:
            self.log(line)
        if self.config.time_budget and resuming:
            self.log(f"time budget {format_duration(self.config.time_budget)}: "
                     f"{format_duration(self.clock.spent_before)} spent before this resume")
        if self.config.tensorboard and self.world.is_main:
            self.tensorboard = TensorBoardLog(self.run_dir / RunDir.TENSORBOARD,
                                              self.state.global_step)
        while (self.state.epoch < self.config.max_max_epoch and not self.state.out_of_time
               and not self.stopped_early()):
            self.train_epoch()
        return self.finish()

    def restore(self) -> None:
        """Continue from the run's last.safetensors: weights, optimizer, RNG and position."""
        last_path = self.run_dir / RunDir.LAST
        state, hidden, self.optimizer, scaler_state = checkpoint.load_training_state(
            last_path, self.model, self.optimizer_for, self.device, self.world.rank)
        saved_size = state.get("world_size", 1)
        if saved_size != self.world.size:
            raise LstmlmError(f"{self.run_dir} was trained by {saved_size} "
                              f"process{'es' if saved_size > 1 else ''}; resume it with the "
                              f"same number (this is {self.world.size})")
        self.state = TrainState.from_dict(state)
        if self.scaler is not None and scaler_state:
            self.scaler.load_state_dict(scaler_state)
        self.clock.spent_before = self.state.elapsed_seconds
        expected = [tensor.shape for tensor in self.model.init_state(self.rows())]
        if hidden is not None and [tensor.shape for tensor in hidden] != expected:
            raise LstmlmError(f"{last_path}: its recurrent state does not fit this model "
                              f"(saved by another version of lstmlm?)")
        # The saved state holds every process's rows (dimension 1 of each tensor).
        self.hidden = hidden and tuple(self.own_rows(tensor, self.config.batch_size, dim=1)
                                       for tensor in hidden)
        self.log(f"resuming {self.run_dir} at epoch {self.state.epoch + 1} step {self.state.step}")

    def optimizer_for(self, state: dict) -> torch.optim.Optimizer:
        """The optimizer of the phase a saved training state is in (NT-ASGD switches)."""
        return build_optimizer(self.config, self.model, averaging=bool(state.get("averaging_since")))

    def stopped_early(self) -> bool:
        """True once valid perplexity has not improved for `early_stopping_patience` epochs."""
        patience, history = self.config.early_stopping_patience, self.state.history
        if not patience or not history:
            return False
        best = best_epoch(history)
        if history[-1].epoch - best < patience:
            return False
        self.log(f"Early stopping: valid perplexity has not improved for {patience} epochs "
                 f"(best at epoch {best})")
        return True

    def train_epoch(self) -> None:
        """Train one epoch (or its rest, after a resume), then validate and record it. With a
        time budget the epoch ends early when what is left would not cover another window, the
        validation and the final evaluation."""
        config, state = self.config, self.state
        epoch = state.epoch
        # The same lengths in every process: they depend on the seed and the epoch only.
        lengths = window_lengths(len(self.corpus.train), self.rows(), config.num_steps,
                                 config.variable_length, seed=config.seed * 1000 + epoch)
        epoch_lr = learning_rate(config, epoch, state.valid_perplexities())
        if state.step == 0:
            self.log(f"Epoch: {epoch + 1} Learning rate: {epoch_lr:.3f}")
        self.model.train()
        hidden = self.hidden if self.hidden is not None else self.model.init_state(config.batch_size)
        progress = EpochProgress(lengths, state, self.device, self.world)
        bar = tqdm(total=len(lengths), initial=progress.done, desc=f"epoch {epoch + 1}",
                   disable=not self.progress_bar, leave=False, file=sys.stderr)
        for inputs, targets in windows_of_lengths(self.train_rows, lengths, progress.done):
            if self.out_of_time(progress):
                state.out_of_time = True
                break
            hidden = self.train_window(progress, inputs, targets, hidden)
            bar.update(1)
            self.after_window(progress, hidden, bar)
        bar.close()
        progress.flush(state)
        if progress.done == 0:
            self.log(f"Time budget: no time left to train epoch {epoch + 1}")
            self.save_last(None)
            return
        if progress.done < len(lengths):
            self.log(f"Time budget: epoch {epoch + 1} ends after {progress.done} of {len(lengths)} "
                     f"windows, leaving time for validation and the final evaluation")
        seconds = progress.seconds()
        self.end_epoch(EpochMetrics(
            epoch=epoch + 1, lr=epoch_lr, train_ppl=progress.perplexity(config.batch_size),
            valid_ppl=math.nan, words_per_sec=round(progress.words(config.batch_size) / seconds),
            seconds=round(seconds, 2), fraction=round(progress.done / len(lengths), 4)))

    def out_of_time(self, progress: EpochProgress) -> bool:
        """Whether the time budget's remainder would not cover one more window (timed by this
        epoch, or the plan's estimate before it has timed one), this epoch's validation and the
        final evaluation."""
        if not self.config.time_budget:
            return False
        costs = self.state.costs
        window = progress.window_seconds()
        if window is None:
            window = costs.epoch / len(progress.lengths)
        # Decided for all processes at once: one that stopped alone would leave the others
        # waiting for its gradients.
        return self.world.any(self.clock.left() < costs.reserve() + window, self.device)

    def scheduled_lr(self, progress: EpochProgress) -> float:
        """The schedule's learning rate at the epoch's current position."""
        return learning_rate(self.config, self.state.epoch + progress.done / len(progress.lengths),
                             self.state.valid_perplexities())

    def train_window(self, progress: EpochProgress, inputs: torch.Tensor, targets: torch.Tensor,
                     hidden: State) -> State:
        """One update at the schedule's learning rate for this point of the epoch."""
        config = self.config
        lr = self.scheduled_lr(progress)
        # A shorter window gets a proportionally smaller step (AWD-LSTM).
        for group in self.optimizer.param_groups:
            group["lr"] = lr * inputs.size(1) / config.num_steps
        loss, hidden = train_step(self.model, self.optimizer, inputs, targets, hidden,
                                  scaler=self.scaler, window_loss=self.window_loss,
                                  **step_options(config))
        progress.add(loss, targets.numel())
        self.state.global_step += 1
        return hidden

    def after_window(self, progress: EpochProgress, hidden: State, bar: tqdm) -> None:
        """What follows a window at intervals: a progress line every tenth of the epoch, samples
        every `sample_every` steps, a resumable checkpoint every `checkpoint_every` steps."""
        config, global_step = self.config, self.state.global_step
        if progress.done % max(len(progress.lengths) // 10, 1) == 0:
            perplexity = progress.perplexity(config.batch_size)
            words_per_sec = progress.words(config.batch_size) / progress.seconds()
            self.log(f"{progress.done / len(progress.lengths):.3f} perplexity: {perplexity:.3f} "
                     f"speed: {words_per_sec:.0f} wps")
            bar.set_postfix(ppl=f"{perplexity:.1f}", wps=f"{words_per_sec:.0f}")
            if self.tensorboard:
                self.tensorboard.scalars({"train/loss": math.log(perplexity),
                                          "train/perplexity": perplexity,
                                          "train/learning_rate": self.scheduled_lr(progress),
                                          "train/words_per_sec": words_per_sec}, global_step)
        if config.sample_every and global_step % config.sample_every == 0 and self.world.is_main:
            self.log_samples(global_step)
        if config.checkpoint_every and global_step % config.checkpoint_every == 0 \
                and progress.done < len(progress.lengths):
            progress.checkpointed(self.state)
            self.save_last(hidden)

    def end_epoch(self, metrics: EpochMetrics) -> None:
        """Validate the epoch just trained, record it, keep the best weights, switch NT-ASGD
        to averaging if its trigger fires, and save metrics and the resumable state."""
        config, state = self.config, self.state
        with averaged_weights(self.optimizer):
            began = time.perf_counter()
            metrics.valid_ppl = self.evaluate("valid")
            if state.costs:
                state.costs = Costs.from_validation(
                    time.perf_counter() - began, state.costs.epoch, len(self.corpus.valid),
                    len(self.corpus.test))
            self.log(f"Epoch: {metrics.epoch} Train Perplexity: {metrics.train_ppl:.3f}")
            self.log(f"Epoch: {metrics.epoch} Valid Perplexity: {metrics.valid_ppl:.3f}")
            state.history.append(metrics)
            if best_epoch(state.history) == metrics.epoch and self.world.is_main:
                checkpoint.save_weights(self.run_dir / RunDir.BEST, self.model,
                                        {"epoch": metrics.epoch, "valid_ppl": metrics.valid_ppl})
        if config.optimizer == "ntasgd" and not state.averaging_since \
                and should_average(state.valid_perplexities(), config.nonmono):
            self.log(f"Switching to averaged SGD after epoch {metrics.epoch}: valid perplexity is "
                     f"worse than {config.nonmono} epochs before")
            state.averaging_since = metrics.epoch
            self.optimizer = build_optimizer(config, self.model, averaging=True)
        if self.tensorboard:
            self.tensorboard.scalars({"epoch/train_perplexity": metrics.train_ppl,
                                      "epoch/valid_perplexity": metrics.valid_ppl},
                                     state.global_step)
        state.losses.append({"epoch": metrics.epoch, "losses": state.step_losses})
        state.epoch, state.step, state.epoch_cost, state.epoch_seconds = metrics.epoch, 0, 0.0, 0.0
        state.step_losses = []
        self.hidden = None
        if self.world.is_main:
            self.run_dir.write_metrics(state.history, state.losses)
        self.save_last(None)

    def log_samples(self, global_step: int) -> None:
        """Log a short continuation of each configured prime (own RNG: training is unaffected).

        Greedy samples (the cookbook's) are the 10 most likely words, ending early at the first
        `<unk>` (logged as the last word); random ones draw 10 words with `<unk>` masked out.
        """
        for index, prime in enumerate(self.config.sample_primes.split("|")):
            if self.config.sample_strategy == "greedy":
                words = list(itertools.islice(self.generator.words(
                    prime, strategy="greedy", allow_unk=True, stop_at_unk=True), 10))
                # Shown where it stopped, so that a short sample is not mistaken for a bug.
                text = text_of(words + [UNK] if len(words) < 10 else words)
            else:
                seed = self.config.seed + 1000003 * global_step + index
                text = self.generator.text(prime, 10, seed=seed)
            text = text.replace("\n", " / ")
            self.log(f"step {global_step} sample [{prime}] {text}")

    def write_sample(self) -> None:
        """Write `sample_words` sampled words to sample.txt, from a sentence start or (as the
        PyTorch tutorial) from a word drawn uniformly from the vocabulary."""
        config, prime = self.config, ""
        if config.sample_start == "random":
            draw = torch.Generator().manual_seed(config.seed)
            prime = self.corpus.vocab.words[int(torch.randint(len(self.corpus.vocab), (1,),
                                                              generator=draw))]
        text = self.generator.text(prime, config.sample_words, seed=config.seed,
                                   allow_unk=config.sample_allow_unk)
        path = self.run_dir.write_sample(text)
        self.log(f"wrote {config.sample_words} sampled words to {path}")

    def save_last(self, hidden: State | None) -> None:
        """Write the resumable state, recording the time spent so far. In a distributed run
        rank 0 writes it, with every process's rows of the recurrent state and random states."""
        self.state.elapsed_seconds = self.clock.elapsed()
        if hidden is not None:
            hidden = tuple(self.world.gather_rows(tensor, dim=1) for tensor in hidden)
        other_ranks_rng = ()
        if self.world.distributed:
            other_ranks_rng = self.world.gather_objects(
                {kind: rng.cpu() for kind, rng in checkpoint.rng_state(self.device).items()})[1:]
        if self.world.is_main:
            checkpoint.save_training_state(self.run_dir / RunDir.LAST, self.model, self.optimizer,
                                           self.state.to_dict(), hidden,
                                           self.scaler.state_dict() if self.scaler else None,
                                           other_ranks_rng)

    def evaluate(self, split: str) -> float:
        """Perplexity of a split streamed in eval_batch_size rows per process, from the summed
        losses and counts of all processes."""
        batch_size = self.config.eval_batch_size
        rows = self.own_rows(stream_rows(self.corpus.split(split), self.rows(batch_size), "cpu"),
                             batch_size)
        total_loss, total_targets = stream_nll(self.model, rows, self.config.eval_num_steps)
        totals = self.world.sum(torch.stack([total_loss, total_loss.new_tensor(total_targets)]))
        return math.exp((totals[0] / totals[1]).item())

    def finish(self) -> TrainResult:
        """Evaluate the best-on-valid weights on valid and test (and the last weights on test
        where they differ), and record the result."""
        history = self.state.history
        best = best_epoch(history)
        last_test_ppl = None
        if best != history[-1].epoch:
            last_test_ppl = self.evaluate("test")
        if self.world.is_main:
            checkpoint.load_weights(self.run_dir / RunDir.BEST, self.model)
        self.world.broadcast_module(self.model)
        valid_ppl, test_ppl = self.evaluate("valid"), self.evaluate("test")
        self.log(f"Valid Perplexity: {valid_ppl:.3f}")
        self.log(f"Test Perplexity: {test_ppl:.3f}")
        if last_test_ppl is not None:
            self.log(f"Test Perplexity of the last weights (epoch {history[-1].epoch}; the best "
                     f"are from epoch {best}): {last_test_ppl:.3f}")
        if self.world.is_main:
            from .plotting import plot_runs  # matplotlib is loaded only when a run ends

            plot_runs([self.run_dir], self.run_dir / RunDir.CURVES)
            if self.config.sample_words:
                self.write_sample()
        elapsed = self.clock.elapsed()
        if self.world.is_main:
            results = {"valid_ppl": valid_ppl, "test_ppl": test_ppl, "best_epoch": best,
                       "elapsed_seconds": round(elapsed, 2), "machine": describe_machine()}
            if self.world.distributed:
                results["processes"] = self.world.size
            if last_test_ppl is not None:
                results["last_test_ppl"] = last_test_ppl
            self.run_dir.write_results(results)
        budget_note = (f" of the {format_duration(self.config.time_budget)} time budget"
                       if self.config.time_budget else "")
        self.log(f"Finished in {format_duration(elapsed)}{budget_note}")
        if self.tensorboard:
            self.tensorboard.close()
        return TrainResult(self.run_dir.path, history, valid_ppl, test_ppl, last_test_ppl,
                           main_process=self.world.is_main)
