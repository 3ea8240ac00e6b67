"""A trained model loaded from its run directory, ready to evaluate."""

from __future__ import annotations

from pathlib import Path

import torch

from . import checkpoint
from .config import Config
from .corpus import Vocabulary, load_corpus, words_of_lines
from .evaluation import stream_perplexity
from .model import LSTMLanguageModel
from .training import build_model, select_device


class LanguageModel:
    """A network together with its vocabulary and the config it was trained with."""

    def __init__(self, network: LSTMLanguageModel, vocab: Vocabulary, config: Config,
                 run_dir: Path | None = None):
        self.network = network.eval()
        self.vocab = vocab
        self.config = config
        self.run_dir = run_dir

    @property
    def device(self) -> torch.device:
        return self.network.decoder.weight.device

    def perplexity(self, text: str) -> float:
        """Perplexity of `text` (lines of words; each line ends with `<eos>`) as one stream."""
        ids = self.vocab.encode(words_of_lines(text.splitlines()))
        return stream_perplexity(self.network, ids, 1, self.config.eval_num_steps)

    def evaluate(self, split: str = "test", data: str | None = None) -> float:
        """Perplexity on a split of the run's corpus, or of `data` read with this vocabulary.

        Uses the same streaming evaluation as training, so it reproduces the reported number.
        """
        corpus = load_corpus(data or self.config.data, vocab=self.vocab)
        return stream_perplexity(self.network, corpus.split(split), self.config.eval_batch_size,
                                 self.config.eval_num_steps)


def load(run_dir: str | Path, device: str | None = None) -> LanguageModel:
    """Load a run's best-on-valid weights for use on `device` (default: the run's config)."""
    run_dir = checkpoint.check_run_dir(Path(run_dir))
    config = checkpoint.load_config(run_dir)
    vocab = Vocabulary.load(run_dir / checkpoint.VOCAB_FILE)
    network = build_model(config, len(vocab))
    checkpoint.load_weights(run_dir / checkpoint.BEST_FILE, network)
    network.to(select_device(device or config.device))
    return LanguageModel(network, vocab, config, run_dir)
