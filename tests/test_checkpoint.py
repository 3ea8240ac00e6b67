"""Tensor state in safetensors files: weights, and what a resume needs."""

import pytest
import torch
from safetensors import SafetensorError

from lstmlm import LstmlmError, RecurrentLanguageModel, checkpoint


def tied_model(seed: int) -> RecurrentLanguageModel:
    torch.manual_seed(seed)
    return RecurrentLanguageModel(vocab_size=20, hidden_size=8, num_layers=2, embedding_size=6,
                             tie_weights=True)


def test_tied_weights_are_saved_once_and_retied_on_load(tmp_path):
    model, other = tied_model(0), tied_model(1)
    checkpoint.save_weights(tmp_path / "best.safetensors", model, {"epoch": 3})
    assert "decoder.weight" not in checkpoint.model_tensors(model)
    assert checkpoint.load_weights(tmp_path / "best.safetensors", other) == {"epoch": 3}
    assert other.decoder.weight is other.embedding.weight
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, other.state_dict()[name]), name


def test_training_state_round_trip(tmp_path):
    model = tied_model(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randint(0, 20, (2, 5)), model.init_state(2))[0].sum().backward()
    optimizer.step()
    hidden = tuple(torch.randn_like(tensor) for tensor in model.init_state(2))
    torch.manual_seed(42)
    checkpoint.save_training_state(tmp_path / "last.safetensors", model, optimizer,
                                   {"epoch": 2, "averaging_since": 0}, hidden)
    expected_draw = torch.rand(3)
    restored = tied_model(1)
    state, restored_hidden, restored_optimizer, scaler = checkpoint.load_training_state(
        tmp_path / "last.safetensors", restored,
        lambda saved: torch.optim.Adam(restored.parameters(), lr=0.5), torch.device("cpu"))
    assert state == {"epoch": 2, "averaging_since": 0} and scaler is None
    assert torch.equal(torch.rand(3), expected_draw)  # the RNG continues where it was saved
    assert all(torch.equal(left, right) for left, right in zip(hidden, restored_hidden))
    assert restored_optimizer.param_groups[0]["lr"] == 0.01
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, restored.state_dict()[name]), name
    only_weights = tied_model(2)
    checkpoint.load_training_weights(tmp_path / "last.safetensors", only_weights)
    assert torch.equal(only_weights.embedding.weight, model.embedding.weight)


def test_unreadable_or_mismatched_files_are_one_line_errors(tmp_path):
    with pytest.raises(LstmlmError, match="checkpoint not found"):
        checkpoint.load_weights(tmp_path / "missing.safetensors", tied_model(0))
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00")
    with pytest.raises(LstmlmError, match="cannot read checkpoint"):
        checkpoint.load_weights(tmp_path / "cut.safetensors", tied_model(0))
    checkpoint.save_weights(tmp_path / "best.safetensors", tied_model(0))
    wider = RecurrentLanguageModel(vocab_size=20, hidden_size=10, num_layers=2, embedding_size=6,
                              tie_weights=True)
    with pytest.raises(LstmlmError, match="does not match the model: size mismatch") as error:
        checkpoint.load_weights(tmp_path / "best.safetensors", wider)
    assert "\n" not in str(error.value)


def test_a_checkpoint_the_disk_cannot_take_is_one_line_and_no_file(tmp_path, monkeypatch):
    def full_disk(tensors, filename, metadata=None):
        open(filename, "wb").write(b"part")  # what safetensors had written when it failed
        raise SafetensorError("Error while serializing: I/O error: No space left on device "
                              "(os error 28)")

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    model = RecurrentLanguageModel(vocab_size=10, hidden_size=4, num_layers=1)
    with pytest.raises(LstmlmError) as error:
        checkpoint.save_weights(tmp_path / "best.safetensors", model)
    assert str(error.value) == f"cannot write {tmp_path / 'best.safetensors'}: No space left on device"
    assert list(tmp_path.iterdir()) == []
