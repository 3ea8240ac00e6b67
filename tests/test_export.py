"""Model folders: export a run, load it anywhere, refuse what is not one."""

import json

import pytest
import safetensors.torch
import torch

import lstmlm
from lstmlm import LstmlmError, apply_overrides
from lstmlm.builders import build_corpus
from lstmlm.export import (FORMAT_VERSION, export, export_onnx, onnx_names, onnx_perplexity,
                           training_command)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny run whose last weights are not its best."""
    from .conftest import train_worse_after_first_epoch, write_corpus

    corpus = write_corpus(tmp_path_factory.mktemp("corpus"))
    config = apply_overrides(lstmlm.get_preset("test"), {
        "preset": "small", "data": str(corpus), "hidden_size": 8, "num_layers": 2,
        "dropout": 0.2, "batch_size": 4, "num_steps": 5, "vocab_size": 50,
        "tie_weights": True, "embedding_size": 6})
    return train_worse_after_first_epoch(config, tmp_path_factory.mktemp("runs"))


def test_an_exported_folder_evaluates_like_its_run(finished_run, tmp_path):
    folder = export(finished_run.run_dir, tmp_path / "model")
    assert sorted(path.name for path in folder.iterdir()) == [
        "README.md", "config.json", "model.safetensors", "plan.json", "vocab.json"]
    assert json.loads((folder / "config.json").read_text())["format_version"] == FORMAT_VERSION
    model = lstmlm.load(folder)
    assert model.network.decoder.weight is model.network.embedding.weight
    assert model.evaluate("test") == pytest.approx(finished_run.test_perplexity, rel=1e-9)
    last = lstmlm.load(export(finished_run.run_dir, tmp_path / "last", weights="last"))
    assert last.evaluate("test") == pytest.approx(finished_run.last_test_perplexity, rel=1e-9)
    with pytest.raises(LstmlmError, match="model folder: it holds one set of weights"):
        lstmlm.load(folder, weights="last")


def test_the_model_card_says_what_was_trained_and_how_well(finished_run, tmp_path):
    card = (export(finished_run.run_dir, tmp_path / "model") / "README.md").read_text()
    results = json.loads((finished_run.run_dir / "results.json").read_text())
    assert f"| test perplexity | {finished_run.test_perplexity:.2f} |" in card
    assert f"best on valid (epoch {results['best_epoch']})" in card
    assert "| preset | `small` |" in card and "| precision | fp32 |" in card
    assert "| text normalisation | `none`: " in card  # trained on a folder of plain text
    assert f"| trained on | {results['machine']} |" in card
    assert training_command(lstmlm.load(finished_run.run_dir).config) in card
    command = training_command(lstmlm.load(finished_run.run_dir).config)
    # The request as made: a resume's changes are the plan's, not the request's.
    assert command.startswith("lstmlm train --preset small --set ")
    assert "max_max_epoch=1" in command and "learning_rate" not in command
    assert "--set seed=" not in command  # only what differs from the preset


def test_the_training_command_rebuilds_the_config(finished_run):
    config = lstmlm.load(finished_run.run_dir).config
    words = training_command(config).split()
    overrides = [words[index + 1] for index, word in enumerate(words) if word == "--set"]
    assert apply_overrides(lstmlm.get_preset("small"), overrides) == config


def test_export_refuses_to_overwrite_and_leaves_nothing_on_failure(finished_run, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(LstmlmError, match="already exists and is not an empty folder"):
        export(finished_run.run_dir, tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    with pytest.raises(LstmlmError, match="is not a run directory"):
        export(tmp_path / "taken", tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]  # no staging left
    folder = export(finished_run.run_dir, tmp_path / "model")
    with pytest.raises(LstmlmError, match="is already a model folder"):
        export(folder, tmp_path / "again")


def test_a_newer_or_damaged_folder_is_a_one_line_error(finished_run, tmp_path):
    folder = export(finished_run.run_dir, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, format_version=FORMAT_VERSION + 1)))
    with pytest.raises(LstmlmError, match=f"model folder of format {FORMAT_VERSION + 1}"):
        lstmlm.load(folder)
    del config["format_version"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(LstmlmError, match="has no format_version"):
        lstmlm.load(folder)
    (folder / "config.json").write_text(json.dumps(dict(config, format_version=FORMAT_VERSION)))
    weights = folder / "model.safetensors"
    tensors = safetensors.torch.load_file(weights)
    del tensors["layers.0.weight_hh_l0"]
    safetensors.torch.save_file(tensors, weights)
    with pytest.raises(LstmlmError, match="does not match the SHA-256 that config.json records"):
        lstmlm.load(folder)
    # A folder of format 2 records no SHA-256: the weights are checked against the model.
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(dict(config, format_version=2)))
    with pytest.raises(LstmlmError, match="does not match the model: missing"):
        lstmlm.load(folder)
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(LstmlmError, match="cannot read checkpoint"):
        lstmlm.load(folder)


def test_a_folder_from_a_gpu_run_loads_where_there_is_none(finished_run, tmp_path):
    folder = export(finished_run.run_dir, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(
        dict(config, run=dict(config["run"], device="cuda"))))
    model = lstmlm.load(folder)  # a folder loads on the best device here, not the trained one
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert model.evaluate("test") == pytest.approx(finished_run.test_perplexity, rel=1e-5)
    assert lstmlm.load(folder, device="cpu").device == torch.device("cpu")


def onnx_session(path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="pip install -e \".[onnx]\"")
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_onnx_logits_and_state_match_pytorch_window_after_window(finished_run, tmp_path):
    pytest.importorskip("onnx", reason="pip install -e \".[onnx]\"")
    folder = export(finished_run.run_dir, tmp_path / "model", onnx=True)
    session = onnx_session(folder / "model.onnx")
    inputs, outputs = onnx_names(lstmlm.load(folder).network)
    assert [node.name for node in session.get_inputs()] == inputs == \
        ["input_ids"] + [f"state_{index}" for index in range(len(inputs) - 1)]
    assert [node.name for node in session.get_outputs()] == outputs
    network = lstmlm.load(folder).network
    for batch, steps in ((1, 1), (3, 7)):  # batch and steps are dynamic
        generator = torch.Generator().manual_seed(batch)
        state = network.init_state(batch)
        onnx_state = [tensor.numpy() for tensor in state]
        for _ in range(3):  # the state is carried from window to window
            ids = torch.randint(0, len(lstmlm.load(folder).vocab), (batch, steps),
                                generator=generator)
            with torch.no_grad():
                logits, state = network(ids, state)
            results = session.run(None, {"input_ids": ids.numpy(),
                                         **dict(zip(inputs[1:], onnx_state))})
            onnx_state = results[1:]
            torch.testing.assert_close(torch.from_numpy(results[0]), logits, rtol=0, atol=1e-4)
            for ours, theirs in zip(state, onnx_state):
                torch.testing.assert_close(torch.from_numpy(theirs), ours, rtol=0, atol=1e-4)


def test_the_stream_perplexity_through_onnxruntime_equals_lstmlm_eval(finished_run, tmp_path):
    pytest.importorskip("onnxruntime", reason="pip install -e \".[onnx]\"")
    folder = export(finished_run.run_dir, tmp_path / "model", onnx=True)
    model = lstmlm.load(folder)
    ids = build_corpus(model.config.data, model.vocab, model.plan.data).test
    assert onnx_perplexity(folder, ids, model.config.evaluation.num_steps) == \
        pytest.approx(model.evaluate("test"), rel=1e-4)
    with pytest.raises(LstmlmError, match="has no model.onnx"):
        onnx_perplexity(export(finished_run.run_dir, tmp_path / "plain"), ids)


def test_onnx_without_the_package_is_a_one_line_error(finished_run, tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnx" else real_find_spec(name, *args))
    with pytest.raises(LstmlmError, match="--onnx needs the onnx package"):
        export(finished_run.run_dir, tmp_path / "model", onnx=True)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_onnx_of_the_fused_multi_layer_module(tmp_path, cell):
    pytest.importorskip("onnx", reason="pip install -e \".[onnx]\"")
    torch.manual_seed(0)
    network = lstmlm.RecurrentLanguageModel(vocab_size=40, hidden_size=12, num_layers=2,
                                       cell=cell).eval()
    assert network.lstm is not None  # one nn.LSTM/nn.GRU for both layers
    export_onnx(network, tmp_path / "model.onnx")
    session = onnx_session(tmp_path / "model.onnx")
    inputs, _ = onnx_names(network)
    ids = torch.randint(0, 40, (2, 9))
    state = tuple(torch.randn_like(tensor) for tensor in network.init_state(2))
    with torch.no_grad():
        logits, new_state = network(ids, state)
    results = session.run(None, {"input_ids": ids.numpy(),
                                 **{name: tensor.numpy() for name, tensor in zip(inputs[1:], state)}})
    torch.testing.assert_close(torch.from_numpy(results[0]), logits, rtol=0, atol=1e-4)
    for ours, theirs in zip(new_state, results[1:]):
        torch.testing.assert_close(torch.from_numpy(theirs), ours, rtol=0, atol=1e-4)


def test_onnx_of_an_adaptive_softmax_gives_its_log_probabilities(adaptive_model, tmp_path):
    pytest.importorskip("onnx", reason="pip install -e \".[onnx]\"")
    folder = export(adaptive_model.path, tmp_path / "model", onnx=True)
    assert "adaptive softmax (cutoffs 4,10, div_value 2; its logits are log-probabilities)" in \
        (folder / "README.md").read_text()
    ids = build_corpus(adaptive_model.config.data, adaptive_model.vocab,
                       adaptive_model.plan.data).test
    assert onnx_perplexity(folder, ids, 7) == pytest.approx(adaptive_model.evaluate("test"),
                                                             rel=1e-4)
