"""The end of training: the best weights measured, and evaluation-time adaptation."""

import dataclasses
import json

import pytest

import lstmlm
from lstmlm import apply_overrides, train
from lstmlm.evaluation import tune_adaptation


@pytest.mark.parametrize("method", ["dynamic", "cache"])
def test_final_eval_reports_the_adapted_test_perplexity_beside_the_static_one(
        tmp_path, tiny_config, method):
    static = train(tiny_config, runs_dir=tmp_path, echo=None)
    lines = []
    result = train(apply_overrides(tiny_config, {"final_eval": method}), runs_dir=tmp_path,
                   echo=lines.append)
    assert result.test_perplexity == static.test_perplexity  # the headline is unchanged
    adapted = json.loads((result.run_dir / "results.json").read_text())["adapted"]
    assert adapted["method"] == method and adapted["test_ppl"] == result.adapted_test_perplexity
    # The options tuned on valid, applied to the best weights, give the reported number.
    model = lstmlm.load(result.run_dir)
    corpus = lstmlm.load_corpus(tiny_config.data.corpus, 50)
    tuned = tune_adaptation(model.network, corpus.valid, method)
    assert dataclasses.asdict(tuned.options) == adapted["options"]
    assert tuned.perplexity(model.network, corpus.test) == pytest.approx(adapted["test_ppl"],
                                                                         rel=1e-9)
    assert any(line.startswith(f"Test Perplexity with {tuned.describe()} (tuned on the first ")
               for line in lines)
    assert static.adapted_test_perplexity is None
