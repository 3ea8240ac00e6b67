"""What the user asks of a run, as one frozen, typed dataclass of sections, and the parsing of
values that arrive as text (`--set name=value`, a saved config.json); the named presets are
in `presets`.

Each section is its own frozen dataclass and checks itself when it is made; `Config` checks
what spans sections. Every field also has a flat name, the one `--set` and the presets use
(`hidden_size`, `budget_min_epochs`, `sample_every`), and the names of earlier versions are
read too (`keep_prob`, a 0 that meant "unset"), so that every saved config.json still loads.

This module is the bottom layer of the package: it imports only the error type. The choices
below are defined here, and the modules that act on them import them from here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Optional

from .errors import LstmlmError

Cell = Literal["lstm", "gru", "rnn_tanh", "rnn_relu"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Strategy = Literal["greedy", "sample"]
OptimizerName = Literal["sgd", "adam", "adamw", "ntasgd"]
ScheduleName = Literal["step", "plateau", "cosine", "onecycle"]
LossAverage = Literal["batch", "token"]
Softmax = Literal["full", "adaptive"]
InitMethod = Literal["uniform", "awd"]
SampleStart = Literal["eos", "random"]
Normalization = Literal["auto", "none", "ptb", "clean", "wikipedia"]
FinalEval = Literal["static", "dynamic", "cache"]

PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
NORMALIZATIONS: tuple[str, ...] = typing.get_args(Normalization)[1:]  # those "auto" resolves to
STRATEGIES: tuple[str, ...] = typing.get_args(Strategy)

# The fields whose best values depend on how long a model trains (budget_short_regularisation);
# each regularises nothing at 0.
REGULARISATION_FIELDS = ("dropout", "input_dropout", "hidden_dropout", "output_dropout",
                         "embedding_dropout", "weight_drop", "ar_alpha", "tar_beta",
                         "weight_decay")
# Names of earlier versions: keep probabilities, which the dropouts above replace (1 - keep).
KEEP_PROBABILITIES = {"keep_prob": "dropout", "input_keep_prob": "input_dropout",
                      "hidden_keep_prob": "hidden_dropout", "output_keep_prob": "output_dropout"}


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A field: its default and the one-line meaning that the reference docs show.

    Metadata: `flat`, the field's name on the command line where it differs from its own;
    `separator`, how a tuple is written there; `duration`, a value given as "90s" or "2h";
    `unset_was_zero`, a field whose None earlier versions wrote as 0."""
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise LstmlmError(f"config: {message}")


def _positive(section: Any, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        _require(value is not None and value > 0, f"{flat_name(section, name)} must be > 0, "
                                                  f"got {value!r}")


def _non_negative(section: Any, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        _require(value is None or value >= 0, f"{flat_name(section, name)} must be >= 0, "
                                              f"got {value!r}")


def _choices(section: Any) -> None:
    for name, allowed in SECTION_CHOICES[type(section)].items():
        value = getattr(section, name)
        _require(value in allowed, f"{flat_name(section, name)} must be one of "
                                   f"{', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape and initialisation: what the model builder takes."""

    cell: Cell = setting("lstm", "the recurrent cell")
    num_layers: int = setting(2, "recurrent layers")
    hidden_size: int = setting(200, "units per recurrent layer")
    embedding_size: Optional[int] = setting(
        None, "embedding width (none: hidden_size, as the Zaremba models)", unset_was_zero=True)
    tie_weights: bool = setting(False, "the decoder shares the embedding matrix")
    softmax: Softmax = setting("full", "full, or adaptive (Grave et al. 2017)")
    adaptive_cutoffs: tuple[int, ...] = setting(
        (), "adaptive softmax: the ids (ordered by count) where the head and each cluster end",
        separator=",")
    adaptive_div_value: float = setting(4.0, "each adaptive cluster's projection is this many "
                                             "times narrower than the last")
    softmax_samples: Optional[int] = setting(
        None, "full softmax: train on this many words sampled per window (log-uniform over the "
              "ids ordered by count) instead of the whole vocabulary; evaluation scores them all",
        unset_was_zero=True)
    init_method: InitMethod = setting(
        "uniform", "uniform: every weight in ±init_scale (Zaremba); awd: the embedding and "
        "decoder so, each recurrent layer in ±1/sqrt(its size)")
    init_scale: float = setting(0.1, "weights start uniform in [-init_scale, init_scale]")

    def __post_init__(self) -> None:
        _positive(self, "num_layers", "hidden_size", "init_scale")
        _choices(self)
        _require(self.embedding_size is None or self.embedding_size > 0,
                 f"embedding_size must be > 0 (none: hidden_size), got {self.embedding_size!r}")
        _require(self.adaptive_div_value >= 1,
                 f"adaptive_div_value must be >= 1, got {self.adaptive_div_value!r}")
        _require(self.softmax_samples is None or (self.softmax_samples > 0
                                                  and self.softmax == "full"),
                 f"softmax_samples must be above 0 (none: the whole softmax), and needs "
                 f"softmax=full, got {self.softmax_samples!r} with softmax {self.softmax}")
        _require(not (self.tie_weights and self.embedding_size not in (None, self.hidden_size)
                      and self.num_layers == 1),
                 "tie_weights with embedding_size != hidden_size needs num_layers > 1 (the last "
                 "layer has embedding_size units, so a single layer would leave hidden_size "
                 "unused)")
        self.cutoffs()

    def cutoffs(self, vocab_size: int | None = None) -> tuple[int, ...]:
        """The adaptive softmax's cutoffs (empty for the full softmax), checked against
        `vocab_size` when it is known."""
        cutoffs = self.adaptive_cutoffs
        if self.softmax == "full":
            _require(not cutoffs, "adaptive_cutoffs needs softmax=adaptive")
            return ()
        _require(bool(cutoffs) and cutoffs[0] >= 1
                 and all(low < high for low, high in zip(cutoffs, cutoffs[1:])),
                 f"softmax=adaptive needs adaptive_cutoffs, increasing positive integers "
                 f"separated by commas (e.g. 2000,6000), got "
                 f"{format_value('adaptive_cutoffs', cutoffs)!r}")
        size, name = ((self.embedding_size, "embedding_size")
                      if self.tie_weights and self.embedding_size else
                      (self.hidden_size, "hidden_size"))  # the softmax's input
        _require(size // self.adaptive_div_value ** len(cutoffs) >= 1,
                 f"the adaptive softmax's last cluster would have no units ({name} {size} "
                 f"divided by adaptive_div_value {self.adaptive_div_value:g} {len(cutoffs)} "
                 f"times)")
        _require(vocab_size is None or cutoffs[-1] < vocab_size,
                 f"adaptive_cutoffs must stay below the vocabulary size ({vocab_size} words), "
                 f"got {format_value('adaptive_cutoffs', cutoffs)}")
        return cutoffs

    def sampled_words(self, vocab_size: int) -> int:
        """softmax_samples (0 for none), checked against the vocabulary's size (a sample of
        every word or more is no saving)."""
        samples = self.softmax_samples or 0
        _require(samples < vocab_size, f"softmax_samples must stay below the vocabulary size "
                                       f"({vocab_size} words), got {samples}")
        return samples


@dataclass(frozen=True)
class RegularisationConfig:
    """Dropouts and penalties: each drops or penalises nothing at 0."""

    dropout: float = setting(0.0, "dropout probability of the dropouts not set on their own")
    input_dropout: Optional[float] = setting(
        None, "dropout of the embedding output (AWD-LSTM's dropouti; none: dropout)")
    hidden_dropout: Optional[float] = setting(
        None, "dropout between recurrent layers (dropouth; none: dropout)")
    output_dropout: Optional[float] = setting(
        None, "dropout before the softmax (AWD-LSTM's dropout; none: dropout)")
    variational_dropout: bool = setting(False, "those dropouts with one mask per sequence")
    embedding_dropout: float = setting(0.0, "drop whole words from the embedding matrix")
    weight_drop: float = setting(0.0, "DropConnect on the hidden-to-hidden matrices")
    ar_alpha: float = setting(0.0, "activation regularisation of the last layer (Merity et al.)")
    tar_beta: float = setting(0.0, "temporal activation regularisation of the last layer")
    weight_decay: float = setting(0.0, "L2 penalty of the optimizer")

    def __post_init__(self) -> None:
        for name in ("dropout", "input_dropout", "hidden_dropout", "output_dropout",
                     "embedding_dropout", "weight_drop"):
            value = getattr(self, name)
            _require(value is None or 0 <= value < 1, f"{name} must be in [0, 1), got {value!r}")
        _non_negative(self, "ar_alpha", "tar_beta", "weight_decay")
        _require(not self.variational_dropout or any(self.dropouts().values()),
                 "variational_dropout needs a dropout above 0 (it drops nothing)")

    def dropouts(self) -> dict[str, float]:
        """input_dropout, hidden_dropout and output_dropout, each None resolved to dropout
        (the one place that default is applied)."""
        return {name: self.dropout if getattr(self, name) is None else getattr(self, name)
                for name in ("input_dropout", "hidden_dropout", "output_dropout")}


@dataclass(frozen=True)
class OptimisationConfig:
    """The optimizer, the learning-rate schedule, the length of the run and its windows."""

    optimizer: OptimizerName = setting(
        "sgd", "sgd, adam, adamw, or ntasgd (SGD, then averaged SGD once valid perplexity is "
        "worse than nonmono epochs before)")
    learning_rate: float = setting(1.0, "the initial (or peak) learning rate")
    lr_schedule: ScheduleName = setting(
        "step", "step: times lr_decay each epoch after max_epoch; plateau: after each epoch "
        "that did not improve; cosine: warm-up, then down to 0 at max_max_epoch; onecycle "
        "(adam, adamw): up from a 25th over the warm-up while beta1 falls from 0.95 to 0.85, "
        "then down to nearly 0 at max_max_epoch while beta1 rises back (Smith's one-cycle)")
    lr_decay: float = setting(0.5, "the factor of the step and plateau schedules")
    max_epoch: int = setting(4, "step schedule: epochs at the initial learning rate")
    max_max_epoch: float = setting(13, "epochs in all; a fraction ends the last epoch after "
                                       "that share of its windows")
    warmup_epochs: float = setting(0.0, "cosine, onecycle: epochs of linear warm-up")
    anneal_share: float = setting(
        1.0, "cosine, onecycle: the last share of the run after the warm-up over which the rate "
             "falls; before it the rate holds at its peak (1: it falls over all of it)")
    nonmono: int = setting(5, "ntasgd: epochs of non-improvement before averaging starts")
    average_last: float = setting(
        0.0, "sgd: average the weights over this last share of the epochs (stochastic weight "
             "averaging; 0: none); validation and the saved weights use the average")
    max_grad_norm: float = setting(5.0, "clip the gradient to this global norm")
    loss_average: LossAverage = setting(
        "batch", "batch: the window's summed loss over the batch size (Zaremba); token: over "
        "every target")
    num_steps: int = setting(20, "words per truncated-BPTT window")
    batch_size: int = setting(20, "rows trained in parallel")
    variable_length: bool = setting(False, "window lengths drawn around num_steps (AWD-LSTM), "
                                           "the learning rate scaled by length")
    early_stopping_patience: Optional[int] = setting(
        None, "stop after this many epochs without a better valid perplexity (none: never)",
        unset_was_zero=True)

    def __post_init__(self) -> None:
        _positive(self, "learning_rate", "max_grad_norm", "lr_decay", "max_max_epoch",
                  "num_steps", "batch_size")
        _non_negative(self, "max_epoch", "nonmono", "warmup_epochs")
        _choices(self)
        _require(self.early_stopping_patience is None or self.early_stopping_patience > 0,
                 f"early_stopping_patience must be > 0 (none: never), got "
                 f"{self.early_stopping_patience!r}")
        _require(0 <= self.average_last < 1,
                 f"average_last must be in [0, 1), got {self.average_last!r}")
        _require(0.0 < self.anneal_share <= 1.0,
                 f"anneal_share must be in (0, 1], got {self.anneal_share!r}")
        _require(not (self.optimizer == "ntasgd" and self.lr_schedule != "step"),
                 f"optimizer ntasgd averages at a fixed learning rate; lr_schedule "
                 f"{self.lr_schedule} would change it")
        _require(not (self.average_last and self.optimizer != "sgd"),
                 f"average_last averages plain SGD's weights; optimizer {self.optimizer} would "
                 f"need its own averaging")
        for name, unset in (("warmup_epochs", 0.0), ("anneal_share", 1.0)):
            _require(getattr(self, name) == unset or self.lr_schedule in ("cosine", "onecycle"),
                     f"{name} is used only by lr_schedule=cosine or onecycle")
        _require(not (self.lr_schedule == "onecycle" and self.optimizer not in ("adam", "adamw")),
                 f"lr_schedule onecycle cycles Adam's beta1; optimizer {self.optimizer} has none "
                 f"(use adam or adamw)")
        _require(self.lr_schedule not in ("cosine", "onecycle")
                 or self.warmup_epochs < self.max_max_epoch,
                 "warmup_epochs must be shorter than max_max_epoch")
        _require(not (self.variable_length and self.num_steps < 10),
                 "variable_length needs num_steps >= 10 (windows are drawn around it and "
                 "halved)")


@dataclass(frozen=True)
class BudgetConfig:
    """A wall-clock budget and the choices it makes once it has measured the machine."""

    seconds: Optional[float] = setting(
        None, "seconds the whole run may take (none: no limit); the run measures its speed and "
              "plans its epochs", flat="time_budget", duration=True, unset_was_zero=True)
    hidden_sizes: tuple[int, ...] = setting(
        (), "with a time budget: the widths to choose from, the widest that fits "
            "budget_min_epochs", separator=",", flat="budget_hidden_sizes")
    min_epochs: int = setting(0, "with a time budget: the fewest epochs a width must fit",
                              flat="budget_min_epochs")
    adaptive_cutoffs: tuple[int, ...] = setting(
        (), "with a time budget: where even the narrowest width fits fewer than "
            "budget_min_epochs epochs, it trains with the adaptive softmax at these cutoffs",
        separator=",", flat="budget_adaptive_cutoffs")
    onecycle_epochs: float = setting(
        0.0, "with a time budget: a plan of fewer epochs than this trains with Adam on the "
             "one-cycle schedule at budget_onecycle_lr, warming up over 0.3 of the run (0: the "
             "config's own optimizer and schedule at every length)",
        flat="budget_onecycle_epochs")
    onecycle_lr: float = setting(0.0, "one-cycle Adam's peak rate for the plans shorter than "
                                      "budget_onecycle_epochs", flat="budget_onecycle_lr")
    short_regularisation: dict[str, float] = setting(
        {}, "regularisation tuned for budget_min_epochs epochs; a longer plan moves each "
            "listed field on the line to the config's own, a shorter one on the line to none",
        flat="budget_short_regularisation")

    def __post_init__(self) -> None:
        _require(self.seconds is None or self.seconds > 0,
                 f"time_budget must be above 0 (none: no limit), got {self.seconds!r}")
        _non_negative(self, "min_epochs", "onecycle_epochs", "onecycle_lr")
        _require(min(self.hidden_sizes, default=1) >= 1,
                 f"budget_hidden_sizes must be positive integers, got "
                 f"{format_value('budget_hidden_sizes', self.hidden_sizes)!r}")
        _require(not self.onecycle_epochs or bool(self.onecycle_lr),
                 "budget_onecycle_epochs needs budget_onecycle_lr (the peak rate of the "
                 "one-cycle Adam it switches to)")
        for name, value in self.short_regularisation.items():
            _require(name in REGULARISATION_FIELDS,
                     f"budget_short_regularisation takes name=value pairs of "
                     f"{', '.join(REGULARISATION_FIELDS)}, got {name!r}")
        _require(not self.short_regularisation or bool(self.min_epochs),
                 "budget_short_regularisation needs budget_min_epochs (the schedule length "
                 "its values are tuned for)")


@dataclass(frozen=True)
class DataConfig:
    """The corpus and how its text is read."""

    corpus: str = setting("ptb", "ptb, wikitext-2, wikitext-103, shakespeare, a folder with "
                                 "train/valid/test.txt, or one text file", flat="data")
    vocab_size: Optional[int] = setting(
        None, "keep the most frequent words (none: every word seen min_freq times)",
        unset_was_zero=True)
    min_freq: int = setting(1, "the fewest times a word is seen to be in the vocabulary")
    clean_text: bool = setting(False, "lowercase, and strip punctuation but hyphens and "
                                      "apostrophes (and a Gutenberg header)")
    normalization: Normalization = setting(
        "auto", "how pairs, surprisal and syntaxgym bring a user's text to this model's "
        "conventions: ptb, clean (clean_text's), wikipedia, none; auto: clean with clean_text, ptb on PTB, "
        "else none")

    def __post_init__(self) -> None:
        _positive(self, "min_freq")
        _choices(self)
        _require(self.vocab_size is None or self.vocab_size >= 2,
                 f"vocab_size must be at least 2 (a word and <unk>), or none for no cap, got "
                 f"{self.vocab_size!r}")


@dataclass(frozen=True)
class EvaluationConfig:
    """How perplexity is measured during and after training."""

    batch_size: int = setting(1, "rows evaluation streams (1, as the reference)",
                              flat="eval_batch_size")
    num_steps: int = setting(100, "words per evaluation window (bounds memory only: the state "
                                  "is carried)", flat="eval_num_steps")
    test_each_epoch: bool = setting(False, "also measure test perplexity after each epoch "
                                           "(metrics' test_ppl), off a time budget's clock")
    final_eval: FinalEval = setting(
        "static", "static; dynamic or cache: the final evaluation also reports test perplexity "
        "with dynamic evaluation or a neural cache, tuned on valid (a time budget plans its "
        "cost)")

    def __post_init__(self) -> None:
        _positive(self, "batch_size", "num_steps")
        _choices(self)


@dataclass(frozen=True)
class LoggingConfig:
    """What a run writes beside its checkpoints: TensorBoard events and samples."""

    tensorboard: bool = setting(False, "also write TensorBoard events to RUN_DIR/tensorboard")
    sample_every: Optional[int] = setting(
        None, "log samples continuing sample_primes every this many steps (none: never)",
        unset_was_zero=True)
    sample_primes: tuple[str, ...] = setting((), "the primes of the logged samples",
                                             separator="|")
    sample_strategy: Strategy = setting("sample", "logged samples: 10 words drawn at random, or "
                                                  "greedy up to the first <unk>")
    sample_words: int = setting(0, "at the end, write this many sampled words to sample.txt")
    sample_start: SampleStart = setting("eos", "sample.txt starts at a sentence start, or at a "
                                               "word drawn uniformly (random)")
    sample_allow_unk: bool = setting(False, "<unk> may appear in sample.txt")

    def __post_init__(self) -> None:
        _require(self.sample_every is None or self.sample_every > 0,
                 f"sample_every must be > 0 (none: never), got {self.sample_every!r}")
        _non_negative(self, "sample_words")
        _choices(self)


@dataclass(frozen=True)
class RunConfig:
    """Where and how the run computes, its seed, its checkpoints, and caps that shorten it."""

    seed: int = setting(1234, "seeds the weights, dropout and window lengths")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N")
    precision: Precision = setting(
        "fp32", "fp32; bf16 (CPUs with AVX512-BF16 or AMX, GPUs from Ampere on); fp16 (CUDA, "
        "with a gradient scaler); auto (bf16 where native, else fp32)")
    checkpoint_every: Optional[int] = setting(
        None, "also save the resumable state every this many steps (none: at epoch ends only)",
        unset_was_zero=True)
    max_windows: Optional[int] = setting(
        None, "train at most this many windows an epoch (none: all): a quick trial of a recipe")
    max_eval_words: Optional[int] = setting(
        None, "validate and test on at most this many words of each split (none: all of them)")

    def __post_init__(self) -> None:
        _choices(self)
        _require(self.device in ("auto", "cpu") or self.device.startswith("cuda"),
                 f"device must be auto, cpu or cuda[:N], got {self.device!r}")
        for name in ("checkpoint_every", "max_windows", "max_eval_words"):
            value = getattr(self, name)
            _require(value is None or value > 0, f"{name} must be > 0 (none: no limit), "
                                                 f"got {value!r}")


SECTIONS: dict[str, type] = {"model": ModelConfig, "regularisation": RegularisationConfig,
                             "optimisation": OptimisationConfig, "budget": BudgetConfig,
                             "data": DataConfig, "evaluation": EvaluationConfig,
                             "logging": LoggingConfig, "run": RunConfig}


@dataclass(frozen=True)
class Config:
    """What the user asks of a run, in sections. Field names mirror the TensorFlow
    `ptb_word_lm.py` configs. Frozen: a run's plan (lstmlm.plan.RunPlan) holds what the run
    decides, and this stays as asked."""

    preset: str = setting("small", "the preset the run started from (names the run directory)")
    model: ModelConfig = field(default_factory=ModelConfig)
    regularisation: RegularisationConfig = field(default_factory=RegularisationConfig)
    optimisation: OptimisationConfig = field(default_factory=OptimisationConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        model, regularisation, budget = self.model, self.regularisation, self.budget
        _require(regularisation.hidden_dropout is None or model.num_layers > 1,
                 "hidden_dropout needs num_layers > 1 (there is no layer in between)")
        if budget.short_regularisation:
            # Each short value, as an override of this config, must be one it could hold.
            dataclasses.replace(regularisation, **budget.short_regularisation)
        self.budget_adaptive_model()

    def budget_sizes(self) -> list[int]:
        """The hidden sizes a time budget chooses from (just hidden_size if none are listed)."""
        return list(self.budget.hidden_sizes) or [self.model.hidden_size]

    def budget_adaptive_model(self, vocab_size: int | None = None) -> ModelConfig | None:
        """The model with the adaptive softmax at budget_adaptive_cutoffs (None without them),
        its cutoffs checked against `vocab_size` when it is known."""
        if not self.budget.adaptive_cutoffs:
            return None
        _require(self.model.softmax == "full", "budget_adaptive_cutoffs needs softmax=full "
                                               "(the softmax a budget replaces)")
        # The adaptive softmax is the cheaper output layer in place of the sampled one.
        adaptive = dataclasses.replace(self.model, softmax="adaptive", softmax_samples=None,
                                       adaptive_cutoffs=self.budget.adaptive_cutoffs)
        adaptive.cutoffs(vocab_size)
        return adaptive

    def flat(self) -> dict[str, Any]:
        """Every field by its flat name, in the reference's order."""
        values = {"preset": self.preset}
        for section_name, section_field in SECTION_FIELDS.items():
            section = getattr(self, section_name)
            values.update({name: getattr(section, item.name) for name, item in section_field})
        return values

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as config.json holds it."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        """A config from JSON values, as written by any version: in sections, or flat with the
        names and conventions of earlier versions (keep probabilities, 0 for "unset"). A typed
        field may hold its command-line text ("512,400") or its JSON form ([512, 400])."""
        if not isinstance(values.get("model", {}), dict) or "model" not in values:
            return from_flat(values, legacy=True)
        unknown = sorted(set(values) - {"preset", *SECTIONS})
        if unknown:
            raise LstmlmError(f"config: unknown key {unknown[0]!r}")
        flat = {"preset": values.get("preset", "small")}
        for section_name, section_values in values.items():
            if section_name == "preset":
                continue
            _require(isinstance(section_values, dict), f"{section_name} must be an object")
            by_own_name = {item.name: name for name, item in SECTION_FIELDS[section_name]}
            for name, value in section_values.items():
                _require(name in by_own_name, f"unknown key {section_name}.{name}")
                flat[by_own_name[name]] = value
        return from_flat(flat)

    @classmethod
    def load(cls, path: Path) -> "Config":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise LstmlmError(f"cannot read config {path}: {error}") from None
        if not isinstance(values, dict):
            raise LstmlmError(f"config {path} is not a JSON object")
        return cls.from_dict(values)


def flat_name(section: Any, name: str) -> str:
    """The flat name of a section's field."""
    return _FIELDS_OF[type(section)][name].metadata.get("flat", name)


_FIELDS_OF = {kind: {item.name: item for item in fields(kind)} for kind in SECTIONS.values()}
# Each section's fields as (flat name, field).
SECTION_FIELDS: dict[str, list[tuple[str, dataclasses.Field]]] = {
    section_name: [(item.metadata.get("flat", item.name), item) for item in fields(kind)]
    for section_name, kind in SECTIONS.items()}
# Every flat name: (section or None for the preset, the field's own name, its type, the field).
FLAT: dict[str, tuple[str | None, str, Any, dataclasses.Field]] = {
    "preset": (None, "preset", str, next(item for item in fields(Config) if item.name == "preset"))}
for _section_name, _kind in SECTIONS.items():
    _hints = typing.get_type_hints(_kind)
    for _flat, _item in SECTION_FIELDS[_section_name]:
        FLAT[_flat] = (_section_name, _item.name, _hints[_item.name], _item)
SECTION_CHOICES = {
    kind: {name: typing.get_args(hint) for name, hint in typing.get_type_hints(kind).items()
           if typing.get_origin(hint) is Literal}
    for kind in SECTIONS.values()}


def _optional_of(kind: Any) -> Any:
    """The type inside Optional[...], or None where `kind` is not optional."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Union and type(None) in args:
        return next(arg for arg in args if arg is not type(None))
    return None


def from_flat(values: dict, legacy: bool = False) -> Config:
    """A config from flat names and values (text or JSON), on top of the defaults. `legacy`:
    values as earlier versions wrote config.json, where 0 meant "unset"."""
    return apply_overrides(Config(), values, legacy=legacy)


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str) -> float:
    """Seconds in `text`: "90s", "45m", "2h", "1h30m", "1.5h" or a plain number of seconds."""
    cleaned = str(text).strip().lower().replace(" ", "")
    try:
        seconds = float(cleaned)
    except ValueError:
        match = _DURATION.fullmatch(cleaned)
        if not cleaned or not match or not any(match.groups()):
            raise LstmlmError(f"bad duration {text!r} (expected e.g. 90s, 45m, 2h, 1h30m or "
                              f"seconds)") from None
        hours, minutes, secs = (float(group or 0) for group in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds < 0 or not math.isfinite(seconds):
        raise LstmlmError(f"bad duration {text!r} (must be >= 0)")
    return seconds


def _number(name: str, kind: type, text: str) -> Any:
    """`text` as a bool, int or float ("1/1.15" too: how the papers write some values)."""
    text = text.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if kind is int:
            return int(text)
        if "/" in text:
            numerator, denominator = text.split("/")
            return float(numerator) / float(denominator)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise LstmlmError(f"config: bad value {text!r} for {name} "
                          f"(expected {kind.__name__})") from None


def _regularisation_values(values: dict) -> dict[str, float]:
    """budget_short_regularisation's pairs, keep probabilities of earlier versions turned into
    their dropouts."""
    converted = {}
    for key, value in values.items():
        if key in KEEP_PROBABILITIES:
            key, value = KEEP_PROBABILITIES[key], round(1.0 - value, 12)
        converted[key] = value
    return converted


def _parse_text(name: str, text: str) -> Any:
    """A flat field's value from its command-line text."""
    _, _, kind, item = FLAT[name]
    inner = _optional_of(kind)
    if inner is not None:
        if text.strip().lower() in ("none", "null", ""):
            return None
        kind = inner
    if item.metadata.get("duration"):
        return parse_duration(text)
    if kind in (bool, int, float):
        return _number(name, kind, text)
    if typing.get_origin(kind) is tuple:
        item_kind = typing.get_args(kind)[0]
        items = [part.strip() for part in text.split(item.metadata["separator"])]
        if item_kind is str:
            return tuple(part for part in items if part)
        try:
            return tuple(int(part) for part in items if part)
        except ValueError:
            raise LstmlmError(f"config: bad value {text!r} for {name} (expected integers "
                              f"separated by commas)") from None
    if typing.get_origin(kind) is dict:
        values = {}
        for part in text.replace(",", " ").split():
            key, equals, value = part.partition("=")
            if not equals:
                raise LstmlmError(f"config: {name} takes name=value pairs, got {part!r}")
            values[key] = _number(key, float, value)
        return _regularisation_values(values)
    return text.strip()


def parse_value(name: str, value: Any) -> Any:
    """A flat field's value from text, or from a JSON or Python value of its type (a list for
    a tuple, numbers of either kind, None where the field may be unset)."""
    if isinstance(value, str):
        return _parse_text(name, value)
    kind = FLAT[name][2]
    inner = _optional_of(kind)
    if inner is not None:
        if value is None:
            return None
        kind = inner
    try:
        if typing.get_origin(kind) is tuple:
            return tuple(typing.get_args(kind)[0](item) for item in value)
        if typing.get_origin(kind) is dict:
            return _regularisation_values({str(key): float(item)
                                           for key, item in dict(value).items()})
        if kind is bool and isinstance(value, bool):
            return value
        if kind in (int, float) and not isinstance(value, bool):
            return kind(value)
        if kind is str and value is not None:
            return str(value)
    except (TypeError, ValueError):
        pass
    raise LstmlmError(f"config: bad value {value!r} for {name}")


def format_value(name: str, value: Any) -> str:
    """A flat field's value as `--set name=VALUE` takes it (parse_value reads it back)."""
    if value is None:
        return "none"
    kind = FLAT[name][2]
    kind = _optional_of(kind) or kind
    if typing.get_origin(kind) is tuple:
        return FLAT[name][3].metadata["separator"].join(str(item) for item in value)
    if typing.get_origin(kind) is dict:
        return ",".join(f"{key}={item}" for key, item in value.items())
    return str(value)


def _legacy_pair(name: str, value: Any, legacy: bool) -> tuple[str, Any]:
    """A pair under a name of an earlier version, as today's: a keep probability as its
    dropout (0, which meant "keep_prob's", as unset); in an earlier config.json, 0 for an
    unset field as None."""
    if name in KEEP_PROBABILITIES:
        keep = parse_value("dropout", value)
        if keep is None or (keep == 0 and name != "keep_prob"):
            return KEEP_PROBABILITIES[name], None
        _require(0 < keep <= 1, f"{name} must be in (0, 1], got {keep!r}")
        return KEEP_PROBABILITIES[name], round(1.0 - keep, 12)
    unset_was_zero = name in FLAT and FLAT[name][3].metadata.get("unset_was_zero")
    if legacy and unset_was_zero and value in (0, "0"):
        return name, None
    return name, value


def override_pairs(overrides: list[str] | dict) -> list[tuple[str, Any]]:
    """(flat name, value) of each `name=value` string, or of a dict's items."""
    if isinstance(overrides, dict):
        return list(overrides.items())
    pairs = []
    for item in overrides:
        if "=" not in item:
            raise LstmlmError(f"config: expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        pairs.append((key.strip(), value))
    return pairs


def apply_overrides(config: Config, overrides: list[str] | dict, *,
                    legacy: bool = False) -> Config:
    """A new config: `config` with `name=value` strings (or a dict of flat names) applied and
    checked. `config` itself is frozen and stays as it is."""
    changes: dict[str | None, dict[str, Any]] = {}
    for key, value in override_pairs(overrides):
        key, value = _legacy_pair(key, value, legacy)
        if key not in FLAT:
            raise LstmlmError(f"config: unknown key {key!r}")
        section, own_name = FLAT[key][:2]
        changes.setdefault(section, {})[own_name] = parse_value(key, value)
    try:
        sections = {name: dataclasses.replace(getattr(config, name), **changes[name])
                    for name in SECTIONS if name in changes}
        return dataclasses.replace(config, **changes.get(None, {}), **sections)
    except TypeError as error:  # a value of the wrong type reaching a comparison
        raise LstmlmError(f"config: {error}") from None
