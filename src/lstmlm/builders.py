"""The objects a config describes: its network and its corpus.

The one place where a config's sections become the keyword arguments of the classes below it,
so that the network and the corpus never see a config.
"""

from __future__ import annotations

from .config import DataConfig, ModelConfig, RegularisationConfig
from .corpus import Corpus, load_corpus
from .model import RecurrentLanguageModel
from .vocabulary import Vocabulary


def build_network(model: ModelConfig, regularisation: RegularisationConfig,
                vocab_size: int) -> RecurrentLanguageModel:
    """The network of `model`'s shape with `regularisation`'s dropouts, for a vocabulary of
    `vocab_size` words."""
    return RecurrentLanguageModel(
        vocab_size=vocab_size, hidden_size=model.hidden_size, num_layers=model.num_layers,
        embedding_size=model.embedding_size, cell=model.cell, tie_weights=model.tie_weights,
        variational_dropout=regularisation.variational_dropout, **regularisation.dropouts(),
        embedding_dropout=regularisation.embedding_dropout,
        weight_drop=regularisation.weight_drop, adaptive_cutoffs=model.cutoffs(vocab_size),
        adaptive_div_value=model.adaptive_div_value,
        softmax_samples=model.sampled_words(vocab_size), init_scale=model.init_scale,
        init_method=model.init_method)


def build_corpus(data: DataConfig, vocab: Vocabulary | None = None,
                 corpus: str | None = None) -> Corpus:
    """The corpus `data` names (or `corpus` instead, e.g. a plan's absolute path), read with
    its text options and, if given, with `vocab` rather than a vocabulary built from its
    training split."""
    return load_corpus(corpus or data.corpus, data.vocab_size or 0, data.min_freq, vocab,
                       data.clean_text)
