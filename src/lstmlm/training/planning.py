"""Planning a run from its request: the settled device, precision and corpus path, whether the
corpus fits the batches, and, for a time budget, the measured speed, the width and the epochs
that fit, and the schedule and regularisation laid out for them. The request stays as it is;
each decision is a value of the RunPlan returned."""

from __future__ import annotations

import dataclasses
import time
from typing import Iterator

import torch

from .. import budget
from ..batching import batchify, window_lengths, windows
from ..budget import Clock, Shape, Throughput, plural
from ..config import BudgetConfig, Config, ModelConfig, OptimisationConfig, RegularisationConfig
from ..corpus import Corpus
from ..errors import LstmlmError
from ..evaluation import adaptation_grid, adaptation_words, adapted_perplexity, stream_perplexity
from ..hardware import synchronize
from ..model import RecurrentLanguageModel
from ..plan import RunPlan
from ..presets import BUDGETED_PRESET
from .setup import build_training, step_options
from .step import train_step

# Measuring throughput: untimed windows first (allocations, oneDNN primitive creation), then at
# least this many timed ones.
WARMUP_WINDOWS, MIN_TIMED_WINDOWS = 2, 3
# Words of the valid split streamed per evaluation batch row to time evaluation.
EVAL_SAMPLE_WORDS = 5000
# Words of the valid split an evaluation-time adaptation is timed on.
ADAPT_SAMPLE_WORDS = 1000


def throwaway_training(plan: RunPlan, corpus: Corpus, device: torch.device, batch_size: int
                       ) -> tuple[RecurrentLanguageModel, Iterator[int]]:
    """A fresh network of `plan`'s shape, and an iterator that trains it on the next window
    of the training split at each `next` (the device's queue drained) and yields the window's
    number of targets: what measuring a training speed times."""
    training = build_training(plan, len(corpus.vocab), device)
    rows = batchify(corpus.train, batch_size).to(device)
    options = step_options(plan)

    def steps() -> Iterator[int]:
        hidden = training.network.init_state(batch_size)
        training.network.train()
        for inputs, targets in windows(rows, plan.optimisation.num_steps):
            _, hidden = train_step(training.network, training.optimizer, inputs, targets,
                                   hidden, scaler=training.scaler,
                                   window_loss=training.window_loss, **options)
            synchronize(device)
            yield targets.numel()

    return training.network, steps()


def measure_throughput(plan: RunPlan, config: Config, corpus: Corpus, device: torch.device,
                       seconds: float) -> Throughput:
    """Train a throwaway network of `plan`'s shape for about `seconds` and stream part of the
    valid split through it, timing both (and the request's final_eval adaptation, where it has
    one). The caller's network and random state are untouched."""
    evaluation = config.evaluation
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        network, steps = throwaway_training(plan, corpus, device,
                                            plan.optimisation.batch_size)
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
        sample = corpus.valid[:EVAL_SAMPLE_WORDS * evaluation.batch_size]
        stream_perplexity(network, sample[:evaluation.num_steps * evaluation.batch_size + 1],
                          evaluation.batch_size, evaluation.num_steps)  # warm-up
        began = time.perf_counter()
        stream_perplexity(network, sample, evaluation.batch_size, evaluation.num_steps)
        synchronize(device)
        eval_seconds = time.perf_counter() - began
        adapt_words_per_sec = 0.0
        if evaluation.final_eval != "static":
            adapted = corpus.valid[:ADAPT_SAMPLE_WORDS]
            began = time.perf_counter()
            adapted_perplexity(network, adapted, adaptation_grid(evaluation.final_eval)[0])
            synchronize(device)
            adapt_words_per_sec = len(adapted) / (time.perf_counter() - began)
    return Throughput(timed_words / timed_seconds, len(sample) / eval_seconds,
                      adapt_words_per_sec)


def plan_run(config: Config, corpus: Corpus, device: torch.device, precision: str,
             clock: Clock, processes: int = 1, data: str | None = None) -> RunPlan:
    """The plan of a new run: `config` as asked on `device` in `precision` (reading `data`,
    the corpus's settled path), and with a time budget the shape, epochs, schedule and
    regularisation that fit what is left of the clock."""
    plan = RunPlan.of(config, data=data or config.data.corpus, device=str(device),
                      precision=precision)
    check_corpus_fits(corpus, config, processes)
    if config.budget.seconds is None:
        return plan
    return plan_budget(plan, config, corpus, device, clock, processes)


def plan_budget(plan: RunPlan, config: Config, corpus: Corpus, device: torch.device,
                clock: Clock, processes: int = 1) -> RunPlan:
    """Measure, then fit the run into what is left of the clock's budget: the shape (from
    budget_shapes) and the number of epochs, the schedule (and with
    budget_short_regularisation the regularisation) laid out for that length. With several
    `processes` each trains and evaluates its share of the words at the speed measured here."""
    words = tuple(len(split) // processes for split in (corpus.train, corpus.valid, corpus.test))
    seconds = budget.measuring_seconds(clock.budget)

    def measure_with(trained: RunPlan):
        return lambda shape: measure_throughput(
            dataclasses.replace(trained, model=shaped(config, shape)), config, corpus, device,
            seconds)

    adapted_words = adaptation_words(config.evaluation.final_eval, *words[1:])
    try:
        fitted = budget.plan(clock.budget, budget_shapes(config), config.budget.min_epochs,
                             measure_with(plan), words, clock.left, adapted_words,
                             cheapest_first=device.type == "cpu")
    except LstmlmError as error:
        if config.budget.hidden_sizes:
            raise
        raise LstmlmError(f"{error}; preset {BUDGETED_PRESET} sizes its model to the budget") \
            from None
    if fitted.epochs < config.budget.onecycle_epochs:
        # Adam's update costs more than SGD's: the shape stays, its epochs are measured again.
        plan = dataclasses.replace(plan, optimisation=one_cycle(plan.optimisation,
                                                                config.budget))
        short = budget.plan(clock.budget, [fitted.shape], 0, measure_with(plan), words,
                            clock.left, adapted_words)
        switch = (f"fewer than {plural(config.budget.onecycle_epochs)}: Adam on the one-cycle "
                  f"schedule at {config.budget.onecycle_lr:g} instead (budget_onecycle_epochs)")
        fitted = dataclasses.replace(short, lines=fitted.lines[:-1] + (switch,) + short.lines)
    regularisation = regularisation_for_epochs(config, fitted.epochs)
    notes = fitted.lines + ((regularisation_line(config, regularisation, fitted.epochs),)
                            if config.budget.short_regularisation else ())
    return dataclasses.replace(
        plan, model=shaped(config, fitted.shape), regularisation=regularisation,
        optimisation=stretched_schedule(plan.optimisation, fitted.epochs), costs=fitted.costs,
        notes=notes)


# One-cycle's warm-up share of the run: the default of PyTorch's OneCycleLR (pct_start).
ONECYCLE_WARMUP_SHARE = 0.3


def one_cycle(optimisation: OptimisationConfig, budget_config: BudgetConfig
              ) -> OptimisationConfig:
    """Adam on the one-cycle schedule at budget_onecycle_lr, its warm-up
    ONECYCLE_WARMUP_SHARE of max_max_epoch (which the plan then stretches), annealed over all
    of the rest as it was measured."""
    return dataclasses.replace(optimisation, optimizer="adam", lr_schedule="onecycle",
                               learning_rate=budget_config.onecycle_lr,
                               warmup_epochs=ONECYCLE_WARMUP_SHARE * optimisation.max_max_epoch,
                               anneal_share=1.0)


def budget_shapes(config: Config) -> list[Shape]:
    """The shapes a time budget chooses from, the most costly first: each of budget_sizes with
    the config's softmax, then, with budget_adaptive_cutoffs, the narrowest with the adaptive
    softmax (whose cost on a CPU is a fraction of the full one's)."""
    sizes = sorted(set(config.budget_sizes()), reverse=True)
    shapes = [Shape(size, config.model.softmax == "adaptive") for size in sizes]
    if config.budget.adaptive_cutoffs:
        shapes.append(Shape(sizes[-1], adaptive=True))
    return shapes


def shaped(config: Config, shape: Shape) -> ModelConfig:
    """The requested model with the width and the softmax of `shape`."""
    model = config.model
    if shape.adaptive and model.softmax == "full":
        model = config.budget_adaptive_model()
    return dataclasses.replace(model, hidden_size=shape.hidden_size)


def stretched_schedule(optimisation: OptimisationConfig, epochs: float) -> OptimisationConfig:
    """`optimisation` with `epochs` epochs (the last one may be a fraction) and its
    epoch-counted schedule stretched or shrunk to match, so a budgeted run gets the schedule's
    whole shape (warm-up, decay) rather than a cut-off."""
    ratio = epochs / optimisation.max_max_epoch
    changes = {"max_max_epoch": epochs, "max_epoch": max(1, round(optimisation.max_epoch * ratio))}
    if optimisation.warmup_epochs:
        changes["warmup_epochs"] = optimisation.warmup_epochs * ratio
    return dataclasses.replace(optimisation, **changes)


def regularisation_for_epochs(config: Config, epochs: float) -> RegularisationConfig:
    """The requested regularisation with each field budget_short_regularisation lists moved
    on a line: from its short value (at budget_min_epochs epochs) to the request's own (at
    max_max_epoch or more), and below budget_min_epochs from none at all (at no epochs) to the
    short value. A model that trains for fewer epochs overfits less, so needs less dropout."""
    requested, min_epochs = config.regularisation, config.budget.min_epochs
    shorter = epochs < min_epochs
    span = config.optimisation.max_max_epoch - min_epochs
    if shorter:
        weight = epochs / min_epochs
    else:
        weight = min(1.0, (epochs - min_epochs) / span) if span > 0 else 1.0
    changes = {}
    for name, short_value in config.budget.short_regularisation.items():
        start, end = (0.0, short_value) if shorter else (short_value, getattr(requested, name))
        changes[name] = round(start + weight * (end - start), 6)
    return dataclasses.replace(requested, **changes)


def regularisation_line(config: Config, regularisation: RegularisationConfig,
                        epochs: float) -> str:
    """The log line saying which regularisation a plan of `epochs` chose."""
    values = ", ".join(f"{name} {getattr(regularisation, name):g}"
                       for name in config.budget.short_regularisation)
    return f"regularisation for {plural(epochs)}: {values}"


def check_corpus_fits(corpus: Corpus, config: Config, processes: int = 1) -> None:
    """Raise LstmlmError if a split is too short for the config's batches (of every one of
    `processes` processes), or the adaptive softmax's cutoffs or the sampled softmax's
    samples do not fit the vocabulary."""
    config.model.cutoffs(len(corpus.vocab))
    config.model.sampled_words(len(corpus.vocab))
    config.budget_adaptive_model(len(corpus.vocab))
    optimisation = config.optimisation
    rows = optimisation.batch_size * processes
    if not window_lengths(len(corpus.train), rows, optimisation.num_steps,
                          optimisation.variable_length, config.run.seed):
        raise LstmlmError(f"training split too short ({len(corpus.train)} words) for one batch of "
                          f"{rows} rows x num_steps={optimisation.num_steps}")
    for split in ("valid", "test"):
        if len(corpus.split(split)) // (config.evaluation.batch_size * processes) < 2:
            raise LstmlmError(f"{split} split too short ({len(corpus.split(split))} words)")


def capped_corpus(corpus: Corpus, config: Config, processes: int = 1) -> Corpus:
    """The corpus cut as run.max_windows and run.max_eval_words ask: the training split to
    that many windows of every process's rows, valid and test to that many words."""
    windows_cap, words_cap = config.run.max_windows, config.run.max_eval_words
    if windows_cap is None and words_cap is None:
        return corpus
    train = corpus.train
    if windows_cap is not None:
        rows = config.optimisation.batch_size * processes
        # A window of every row, plus the one word each row's last target needs.
        train = train[:rows * (windows_cap * config.optimisation.num_steps + 1)]
    return dataclasses.replace(corpus, train=train, valid=corpus.valid[:words_cap],
                               test=corpus.test[:words_cap])
