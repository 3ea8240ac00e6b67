"""Perplexity of a model over a continuous id stream."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .corpus import batchify, windows
from .errors import LstmlmError
from .model import LSTMLanguageModel


@torch.no_grad()
def stream_perplexity(model: LSTMLanguageModel, ids: torch.Tensor, batch_size: int = 1,
                      num_steps: int = 100) -> float:
    """exp(mean cross-entropy) of predicting every next id of `ids`, the state carried throughout.

    With batch_size 1 this scores all `len(ids) - 1` targets, like the reference's eval config
    (batch 1, one step at a time); longer windows give the same number, faster.
    """
    device = model.decoder.weight.device
    rows = batchify(ids, batch_size).to(device)
    if rows.size(1) < 2:
        raise LstmlmError(f"too few words ({len(ids)}) to evaluate with batch size {batch_size}")
    was_training = model.training
    model.eval()
    state = model.init_state(batch_size)
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_targets = 0
    for inputs, targets in windows(rows, num_steps, include_partial=True):
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                               reduction="sum")
        total_loss += loss.double()
        total_targets += targets.numel()
    model.train(was_training)
    return math.exp(total_loss.item() / total_targets)
