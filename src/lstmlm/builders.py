"""The objects a Config describes: its model and its corpus.

The one place where a config's fields become the keyword arguments of the classes below it,
so that the model and the corpus never see a config.
"""

from __future__ import annotations

from .config import Config
from .corpus import Corpus, Vocabulary, load_corpus
from .model import LSTMLanguageModel


def build_model(config: Config, vocab_size: int) -> LSTMLanguageModel:
    """The model `config` describes, for a vocabulary of `vocab_size` words."""
    return LSTMLanguageModel(
        vocab_size=vocab_size, hidden_size=config.hidden_size, num_layers=config.num_layers,
        embedding_size=config.embedding_size, cell=config.cell, tie_weights=config.tie_weights,
        variational_dropout=config.variational_dropout, **config.keep_probs(),
        embedding_dropout=config.embedding_dropout, weight_drop=config.weight_drop,
        adaptive_cutoffs=config.cutoffs(vocab_size), adaptive_div_value=config.adaptive_div_value,
        softmax_samples=config.sampled_words(vocab_size), init_scale=config.init_scale, init_method=config.init_method)


def build_corpus(config: Config, vocab: Vocabulary | None = None,
                 data: str | None = None) -> Corpus:
    """The corpus `config` trains on (or `data` instead), read with the config's text options
    and, if given, with `vocab` rather than a vocabulary built from its training split."""
    return load_corpus(data or config.data, config.vocab_size, config.min_freq, vocab,
                       config.clean_text)
