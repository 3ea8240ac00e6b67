import random
from pathlib import Path

import pytest
import torch

import lstmlm
from lstmlm import LstmlmError, apply_overrides, datasets, get_preset
from lstmlm.corpus import corpus_of
from lstmlm.evaluation import stream_perplexity
from lstmlm.model import LSTMLanguageModel

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
        "keep_prob": 0.8, "batch_size": 4, "num_steps": 5, "max_epoch": 1, "max_max_epoch": 3,
        "max_grad_norm": 5.0, "vocab_size": 50, "eval_num_steps": 7, "seed": 7})


@pytest.fixture(scope="session")
def ptb_dir() -> Path:
    """Real PTB, found the way `lstmlm` finds it: `$LSTMLM_DATA_DIR/ptb`, then the cache, else
    one verified download into the cache (CI points LSTMLM_DATA_DIR at its shared copy)."""
    try:
        return datasets.resolve("ptb", show_progress=False)
    except LstmlmError as error:
        pytest.fail(f"these tests need PTB and it could not be found or downloaded: {error}")


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
    """A tiny model with an adaptive softmax (a head of 4 words and two clusters), trained on
    the toy grammar; shared by the tests of what consumes a model's distribution."""
    folder = write_corpus(tmp_path_factory.mktemp("corpus"), lines=300)
    config = apply_overrides(get_preset("test"), {
        "data": str(folder), "hidden_size": 16, "batch_size": 4, "num_steps": 5,
        "max_max_epoch": 2, "learning_rate": 1.0, "max_grad_norm": 5.0, "softmax": "adaptive",
        "adaptive_cutoffs": "4,10", "adaptive_div_value": 2.0})
    result = lstmlm.train(config, runs_dir=tmp_path_factory.mktemp("runs"), echo=None)
    return lstmlm.load(result.run_dir)


def untrained_perplexity(config, split: str = "test") -> float:
    """The perplexity of `config`'s model before training (about the vocabulary's size): the
    bar a trained model has to clear to have learned anything."""
    corpus = corpus_of(config)
    torch.manual_seed(config.seed)
    model = LSTMLanguageModel.from_config(config, len(corpus.vocab))
    return stream_perplexity(model, corpus.split(split), config.eval_batch_size,
                             config.eval_num_steps)
