"""One setup for the trainer and the planner: the same network, loss, optimizer and scaler."""

import torch

from lstmlm import apply_overrides, get_preset
from lstmlm.plan import RunPlan
from lstmlm.training import build_training, schedule_of, step_options


def test_a_seed_gives_the_same_network_and_the_plan_s_optimizer():
    plan = RunPlan.of(apply_overrides(get_preset("small"), {"hidden_size": 8,
                                                            "optimizer": "adam",
                                                            "learning_rate": 0.01,
                                                            "weight_decay": 0.1}))
    first = build_training(plan, 30, torch.device("cpu"), seed=3)
    second = build_training(plan, 30, torch.device("cpu"), seed=3)
    for one, other in zip(first.network.parameters(), second.network.parameters()):
        assert torch.equal(one, other)
    assert isinstance(first.optimizer, torch.optim.Adam) and first.scaler is None
    assert first.optimizer.param_groups[0]["weight_decay"] == 0.1
    assert first.window_loss.model is first.network


def test_fp16_gets_a_gradient_scaler_and_the_options_follow_the_plan():
    plan = RunPlan.of(apply_overrides(get_preset("cpu-fast"), {"precision": "fp16"}))
    assert build_training(plan, 30, torch.device("cpu"), seed=1).scaler is not None
    options = step_options(plan)
    assert (options["max_grad_norm"], options["loss_average"], options["ar_alpha"],
            options["precision"]) == (0.25, "token", 2.0, "fp16")
    assert schedule_of(plan).kind == "cosine" and schedule_of(plan).anneal_share == 0.34
