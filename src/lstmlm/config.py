"""Every setting of a run as one typed dataclass, the named presets, and the parsing of values
that arrive as text (`--set key=value`, a saved config.json).

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
from typing import Any, Literal

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
Normalization = Literal["auto", "none", "ptb", "clean"]
FinalEval = Literal["static", "dynamic", "cache"]

PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
NORMALIZATIONS: tuple[str, ...] = typing.get_args(Normalization)[1:]  # those "auto" resolves to
STRATEGIES: tuple[str, ...] = typing.get_args(Strategy)

# The fields whose best values depend on how long a model trains (budget_short_regularisation),
# each with its value that regularises nothing.
REGULARISATION_FIELDS = {"keep_prob": 1.0, "input_keep_prob": 1.0, "hidden_keep_prob": 1.0,
                         "output_keep_prob": 1.0, "embedding_dropout": 0.0, "weight_drop": 0.0,
                         "ar_alpha": 0.0, "tar_beta": 0.0, "weight_decay": 0.0}


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A Config field: its default and the one-line meaning that the reference docs show.
    `separator` (metadata) is how a tuple is written on the command line; `duration` marks a
    field given as a duration ("90s", "2h")."""
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class Config:
    """Every setting of a run. Field names mirror the TensorFlow `ptb_word_lm.py` configs."""

    preset: str = setting("small", "the preset the run started from (names the run directory)")
    # Model shape and initialisation.
    init_scale: float = setting(0.1, "weights start uniform in [-init_scale, init_scale]")
    init_method: InitMethod = setting(
        "uniform", "uniform: every weight in ±init_scale (Zaremba); awd: the embedding and "
        "decoder so, each recurrent layer in ±1/sqrt(its size)")
    num_layers: int = setting(2, "recurrent layers")
    hidden_size: int = setting(200, "units per recurrent layer")
    keep_prob: float = setting(1.0, "keep probability of the dropouts not set on their own")
    embedding_size: int = setting(0, "embedding width (0: hidden_size, as the Zaremba models)")
    cell: Cell = setting("lstm", "the recurrent cell")
    tie_weights: bool = setting(False, "the decoder shares the embedding matrix")
    input_keep_prob: float = setting(0.0, "keep probability of the embedding output "
                                          "(AWD-LSTM's dropouti; 0: keep_prob)")
    hidden_keep_prob: float = setting(0.0, "keep probability between recurrent layers "
                                           "(dropouth; 0: keep_prob)")
    output_keep_prob: float = setting(0.0, "keep probability before the softmax "
                                           "(dropout; 0: keep_prob)")
    variational_dropout: bool = setting(False, "those dropouts with one mask per sequence")
    embedding_dropout: float = setting(0.0, "drop whole words from the embedding matrix")
    weight_drop: float = setting(0.0, "DropConnect on the hidden-to-hidden matrices")
    softmax: Softmax = setting("full", "full, or adaptive (Grave et al. 2017)")
    adaptive_cutoffs: tuple[int, ...] = setting(
        (), "adaptive softmax: the ids (ordered by count) where the head and each cluster end",
        separator=",")
    adaptive_div_value: float = setting(4.0, "each adaptive cluster's projection is this many "
                                             "times narrower than the last")
    softmax_samples: int = setting(
        0, "full softmax: train on this many words sampled per window (log-uniform over the "
           "ids ordered by count) instead of the whole vocabulary; evaluation scores them all")
    ar_alpha: float = setting(0.0, "activation regularisation of the last layer (Merity et al.)")
    tar_beta: float = setting(0.0, "temporal activation regularisation of the last layer")
    # Optimisation.
    optimizer: OptimizerName = setting(
        "sgd", "sgd, adam, adamw, or ntasgd (SGD, then averaged SGD once valid perplexity is "
        "worse than nonmono epochs before)")
    weight_decay: float = setting(0.0, "L2 penalty of the optimizer")
    nonmono: int = setting(5, "ntasgd: epochs of non-improvement before averaging starts")
    average_last: float = setting(
        0.0, "sgd: average the weights over this last share of the epochs (stochastic weight "
             "averaging; 0: none); validation and the saved weights use the average")
    lr_schedule: ScheduleName = setting(
        "step", "step: times lr_decay each epoch after max_epoch; plateau: after each epoch "
        "that did not improve; cosine: warm-up, then down to 0 at max_max_epoch; onecycle "
        "(adam, adamw): up from a 25th over the warm-up while beta1 falls from 0.95 to 0.85, "
        "then down to nearly 0 at max_max_epoch while beta1 rises back (Smith's one-cycle)")
    warmup_epochs: float = setting(0.0, "cosine, onecycle: epochs of linear warm-up")
    anneal_share: float = setting(
        1.0, "cosine, onecycle: the last share of the run after the warm-up over which the rate "
             "falls; before it the rate holds at its peak (1: it falls over all of it)")
    variable_length: bool = setting(False, "window lengths drawn around num_steps (AWD-LSTM), "
                                           "the learning rate scaled by length")
    precision: Precision = setting(
        "fp32", "fp32; bf16 (CPUs with AVX512-BF16 or AMX, GPUs from Ampere on); fp16 (CUDA, "
        "with a gradient scaler); auto (bf16 where native, else fp32)")
    time_budget: float = setting(0.0, "seconds the whole run may take (0: no limit); the run "
                                      "measures its speed and plans its epochs", duration=True)
    budget_hidden_sizes: tuple[int, ...] = setting(
        (), "with a time budget: the widths to choose from, the widest that fits "
            "budget_min_epochs", separator=",")
    budget_min_epochs: int = setting(0, "with a time budget: the fewest epochs a width must fit")
    budget_adaptive_cutoffs: tuple[int, ...] = setting(
        (), "with a time budget: where even the narrowest width fits fewer than "
            "budget_min_epochs epochs, it trains with the adaptive softmax at these cutoffs",
        separator=",")
    budget_onecycle_epochs: float = setting(
        0.0, "with a time budget: a plan of fewer epochs than this trains with Adam on the "
             "one-cycle schedule at budget_onecycle_lr, warming up over 0.3 of the run (0: the "
             "config's own optimizer and schedule at every length)")
    budget_onecycle_lr: float = setting(0.0, "one-cycle Adam's peak rate for the plans "
                                             "shorter than budget_onecycle_epochs")
    budget_short_regularisation: dict[str, float] = setting(
        {}, "regularisation tuned for budget_min_epochs epochs; a longer plan moves each "
            "listed field on the line to the config's own, a shorter one on the line to none")
    test_each_epoch: bool = setting(False, "also measure test perplexity after each epoch "
                                           "(metrics' test_ppl), off a time budget's clock")
    final_eval: FinalEval = setting(
        "static", "static; dynamic or cache: the final evaluation also reports test perplexity "
        "with dynamic evaluation or a neural cache, tuned on valid (a time budget plans its "
        "cost)")
    early_stopping_patience: int = setting(0, "stop after this many epochs without a better "
                                              "valid perplexity (0: never)")
    learning_rate: float = setting(1.0, "the initial (or peak) learning rate")
    max_grad_norm: float = setting(5.0, "clip the gradient to this global norm")
    loss_average: LossAverage = setting(
        "batch", "batch: the window's summed loss over the batch size (Zaremba); token: over "
        "every target")
    lr_decay: float = setting(0.5, "the factor of the step and plateau schedules")
    max_epoch: int = setting(4, "step schedule: epochs at the initial learning rate")
    max_max_epoch: float = setting(13, "epochs in all; a fraction ends the last epoch after "
                                       "that share of its windows")
    num_steps: int = setting(20, "words per truncated-BPTT window")
    batch_size: int = setting(20, "rows trained in parallel")
    # Data.
    data: str = setting("ptb", "ptb, wikitext-2, wikitext-103, shakespeare, a folder with "
                               "train/valid/test.txt, or one text file")
    vocab_size: int = setting(0, "keep the most frequent words (0: every word seen min_freq "
                                 "times)")
    min_freq: int = setting(1, "the fewest times a word is seen to be in the vocabulary")
    clean_text: bool = setting(False, "lowercase, and strip punctuation but hyphens and "
                                      "apostrophes (and a Gutenberg header)")
    normalization: Normalization = setting(
        "auto", "how pairs, surprisal and syntaxgym bring a user's text to this model's "
        "conventions: ptb, clean (clean_text's), none; auto: clean with clean_text, ptb on PTB, "
        "else none")
    eval_batch_size: int = setting(1, "rows evaluation streams (1, as the reference)")
    eval_num_steps: int = setting(100, "words per evaluation window (bounds memory only: the "
                                       "state is carried)")
    # Run control.
    seed: int = setting(1234, "seeds the weights, dropout and window lengths")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N")
    tensorboard: bool = setting(False, "also write TensorBoard events to RUN_DIR/tensorboard")
    checkpoint_every: int = setting(0, "also save the resumable state every this many steps "
                                       "(0: at epoch ends only)")
    sample_every: int = setting(0, "log samples continuing sample_primes every this many steps")
    sample_primes: tuple[str, ...] = setting((), "the primes of the logged samples",
                                             separator="|")
    sample_strategy: Strategy = setting("sample", "logged samples: 10 words drawn at random, or "
                                                  "greedy up to the first <unk>")
    sample_words: int = setting(0, "at the end, write this many sampled words to sample.txt")
    sample_start: SampleStart = setting("eos", "sample.txt starts at a sentence start, or at a "
                                               "word drawn uniformly (random)")
    sample_allow_unk: bool = setting(False, "<unk> may appear in sample.txt")

    def validate(self) -> "Config":
        """Raise LstmlmError naming the first field with an impossible value."""
        positive = ["init_scale", "num_layers", "hidden_size", "learning_rate", "max_grad_norm",
                    "lr_decay", "max_max_epoch", "num_steps", "batch_size",
                    "min_freq", "eval_batch_size", "eval_num_steps"]
        for name in positive:
            if not getattr(self, name) > 0:
                raise LstmlmError(f"config: {name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 < self.keep_prob <= 1.0:
            raise LstmlmError(f"config: keep_prob must be in (0, 1], got {self.keep_prob!r}")
        for name in ("vocab_size", "max_epoch", "checkpoint_every", "sample_every", "sample_words",
                     "embedding_size", "early_stopping_patience", "nonmono", "warmup_epochs",
                     "time_budget", "budget_min_epochs", "budget_onecycle_epochs",
                     "budget_onecycle_lr",
                     "weight_decay", "ar_alpha", "tar_beta"):
            if getattr(self, name) < 0:
                raise LstmlmError(f"config: {name} must be >= 0, got {getattr(self, name)!r}")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise LstmlmError(f"config: {name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        for name in ("input_keep_prob", "hidden_keep_prob", "output_keep_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise LstmlmError(f"config: {name} must be in [0, 1] (0: keep_prob), "
                                  f"got {getattr(self, name)!r}")
        for name in ("embedding_dropout", "weight_drop", "average_last"):
            if not 0 <= getattr(self, name) < 1:
                raise LstmlmError(f"config: {name} must be in [0, 1), got {getattr(self, name)!r}")
        self._check_combinations()
        if self.vocab_size == 1:
            raise LstmlmError("config: vocab_size must be at least 2 (a word and <unk>), or 0 "
                              "for no cap")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise LstmlmError(f"config: device must be auto, cpu or cuda[:N], got {self.device!r}")
        if min(self.budget_hidden_sizes, default=1) < 1:
            raise LstmlmError(f"config: budget_hidden_sizes must be positive integers, got "
                              f"{format_value('budget_hidden_sizes', self.budget_hidden_sizes)!r}")
        self.short_regularisation()
        self.cutoffs()
        self.budget_adaptive_config()
        return self

    def budget_sizes(self) -> list[int]:
        """The hidden sizes a time budget chooses from (just hidden_size if none are listed)."""
        return list(self.budget_hidden_sizes) or [self.hidden_size]

    def budget_adaptive_config(self, vocab_size: int | None = None) -> "Config | None":
        """This config with the adaptive softmax at budget_adaptive_cutoffs (None without
        them), its cutoffs checked against `vocab_size` when it is known."""
        if not self.budget_adaptive_cutoffs:
            return None
        if self.softmax != "full":
            raise LstmlmError("config: budget_adaptive_cutoffs needs softmax=full (the softmax "
                              "a budget replaces)")
        # The adaptive softmax is the cheaper output layer in place of the sampled one.
        adaptive = dataclasses.replace(self, softmax="adaptive", budget_adaptive_cutoffs=(),
                                       adaptive_cutoffs=self.budget_adaptive_cutoffs,
                                       softmax_samples=0)
        adaptive.cutoffs(vocab_size)
        return adaptive

    def short_regularisation(self) -> dict[str, float]:
        """budget_short_regularisation, each value checked as an override of this config."""
        values = self.budget_short_regularisation
        for name in values:
            if name not in REGULARISATION_FIELDS:
                raise LstmlmError(f"config: budget_short_regularisation takes name=value pairs "
                                  f"of {', '.join(REGULARISATION_FIELDS)}, got {name!r}")
            if values[name] == 0 and REGULARISATION_FIELDS[name] == 1.0:
                # 0 stands for "keep_prob's", which has no place on a line between values.
                raise LstmlmError(f"config: budget_short_regularisation's {name} must be a "
                                  f"probability above 0, got 0")
        if values:
            if not self.budget_min_epochs:
                raise LstmlmError("config: budget_short_regularisation needs budget_min_epochs "
                                  "(the schedule length its values are tuned for)")
            dataclasses.replace(self, budget_short_regularisation={}, **values).validate()
        return dict(values)

    def sampled_words(self, vocab_size: int) -> int:
        """softmax_samples, checked against the vocabulary's size (a sample of every word or
        more is no saving)."""
        if self.softmax_samples >= vocab_size:
            raise LstmlmError(f"config: softmax_samples must stay below the vocabulary size "
                              f"({vocab_size} words), got {self.softmax_samples}")
        return self.softmax_samples

    def cutoffs(self, vocab_size: int | None = None) -> tuple[int, ...]:
        """The adaptive softmax's cutoffs (empty for the full softmax), checked against
        `vocab_size` when it is known."""
        cutoffs = self.adaptive_cutoffs
        if self.softmax == "full":
            if cutoffs:
                raise LstmlmError("config: adaptive_cutoffs needs softmax=adaptive")
            return ()
        if (not cutoffs or cutoffs[0] < 1
                or any(low >= high for low, high in zip(cutoffs, cutoffs[1:]))):
            raise LstmlmError(f"config: softmax=adaptive needs adaptive_cutoffs, increasing "
                              f"positive integers separated by commas (e.g. 2000,6000), got "
                              f"{format_value('adaptive_cutoffs', cutoffs)!r}")
        size, name = ((self.embedding_size, "embedding_size")
                      if self.tie_weights and self.embedding_size else
                      (self.hidden_size, "hidden_size"))  # the softmax's input
        if size // self.adaptive_div_value ** len(cutoffs) < 1:
            raise LstmlmError(f"config: the adaptive softmax's last cluster would have no units "
                              f"({name} {size} divided by adaptive_div_value "
                              f"{self.adaptive_div_value:g} {len(cutoffs)} times)")
        if vocab_size is not None and cutoffs[-1] >= vocab_size:
            raise LstmlmError(f"config: adaptive_cutoffs must stay below the vocabulary size "
                              f"({vocab_size} words), got "
                              f"{format_value('adaptive_cutoffs', cutoffs)}")
        return cutoffs

    def keep_probs(self) -> dict[str, float]:
        """input_keep_prob, hidden_keep_prob and output_keep_prob, each 0 resolved to keep_prob
        (the one place that default is applied)."""
        return {name: getattr(self, name) or self.keep_prob
                for name in ("input_keep_prob", "hidden_keep_prob", "output_keep_prob")}

    def _check_combinations(self) -> None:
        """Options that are each valid but make no sense together."""
        keep = self.keep_probs()
        if self.variational_dropout and all(value == 1.0 for value in keep.values()):
            raise LstmlmError("config: variational_dropout needs a keep probability below 1 "
                              "(it drops nothing)")
        if self.hidden_keep_prob and self.num_layers == 1:
            raise LstmlmError("config: hidden_keep_prob needs num_layers > 1 (there is no layer "
                              "in between)")
        if (self.tie_weights and self.embedding_size not in (0, self.hidden_size)
                and self.num_layers == 1):
            raise LstmlmError("config: tie_weights with embedding_size != hidden_size needs "
                              "num_layers > 1 (the last layer has embedding_size units, so a "
                              "single layer would leave hidden_size unused)")
        if self.softmax_samples < 0 or (self.softmax_samples and self.softmax != "full"):
            raise LstmlmError(f"config: softmax_samples must be 0 or more, and needs "
                              f"softmax=full, got {self.softmax_samples!r} with softmax "
                              f"{self.softmax}")
        if self.adaptive_div_value < 1:
            raise LstmlmError(f"config: adaptive_div_value must be >= 1, got "
                              f"{self.adaptive_div_value!r}")
        if self.optimizer == "ntasgd" and self.lr_schedule != "step":
            raise LstmlmError(f"config: optimizer ntasgd averages at a fixed learning rate; "
                              f"lr_schedule {self.lr_schedule} would change it")
        if self.average_last and self.optimizer != "sgd":
            raise LstmlmError(f"config: average_last averages plain SGD's weights; optimizer "
                              f"{self.optimizer} would need its own averaging")
        if not 0.0 < self.anneal_share <= 1.0:
            raise LstmlmError(f"config: anneal_share must be in (0, 1], got {self.anneal_share!r}")
        for name, unset in (("warmup_epochs", 0.0), ("anneal_share", 1.0)):
            if getattr(self, name) != unset and self.lr_schedule not in ("cosine", "onecycle"):
                raise LstmlmError(f"config: {name} is used only by lr_schedule=cosine or "
                                  f"onecycle")
        if self.lr_schedule == "onecycle" and self.optimizer not in ("adam", "adamw"):
            raise LstmlmError(f"config: lr_schedule onecycle cycles Adam's beta1; optimizer "
                              f"{self.optimizer} has none (use adam or adamw)")
        if self.lr_schedule in ("cosine", "onecycle") and self.warmup_epochs >= self.max_max_epoch:
            raise LstmlmError("config: warmup_epochs must be shorter than max_max_epoch")
        if self.budget_onecycle_epochs and not self.budget_onecycle_lr:
            raise LstmlmError("config: budget_onecycle_epochs needs budget_onecycle_lr (the "
                              "peak rate of the one-cycle Adam it switches to)")
        if self.variable_length and self.num_steps < 10:
            raise LstmlmError("config: variable_length needs num_steps >= 10 (windows are drawn "
                              "around it and halved)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as config.json holds it."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        """A config from JSON values, as written by any version: a typed field may hold its
        command-line text ("512,400") or its JSON form ([512, 400])."""
        unknown = sorted(set(values) - set(TYPES))
        if unknown:
            raise LstmlmError(f"config: unknown key {unknown[0]!r}")
        return cls(**{name: parse_value(name, value) for name, value in values.items()}).validate()

    @classmethod
    def load(cls, path: Path) -> "Config":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise LstmlmError(f"cannot read config {path}: {error}") from None
        if not isinstance(values, dict):
            raise LstmlmError(f"config {path} is not a JSON object")
        return cls.from_dict(values)


TYPES: dict[str, Any] = typing.get_type_hints(Config)
FIELDS = {config_field.name: config_field for config_field in fields(Config)}
# The fields that take one of a fixed set of strings, and those strings.
CHOICES = {name: typing.get_args(kind) for name, kind in TYPES.items()
           if typing.get_origin(kind) is Literal}

MEDIUM = dict(init_scale=0.05, learning_rate=1.0, max_grad_norm=5, num_layers=2, num_steps=35,
              hidden_size=650, max_epoch=6, max_max_epoch=39, keep_prob=0.5, lr_decay=0.8,
              batch_size=20)
LARGE = dict(init_scale=0.04, learning_rate=1.0, max_grad_norm=10, num_layers=2, num_steps=35,
             hidden_size=1500, max_epoch=14, max_max_epoch=55, keep_prob=0.35, lr_decay=1 / 1.15,
             batch_size=20)

# The preset whose model a time budget sizes (budget_hidden_sizes), named where a fixed recipe
# does not fit a budget.
BUDGETED_PRESET = "cpu-fast"

PRESETS: dict[str, dict] = {
    "small": dict(init_scale=0.1, learning_rate=1.0, max_grad_norm=5, num_layers=2, num_steps=20,
                  hidden_size=200, max_epoch=4, max_max_epoch=13, keep_prob=1.0, lr_decay=0.5,
                  batch_size=20),
    "medium": MEDIUM,
    "large": LARGE,
    # Zaremba's medium and large with the decoder tied to the embedding.
    "medium-tied": dict(MEDIUM, tie_weights=True, precision="auto"),
    "large-tied": dict(LARGE, tie_weights=True, precision="auto"),
    # AWD-LSTM's PTB model as its paper and repository document it (Merity, Keskar & Socher
    # 2017: 3 layers, 400/1150, the dropouts below, NT-ASGD at lr 30, 500 epochs; 57.3 test
    # with its fine-tuning stage, 58.8 without).
    "awd": dict(num_layers=3, embedding_size=400, hidden_size=1150, tie_weights=True,
                variational_dropout=True, input_keep_prob=0.6, hidden_keep_prob=0.75,
                output_keep_prob=0.6, embedding_dropout=0.1, weight_drop=0.5,
                ar_alpha=2.0, tar_beta=1.0, weight_decay=1.2e-6, init_method="awd",
                init_scale=0.1, optimizer="ntasgd", nonmono=5, learning_rate=30.0,
                loss_average="token", max_grad_norm=0.25, max_epoch=1, max_max_epoch=500,
                lr_decay=1.0, num_steps=70, variable_length=True, batch_size=20,
                eval_batch_size=1, precision="auto"),
    # The best configuration found for PTB on 2 CPU cores in 2 hours (docs/benchmarks.md): a
    # tied two-layer LSTM with the AWD-LSTM regularisers, bf16, and a cosine schedule. Its
    # dropouts are tuned for 34 epochs of 512 units; the short ones for 10 epochs of 400.
    # Budgets too short for 10 epochs train one-cycle Adam instead, which won at 2.5 and 6.
    # SGD holds its peak rate until the last third of the run, which won at 30 minutes.
    "cpu-fast": dict(hidden_size=512, num_layers=2, num_steps=35, batch_size=20,
                     tie_weights=True, variational_dropout=True, keep_prob=0.65,
                     hidden_keep_prob=0.8, embedding_dropout=0.1, weight_drop=0.2,
                     ar_alpha=2.0, tar_beta=1.0, weight_decay=1.2e-6, init_scale=0.1,
                     optimizer="sgd", learning_rate=30.0, loss_average="token",
                     max_grad_norm=0.25, lr_schedule="cosine", warmup_epochs=0.5,
                     anneal_share=0.34, max_epoch=1, max_max_epoch=34, lr_decay=1.0,
                     variable_length=True, precision="auto", time_budget=7200.0,
                     budget_hidden_sizes=(512, 400, 320, 256), budget_min_epochs=10,
                     budget_adaptive_cutoffs=(2000,), budget_onecycle_epochs=10,
                     budget_onecycle_lr=0.008,
                     budget_short_regularisation=dict(keep_prob=0.75, hidden_keep_prob=0.9,
                                                      weight_drop=0.1, embedding_dropout=0.05)),
    # WikiText-103 on one GPU in 12 hours, the budget of Merity et al. (2018), whose 4-layer
    # QRNN reached 33.0 test: their recipe on three LSTM layers over a 400-wide embedding, the
    # adaptive softmax at Grave et al.'s cutoffs, Adam with a cosine schedule, and light
    # dropout (103M words overfit little). The budget measures the device and takes the
    # widest of 2048/1536/1024 that fits 8 epochs (an estimate, see docs/benchmarks.md).
    "wt103": dict(data="wikitext-103", num_layers=3, embedding_size=400, hidden_size=2048,
                  softmax="adaptive", adaptive_cutoffs=(20000, 40000, 200000),
                  adaptive_div_value=4.0, keep_prob=0.9, variational_dropout=True,
                  init_method="awd", init_scale=0.1, optimizer="adam", learning_rate=1e-3,
                  loss_average="token", max_grad_norm=0.25, lr_schedule="cosine",
                  warmup_epochs=0.1, max_epoch=1, max_max_epoch=14, lr_decay=1.0,
                  num_steps=100, variable_length=True, batch_size=60, eval_batch_size=1,
                  precision="auto", time_budget=12 * 3600.0,
                  budget_hidden_sizes=(2048, 1536, 1024), budget_min_epochs=8),
    # The TensorFlow machine-learning cookbook's word-level Shakespeare model.
    "shakespeare": dict(data="shakespeare", clean_text=True, min_freq=6, vocab_size=100000,
                        hidden_size=128, embedding_size=128, num_layers=1, batch_size=100,
                        num_steps=50, optimizer="adam", learning_rate=0.001, lr_decay=1.0,
                        loss_average="token", max_grad_norm=4.5, max_epoch=10, max_max_epoch=10,
                        keep_prob=1.0, init_scale=0.1, checkpoint_every=500, sample_every=50,
                        sample_primes=("thou art more", "to be or not to", "wherefore art thou"),
                        sample_strategy="greedy"),
    # The PyTorch RNNLM tutorial (pytorch-tutorial's language_model).
    "tutorial": dict(hidden_size=1024, embedding_size=128, num_layers=1, batch_size=20,
                     num_steps=30, optimizer="adam", learning_rate=0.002, lr_decay=1.0,
                     loss_average="token", max_grad_norm=0.5, max_epoch=5, max_max_epoch=5,
                     keep_prob=1.0, init_scale=0.1, vocab_size=10000, sample_words=1000,
                     sample_start="random", sample_allow_unk=True),
    "test": dict(init_scale=0.1, learning_rate=1.0, max_grad_norm=1, num_layers=1, num_steps=2,
                 hidden_size=2, max_epoch=1, max_max_epoch=1, keep_prob=1.0, lr_decay=0.5,
                 batch_size=20),
}


def get_preset(name: str) -> Config:
    """The Config of a named preset; unknown names raise LstmlmError listing the known ones."""
    if name not in PRESETS:
        raise LstmlmError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return Config.from_dict(dict(PRESETS[name], preset=name))


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


def _parse_text(name: str, text: str) -> Any:
    """A field's value from its command-line text."""
    kind, metadata = TYPES[name], FIELDS[name].metadata
    if metadata.get("duration"):
        return parse_duration(text)
    if kind in (bool, int, float):
        return _number(name, kind, text)
    if typing.get_origin(kind) is tuple:
        item_kind = typing.get_args(kind)[0]
        items = [item.strip() for item in text.split(metadata["separator"])]
        if item_kind is str:
            return tuple(item for item in items if item)
        try:
            return tuple(int(item) for item in items if item)
        except ValueError:
            raise LstmlmError(f"config: bad value {text!r} for {name} (expected integers "
                              f"separated by commas)") from None
    if typing.get_origin(kind) is dict:
        values = {}
        for item in text.replace(",", " ").split():
            key, equals, value = item.partition("=")
            if not equals:
                raise LstmlmError(f"config: {name} takes name=value pairs, got {item!r}")
            values[key] = _number(key, float, value)
        return values
    return text.strip()


def parse_value(name: str, value: Any) -> Any:
    """A field's value from text, or from a JSON or Python value of its type (a list for a
    tuple, numbers of either kind)."""
    if isinstance(value, str):
        return _parse_text(name, value)
    kind = TYPES[name]
    try:
        if typing.get_origin(kind) is tuple:
            return tuple(typing.get_args(kind)[0](item) for item in value)
        if typing.get_origin(kind) is dict:
            return {str(key): float(item) for key, item in dict(value).items()}
        if kind in (bool, int, float):
            return kind(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise LstmlmError(f"config: bad value {value!r} for {name}")


def format_value(name: str, value: Any) -> str:
    """A field's value as `--set name=VALUE` takes it (parse_value reads it back)."""
    kind = TYPES[name]
    if typing.get_origin(kind) is tuple:
        return FIELDS[name].metadata["separator"].join(str(item) for item in value)
    if typing.get_origin(kind) is dict:
        return ",".join(f"{key}={item}" for key, item in value.items())
    return str(value)


def apply_overrides(config: Config, overrides: list[str] | dict) -> Config:
    """Return a copy of `config` with `key=value` strings (or a dict) applied and validated."""
    if isinstance(overrides, dict):
        pairs = list(overrides.items())
    else:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise LstmlmError(f"config: expected key=value, got {item!r}")
            key, value = item.split("=", 1)
            pairs.append((key.strip(), value))
    changes = {}
    for key, value in pairs:
        if key not in TYPES:
            raise LstmlmError(f"config: unknown key {key!r}")
        changes[key] = parse_value(key, value)
    return dataclasses.replace(config, **changes).validate()
