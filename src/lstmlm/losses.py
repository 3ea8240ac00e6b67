"""The summed cross-entropy of 16-bit logits, and its gradient, in one pass over them each.

With bf16 (or fp16) training the decoder's logits are 16-bit: a window of 20 x 35 words over
PTB's 10,000 words holds 7 million of them. Cast to float32 for PyTorch's cross-entropy, they
are written again at twice the size, read by the log-softmax, whose float32 output and
gradient are written and read again, and the gradient cast back: several passes over tens of
MB. Here each block of rows is widened to float32 where it fits in the cache, and the loss
(forward) or the 16-bit gradient (backward) is all that leaves it. The arithmetic is the same
as the float32 path's: log-sum-exp in float32, softmax minus the one-hot target.
"""

from __future__ import annotations

import torch

# Rows widened to float32 at a time: 64 rows of a 10,000-word vocabulary are 2.5 MB.
BLOCK_ELEMENTS = 1 << 19


def _row_blocks(rows: int, columns: int) -> list[slice]:
    """Consecutive blocks of rows of about BLOCK_ELEMENTS elements each."""
    step = max(1, BLOCK_ELEMENTS // columns)
    return [slice(start, start + step) for start in range(0, rows, step)]


class _SummedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_norms = torch.empty(len(logits), dtype=torch.float32, device=logits.device)
        for block in _row_blocks(*logits.shape):
            log_norms[block] = torch.logsumexp(logits[block].float(), dim=1)
        target_logits = logits.gather(1, targets.unsqueeze(1)).squeeze(1).float()
        ctx.save_for_backward(logits, targets, log_norms)
        return (log_norms - target_logits).sum()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        logits, targets, log_norms = ctx.saved_tensors
        grad = torch.empty_like(logits)
        scale = grad_output.float()
        for block in _row_blocks(*logits.shape):
            # softmax minus the one-hot target, times the loss's gradient
            probabilities = logits[block].float().sub_(log_norms[block].unsqueeze(1)).exp_()
            block_targets = targets[block]
            rows = torch.arange(len(block_targets), device=logits.device)
            probabilities[rows, block_targets] -= 1.0
            grad[block] = probabilities.mul_(scale)
        return grad, None


def summed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The summed cross-entropy of (n, vocabulary) logits against (n,) targets, in float32.
    16-bit logits on a CPU go through one blocked pass each way and get a gradient of their own
    dtype; the others (float32, or on a GPU, whose kernels fuse this already) through
    PyTorch's cross-entropy in float32."""
    if logits.dtype == torch.float32 or logits.device.type != "cpu":
        return torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
    with torch.autocast(logits.device.type, enabled=False):
        return _SummedCrossEntropy.apply(logits, targets)
