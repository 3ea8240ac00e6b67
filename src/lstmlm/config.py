"""Typed training configuration and the named presets of Zaremba et al. (2014)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from .budget import parse_duration
from .errors import LstmlmError
from .files import atomic_write_text
from .hardware import PRECISIONS
from .generation import STRATEGIES
from .model import CELLS

OPTIMIZERS = ("sgd", "adam", "adamw", "ntasgd")
# The fields whose best values depend on how long a model trains (budget_short_regularisation).
REGULARISATION_FIELDS = ("keep_prob", "input_keep_prob", "hidden_keep_prob", "output_keep_prob",
                         "embedding_dropout", "weight_drop", "ar_alpha", "tar_beta",
                         "weight_decay")


@dataclass
class Config:
    """Every setting of a run. Field names mirror the TensorFlow `ptb_word_lm.py` configs."""

    preset: str = "small"
    # Model shape and initialisation: "uniform" draws every weight in [-init_scale, init_scale]
    # (Zaremba); "awd" the embedding and decoder, each recurrent layer in ±1/sqrt(its size).
    init_scale: float = 0.1
    init_method: str = "uniform"
    num_layers: int = 2
    hidden_size: int = 200
    keep_prob: float = 1.0
    embedding_size: int = 0  # 0: the same as hidden_size, as in the Zaremba models
    cell: str = "lstm"  # or "gru", "rnn_tanh", "rnn_relu"
    tie_weights: bool = False  # the decoder shares the embedding matrix
    # Keep probabilities of the embedding output, between layers and before the softmax
    # (AWD-LSTM's dropouti, dropouth, dropout); 0 means "the same as keep_prob".
    input_keep_prob: float = 0.0
    hidden_keep_prob: float = 0.0
    output_keep_prob: float = 0.0
    variational_dropout: bool = False  # those dropouts with one mask per sequence
    embedding_dropout: float = 0.0  # drop whole words from the embedding matrix
    weight_drop: float = 0.0  # DropConnect on the hidden-to-hidden matrices
    # The softmax layer: "full", or "adaptive" (Grave et al. 2017): the words with ids below the
    # first of `adaptive_cutoffs` ("2000,6000": ids ordered by count) in the head, each further
    # range in a cluster whose projection is `adaptive_div_value` times smaller than the last.
    softmax: str = "full"
    adaptive_cutoffs: str = ""
    adaptive_div_value: float = 4.0
    # Activation regularisation (AR) and temporal AR (TAR) of the last layer (Merity et al.)
    ar_alpha: float = 0.0
    tar_beta: float = 0.0
    # Optimisation: "sgd", "adam", "adamw" or "ntasgd" (SGD, then averaged SGD once valid
    # perplexity is worse than it was `nonmono` epochs before; Merity et al. 2017).
    optimizer: str = "sgd"
    weight_decay: float = 0.0
    nonmono: int = 5
    # Learning-rate schedule: "step" (Zaremba: times lr_decay each epoch after max_epoch),
    # "plateau" (times lr_decay after each epoch that did not improve valid perplexity) or
    # "cosine" (linear warm-up over warmup_epochs, then cosine decay to 0 at max_max_epoch).
    lr_schedule: str = "step"
    warmup_epochs: float = 0.0
    # Window lengths drawn around num_steps (AWD-LSTM), the learning rate scaled by length.
    variable_length: bool = False
    # Training precision: "fp32"; "bf16" (bfloat16 autocast: CPUs with AVX512-BF16 or AMX,
    # GPUs from Ampere on); "fp16" (float16 autocast with a gradient scaler, CUDA only); "auto"
    # (bf16 where the device runs it natively, else fp32). A run saves the one it used.
    precision: str = "fp32"
    # Seconds the whole `train` command may take (0: no limit). The run measures its speed and
    # sets max_max_epoch (stretching the schedule) so that it ends in time. With
    # budget_hidden_sizes ("512,400,..."), it takes the largest of those sizes for which at
    # least budget_min_epochs epochs fit (without a budget, hidden_size is used as it is).
    time_budget: float = field(default=0.0, metadata={"duration": True})
    budget_hidden_sizes: str = ""
    budget_min_epochs: int = 0
    # Regularisation for a short schedule ("keep_prob=0.75 weight_drop=0.1"): the values tuned
    # for budget_min_epochs epochs, where the config's own are tuned for max_max_epoch. A
    # budgeted run planned in between takes each listed field on the line between the two.
    budget_short_regularisation: str = ""
    # Stop when valid perplexity has not improved for this many epochs (0: never stop early).
    early_stopping_patience: int = 0
    learning_rate: float = 1.0
    max_grad_norm: float = 5.0
    # "batch": cross-entropy summed over the window's steps, averaged over the batch (Zaremba);
    # "token": averaged over every token (the cookbook and PyTorch tutorial recipes).
    loss_average: str = "batch"
    lr_decay: float = 0.5
    max_epoch: int = 4
    max_max_epoch: int = 13
    num_steps: int = 20
    batch_size: int = 20
    # Data: "ptb", "wikitext-2", "wikitext-103", "shakespeare", a directory with train/valid/test
    # files, or one text file. The vocabulary is every training word seen min_freq times, or
    # the vocab_size most frequent (0: no cap; PTB has exactly 10,000 with <eos>).
    data: str = "ptb"
    vocab_size: int = 0
    min_freq: int = 1
    # Lowercase and strip punctuation but hyphens and apostrophes (and a Gutenberg header).
    clean_text: bool = False
    # Evaluation streams the split with batch `eval_batch_size` (1 as the reference); the window
    # length only bounds memory, since the state is carried across windows.
    eval_batch_size: int = 1
    eval_num_steps: int = 100
    # Run control.
    seed: int = 1234
    device: str = "auto"
    # Also write TensorBoard event files to RUN_DIR/tensorboard (needs the tensorboard package).
    tensorboard: bool = False
    # Also save the resumable last-state checkpoint every this many steps (0: at epoch ends only).
    checkpoint_every: int = 0
    # Log samples continuing each of `sample_primes` ("|"-separated) every this many steps:
    # 10 words drawn at random ("sample"), or the most likely words up to the first `<unk>`
    # ("greedy", the cookbook's), so that a run's samples are repeatable.
    sample_every: int = 0
    sample_primes: str = ""
    sample_strategy: str = "sample"
    # At the end of training, write this many sampled words to sample.txt in the run directory.
    sample_words: int = 0
    # Where sample.txt starts: "eos" (a sentence start) or "random" (a word drawn uniformly from
    # the vocabulary, as the PyTorch tutorial); whether `<unk>` may appear in it (it is masked
    # out unless sample_allow_unk).
    sample_start: str = "eos"
    sample_allow_unk: bool = False

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
                     "time_budget", "budget_min_epochs"):
            if getattr(self, name) < 0:
                raise LstmlmError(f"config: {name} must be >= 0, got {getattr(self, name)!r}")
        if self.loss_average not in ("batch", "token"):
            raise LstmlmError(f"config: loss_average must be batch or token, got {self.loss_average!r}")
        if self.cell not in CELLS:
            raise LstmlmError(f"config: cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        choices = {"optimizer": OPTIMIZERS, "lr_schedule": ("step", "plateau", "cosine"),
                   "precision": PRECISIONS, "init_method": ("uniform", "awd"),
                   "sample_strategy": STRATEGIES, "sample_start": ("eos", "random"),
                   "softmax": ("full", "adaptive")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise LstmlmError(f"config: {name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        for name in ("input_keep_prob", "hidden_keep_prob", "output_keep_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise LstmlmError(f"config: {name} must be in [0, 1] (0: keep_prob), "
                                  f"got {getattr(self, name)!r}")
        for name in ("embedding_dropout", "weight_drop"):
            if not 0 <= getattr(self, name) < 1:
                raise LstmlmError(f"config: {name} must be in [0, 1), got {getattr(self, name)!r}")
        self._check_combinations()
        if self.ar_alpha < 0 or self.tar_beta < 0:
            raise LstmlmError("config: ar_alpha and tar_beta must be >= 0")
        if self.weight_decay < 0:
            raise LstmlmError(f"config: weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.vocab_size == 1:
            raise LstmlmError("config: vocab_size must be at least 2 (a word and <unk>), or 0 "
                              "for no cap")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise LstmlmError(f"config: device must be auto, cpu or cuda[:N], got {self.device!r}")
        self.budget_sizes()
        self.short_regularisation()
        self.cutoffs()
        return self

    def budget_sizes(self) -> list[int]:
        """The hidden sizes a time budget chooses from (just hidden_size if none are listed)."""
        if not self.budget_hidden_sizes.strip():
            return [self.hidden_size]
        try:
            sizes = [int(size) for size in self.budget_hidden_sizes.split(",")]
        except ValueError:
            sizes = []
        if not sizes or min(sizes) < 1:
            raise LstmlmError(f"config: budget_hidden_sizes must be positive integers separated "
                              f"by commas, got {self.budget_hidden_sizes!r}")
        return sizes

    def short_regularisation(self) -> dict[str, float]:
        """The fields and values of budget_short_regularisation, each checked as an override of
        this config would be."""
        items = self.budget_short_regularisation.replace(",", " ").split()
        pairs = [item.split("=", 1) for item in items]
        values = {}
        for pair in pairs:
            if len(pair) != 2 or pair[0] not in REGULARISATION_FIELDS:
                raise LstmlmError(f"config: budget_short_regularisation takes "
                                  f"name=value pairs of {', '.join(REGULARISATION_FIELDS)}, "
                                  f"got {'='.join(pair)!r}")
            values[pair[0]] = _parse_value(pair[0], float, pair[1])
        if values:
            if not self.budget_min_epochs:
                raise LstmlmError("config: budget_short_regularisation needs budget_min_epochs "
                                  "(the schedule length its values are tuned for)")
            dataclasses.replace(self, budget_short_regularisation="", **values).validate()
        return values

    def cutoffs(self, vocab_size: int | None = None) -> tuple[int, ...]:
        """The adaptive softmax's cutoffs (empty for the full softmax), checked against
        `vocab_size` when it is known."""
        if self.softmax == "full":
            if self.adaptive_cutoffs.strip():
                raise LstmlmError("config: adaptive_cutoffs needs softmax=adaptive")
            return ()
        try:
            cutoffs = tuple(int(cutoff) for cutoff in self.adaptive_cutoffs.split(","))
        except ValueError:
            cutoffs = ()
        if (not cutoffs or cutoffs[0] < 1
                or any(low >= high for low, high in zip(cutoffs, cutoffs[1:]))):
            raise LstmlmError(f"config: softmax=adaptive needs adaptive_cutoffs, increasing "
                              f"positive integers separated by commas (e.g. 2000,6000), got "
                              f"{self.adaptive_cutoffs!r}")
        if self.hidden_size // self.adaptive_div_value ** len(cutoffs) < 1:
            raise LstmlmError(f"config: the adaptive softmax's last cluster would have no units "
                              f"(hidden_size {self.hidden_size} divided by adaptive_div_value "
                              f"{self.adaptive_div_value:g} {len(cutoffs)} times)")
        if vocab_size is not None and cutoffs[-1] >= vocab_size:
            raise LstmlmError(f"config: adaptive_cutoffs must stay below the vocabulary size "
                              f"({vocab_size} words), got {self.adaptive_cutoffs}")
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
        if self.tie_weights and self.softmax == "adaptive":
            raise LstmlmError("config: tie_weights needs softmax=full (the adaptive softmax's "
                              "head and clusters have no one matrix to share with the embedding)")
        if self.adaptive_div_value < 1:
            raise LstmlmError(f"config: adaptive_div_value must be >= 1, got "
                              f"{self.adaptive_div_value!r}")
        if self.optimizer == "ntasgd" and self.lr_schedule != "step":
            raise LstmlmError(f"config: optimizer ntasgd averages at a fixed learning rate; "
                              f"lr_schedule {self.lr_schedule} would change it")
        if self.warmup_epochs and self.lr_schedule != "cosine":
            raise LstmlmError("config: warmup_epochs is used only by lr_schedule=cosine")
        if self.lr_schedule == "cosine" and self.warmup_epochs >= self.max_max_epoch:
            raise LstmlmError("config: warmup_epochs must be shorter than max_max_epoch")
        if self.variable_length and self.num_steps < 10:
            raise LstmlmError("config: variable_length needs num_steps >= 10 (windows are drawn "
                              "around it and halved)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise LstmlmError(f"config: unknown key {unknown[0]!r}")
        return cls(**values).validate()

    @classmethod
    def load(cls, path: Path) -> "Config":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise LstmlmError(f"cannot read config {path}: {error}") from None
        if not isinstance(values, dict):
            raise LstmlmError(f"config {path} is not a JSON object")
        return cls.from_dict(values)


MEDIUM = dict(init_scale=0.05, learning_rate=1.0, max_grad_norm=5, num_layers=2, num_steps=35,
              hidden_size=650, max_epoch=6, max_max_epoch=39, keep_prob=0.5, lr_decay=0.8,
              batch_size=20)
LARGE = dict(init_scale=0.04, learning_rate=1.0, max_grad_norm=10, num_layers=2, num_steps=35,
             hidden_size=1500, max_epoch=14, max_max_epoch=55, keep_prob=0.35, lr_decay=1 / 1.15,
             batch_size=20)

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
    # The best configuration found for PTB on 2 CPU cores in 2 hours (benchmarks/NOTES.md):
    # a tied two-layer LSTM with the AWD-LSTM regularisers, bf16, and a cosine schedule. Its
    # dropouts are tuned for 34 epochs of 512 units (69.00 on an AVX512-BF16 CPU); the short
    # ones for 10 epochs of 400 units (81.73 on an AVX2-only CPU in fp32).
    "cpu-fast": dict(hidden_size=512, num_layers=2, num_steps=35, batch_size=20,
                     tie_weights=True, variational_dropout=True, keep_prob=0.65,
                     hidden_keep_prob=0.8, embedding_dropout=0.1, weight_drop=0.2,
                     ar_alpha=2.0, tar_beta=1.0, weight_decay=1.2e-6, init_scale=0.1,
                     optimizer="sgd", learning_rate=30.0, loss_average="token",
                     max_grad_norm=0.25, lr_schedule="cosine", warmup_epochs=0.5,
                     max_epoch=1, max_max_epoch=34, lr_decay=1.0, variable_length=True,
                     precision="auto", time_budget=7200.0,
                     budget_hidden_sizes="512,400,320,256", budget_min_epochs=10,
                     budget_short_regularisation="keep_prob=0.75,hidden_keep_prob=0.9,"
                                                 "weight_drop=0.1,embedding_dropout=0.05"),
    # WikiText-103 on one GPU in 12 hours, the budget of Merity et al. (2018), whose 4-layer
    # QRNN reached 33.0 test: their recipe on three LSTM layers over a 400-wide embedding, the
    # adaptive softmax at Grave et al.'s cutoffs, Adam with a cosine schedule, and light
    # dropout (103M words overfit little). The budget measures the device and takes the
    # widest of 2048/1536/1024 that fits 8 epochs (an estimate, see benchmarks/NOTES.md).
    "wt103": dict(data="wikitext-103", num_layers=3, embedding_size=400, hidden_size=2048,
                  softmax="adaptive", adaptive_cutoffs="20000,40000,200000",
                  adaptive_div_value=4.0, keep_prob=0.9, variational_dropout=True,
                  init_method="awd", init_scale=0.1, optimizer="adam", learning_rate=1e-3,
                  loss_average="token", max_grad_norm=0.25, lr_schedule="cosine",
                  warmup_epochs=0.1, max_epoch=1, max_max_epoch=14, lr_decay=1.0,
                  num_steps=100, variable_length=True, batch_size=60, eval_batch_size=1,
                  precision="auto", time_budget=12 * 3600.0,
                  budget_hidden_sizes="2048,1536,1024", budget_min_epochs=8),
    # The TensorFlow machine-learning cookbook's word-level Shakespeare model.
    "shakespeare": dict(data="shakespeare", clean_text=True, min_freq=6, vocab_size=100000,
                        hidden_size=128, embedding_size=128, num_layers=1, batch_size=100,
                        num_steps=50, optimizer="adam", learning_rate=0.001, lr_decay=1.0,
                        loss_average="token", max_grad_norm=4.5, max_epoch=10, max_max_epoch=10, keep_prob=1.0,
                        init_scale=0.1, checkpoint_every=500, sample_every=50,
                        sample_primes="thou art more|to be or not to|wherefore art thou",
                        sample_strategy="greedy"),
    # The PyTorch RNNLM tutorial (pytorch-tutorial's language_model).
    "tutorial": dict(hidden_size=1024, embedding_size=128, num_layers=1, batch_size=20,
                     num_steps=30, optimizer="adam", learning_rate=0.002, lr_decay=1.0,
                     loss_average="token", max_grad_norm=0.5, max_epoch=5, max_max_epoch=5, keep_prob=1.0,
                     init_scale=0.1, vocab_size=10000, sample_words=1000, sample_start="random",
                     sample_allow_unk=True),
    "test": dict(init_scale=0.1, learning_rate=1.0, max_grad_norm=1, num_layers=1, num_steps=2,
                 hidden_size=2, max_epoch=1, max_max_epoch=1, keep_prob=1.0, lr_decay=0.5,
                 batch_size=20),
}


DURATION_FIELDS = {field.name for field in fields(Config) if field.metadata.get("duration")}


def get_preset(name: str) -> Config:
    """The Config of a named preset; unknown names raise LstmlmError listing the known ones."""
    if name not in PRESETS:
        raise LstmlmError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return Config(preset=name, **PRESETS[name]).validate()


def _parse_value(name: str, kind: type, text: str):
    text = text.strip()
    if name in DURATION_FIELDS:
        return parse_duration(text)
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if kind is int:
            return int(text)
        if kind is float:
            # Fractions such as lr_decay=1/1.15 are how the papers write some values.
            if "/" in text:
                numerator, denominator = text.split("/")
                return float(numerator) / float(denominator)
            return float(text)
        return text
    except (ValueError, ZeroDivisionError):
        raise LstmlmError(f"config: bad value {text!r} for {name} (expected {kind.__name__})") from None


def apply_overrides(config: Config, overrides: list[str] | dict) -> Config:
    """Return a copy of `config` with `key=value` strings (or a dict) applied and validated."""
    types = {field.name: field.type for field in fields(Config)}
    type_names = {"float": float, "int": int, "str": str, "bool": bool}
    if isinstance(overrides, dict):
        pairs = [(key, value) for key, value in overrides.items()]
    else:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise LstmlmError(f"config: expected key=value, got {item!r}")
            key, value = item.split("=", 1)
            pairs.append((key.strip(), value))
    changes = {}
    for key, value in pairs:
        if key not in types:
            raise LstmlmError(f"config: unknown key {key!r}")
        kind = type_names[types[key]]
        changes[key] = _parse_value(key, kind, value) if isinstance(value, str) else kind(value)
    return dataclasses.replace(config, **changes).validate()
