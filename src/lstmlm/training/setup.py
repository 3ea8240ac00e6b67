"""One setup for every training of a plan: the network, the loss module, the optimizer, the
gradient scaler, the schedule and the update's options, built the same way for a run's trainer
and for the throwaway model a time budget measures."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..builders import build_network
from ..distributed import World
from ..model import RecurrentLanguageModel
from ..plan import RunPlan
from .schedule import LearningRateSchedule, build_optimizer
from .step import WindowLoss, new_scaler


@dataclass
class Training:
    """What trains a plan's network: the network, the module that computes a window's loss
    (DistributedDataParallel's wrapper in a distributed run), the optimizer and, for fp16, the
    gradient scaler."""

    network: RecurrentLanguageModel
    window_loss: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None


def new_optimizer(plan: RunPlan, network: torch.nn.Module,
                  averaging: bool = False) -> torch.optim.Optimizer:
    """The optimizer `plan` sets for `network` (`averaging`: NT-ASGD's second phase)."""
    return build_optimizer(network.parameters(), plan.optimisation.optimizer,
                           plan.optimisation.learning_rate, plan.regularisation.weight_decay,
                           averaging)


def schedule_of(plan: RunPlan) -> LearningRateSchedule:
    """The learning-rate schedule `plan` sets."""
    optimisation = plan.optimisation
    return LearningRateSchedule(optimisation.lr_schedule, optimisation.learning_rate,
                                optimisation.lr_decay, optimisation.max_epoch,
                                optimisation.max_max_epoch, optimisation.warmup_epochs,
                                optimisation.anneal_share)


def step_options(plan: RunPlan) -> dict:
    """train_step's keyword options as `plan` sets them."""
    return dict(max_grad_norm=plan.optimisation.max_grad_norm,
                loss_average=plan.optimisation.loss_average,
                ar_alpha=plan.regularisation.ar_alpha, tar_beta=plan.regularisation.tar_beta,
                precision=plan.precision)


def build_training(plan: RunPlan, vocab_size: int, device: torch.device, *,
                   seed: int | None = None, world: World = World()) -> Training:
    """The network, loss, optimizer and scaler of `plan` on `device`. With `seed` the weights
    start from it; in a distributed run every process starts from the same weights, then seeds
    its own dropout masks with seed + rank."""
    if seed is not None:
        torch.manual_seed(seed)
    network = build_network(plan.model, plan.regularisation, vocab_size).to(device)
    window_loss: torch.nn.Module = WindowLoss(network)
    if world.distributed:
        torch.manual_seed((seed or 0) + world.rank)
        # The adaptive softmax leaves the clusters no target of a window falls in unused.
        window_loss = torch.nn.parallel.DistributedDataParallel(
            window_loss, device_ids=[device] if device.type == "cuda" else None,
            find_unused_parameters=plan.model.softmax == "adaptive")
    return Training(network, window_loss, new_optimizer(plan, network),
                    new_scaler(plan.precision, device))
