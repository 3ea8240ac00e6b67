"""The summed cross-entropy of 16-bit logits: the float32 path's loss and gradient."""

import pytest
import torch

from lstmlm import losses
from lstmlm.losses import summed_cross_entropy


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("rows, columns", [(700, 1000), (3, 50_000), (37, 7)])
def test_16_bit_logits_give_the_float32_loss_and_gradient(monkeypatch, dtype, rows, columns):
    monkeypatch.setattr(losses, "BLOCK_ELEMENTS", 4096)  # several blocks even when small
    generator = torch.Generator().manual_seed(rows)
    logits = (4 * torch.randn(rows, columns, generator=generator)).to(dtype).requires_grad_()
    targets = torch.randint(0, columns, (rows,), generator=generator)
    reference_logits = logits.detach().float().requires_grad_()
    reference = torch.nn.functional.cross_entropy(reference_logits, targets, reduction="sum")
    (2.5 * reference).backward()
    loss = summed_cross_entropy(logits, targets)
    (2.5 * loss).backward()
    assert loss.dtype == torch.float32 and logits.grad.dtype == dtype
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    # Both gradients are float32 values rounded once to the 16-bit dtype.
    torch.testing.assert_close(logits.grad, reference_logits.grad.to(dtype), rtol=1e-2,
                               atol=1e-3)


def test_float32_logits_take_pytorch_s_cross_entropy():
    logits = torch.randn(5, 9, requires_grad=True)
    targets = torch.tensor([0, 8, 3, 3, 1])
    assert summed_cross_entropy(logits, targets).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item(), rel=1e-7)
