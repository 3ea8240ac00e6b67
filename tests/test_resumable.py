"""The resumable state of a run."""

import pytest
import safetensors
import safetensors.torch
import torch

from lstmlm import LstmlmError, apply_overrides, train
from lstmlm.rundir import RunDir

from .conftest import train_killed_at_step


def test_resume_rejects_a_recurrent_state_of_another_layout(tmp_path, tiny_config, monkeypatch):
    config = apply_overrides(tiny_config, {"tie_weights": True, "embedding_size": 6,
                                           "checkpoint_every": 7})
    run_dir = train_killed_at_step(config, tmp_path / "runs", 100, monkeypatch)
    last = run_dir / RunDir.LAST
    with safetensors.safe_open(last, "pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    # The layout of older versions: one (layers, batch, hidden) tensor each for h and c.
    for index in range(4):
        del tensors[f"hidden.{index}"]
    tensors["hidden.0"], tensors["hidden.1"] = torch.zeros(2, 4, 8), torch.zeros(2, 4, 8)
    safetensors.torch.save_file(tensors, last, metadata)
    with pytest.raises(LstmlmError, match="recurrent state does not fit this model"):
        train(resume=run_dir, echo=None)
