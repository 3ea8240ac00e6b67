"""A trained model loaded from its run directory: evaluate, generate, score."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch

from . import checkpoint
from .config import Config
from .corpus import Vocabulary, clean_lines, corpus_of, words_of_lines
from .errors import LstmlmError
from .evaluation import (DynamicEvaluation, NeuralCache, cache_perplexity, dynamic_perplexity,
                         stream_perplexity)
from .generation import Generator
from .hardware import select_device
from .model import LSTMLanguageModel
from .rundir import RunDir
from .scoring import SentenceScore, score_sentences

WEIGHTS = ("best", "last")


class LanguageModel:
    """A network together with its vocabulary and the config it was trained with."""

    def __init__(self, network: LSTMLanguageModel, vocab: Vocabulary, config: Config,
                 run_dir: Path | None = None):
        self.network = network.eval()
        self.vocab = vocab
        self.config = config
        self.run_dir = run_dir
        self.generator = Generator(self.network, vocab, config.clean_text)

    @property
    def device(self) -> torch.device:
        return self.network.device

    def perplexity(self, text: str) -> float:
        """Perplexity of `text` (lines of words; each line ends with `<eos>`) as one stream."""
        lines = clean_lines(text.splitlines()) if self.config.clean_text else text.splitlines()
        ids = self.vocab.encode(words_of_lines(lines))
        return stream_perplexity(self.network, ids, 1, self.config.eval_num_steps)

    def evaluate(self, split: str = "test", data: str | None = None,
                 dynamic: DynamicEvaluation | None = None,
                 cache: NeuralCache | None = None) -> float:
        """Perplexity on a split of the run's corpus, or of `data` read with this vocabulary.

        Uses the same streaming evaluation as training, so it reproduces the reported number.
        `dynamic` (`DynamicEvaluation()` for its defaults) adapts the model to the stream as it
        reads it; `cache` (`NeuralCache()`) adds a neural cache.
        """
        if dynamic is not None and cache is not None:
            raise LstmlmError("dynamic evaluation and the neural cache cannot be combined here")
        ids = corpus_of(self.config, self.vocab, data).split(split)
        if dynamic is not None:
            return dynamic_perplexity(self.network, ids, dynamic)
        if cache is not None:
            return cache_perplexity(self.network, ids, cache)
        return stream_perplexity(self.network, ids, self.config.eval_batch_size,
                                 self.config.eval_num_steps)

    def generate(self, prime: str = "", words: int = 50, **options) -> str:
        """Generated text continuing `prime` (empty: a sentence start), `<eos>` as line breaks.

        Options: strategy ("greedy" or "sample"), temperature, top_k, top_p, seed, allow_unk
        (default False: `<unk>` is never produced), stop_at_eos.
        """
        return self.generator.text(prime, words, **options)

    def generate_words(self, prime: str = "", **options) -> Iterator[str]:
        """The same as `generate`, as an endless stream of words (`<eos>` included)."""
        return self.generator.words(prime, **options)

    def generate_sentences(self, count: int, min_length: int = 1, prime: str = "",
                           **options) -> list[str]:
        """`count` sentences of at least `min_length` words each."""
        return self.generator.sentences(count, min_length, prime, **options)

    def score(self, sentences: list[str], batch_size: int = 64) -> list[SentenceScore]:
        """Log-probability, word and OOV counts and perplexity of each sentence (one per string).

        Each sentence is scored from a fresh state after `<eos>`, including its closing `<eos>`;
        `lstmlm.scoring.corpus_score` totals them.
        """
        words = [self.generator.prime_words(sentence) for sentence in sentences]
        return score_sentences(self.network, self.vocab, words, batch_size)


def load(run_dir: str | Path, device: str | None = None, weights: str = "best") -> LanguageModel:
    """Load a run for use on `device` (default: the run's config): its best-on-valid weights,
    or with `weights="last"` the weights training ended with (those the reference
    implementations report)."""
    if weights not in WEIGHTS:
        raise LstmlmError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    run_dir = RunDir.open(run_dir)
    config = run_dir.load_config()
    vocab = run_dir.load_vocab()
    network = LSTMLanguageModel.from_config(config, len(vocab))
    if weights == "best":
        checkpoint.load_weights(run_dir / RunDir.BEST, network)
    else:
        checkpoint.load_training_weights(run_dir / RunDir.LAST, network)
    network.to(select_device(device or config.device))
    return LanguageModel(network, vocab, config, run_dir.path)
