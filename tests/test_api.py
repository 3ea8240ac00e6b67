"""The Python API: `import lstmlm`, `lstmlm.load` and what a loaded model offers."""

import json
import subprocess
import sys

import pytest
import torch

import lstmlm
from lstmlm import DynamicEvaluation, LstmlmError, NeuralCache, train

from .conftest import train_worse_after_first_epoch, untrained_perplexity


def test_import_has_no_side_effects_and_inference_needs_no_trainer():
    code = ("import sys, lstmlm; "
            "print(sorted(name for name in ('matplotlib', 'lstmlm.training', 'lstmlm.plotting') "
            "if name in sys.modules)); lstmlm.train; print('lstmlm.training' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.splitlines() == ["[]", "True"]
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        lstmlm.trian


def test_best_and_last_weights(tmp_path, tiny_config):
    lines = []
    result = train_worse_after_first_epoch(tiny_config, tmp_path, echo=lines.append)
    assert json.loads((result.run_dir / "results.json").read_text())["best_epoch"] == 1
    assert result.last_test_perplexity is not None
    assert lstmlm.load(result.run_dir).evaluate("test") == \
        pytest.approx(result.test_perplexity, rel=1e-9)
    last = lstmlm.load(result.run_dir, weights="last")
    assert last.evaluate("test") == pytest.approx(result.last_test_perplexity, rel=1e-9)
    assert last.evaluate("test") > 2 * result.test_perplexity
    assert any(line.startswith("Test Perplexity of the last weights (epoch 2; the best are from "
                               "epoch 1)") for line in lines)
    with pytest.raises(LstmlmError, match="weights must be one of best, last, got 'final'"):
        lstmlm.load(result.run_dir, weights="final")


def test_a_run_whose_best_weights_are_the_last_reports_one_number(tmp_path, tiny_config):
    result = train(tiny_config, runs_dir=tmp_path, echo=None)
    assert result.last_test_perplexity is None
    assert "last_test_ppl" not in json.loads((result.run_dir / "results.json").read_text())


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(LstmlmError, match="is not a run directory"):
        train(resume=tmp_path, echo=None)
    with pytest.raises(LstmlmError, match="run directory not found"):
        lstmlm.load(tmp_path / "missing")


def test_load_names_the_first_mismatch_between_weights_and_config(tmp_path, tiny_config):
    run_dir = train(tiny_config, runs_dir=tmp_path / "runs", echo=None).run_dir
    plans = json.loads((run_dir / "plan.json").read_text())
    plans["plans"][-1]["model"]["hidden_size"] = 10
    (run_dir / "plan.json").write_text(json.dumps(plans))
    with pytest.raises(LstmlmError) as error:
        lstmlm.load(run_dir)
    message = str(error.value)
    assert "does not match the model: size mismatch for embedding.weight" in message
    assert "more)" in message and "\n" not in message


@pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions")  # PyTorch's deprecation
def test_an_int8_model_scores_like_the_float_one(toy_model):
    quantized = lstmlm.load(toy_model.path, quantize="int8")
    assert quantized.quantized == "int8" and quantized.device == torch.device("cpu")
    assert "quantized" in type(quantized.network.lstm).__module__  # the LSTM itself is int8
    assert quantized.evaluate("test") == pytest.approx(toy_model.evaluate("test"), rel=0.02)
    assert quantized.evaluate("test") != toy_model.evaluate("test")
    assert len(quantized.generate("the cat", 5, seed=0).split()) <= 5
    assert quantized.evaluate("test", cache=NeuralCache(window=20)) > 1
    with pytest.raises(LstmlmError, match="cannot run on a model quantised to int8"):
        quantized.evaluate("test", dynamic=DynamicEvaluation())
    with pytest.raises(LstmlmError, match="quantize must be one of int8, got 'int4'"):
        lstmlm.load(toy_model.path, quantize="int4")
    with pytest.raises(LstmlmError, match="CUDA is not available|runs on the CPU only"):
        lstmlm.load(toy_model.path, quantize="int8", device="cuda")


@pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions")  # PyTorch's deprecation
def test_every_consumer_of_the_distribution_works_with_the_adaptive_softmax(adaptive_model):
    network = adaptive_model.network
    assert network.decoder is None and network.adaptive is not None
    untrained = untrained_perplexity(adaptive_model.config)
    test_ppl = adaptive_model.evaluate("test")
    assert test_ppl < 0.9 * untrained
    # The stream evaluation scores only the targets' clusters; the full distribution the
    # others read must give the same number.
    text = " ".join(adaptive_model.vocab.words[:8])
    logits, _ = network(torch.tensor([adaptive_model.vocab.encode(text.split()).tolist()]),
                        network.init_state(1))
    torch.testing.assert_close(torch.logsumexp(logits, -1), torch.zeros(logits.shape[:2]),
                               atol=1e-5, rtol=0)
    assert adaptive_model.evaluate("test", cache=NeuralCache(window=20, lambda_=0.0)) == \
        pytest.approx(test_ppl, rel=1e-5)
    assert adaptive_model.evaluate("test", dynamic=DynamicEvaluation(learning_rate=1e-9)) == \
        pytest.approx(test_ppl, rel=1e-5)
    assert adaptive_model.evaluate("test", dynamic=DynamicEvaluation()) != test_ppl
    assert len(adaptive_model.generate("the cat", 6, seed=0, top_k=3).split()) <= 6
    [score] = adaptive_model.score(["the cat sees a ball"])
    assert score.logprob < 0
    quantized = lstmlm.load(adaptive_model.path, quantize="int8")
    assert quantized.evaluate("test") == pytest.approx(test_ppl, rel=0.05)

