"""Planning a run from its config, where the config becomes the values the library below takes:
the schedule, the optimizer and the update's options; whether the corpus fits the batches; and,
for a time budget, the measured speed, the width and the epochs that fit, and the schedule and
regularisation laid out for them."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Iterator

import torch

from .. import budget
from ..budget import Clock, Shape, Throughput, plural
from ..builders import build_model
from ..config import BUDGETED_PRESET, REGULARISATION_FIELDS, Config
from ..corpus import Corpus, batchify, window_lengths, windows
from ..errors import LstmlmError
from ..evaluation import adaptation_grid, adaptation_words, adapted_perplexity, stream_perplexity
from ..hardware import synchronize
from ..model import LSTMLanguageModel
from .schedule import LearningRateSchedule, build_optimizer
from .step import WindowLoss, new_scaler, train_step


# The switch the documentation's tests set to run every documented training command in
# seconds: each split cut to a few windows, one epoch, a short measurement for a time budget.
SMOKE_ENV = "LSTMLM_SMOKE"
SMOKE_WINDOWS, SMOKE_EVAL_WORDS, SMOKE_MEASURING_SECONDS = 10, 2000, 0.05


def smoke_test() -> bool:
    """Whether LSTMLM_SMOKE=1 is set (by the documentation's tests only)."""
    return os.environ.get(SMOKE_ENV) == "1"


def smoke_corpus(corpus: Corpus, config: Config, processes: int = 1) -> Corpus:
    """Under LSTMLM_SMOKE, the corpus cut to SMOKE_WINDOWS windows of training and
    SMOKE_EVAL_WORDS words of valid and test; else `corpus`."""
    if not smoke_test():
        return corpus
    train_words = SMOKE_WINDOWS * config.batch_size * processes * config.num_steps * 2
    return dataclasses.replace(corpus, train=corpus.train[:train_words],
                               valid=corpus.valid[:SMOKE_EVAL_WORDS],
                               test=corpus.test[:SMOKE_EVAL_WORDS])


def smoke_config(config: Config) -> Config:
    """Under LSTMLM_SMOKE, `config` cut to one epoch; else `config`."""
    if not smoke_test() or config.max_max_epoch <= 1:
        return config
    return scaled_schedule(config, 1).validate()


def schedule_of(config: Config) -> LearningRateSchedule:
    """The learning-rate schedule `config` sets."""
    return LearningRateSchedule(config.lr_schedule, config.learning_rate, config.lr_decay,
                                config.max_epoch, config.max_max_epoch, config.warmup_epochs,
                                config.anneal_share)


def optimizer_of(config: Config, model: torch.nn.Module,
                 averaging: bool = False) -> torch.optim.Optimizer:
    """The optimizer `config` sets for `model` (`averaging`: NT-ASGD's second phase)."""
    return build_optimizer(model.parameters(), config.optimizer, config.learning_rate,
                           config.weight_decay, averaging)


def step_options(config: Config) -> dict:
    """train_step's keyword options as `config` sets them."""
    return dict(max_grad_norm=config.max_grad_norm, loss_average=config.loss_average,
                ar_alpha=config.ar_alpha, tar_beta=config.tar_beta, precision=config.precision)


# Measuring throughput: untimed windows first (allocations, oneDNN primitive creation), then at
# least this many timed ones.
WARMUP_WINDOWS, MIN_TIMED_WINDOWS = 2, 3
# Words of the valid split streamed per evaluation batch row to time evaluation.
EVAL_SAMPLE_WORDS = 5000
# Words of the valid split an evaluation-time adaptation is timed on.
ADAPT_SAMPLE_WORDS = 1000


def throwaway_training(config: Config, corpus: Corpus,
                       device: torch.device) -> tuple[LSTMLanguageModel, Iterator[int]]:
    """A fresh model of `config`'s shape, and an iterator that trains it on the next window of
    the training split at each `next` (the device's queue drained) and yields the window's
    number of targets: what measuring a training speed times."""
    model = build_model(config, len(corpus.vocab)).to(device)
    optimizer = optimizer_of(config, model)
    scaler = new_scaler(config.precision, device)
    window_loss = WindowLoss(model)
    rows = batchify(corpus.train, config.batch_size).to(device)
    options = step_options(config)

    def steps() -> Iterator[int]:
        hidden = model.init_state(config.batch_size)
        model.train()
        for inputs, targets in windows(rows, config.num_steps):
            _, hidden = train_step(model, optimizer, inputs, targets, hidden, scaler=scaler,
                                   window_loss=window_loss, **options)
            synchronize(device)
            yield targets.numel()

    return model, steps()


def measure_throughput(config: Config, corpus: Corpus, device: torch.device,
                       seconds: float) -> Throughput:
    """Train a throwaway model of `config`'s shape for about `seconds` and stream part of the
    valid split through it, timing both (and its final_eval adaptation, where it has one). The
    caller's model and random state are untouched."""
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
        adapt_words_per_sec = 0.0
        if config.final_eval != "static":
            adapted = corpus.valid[:ADAPT_SAMPLE_WORDS]
            began = time.perf_counter()
            adapted_perplexity(model, adapted, adaptation_grid(config.final_eval)[0])
            synchronize(device)
            adapt_words_per_sec = len(adapted) / (time.perf_counter() - began)
    return Throughput(timed_words / timed_seconds, len(sample) / eval_seconds,
                      adapt_words_per_sec)


def plan_budget(config: Config, corpus: Corpus, device: torch.device, clock: Clock,
                processes: int = 1) -> tuple[Config, budget.Plan]:
    """Measure, then fit the run into what is left of the clock's budget: the shape (from
    budget_shapes) and the number of epochs, the schedule (and with
    budget_short_regularisation the regularisation) laid out for that length. With several
    `processes` each trains and evaluates its share of the words at the speed measured here."""
    words = tuple(len(split) // processes for split in (corpus.train, corpus.valid, corpus.test))
    seconds = SMOKE_MEASURING_SECONDS if smoke_test() else budget.measuring_seconds(clock.budget)

    def measure_with(trained: Config):
        return lambda shape: measure_throughput(shaped(trained, shape), corpus, device, seconds)

    adapted_words = adaptation_words(config.final_eval, *words[1:])
    try:
        plan = budget.plan(clock.budget, budget_shapes(config), config.budget_min_epochs,
                           measure_with(config), words, clock.left, adapted_words,
                           cheapest_first=device.type == "cpu")
    except LstmlmError as error:
        if config.budget_hidden_sizes:
            raise
        raise LstmlmError(f"{error}; preset {BUDGETED_PRESET} sizes its model to the budget") \
            from None
    if plan.epochs < config.budget_onecycle_epochs:
        # Adam's update costs more than SGD's: the shape stays, its epochs are measured again.
        config = one_cycle(config)
        short = budget.plan(clock.budget, [plan.shape], 0, measure_with(config), words,
                            clock.left, adapted_words)
        switch = (f"fewer than {plural(config.budget_onecycle_epochs)}: Adam on the one-cycle "
                  f"schedule at {config.learning_rate:g} instead (budget_onecycle_epochs)")
        plan = dataclasses.replace(short, lines=plan.lines[:-1] + (switch,) + short.lines)
    planned = scaled_schedule(shaped(config, plan.shape), plan.epochs).validate()
    regularisation = regularisation_line(planned)
    if regularisation:
        plan = dataclasses.replace(plan, lines=plan.lines + (regularisation,))
    return planned, plan


# One-cycle's warm-up share of the run: the default of PyTorch's OneCycleLR (pct_start).
ONECYCLE_WARMUP_SHARE = 0.3


def one_cycle(config: Config) -> Config:
    """`config` training with Adam on the one-cycle schedule at budget_onecycle_lr, its
    warm-up ONECYCLE_WARMUP_SHARE of max_max_epoch (which the plan then stretches), annealed
    over all of the rest as it was measured."""
    return dataclasses.replace(config, optimizer="adam", lr_schedule="onecycle",
                               learning_rate=config.budget_onecycle_lr,
                               warmup_epochs=ONECYCLE_WARMUP_SHARE * config.max_max_epoch,
                               anneal_share=1.0)


def budget_shapes(config: Config) -> list[Shape]:
    """The shapes a time budget chooses from, the most costly first: each of budget_sizes with
    the config's softmax, then, with budget_adaptive_cutoffs, the narrowest with the adaptive
    softmax (whose cost on a CPU is a fraction of the full one's)."""
    sizes = sorted(set(config.budget_sizes()), reverse=True)
    shapes = [Shape(size, config.softmax == "adaptive") for size in sizes]
    if config.budget_adaptive_cutoffs:
        shapes.append(Shape(sizes[-1], adaptive=True))
    return shapes


def shaped(config: Config, shape: Shape) -> Config:
    """`config` with the width and the softmax of `shape`."""
    if shape.adaptive and config.softmax == "full":
        config = config.budget_adaptive_config()
    return dataclasses.replace(config, hidden_size=shape.hidden_size)


def stretched_schedule(config: Config, epochs: float) -> Config:
    """`config` with `epochs` epochs (the last one may be a fraction) and its epoch-counted
    schedule stretched or shrunk to match, so a budgeted run gets the schedule's whole shape
    (warm-up, decay) rather than a cut-off."""
    ratio = epochs / config.max_max_epoch
    changes = {"max_max_epoch": epochs, "max_epoch": max(1, round(config.max_epoch * ratio))}
    if config.warmup_epochs:
        changes["warmup_epochs"] = config.warmup_epochs * ratio
    return dataclasses.replace(config, **changes)


def scaled_schedule(config: Config, epochs: float) -> Config:
    """stretched_schedule, and with budget_short_regularisation each field it lists moved on
    a line: from its short value (at budget_min_epochs epochs) to the config's own (at
    max_max_epoch or more), and below budget_min_epochs from none at all (at no epochs) to
    the short value. A model that trains for fewer epochs overfits less, so needs less
    dropout."""
    shorter = epochs < config.budget_min_epochs
    span = config.max_max_epoch - config.budget_min_epochs
    if shorter:
        weight = epochs / config.budget_min_epochs
    else:
        weight = min(1.0, (epochs - config.budget_min_epochs) / span) if span > 0 else 1.0
    changes = {}
    for name, short_value in config.short_regularisation().items():
        start, end = ((REGULARISATION_FIELDS[name], short_value) if shorter
                      else (short_value, getattr(config, name)))
        changes[name] = round(start + weight * (end - start), 6)
    return dataclasses.replace(stretched_schedule(config, epochs), **changes)


def regularisation_line(config: Config) -> str:
    """The log line saying which regularisation a plan chose (empty without
    budget_short_regularisation)."""
    names = config.short_regularisation()
    if not names:
        return ""
    values = ", ".join(f"{name} {getattr(config, name):g}" for name in names)
    return f"regularisation for {plural(config.max_max_epoch)}: {values}"


def check_corpus_fits(corpus: Corpus, config: Config, processes: int = 1) -> None:
    """Raise LstmlmError if a split is too short for the config's batches (of every one of
    `processes` processes), or the adaptive softmax's cutoffs or the sampled softmax's
    samples do not fit the vocabulary."""
    config.cutoffs(len(corpus.vocab))
    config.sampled_words(len(corpus.vocab))
    config.budget_adaptive_config(len(corpus.vocab))
    rows = config.batch_size * processes
    if not window_lengths(len(corpus.train), rows, config.num_steps,
                          config.variable_length, config.seed):
        raise LstmlmError(f"training split too short ({len(corpus.train)} words) for one batch of "
                          f"{rows} rows x num_steps={config.num_steps}")
    for split in ("valid", "test"):
        if len(corpus.split(split)) // (config.eval_batch_size * processes) < 2:
            raise LstmlmError(f"{split} split too short ({len(corpus.split(split))} words)")
