import os
import random
from pathlib import Path
from typing import Callable

import pytest
import safetensors
import safetensors.torch
import torch

import lstmlm
from lstmlm import LstmlmError, apply_overrides, budget, datasets, get_preset, train
from lstmlm.batching import window_lengths
from lstmlm.builders import build_corpus, build_network
from lstmlm.evaluation import stream_perplexity
from lstmlm.plan import RunPlan
from lstmlm.training import planning
from lstmlm.training import schedule_of as plan_schedule
from lstmlm.training import step

# The test models are tiny: one thread is faster than two fighting over small kernels.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def token_cache(tmp_path_factory):
    """Tokenised corpora go to a folder of this session (subprocesses inherit it), not to the
    user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("token-cache")
        patch.setenv("LSTMLM_TOKEN_CACHE_DIR", str(folder))
        yield folder


def write_corpus(folder: Path, seed: int = 0, lines: int = 300) -> Path:
    """A small corpus of train/valid/test.txt from a toy grammar, so models can learn something."""
    generator = random.Random(seed)
    subjects, verbs, objects = ["the cat", "a dog", "my friend", "john"], ["sees", "likes", "eats"], \
        ["the fish", "a ball", "some bread", "mary"]
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", lines), ("valid", lines // 10), ("test", lines // 10)):
        text = "".join(f"{generator.choice(subjects)} {generator.choice(verbs)} "
                       f"{generator.choice(objects)}\n" for _ in range(count))
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def tiny_config(tiny_corpus):
    """A seeded config that trains in about a second, with dropout so the RNG matters."""
    return apply_overrides(get_preset("test"), {
        "preset": "tiny", "data": str(tiny_corpus), "hidden_size": 8, "num_layers": 2,
        "dropout": 0.2, "batch_size": 4, "num_steps": 5, "max_epoch": 1, "max_max_epoch": 3,
        "max_grad_norm": 5.0, "vocab_size": 50, "eval_num_steps": 7, "seed": 7})


def train_worse_after_first_epoch(config, runs_dir: Path, echo=None,
                                  **later: float) -> lstmlm.TrainResult:
    """A finished run of `config` (on the toy grammar) whose epochs after the first validate
    worse than the first by construction, not by which way training happens to round.

    After the first epoch the resumable weights get +30 on `<unk>`'s output bias. The toy
    grammar's valid and test splits hold no `<unk>`, so every target there loses probability.
    The run then resumes at a learning rate of 1e-30, which cannot move a weight, for
    `max_max_epoch` epochs in all (2 unless `later` says otherwise; `later` may set other
    resumable fields too)."""
    first = lstmlm.train(apply_overrides(config, {"max_max_epoch": 1}), runs_dir=runs_dir,
                         echo=None)
    run_dir = first.run_dir
    vocab = lstmlm.load(run_dir).vocab
    corpus = build_corpus(config.data, vocab)
    assert vocab.unk_id not in corpus.valid.tolist() + corpus.test.tolist()  # the premise
    last = str(run_dir / "last.safetensors")
    with safetensors.safe_open(last, framework="pt") as handle:
        metadata = handle.metadata()
    tensors = safetensors.torch.load_file(last)
    tensors["model.decoder.bias"][vocab.unk_id] += 30.0
    safetensors.torch.save_file(tensors, last, metadata=metadata)
    resumed = dict({"max_max_epoch": 2}, **later, learning_rate=1e-30, lr_decay=1.0)
    return lstmlm.train(resume=run_dir, resume_changes=resumed, echo=echo)


def pytest_collection_modifyitems(items) -> None:
    """Mark what each test needs: `data` for a test of real PTB (through the ptb_dir fixture),
    and skip `gpu` tests, with their reason, where there is no CUDA device."""
    for item in items:
        if "ptb_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(scope="session")
def ptb_dir() -> Path:
    """Real PTB, found the way `lstmlm` finds it: `$LSTMLM_DATA_DIR/ptb`, then the cache, else
    one verified download into the cache (CI points LSTMLM_DATA_DIR at its shared copy).

    Where it cannot be had (a clone without the data and without the internet), the tests that
    need it are skipped with that reason; under CI (`CI` set) they fail instead, so that CI
    never passes without them."""
    try:
        return datasets.resolve("ptb", show_progress=False)
    except LstmlmError as error:
        message = f"needs PTB, which could not be found or downloaded: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory) -> lstmlm.LanguageModel:
    """A tiny model trained on the toy grammar, with a vocabulary that leaves `<unk>` frequent;
    shared by the tests of what a trained model does (generation, scoring, evaluation, plots)."""
    folder = write_corpus(tmp_path_factory.mktemp("corpus"), lines=300)
    config = apply_overrides(get_preset("test"), {
        "data": str(folder), "hidden_size": 16, "batch_size": 4, "num_steps": 5, "vocab_size": 12,
        "max_max_epoch": 2, "learning_rate": 1.0, "max_grad_norm": 5.0})
    result = lstmlm.train(config, runs_dir=tmp_path_factory.mktemp("runs"), echo=None)
    return lstmlm.load(result.run_dir)


@pytest.fixture(scope="session")
def adaptive_model(tmp_path_factory) -> lstmlm.LanguageModel:
    """A tiny model with an adaptive softmax (a head of 4 words, tied to the embedding, and two
    clusters), trained on the toy grammar; shared by the tests of what consumes a model's
    distribution, saves it and loads it."""
    folder = write_corpus(tmp_path_factory.mktemp("corpus"), lines=300)
    config = apply_overrides(get_preset("test"), {
        "data": str(folder), "hidden_size": 16, "batch_size": 4, "num_steps": 5,
        "max_max_epoch": 2, "learning_rate": 1.0, "max_grad_norm": 5.0, "softmax": "adaptive",
        "adaptive_cutoffs": "4,10", "adaptive_div_value": 2.0, "tie_weights": True})
    result = lstmlm.train(config, runs_dir=tmp_path_factory.mktemp("runs"), echo=None)
    return lstmlm.load(result.run_dir)


def untrained_perplexity(config, split: str = "test") -> float:
    """The perplexity of `config`'s model before training (about the vocabulary's size): the
    bar a trained model has to clear to have learned anything."""
    corpus = build_corpus(config.data)
    torch.manual_seed(config.run.seed)
    model = build_network(config.model, config.regularisation, len(corpus.vocab))
    return stream_perplexity(model, corpus.split(split), config.evaluation.batch_size,
                             config.evaluation.num_steps)


def schedule_of(config):
    """The schedule of a plan that takes `config` as it asks."""
    return plan_schedule(RunPlan.of(config))


def train_killed_at_step(config, runs_dir, kill_at_step: int, monkeypatch):
    """Start a run that is interrupted just before its `kill_at_step`-th update; its folder."""
    real_step, calls = step.train_step, []

    def killed_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == kill_at_step:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(step, "train_step", killed_step)
    with pytest.raises(KeyboardInterrupt):
        train(config, runs_dir=runs_dir, echo=None)
    monkeypatch.setattr(step, "train_step", real_step)
    (run_dir,) = runs_dir.iterdir()
    return run_dir


def fake_speed(monkeypatch, train_words_per_sec: float, eval_words_per_sec: float,
               adapt_words_per_sec: float = 0.0) -> None:
    """Make the budget's measurement report these speeds instead of timing the machine."""
    monkeypatch.setattr(planning, "measure_throughput", lambda *args: budget.Throughput(
        train_words_per_sec, eval_words_per_sec, adapt_words_per_sec))


class FakeClock:
    """budget.monotonic that moves only when told: `per_step(n)` seconds for the n-th training
    window (counted from 0), or `per_step` seconds for every one."""

    def __init__(self, monkeypatch, per_step: float | Callable[[int], float]):
        self.now, self.steps = 0.0, 0
        real_step = step.train_step

        def timed_step(*args, **kwargs):
            self.now += per_step(self.steps) if callable(per_step) else per_step
            self.steps += 1
            return real_step(*args, **kwargs)

        monkeypatch.setattr(budget, "monotonic", lambda: self.now)
        monkeypatch.setattr(step, "train_step", timed_step)


def windows_per_epoch(config) -> int:
    train_words = len(lstmlm.load_corpus(config.data.corpus, 50).train)
    return len(window_lengths(train_words, config.optimisation.batch_size, config.optimisation.num_steps))


class FakeMachine:
    """A machine on which the budget's measurement finds that an epoch of `config` takes
    `planned` seconds (evaluation nearly free), and whose clock moves with training windows
    only: an epoch takes `actual` seconds (default: as planned), or window n takes
    `window_seconds(n)`."""

    def __init__(self, monkeypatch, config, planned: float = 100.0, actual: float | None = None,
                 window_seconds: Callable[[int], float] | None = None,
                 adapt_words_per_sec: float = 0.0):
        train_words = len(lstmlm.load_corpus(config.data.corpus, 50).train)
        self.windows = windows_per_epoch(config)
        fake_speed(monkeypatch, train_words / planned, 1e9, adapt_words_per_sec)
        self.clock = FakeClock(monkeypatch, window_seconds or (actual or planned) / self.windows)
