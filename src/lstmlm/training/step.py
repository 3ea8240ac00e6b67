"""One truncated-BPTT update: the window's loss, its regularisers, clipping and the step."""

from __future__ import annotations

import torch

from ..config import LossAverage, Precision
from ..hardware import autocast
from ..model import RecurrentLanguageModel, State, detach_state


class WindowLoss(torch.nn.Module):
    """A window's summed loss, the last layer's outputs (before and after the output dropout)
    and the state, in one forward call: the module DistributedDataParallel wraps, since it
    synchronises gradients only for what runs through `forward`."""

    def __init__(self, model: RecurrentLanguageModel):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, hidden: State, targets: torch.Tensor):
        features, dropped, hidden = self.model.outputs(inputs, hidden)
        return self.model.summed_nll(dropped, targets), features, dropped, hidden


def train_step(model: RecurrentLanguageModel, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
               targets: torch.Tensor, hidden: State, *, max_grad_norm: float,
               loss_average: LossAverage = "batch", ar_alpha: float = 0.0,
               tar_beta: float = 0.0, precision: Precision = "fp32",
               scaler: torch.amp.GradScaler | None = None,
               window_loss: torch.nn.Module | None = None) -> tuple[torch.Tensor, State]:
    """One truncated-BPTT update on a window; returns the summed loss over the window's
    targets and the detached state.

    The gradient is of the summed cross-entropy divided by the batch size (the reference's
    loss, `loss_average="batch"`) or by the number of targets ("token"), clipped by its global
    norm before the optimizer step. `ar_alpha` and `tar_beta` add activation regularisation
    (the mean square of the dropped-out last-layer outputs) and its temporal version (the mean
    square of their step-to-step change, before dropout), as AWD-LSTM does. With
    `precision` "bf16" or "fp16" the forward pass runs under autocast; the loss, the weights
    and the carried state stay in float32. fp16 needs `scaler`, which scales the loss so that
    small gradients survive float16 and skips steps whose gradients overflowed.
    `window_loss` runs the forward pass (WindowLoss(model), or in a distributed run its
    DistributedDataParallel wrapper, which averages the gradients over the processes).
    """
    window_loss = window_loss or WindowLoss(model)
    with autocast(inputs.device.type, precision):
        total, features, dropped, hidden = window_loss(inputs, hidden, targets)
    if precision != "fp32":
        features, dropped = features.float(), dropped.float()
        hidden = tuple(tensor.float() for tensor in hidden)
    objective = total / (inputs.size(0) if loss_average == "batch" else targets.numel())
    if ar_alpha:
        objective = objective + ar_alpha * dropped.pow(2).mean()
    if tar_beta:
        objective = objective + tar_beta * (features[:, 1:] - features[:, :-1]).pow(2).mean()
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        objective.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
    else:
        scaler.scale(objective).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
    return total.detach(), detach_state(hidden)


def new_scaler(precision: Precision, device: torch.device) -> torch.amp.GradScaler | None:
    """The gradient scaler fp16 training needs (None for the other precisions)."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None
