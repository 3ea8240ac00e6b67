"""One truncated-BPTT update: clipping, and the activation regularisers."""

import pytest
import torch

from lstmlm import apply_overrides, train
from lstmlm.model import RecurrentLanguageModel
from lstmlm.training import train_step

from .conftest import untrained_perplexity


def test_train_step_clips_the_global_gradient_norm():
    torch.manual_seed(0)
    model = RecurrentLanguageModel(vocab_size=20, hidden_size=5, num_layers=2, init_scale=0.5)
    before = [parameter.detach().clone() for parameter in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    inputs = torch.randint(0, 20, (3, 6))
    loss, state = train_step(model, optimizer, inputs, torch.randint(0, 20, (3, 6)),
                             model.init_state(3), max_grad_norm=0.01)
    update = torch.cat([(after - old).flatten() for after, old in zip(model.parameters(), before)])
    assert update.norm().item() == pytest.approx(0.01, rel=1e-4)  # lr 1 x clipped norm
    assert loss.requires_grad is False and state[0].requires_grad is False
    assert loss.item() > 6 * 2.5  # summed over 6 steps of roughly ln(20) each


def test_ar_and_tar_add_to_the_objective(tmp_path, tiny_config):
    torch.manual_seed(0)
    inputs, targets = torch.randint(0, 20, (3, 6)), torch.randint(0, 20, (3, 6))
    grads = []
    for alpha, beta in ((0.0, 0.0), (2.0, 0.0), (0.0, 2.0)):
        torch.manual_seed(1)
        model = RecurrentLanguageModel(vocab_size=20, hidden_size=5, num_layers=2, init_scale=0.5)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        train_step(model, optimizer, inputs, targets, model.init_state(3), max_grad_norm=100.0,
                   ar_alpha=alpha, tar_beta=beta)
        grads.append(model.lstm.weight_hh_l1.grad.clone())
    assert not torch.allclose(grads[0], grads[1]) and not torch.allclose(grads[0], grads[2])
    config = apply_overrides(tiny_config, {"variational_dropout": True, "embedding_dropout": 0.1,
                                           "ar_alpha": 2.0, "tar_beta": 1.0})
    assert train(config, runs_dir=tmp_path, echo=None).test_perplexity < \
        0.9 * untrained_perplexity(config)
