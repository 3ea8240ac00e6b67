"""The training loop of one run, read top to bottom: epochs of truncated-BPTT windows, each
followed by validation, the best and the resumable checkpoints, the switch to averaged
weights and early stopping, then the final evaluation. Its collaborators keep the rest: the
time budget (BudgetKeeper), the process's rows (Shard), what the run tells (Reporter)."""

from __future__ import annotations

import math
from typing import Callable

import torch

from .. import budget, checkpoint
from ..batching import batchify, window_lengths, windows_of_lengths
from ..budget import Clock, Costs, format_duration
from ..config import Config
from ..corpus import Corpus
from ..distributed import World
from ..generation import Generator
from ..model import State
from ..plan import RunPlan
from ..rundir import EpochMetrics, RunDir
from . import step
from .final_evaluation import final_evaluation
from .progress import EpochProgress, TrainResult, TrainState, best_epoch
from .reporting import Reporter
from .resumable import restore, save_resumable
from .schedule import averaged_weights, averaging_reason
from .setup import build_training, new_optimizer, schedule_of, step_options
from .sharding import Shard
from .timekeeper import BudgetKeeper


def format_rate(rate: float) -> str:
    """A learning rate as the reference prints it (`1.000`, `0.062`) where three decimals show
    it to 1%, else in three significant digits (`0.0003`, `1.5e-05`)."""
    fixed = f"{rate:.3f}"
    return fixed if abs(float(fixed) - rate) <= 0.01 * abs(rate) else f"{rate:.3g}"


class Trainer:
    """The training loop of one run: `config` as asked, trained by `plan` (which a time budget
    may replace after an epoch); all its progress is in `self.state`, so it can be saved."""

    def __init__(self, config: Config, plan: RunPlan, corpus: Corpus, run_dir: RunDir,
                 log: Callable[[str], None], progress_bar: bool, *, clock: Clock,
                 device: torch.device, world: World = World()):
        self.config, self.corpus, self.run_dir, self.log = config, corpus, run_dir, log
        self.clock = clock
        self.shard = Shard(world, device)
        self.keeper = BudgetKeeper(clock, world, device)
        self.training = build_training(plan, len(corpus.vocab), device, seed=config.run.seed,
                                       world=world)
        self.network = self.training.network
        self.use_plan(plan)
        batch_size = plan.optimisation.batch_size
        # The training stream cut into batch_size rows per process; this process's block.
        self.train_rows = self.shard.own_rows(batchify(corpus.train, self.shard.rows(batch_size)),
                                              batch_size)
        self.state = TrainState(costs=plan.costs, world_size=world.size)
        self.hidden: State | None = None
        self.reporter = Reporter(run_dir, log, progress_bar, config.logging,
                                 Generator(self.network, corpus.vocab, config.data.clean_text),
                                 world, config.run.seed)

    def use_plan(self, plan: RunPlan) -> None:
        """Train by `plan` from here on."""
        self.plan = plan
        self.schedule = schedule_of(plan)
        self.step_options = step_options(plan)

    def run(self, resuming: bool, first_lines: list[str] = ()) -> TrainResult:
        """Train until the last epoch, early stopping or the end of the time budget, then
        evaluate the best weights. `first_lines` (the precision chosen, the budget's plan) are
        logged after the run's own first line."""
        if resuming and (self.run_dir / RunDir.LAST).exists():
            self.state, self.hidden = restore(
                self.run_dir, self.training, self.optimizer_for, self.shard,
                self.plan.optimisation.batch_size)
            self.clock.spent_before = self.state.elapsed_seconds
            self.log(f"resuming {self.run_dir} at epoch {self.state.epoch + 1} step "
                     f"{self.state.step}")
        elif not resuming:
            self.log(f"run {self.run_dir}: preset {self.config.preset}, "
                     f"{len(self.corpus.vocab)} words, "
                     f"{sum(p.numel() for p in self.network.parameters()):,} parameters, "
                     f"device {self.shard.device}")
        for line in first_lines:
            self.log(line)
        if self.clock.budget and resuming:
            self.log(f"time budget {format_duration(self.clock.budget)}: "
                     f"{format_duration(self.clock.spent_before)} spent before this resume")
        self.reporter.open_tensorboard(self.state.global_step)
        while (self.state.epoch < self.plan.optimisation.max_max_epoch
               and not self.state.out_of_time and not self.stopped_early()):
            self.train_epoch()
        return self.finish()

    def optimizer_for(self, state: dict) -> torch.optim.Optimizer:
        """The optimizer of the phase a saved training state is in (NT-ASGD switches)."""
        return new_optimizer(self.plan, self.network,
                             averaging=bool(state.get("averaging_since")))

    def stopped_early(self) -> bool:
        """True once valid perplexity has not improved for `early_stopping_patience` epochs."""
        patience, history = self.plan.optimisation.early_stopping_patience, self.state.history
        if not patience or not history:
            return False
        best = best_epoch(history)
        if history[-1].epoch - best < patience:
            return False
        self.log(f"Early stopping: valid perplexity has not improved for {patience} epochs "
                 f"(best at epoch {best})")
        return True

    def train_epoch(self) -> None:
        """Train one epoch (or its rest, after a resume), then validate and record it. With a
        time budget the epoch ends early when what is left would not cover another window, the
        validation and the final evaluation."""
        optimisation, state = self.plan.optimisation, self.state
        epoch, batch_size = state.epoch, optimisation.batch_size
        # The same lengths in every process: they depend on the seed and the epoch only.
        lengths = window_lengths(len(self.corpus.train), self.shard.rows(batch_size),
                                 optimisation.num_steps, optimisation.variable_length,
                                 seed=self.config.run.seed * 1000 + epoch)
        epoch_lr = self.schedule.rate(epoch, state.valid_perplexities())
        if state.step == 0:
            self.log(f"Epoch: {epoch + 1} Learning rate: {format_rate(epoch_lr)}")
        self.network.train()
        hidden = self.hidden if self.hidden is not None else self.network.init_state(batch_size)
        progress = EpochProgress(lengths, state, self.shard.device, self.shard.world)
        # A last epoch that max_max_epoch makes a fraction trains that share of its windows.
        share = min(1.0, optimisation.max_max_epoch - epoch)
        planned = max(1, min(len(lengths), round(share * len(lengths))))
        if state.step == 0 and planned < len(lengths):
            self.log(f"Epoch {epoch + 1} trains {planned} of its {len(lengths)} windows "
                     f"({planned / len(lengths):.2f} of an epoch), where the schedule ends")
        self.reporter.progress_bar.start_epoch(epoch + 1, planned, progress.done)
        for inputs, targets in windows_of_lengths(self.train_rows, lengths, progress.done):
            if progress.done >= planned:
                break
            if self.keeper.out_of_time(state.costs, progress):
                state.out_of_time = True
                break
            hidden = self.train_window(progress, inputs, targets, hidden)
            self.reporter.progress_bar.advance()
            self.after_window(progress, hidden)
        self.reporter.progress_bar.close()
        progress.flush(state)
        if progress.done == 0:
            self.log(f"Time budget: no time left to train epoch {epoch + 1}")
            save_resumable(self.run_dir, self.training, state, None, self.clock, self.shard)
            return
        if progress.done < planned:
            self.log(f"Time budget: epoch {epoch + 1} ends after {progress.done} of {planned} "
                     f"windows, leaving time for validation and the final evaluation")
        seconds = progress.seconds()
        self.end_epoch(EpochMetrics(
            epoch=epoch + 1, lr=epoch_lr, train_ppl=progress.perplexity(batch_size),
            valid_ppl=math.nan, words_per_sec=round(progress.words(batch_size) / seconds),
            seconds=round(seconds, 2), fraction=round(progress.done / len(lengths), 4)))

    def position(self, progress: EpochProgress) -> float:
        """Epochs trained so far, the current one's fraction included."""
        return self.state.epoch + progress.done / len(progress.lengths)

    def scheduled_rate(self, progress: EpochProgress) -> float:
        """The schedule's learning rate at the epoch's current position."""
        return self.schedule.rate(self.position(progress), self.state.valid_perplexities())

    def train_window(self, progress: EpochProgress, inputs: torch.Tensor, targets: torch.Tensor,
                     hidden: State) -> State:
        """One update at the schedule's learning rate for this point of the epoch; a shorter
        window gets a proportionally smaller step (AWD-LSTM)."""
        lr = self.scheduled_rate(progress)
        beta1 = self.schedule.beta1(self.position(progress))
        for group in self.training.optimizer.param_groups:
            group["lr"] = lr * inputs.size(1) / self.plan.optimisation.num_steps
            if beta1 is not None:
                group["betas"] = (beta1, group["betas"][1])
        loss, hidden = step.train_step(self.network, self.training.optimizer, inputs, targets,
                                       hidden, scaler=self.training.scaler,
                                       window_loss=self.training.window_loss,
                                       **self.step_options)
        progress.add(loss, targets.numel())
        self.state.global_step += 1
        return hidden

    def after_window(self, progress: EpochProgress, hidden: State) -> None:
        """What follows a window at intervals: a progress line every tenth of the epoch, samples
        every `sample_every` steps, a resumable checkpoint every `checkpoint_every` steps."""
        global_step, batch_size = self.state.global_step, self.plan.optimisation.batch_size
        windows = len(progress.lengths)
        if progress.done % max(windows // 10, 1) == 0:
            perplexity = progress.perplexity(batch_size)
            self.reporter.report({
                "train/epoch_fraction": progress.done / windows,
                "train/loss": math.log(perplexity), "train/perplexity": perplexity,
                "train/learning_rate": self.scheduled_rate(progress),
                "train/words_per_sec": progress.words(batch_size) / progress.seconds()},
                global_step)
        self.reporter.after_step(global_step)
        every = self.config.run.checkpoint_every
        if every and global_step % every == 0 and progress.done < windows:
            progress.checkpointed(self.state)
            save_resumable(self.run_dir, self.training, self.state, hidden, self.clock,
                           self.shard)

    def perplexity(self, split: str) -> float:
        """The split's perplexity, streamed over every process."""
        evaluation = self.config.evaluation
        return self.shard.perplexity(self.network, self.corpus.split(split),
                                     evaluation.batch_size, evaluation.num_steps)

    def end_epoch(self, metrics: EpochMetrics) -> None:
        """Validate the epoch just trained, record it, keep the best weights, re-plan a time
        budget's schedule, switch to averaged SGD where NT-ASGD's trigger fires or
        average_last's share begins, and save metrics and the resumable state."""
        state, world = self.state, self.shard.world
        with averaged_weights(self.training.optimizer):
            began = budget.monotonic()
            metrics.valid_ppl = self.perplexity("valid")
            evaluated = {"epoch/number": metrics.epoch, "epoch/train_perplexity": metrics.train_ppl,
                         "epoch/valid_perplexity": metrics.valid_ppl}
            if state.costs:
                state.costs = Costs.from_validation(
                    budget.monotonic() - began, state.costs.epoch, len(self.corpus.valid),
                    len(self.corpus.test), state.costs.adaptation)
            if self.config.evaluation.test_each_epoch:
                with self.clock.off_the_clock():
                    metrics.test_ppl = evaluated["epoch/test_perplexity"] = self.perplexity("test")
            metrics.elapsed = round(self.clock.elapsed(), 2)
            self.reporter.report(evaluated, state.global_step)
            state.history.append(metrics)
            if best_epoch(state.history) == metrics.epoch and world.is_main:
                checkpoint.save_weights(self.run_dir / RunDir.BEST, self.network,
                                        {"epoch": metrics.epoch, "valid_ppl": metrics.valid_ppl})
        state.costs, replanned, line = self.keeper.replan(self.plan, state.costs, metrics)
        if replanned is not None:
            self.log(line)
            self.use_plan(replanned)
            if world.is_main:
                self.run_dir.add_plan(replanned)
        optimisation = self.plan.optimisation
        reason = None if state.averaging_since else averaging_reason(
            metrics.epoch, state.valid_perplexities(), optimisation.optimizer,
            optimisation.nonmono, optimisation.average_last, optimisation.max_max_epoch)
        if reason:
            self.log(f"Switching to averaged SGD after epoch {metrics.epoch}: {reason}")
            state.averaging_since = metrics.epoch
            self.training.optimizer = new_optimizer(self.plan, self.network, averaging=True)
        state.losses.append({"epoch": metrics.epoch, "losses": state.step_losses})
        state.epoch, state.step, state.epoch_cost, state.epoch_seconds = metrics.epoch, 0, 0.0, 0.0
        state.step_losses = []
        self.hidden = None
        if world.is_main:
            self.run_dir.write_metrics(state.history, state.losses)
        save_resumable(self.run_dir, self.training, state, None, self.clock, self.shard)

    def finish(self) -> TrainResult:
        """Evaluate the best-on-valid weights (and the adaptation the request asks for), and
        record the result."""
        results = final_evaluation(self.network, self.run_dir, self.state.history,
                                   self.perplexity, self.shard, self.corpus,
                                   self.config.evaluation.final_eval, self.log)
        self.reporter.finish(results, self.corpus.vocab, self.clock.elapsed(), self.clock.budget)
        adapted = results.get("adapted")
        return TrainResult(self.run_dir.path, self.state.history, results["valid_ppl"],
                           results["test_ppl"], results.get("last_test_ppl"),
                           adapted_test_perplexity=adapted and adapted["test_ppl"],
                           main_process=self.shard.world.is_main, config=self.config,
                           plan=self.plan)
