"""The run directory: which file holds what, and reading and writing those files.

A run directory holds:
  config.json       the Config as the user asked it
  plan.json         the plans the run trained by (RunPlan), the one in force last
  vocab.json        the vocabulary, in id order
  metrics.jsonl     one line per finished epoch (EpochMetrics)
  metrics.csv       the same as a table
  losses.jsonl      one line per finished epoch: the training loss (per word) of every step
  best.safetensors  weights with the best validation perplexity so far
  last.safetensors  weights, optimizer and RNG state, position and LSTM state, for --resume
  results.json      final valid/test perplexity of the best weights
  train.log         everything training printed
  curves.png        loss and perplexity curves
  sample.txt        generated text, for presets that ask for it (sample_words)
  tensorboard/      TensorBoard event files, for runs that ask for them (tensorboard=true)

Every file is replaced in one rename, so an interrupted run never leaves a half-written one.
The tensors inside the .safetensors files are `checkpoint`'s business.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .config import Config
from .errors import LstmlmError
from .files import atomic_write_text, write_error, writing
from .plan import RunPlan, load_plans, plans_json
from .vocabulary import Vocabulary


@dataclass
class EpochMetrics:
    """One finished epoch, as metrics.jsonl records it."""

    epoch: int
    lr: float
    train_ppl: float
    valid_ppl: float
    words_per_sec: int
    seconds: float
    fraction: float = 1.0  # below 1: a last epoch planned as a fraction, or cut short by time
    test_ppl: float | None = None  # with test_each_epoch
    elapsed: float | None = None  # seconds since the run began, at the end of its evaluation

    def to_dict(self) -> dict:
        values = asdict(self)
        if self.fraction >= 1:
            del values["fraction"]  # the common case keeps the file's lines short
        return {key: value for key, value in values.items() if value is not None}

    @classmethod
    def from_dict(cls, values: dict) -> "EpochMetrics":
        return cls(**values)


class RunDir:
    """One run's directory. `RunDir.create` makes a new one; `RunDir.open` checks an existing one."""

    CONFIG = "config.json"
    PLAN = "plan.json"
    VOCAB = "vocab.json"
    METRICS = "metrics.jsonl"
    METRICS_CSV = "metrics.csv"
    LOSSES = "losses.jsonl"
    BEST = "best.safetensors"
    LAST = "last.safetensors"
    RESULTS = "results.json"
    LOG = "train.log"
    CURVES = "curves.png"
    SAMPLE = "sample.txt"
    TENSORBOARD = "tensorboard"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def check_new(cls, runs_dir: str | Path, name: str) -> Path:
        """`runs_dir/name`, which must be a plain name not taken yet."""
        if not name or Path(name).name != name or name in (".", ".."):
            raise LstmlmError(f"a run's name must be a plain folder name, got {name!r}")
        path = Path(runs_dir) / name
        if path.exists():
            raise LstmlmError(f"{path} already exists: choose another name or resume it "
                              f"(lstmlm train --resume {path})")
        return path

    @classmethod
    def create(cls, runs_dir: str | Path, stem: str, name: str | None = None) -> "RunDir":
        """A fresh directory `runs_dir/name`, or without a name `runs_dir/stem-<timestamp>`;
        never reuses an existing one."""
        runs_dir = Path(runs_dir)
        with writing(runs_dir):
            runs_dir.mkdir(parents=True, exist_ok=True)
        if name is not None:
            path = cls.check_new(runs_dir, name)
            try:
                path.mkdir()
            except FileExistsError:  # taken since the check
                cls.check_new(runs_dir, name)
            except OSError as error:
                raise write_error(path, error) from None
            return cls(path)
        stem = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        for attempt in range(1000):
            candidate = runs_dir / (stem if attempt == 0 else f"{stem}-{attempt}")
            try:
                candidate.mkdir()
                return cls(candidate)
            except FileExistsError:
                continue
            except OSError as error:
                raise write_error(candidate, error) from None
        raise LstmlmError(f"cannot create a new run directory in {runs_dir}")

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """The run directory at `path`; LstmlmError unless it has a config and a vocabulary."""
        path = Path(path)
        if not path.is_dir():
            raise LstmlmError(f"run directory not found: {path}")
        for required in (cls.CONFIG, cls.VOCAB):
            if not (path / required).is_file():
                raise LstmlmError(f"{path} is not a run directory (no {required})")
        return cls(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    def load_config(self) -> Config:
        return Config.load(self / self.CONFIG)

    def save_config(self, config: Config) -> None:
        atomic_write_text(self / self.CONFIG, config.to_json())

    def plans(self) -> list[RunPlan]:
        """The run's plans, the one in force last. A run folder of an earlier version, whose
        config.json holds what it trained with, has the one plan that takes it as it is."""
        if not (self / self.PLAN).exists():
            return [RunPlan.of(self.load_config())]
        return load_plans(self / self.PLAN)

    def load_plan(self) -> RunPlan:
        """The plan in force."""
        return self.plans()[-1]

    def add_plan(self, plan: RunPlan) -> None:
        """Record a plan (the first, or a re-plan after an epoch) after those before it."""
        earlier = self.plans() if (self / self.PLAN).exists() else []
        atomic_write_text(self / self.PLAN, plans_json(earlier + [plan]))

    def load_vocab(self) -> Vocabulary:
        return Vocabulary.load(self / self.VOCAB)

    def save_vocab(self, vocab: Vocabulary) -> None:
        vocab.save(self / self.VOCAB)

    def write_metrics(self, history: list[EpochMetrics], losses: list[dict]) -> None:
        """Rewrite metrics.jsonl and losses.jsonl from the training state (one line per epoch)."""
        self._write_jsonl(self.METRICS, [entry.to_dict() for entry in history])
        self._write_jsonl(self.LOSSES, losses)
        table = io.StringIO()
        writer = csv.DictWriter(table, [field.name for field in fields(EpochMetrics)],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(entry) for entry in history)
        atomic_write_text(self / self.METRICS_CSV, table.getvalue())

    def metrics(self) -> list[EpochMetrics]:
        """The finished epochs ([] before the first one ends)."""
        return [EpochMetrics.from_dict(entry) for entry in self._read_jsonl(self.METRICS)]

    def losses(self) -> list[dict]:
        """Per finished epoch, {"epoch": N, "losses": [the loss per word of each step]}."""
        return self._read_jsonl(self.LOSSES)

    def write_results(self, results: dict) -> None:
        atomic_write_text(self / self.RESULTS, json.dumps(results, indent=2) + "\n")

    def results(self) -> dict:
        """What results.json holds; LstmlmError if the run has not finished."""
        try:
            return json.loads((self / self.RESULTS).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LstmlmError(f"{self.path} has no {self.RESULTS}: the run has not finished") from None

    def write_sample(self, text: str) -> Path:
        atomic_write_text(self / self.SAMPLE, text + "\n")
        return self / self.SAMPLE

    def _write_jsonl(self, name: str, entries: list[dict]) -> None:
        atomic_write_text(self / name, "".join(json.dumps(entry) + "\n" for entry in entries))

    def _read_jsonl(self, name: str) -> list[dict]:
        path = self / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
