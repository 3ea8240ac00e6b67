"""Building the model and the corpus a config describes."""

import pytest
import torch

from lstmlm import RecurrentLanguageModel, apply_overrides, get_preset
from lstmlm.builders import build_corpus, build_network

from .conftest import write_corpus


def test_build_model_resolves_each_dropout_from_dropout():
    config = apply_overrides(get_preset("medium"), {"output_dropout": 0.1})
    model = build_network(config.model, config.regularisation, vocab_size=30)
    assert model.input_dropout.p == pytest.approx(0.5) and model.lstm.dropout == pytest.approx(0.5)
    assert model.output_dropout.p == pytest.approx(0.1)
    assert model.device == torch.device("cpu")
    with pytest.raises(TypeError):
        RecurrentLanguageModel(30, 6, 2)  # options are keywords


def test_build_model_passes_the_adaptive_cutoffs_checked_against_the_vocabulary():
    config = apply_overrides(get_preset("small"), {"softmax": "adaptive",
                                                   "adaptive_cutoffs": "4,10"})
    model = build_network(config.model, config.regularisation, vocab_size=20)
    assert model.decoder is None and list(model.adaptive.cutoffs) == [4, 10, 20]


def test_build_corpus_reads_the_configs_data_or_other_data_with_a_vocabulary(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    config = apply_overrides(get_preset("small"), {"data": str(folder), "vocab_size": 5})
    corpus = build_corpus(config.data)
    assert len(corpus.vocab) == 5
    other = write_corpus(tmp_path / "other", seed=1)
    assert build_corpus(config.data, corpus.vocab, str(other)).vocab is corpus.vocab
