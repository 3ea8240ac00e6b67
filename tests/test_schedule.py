"""Learning-rate schedules, the optimizers, and NT-ASGD's trigger and averaged weights."""

import pytest
import torch

from lstmlm import apply_overrides, get_preset
from lstmlm.model import RecurrentLanguageModel
from lstmlm.plan import RunPlan
from lstmlm.training import (averaged_weights, build_optimizer, new_optimizer, plateaus,
                             should_average, train_step)

from .conftest import schedule_of


def test_learning_rate_schedule_of_the_small_preset():
    config = get_preset("small")
    rates = [schedule_of(config).rate(epoch) for epoch in range(13)]
    assert rates[:4] == [1.0] * 4
    assert rates[4:7] == [0.5, 0.25, 0.125]
    assert rates[12] == 0.5 ** 9


def test_learning_rate_schedule_of_the_large_preset():
    config = get_preset("large")
    assert schedule_of(config).rate(13) == 1.0
    assert schedule_of(config).rate(14) == pytest.approx(1 / 1.15)
    assert schedule_of(config).rate(54) == pytest.approx(1.15 ** -41)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    config = apply_overrides(get_preset("cpu-fast"), {"learning_rate": 30.0, "warmup_epochs": 2,
                                                      "max_max_epoch": 12, "anneal_share": 1})
    assert schedule_of(config).rate(0.0) == 0.0
    assert schedule_of(config).rate(1.0) == pytest.approx(15.0)
    assert schedule_of(config).rate(2.0) == pytest.approx(30.0)
    assert schedule_of(config).rate(7.0) == pytest.approx(15.0)  # half way through the decay
    assert schedule_of(config).rate(12.0) == pytest.approx(0.0, abs=1e-12)


def test_cosine_schedule_holds_its_peak_until_the_anneal_share():
    config = apply_overrides(get_preset("cpu-fast"), {"learning_rate": 30.0, "warmup_epochs": 2,
                                                      "max_max_epoch": 12, "anneal_share": 0.4})
    schedule = schedule_of(config)
    # 10 epochs after the warm-up: held for 6, then down over the last 4.
    assert [schedule.rate(epoch) for epoch in (1.0, 2.0, 5.0, 8.0, 10.0, 12.0)] == \
        pytest.approx([15.0, 30.0, 30.0, 30.0, 15.0, 0.0], abs=1e-12)
    assert schedule.rate(9.0) > 15.0 > schedule.rate(11.0) > 0.0


def test_one_cycle_rises_from_a_25th_then_anneals_while_beta1_moves_against_it():
    config = apply_overrides(get_preset("cpu-fast"), {
        "optimizer": "adam", "lr_schedule": "onecycle", "learning_rate": 0.01,
        "warmup_epochs": 3, "max_max_epoch": 10, "anneal_share": 1})
    schedule = schedule_of(config)
    assert [schedule.rate(epoch) for epoch in (0.0, 1.5, 3.0, 6.5)] == \
        pytest.approx([0.0004, 0.0052, 0.01, 0.00500002])
    assert schedule.rate(10.0) == pytest.approx(4e-8)
    assert [schedule.beta1(epoch) for epoch in (0.0, 1.5, 3.0, 6.5, 10.0)] == \
        pytest.approx([0.95, 0.9, 0.85, 0.9, 0.95])
    assert schedule_of(apply_overrides(config, {"lr_schedule": "cosine"})).beta1(1.5) is None


def test_plateau_schedule_decays_after_each_epoch_without_improvement():
    config = apply_overrides(get_preset("small"), {"lr_schedule": "plateau", "lr_decay": 0.25,
                                                   "learning_rate": 20.0})
    valid_ppls = [150.0, 140.0, 141.0, 139.0, 139.0]
    assert [plateaus(valid_ppls[:count]) for count in range(6)] == [0, 0, 0, 1, 1, 2]
    assert schedule_of(config).rate(5, valid_ppls) == pytest.approx(20.0 * 0.25 ** 2)


def test_nt_asgd_trigger():
    assert not should_average([10, 9, 8, 8.5], nonmono=2)  # 8.5 beats 10
    assert should_average([10, 9, 8, 7, 9.5], nonmono=2)  # 9.5 is worse than 9
    assert not should_average([10, 12], nonmono=2)  # too few epochs to judge
    assert should_average([10, 12], nonmono=0)


def test_asgd_keeps_the_running_average_and_evaluation_swaps_it_in():
    config = apply_overrides(get_preset("small"), {"optimizer": "ntasgd", "learning_rate": 0.5})
    torch.manual_seed(0)
    model = RecurrentLanguageModel(vocab_size=20, hidden_size=5, num_layers=1)
    optimizer = new_optimizer(RunPlan.of(config), model, averaging=True)
    inputs, targets = torch.randint(0, 20, (2, 4)), torch.randint(0, 20, (2, 4))
    hidden, trajectory = model.init_state(2), []
    for _ in range(4):
        _, hidden = train_step(model, optimizer, inputs, targets, hidden, max_grad_norm=5.0)
        trajectory.append(model.decoder.weight.detach().clone())
    # torch.optim.ASGD (t0=0) averages the weights after its second step onwards.
    average = torch.stack(trajectory[1:]).mean(0)
    with averaged_weights(optimizer):
        torch.testing.assert_close(model.decoder.weight, average)
    assert torch.equal(model.decoder.weight, trajectory[-1])  # restored after the block


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_the_optimizers_fuse_their_step_on_the_cpu_and_take_the_per_tensor_loop_s_steps(name):
    torch.manual_seed(0)
    fused_weights = [torch.nn.Parameter(torch.randn(7, 5)), torch.nn.Parameter(torch.randn(5))]
    looped_weights = [torch.nn.Parameter(weight.detach().clone()) for weight in fused_weights]
    fused = build_optimizer(fused_weights, name, lr=0.1, weight_decay=0.01)
    looped = type(fused)(looped_weights, lr=0.1, weight_decay=0.01, fused=False)
    assert fused.defaults["fused"] and not looped.defaults["fused"]
    for _ in range(3):
        gradients = [torch.randn_like(weight) for weight in fused_weights]
        for weights, optimizer in ((fused_weights, fused), (looped_weights, looped)):
            for weight, gradient in zip(weights, gradients):
                weight.grad = gradient.clone()
            optimizer.step()
    for fused_weight, looped_weight in zip(fused_weights, looped_weights):
        torch.testing.assert_close(fused_weight, looped_weight)
    assert not build_optimizer(fused_weights, name, lr=0.1, averaging=True).defaults.get("fused")


def test_a_fused_step_refreshes_the_decoder_s_cached_transposed_copy():
    torch.manual_seed(0)
    model = RecurrentLanguageModel(vocab_size=11, hidden_size=6, num_layers=1)
    optimizer = build_optimizer(model.parameters(), "sgd", lr=1.0)
    features = torch.randn(1, 3, 6)
    with torch.no_grad():
        model.decoder_logits(features)  # caches the transposed decoder
    model.decoder.weight.grad = torch.ones_like(model.decoder.weight)
    model.decoder.bias.grad = torch.zeros_like(model.decoder.bias)
    optimizer.step()
    with torch.no_grad():
        torch.testing.assert_close(model.decoder_logits(features), model.decoder(features))
