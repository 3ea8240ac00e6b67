"""The training loop of one run: epochs of truncated-BPTT windows, validation, the best and
the resumable checkpoints, the switch to averaged weights, samples, early stopping and the
time budget."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Callable

import torch

from .. import budget, checkpoint
from ..budget import Clock, Costs, format_duration, plural
from ..builders import build_model
from ..config import Config
from ..corpus import UNK, Corpus, batchify, window_lengths, windows_of_lengths
from ..distributed import World
from ..errors import LstmlmError
from ..evaluation import stream_nll, stream_rows, tune_adaptation
from ..generation import Generator, text_of
from ..hardware import describe_machine
from ..model import State
from ..rundir import EpochMetrics, RunDir
from . import step
from .loggers import MetricLogger, ProgressBarLogger, TensorBoardLogger, TextLogger
from .planning import optimizer_of, schedule_of, step_options, stretched_schedule
from .progress import EpochProgress, TrainResult, TrainState, best_epoch
from .schedule import averaged_weights, should_average


def format_rate(rate: float) -> str:
    """A learning rate as the reference prints it (`1.000`, `0.062`) where three decimals show
    it to 1%, else in three significant digits (`0.0003`, `1.5e-05`)."""
    fixed = f"{rate:.3f}"
    return fixed if abs(float(fixed) - rate) <= 0.01 * abs(rate) else f"{rate:.3g}"


class Trainer:
    """The training loop of one run; all its progress is in `self.state`, so it can be saved."""

    def __init__(self, config: Config, corpus: Corpus, run_dir: RunDir,
                 log: Callable[[str], None], progress_bar: bool, *, clock: Clock,
                 device: torch.device, costs: Costs | None = None, world: World = World()):
        self.config = config
        self.world = world
        self.corpus = corpus
        self.run_dir = run_dir
        self.log = log
        self.clock = clock
        self.device = device
        torch.manual_seed(config.seed)
        self.model = build_model(config, len(corpus.vocab)).to(self.device)
        self.window_loss = step.WindowLoss(self.model)
        if world.distributed:
            # Every process starts from the same weights (the same seed), then seeds its own
            # dropout masks with seed + rank.
            torch.manual_seed(config.seed + world.rank)
            # The adaptive softmax leaves the clusters no target of a window falls in unused.
            self.window_loss = torch.nn.parallel.DistributedDataParallel(
                self.window_loss, device_ids=[device] if device.type == "cuda" else None,
                find_unused_parameters=config.softmax == "adaptive")
        self.optimizer = optimizer_of(config, self.model)
        self.scaler = step.new_scaler(config.precision, self.device)
        self.schedule = schedule_of(config)
        self.step_options = step_options(config)
        # The training stream cut into batch_size rows per process; this process's block.
        self.train_rows = self.own_rows(batchify(corpus.train, self.rows()), config.batch_size)
        self.state = TrainState(costs=costs, world_size=world.size)
        self.hidden = None
        self.generator = Generator(self.model, corpus.vocab, config.clean_text)
        self.progress_bar = ProgressBarLogger(progress_bar)
        self.loggers: list[MetricLogger] = [TextLogger(log), self.progress_bar]

    def rows(self, batch_size: int | None = None) -> int:
        """Rows of all processes together, for `batch_size` (default: the config's) each."""
        return (batch_size or self.config.batch_size) * self.world.size

    def own_rows(self, rows: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
        """This process's block of `batch_size` rows (along `dim`) of all processes' rows."""
        start = self.world.rank * batch_size
        return rows.narrow(dim, start, batch_size).to(self.device)

    def run(self, resuming: bool, first_lines: list[str] = ()) -> TrainResult:
        """Train until the last epoch, early stopping or the end of the time budget, then
        evaluate the best weights. `first_lines` (the precision chosen, the budget's plan) are
        logged after the run's own first line."""
        if resuming and (self.run_dir / RunDir.LAST).exists():
            self.restore()
        elif not resuming:
            self.log(f"run {self.run_dir}: preset {self.config.preset}, "
                     f"{len(self.corpus.vocab)} words, "
                     f"{sum(p.numel() for p in self.model.parameters()):,} parameters, "
                     f"device {self.device}")
        for line in first_lines:
            self.log(line)
        if self.clock.budget and resuming:
            self.log(f"time budget {format_duration(self.clock.budget)}: "
                     f"{format_duration(self.clock.spent_before)} spent before this resume")
        if self.config.tensorboard and self.world.is_main:
            self.loggers.append(TensorBoardLogger(self.run_dir / RunDir.TENSORBOARD,
                                                  self.state.global_step))
        while (self.state.epoch < self.config.max_max_epoch and not self.state.out_of_time
               and not self.stopped_early()):
            self.train_epoch()
        return self.finish()

    def restore(self) -> None:
        """Continue from the run's last.safetensors: weights, optimizer, RNG and position."""
        last_path = self.run_dir / RunDir.LAST
        state, hidden, self.optimizer, scaler_state = checkpoint.load_training_state(
            last_path, self.model, self.optimizer_for, self.device, self.world.rank)
        saved_size = state.get("world_size", 1)
        if saved_size != self.world.size:
            raise LstmlmError(f"{self.run_dir} was trained by {saved_size} "
                              f"process{'es' if saved_size > 1 else ''}; resume it with the "
                              f"same number (this is {self.world.size})")
        self.state = TrainState.from_dict(state)
        if self.scaler is not None and scaler_state:
            self.scaler.load_state_dict(scaler_state)
        self.clock.spent_before = self.state.elapsed_seconds
        expected = [tensor.shape for tensor in self.model.init_state(self.rows())]
        if hidden is not None and [tensor.shape for tensor in hidden] != expected:
            raise LstmlmError(f"{last_path}: its recurrent state does not fit this model "
                              f"(saved by another version of lstmlm?)")
        # The saved state holds every process's rows (dimension 1 of each tensor).
        self.hidden = hidden and tuple(self.own_rows(tensor, self.config.batch_size, dim=1)
                                       for tensor in hidden)
        self.log(f"resuming {self.run_dir} at epoch {self.state.epoch + 1} step {self.state.step}")

    def optimizer_for(self, state: dict) -> torch.optim.Optimizer:
        """The optimizer of the phase a saved training state is in (NT-ASGD switches)."""
        return optimizer_of(self.config, self.model, averaging=bool(state.get("averaging_since")))

    def stopped_early(self) -> bool:
        """True once valid perplexity has not improved for `early_stopping_patience` epochs."""
        patience, history = self.config.early_stopping_patience, self.state.history
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
        config, state = self.config, self.state
        epoch = state.epoch
        # The same lengths in every process: they depend on the seed and the epoch only.
        lengths = window_lengths(len(self.corpus.train), self.rows(), config.num_steps,
                                 config.variable_length, seed=config.seed * 1000 + epoch)
        epoch_lr = self.schedule.rate(epoch, state.valid_perplexities())
        if state.step == 0:
            self.log(f"Epoch: {epoch + 1} Learning rate: {format_rate(epoch_lr)}")
        self.model.train()
        hidden = self.hidden if self.hidden is not None else self.model.init_state(config.batch_size)
        progress = EpochProgress(lengths, state, self.device, self.world)
        planned = self.planned_windows(len(lengths))
        if state.step == 0 and planned < len(lengths):
            self.log(f"Epoch {epoch + 1} trains {planned} of its {len(lengths)} windows "
                     f"({planned / len(lengths):.2f} of an epoch), where the schedule ends")
        self.progress_bar.start_epoch(epoch + 1, planned, progress.done)
        for inputs, targets in windows_of_lengths(self.train_rows, lengths, progress.done):
            if progress.done >= planned:
                break
            if self.out_of_time(progress):
                state.out_of_time = True
                break
            hidden = self.train_window(progress, inputs, targets, hidden)
            self.progress_bar.advance()
            self.after_window(progress, hidden)
        self.progress_bar.close()
        progress.flush(state)
        if progress.done == 0:
            self.log(f"Time budget: no time left to train epoch {epoch + 1}")
            self.save_last(None)
            return
        if progress.done < planned:
            self.log(f"Time budget: epoch {epoch + 1} ends after {progress.done} of {planned} "
                     f"windows, leaving time for validation and the final evaluation")
        seconds = progress.seconds()
        self.end_epoch(EpochMetrics(
            epoch=epoch + 1, lr=epoch_lr, train_ppl=progress.perplexity(config.batch_size),
            valid_ppl=math.nan, words_per_sec=round(progress.words(config.batch_size) / seconds),
            seconds=round(seconds, 2), fraction=round(progress.done / len(lengths), 4)))

    def planned_windows(self, windows_in_epoch: int) -> int:
        """How many of this epoch's windows the schedule trains: all of them, but in a last
        epoch that max_max_epoch makes a fraction."""
        share = min(1.0, self.config.max_max_epoch - self.state.epoch)
        return max(1, min(windows_in_epoch, round(share * windows_in_epoch)))

    def out_of_time(self, progress: EpochProgress) -> bool:
        """Whether the time budget's remainder would not cover one more window (timed by this
        epoch, or the plan's estimate before it has timed one), this epoch's validation and the
        final evaluation."""
        if not self.clock.budget:
            return False
        costs = self.state.costs
        window = progress.window_seconds()
        if window is None:
            window = costs.epoch / len(progress.lengths)
        # Decided for all processes at once: one that stopped alone would leave the others
        # waiting for its gradients.
        return self.world.any(self.clock.left() < costs.reserve() + window, self.device)

    def position(self, progress: EpochProgress) -> float:
        """Epochs trained so far, the current one's fraction included."""
        return self.state.epoch + progress.done / len(progress.lengths)

    def scheduled_lr(self, progress: EpochProgress) -> float:
        """The schedule's learning rate at the epoch's current position."""
        return self.schedule.rate(self.position(progress), self.state.valid_perplexities())

    def train_window(self, progress: EpochProgress, inputs: torch.Tensor, targets: torch.Tensor,
                     hidden: State) -> State:
        """One update at the schedule's learning rate for this point of the epoch."""
        config = self.config
        lr = self.scheduled_lr(progress)
        beta1 = self.schedule.beta1(self.position(progress))
        # A shorter window gets a proportionally smaller step (AWD-LSTM).
        for group in self.optimizer.param_groups:
            group["lr"] = lr * inputs.size(1) / config.num_steps
            if beta1 is not None:
                group["betas"] = (beta1, group["betas"][1])
        loss, hidden = step.train_step(self.model, self.optimizer, inputs, targets, hidden,
                                       scaler=self.scaler, window_loss=self.window_loss,
                                       **self.step_options)
        progress.add(loss, targets.numel())
        self.state.global_step += 1
        return hidden

    def after_window(self, progress: EpochProgress, hidden: State) -> None:
        """What follows a window at intervals: a progress line every tenth of the epoch, samples
        every `sample_every` steps, a resumable checkpoint every `checkpoint_every` steps."""
        config, global_step = self.config, self.state.global_step
        if progress.done % max(len(progress.lengths) // 10, 1) == 0:
            perplexity = progress.perplexity(config.batch_size)
            self.report({"train/epoch_fraction": progress.done / len(progress.lengths),
                         "train/loss": math.log(perplexity), "train/perplexity": perplexity,
                         "train/learning_rate": self.scheduled_lr(progress),
                         "train/words_per_sec": progress.words(config.batch_size)
                         / progress.seconds()}, global_step)
        if config.sample_every and global_step % config.sample_every == 0 and self.world.is_main:
            self.log_samples(global_step)
        if config.checkpoint_every and global_step % config.checkpoint_every == 0 \
                and progress.done < len(progress.lengths):
            progress.checkpointed(self.state)
            self.save_last(hidden)

    def report(self, metrics: dict[str, float], step: int) -> None:
        """Send metrics to every logger of the run."""
        for logger in self.loggers:
            logger.log(metrics, step)

    def end_epoch(self, metrics: EpochMetrics) -> None:
        """Validate the epoch just trained, record it, keep the best weights, switch to
        averaged SGD where NT-ASGD's trigger fires or average_last's share begins, and save
        metrics and the resumable state."""
        config, state = self.config, self.state
        with averaged_weights(self.optimizer):
            began = budget.monotonic()
            metrics.valid_ppl = self.evaluate("valid")
            evaluated = {"epoch/number": metrics.epoch, "epoch/train_perplexity": metrics.train_ppl,
                         "epoch/valid_perplexity": metrics.valid_ppl}
            if state.costs:
                state.costs = Costs.from_validation(
                    budget.monotonic() - began, state.costs.epoch, len(self.corpus.valid),
                    len(self.corpus.test), state.costs.adaptation)
            if config.test_each_epoch:
                with self.clock.off_the_clock():
                    metrics.test_ppl = evaluated["epoch/test_perplexity"] = self.evaluate("test")
            metrics.elapsed = round(self.clock.elapsed(), 2)
            self.report(evaluated, state.global_step)
            state.history.append(metrics)
            if best_epoch(state.history) == metrics.epoch and self.world.is_main:
                checkpoint.save_weights(self.run_dir / RunDir.BEST, self.model,
                                        {"epoch": metrics.epoch, "valid_ppl": metrics.valid_ppl})
        self.relay_schedule(metrics)
        reason = self.averaging_reason(metrics.epoch)
        if reason:
            self.log(f"Switching to averaged SGD after epoch {metrics.epoch}: {reason}")
            state.averaging_since = metrics.epoch
            self.optimizer = optimizer_of(self.config, self.model, averaging=True)
        state.losses.append({"epoch": metrics.epoch, "losses": state.step_losses})
        state.epoch, state.step, state.epoch_cost, state.epoch_seconds = metrics.epoch, 0, 0.0, 0.0
        state.step_losses = []
        self.hidden = None
        if self.world.is_main:
            self.run_dir.write_metrics(state.history, state.losses)
        self.save_last(None)

    def averaging_reason(self, epoch: int) -> str | None:
        """Why the weights start being averaged after `epoch`, if they do: NT-ASGD's trigger, or
        the start of the last share of the epochs that average_last averages."""
        config, state = self.config, self.state
        if state.averaging_since or epoch >= config.max_max_epoch:
            return None
        if config.optimizer == "ntasgd" and should_average(state.valid_perplexities(),
                                                           config.nonmono):
            return f"valid perplexity is worse than {config.nonmono} epochs before"
        if config.average_last and epoch >= (1 - config.average_last) * config.max_max_epoch:
            return (f"average_last averages the last {config.average_last:g} of the "
                    f"{config.max_max_epoch:g} epochs")
        return None

    def relay_schedule(self, metrics: EpochMetrics) -> None:
        """With a time budget, lay the rest of the schedule out again for the epochs that fit
        at the speed the epoch just trained at (the plan's speed was measured in seconds), so
        that the schedule ends with the budget, neither cut off nor early. The run directory's
        config holds the schedule in force, so that a resume continues it."""
        config, state = self.config, self.state
        if not (self.clock.budget and state.costs and metrics.fraction == 1 and metrics.seconds > 0
                and metrics.epoch < config.max_max_epoch):
            return
        estimated = state.costs.epoch
        state.costs = dataclasses.replace(state.costs, epoch=metrics.seconds)
        epochs = self.world.from_main(
            lambda: round(metrics.epoch + state.costs.epochs_within(self.clock.left(),
                                                                     self.clock.budget), 2))
        if epochs == config.max_max_epoch:
            return
        self.log(f"Time budget: the schedule is laid out again for {plural(epochs)} (planned "
                 f"{config.max_max_epoch:g}): an epoch took {format_duration(metrics.seconds)}, "
                 f"the plan's estimate was {format_duration(estimated)}")
        self.config = stretched_schedule(config, epochs).validate()
        self.schedule = schedule_of(self.config)
        if self.world.is_main:
            self.run_dir.save_config(self.config)

    def log_samples(self, global_step: int) -> None:
        """Log a short continuation of each configured prime (own RNG: training is unaffected).

        Greedy samples (the cookbook's) are the 10 most likely words, ending early at the first
        `<unk>` (logged as the last word); random ones draw 10 words with `<unk>` masked out.
        """
        for index, prime in enumerate(self.config.sample_primes):
            if self.config.sample_strategy == "greedy":
                words = list(itertools.islice(self.generator.words(
                    prime, strategy="greedy", allow_unk=True, stop_at_unk=True), 10))
                # Shown where it stopped, so that a short sample is not mistaken for a bug.
                text = text_of(words + [UNK] if len(words) < 10 else words)
            else:
                seed = self.config.seed + 1000003 * global_step + index
                text = self.generator.text(prime, 10, seed=seed)
            text = text.replace("\n", " / ")
            self.log(f"step {global_step} sample [{prime}] {text}")

    def write_sample(self) -> None:
        """Write `sample_words` sampled words to sample.txt, from a sentence start or (as the
        PyTorch tutorial) from a word drawn uniformly from the vocabulary."""
        config, prime = self.config, ""
        if config.sample_start == "random":
            draw = torch.Generator().manual_seed(config.seed)
            prime = self.corpus.vocab.words[int(torch.randint(len(self.corpus.vocab), (1,),
                                                              generator=draw))]
        text = self.generator.text(prime, config.sample_words, seed=config.seed,
                                   allow_unk=config.sample_allow_unk)
        path = self.run_dir.write_sample(text)
        self.log(f"wrote {config.sample_words} sampled words to {path}")

    def save_last(self, hidden: State | None) -> None:
        """Write the resumable state, recording the time spent so far. In a distributed run
        rank 0 writes it, with every process's rows of the recurrent state and random states."""
        self.state.elapsed_seconds = self.clock.elapsed()
        if hidden is not None:
            hidden = tuple(self.world.gather_rows(tensor, dim=1) for tensor in hidden)
        other_ranks_rng = ()
        if self.world.distributed:
            other_ranks_rng = self.world.gather_objects(
                {kind: rng.cpu() for kind, rng in checkpoint.rng_state(self.device).items()})[1:]
        if self.world.is_main:
            checkpoint.save_training_state(self.run_dir / RunDir.LAST, self.model, self.optimizer,
                                           self.state.to_dict(), hidden,
                                           self.scaler.state_dict() if self.scaler else None,
                                           other_ranks_rng)

    def evaluate(self, split: str) -> float:
        """Perplexity of a split streamed in eval_batch_size rows per process, from the summed
        losses and counts of all processes."""
        batch_size = self.config.eval_batch_size
        rows = self.own_rows(stream_rows(self.corpus.split(split), self.rows(batch_size), "cpu"),
                             batch_size)
        total_loss, total_targets = stream_nll(self.model, rows, self.config.eval_num_steps)
        totals = self.world.sum(torch.stack([total_loss, total_loss.new_tensor(total_targets)]))
        return math.exp((totals[0] / totals[1]).item())

    def finish(self) -> TrainResult:
        """Evaluate the best-on-valid weights on valid and test (and the last weights on test
        where they differ), and record the result."""
        history = self.state.history
        best = best_epoch(history)
        last_test_ppl = None
        if best != history[-1].epoch:
            last_test_ppl = self.evaluate("test")
        if self.world.is_main:
            checkpoint.load_weights(self.run_dir / RunDir.BEST, self.model)
        self.world.broadcast_module(self.model)
        valid_ppl, test_ppl = self.evaluate("valid"), self.evaluate("test")
        self.log(f"Valid Perplexity: {valid_ppl:.3f}")
        self.log(f"Test Perplexity: {test_ppl:.3f}")
        if last_test_ppl is not None:
            self.log(f"Test Perplexity of the last weights (epoch {history[-1].epoch}; the best "
                     f"are from epoch {best}): {last_test_ppl:.3f}")
        adapted = self.adapt() if self.config.final_eval != "static" else None
        if self.world.is_main:
            from ..plotting import plot_runs  # matplotlib is loaded only when a run ends

            plot_runs([self.run_dir], self.run_dir / RunDir.CURVES)
            if self.config.sample_words:
                self.write_sample()
        elapsed = self.clock.elapsed()
        if self.world.is_main:
            results = {"valid_ppl": valid_ppl, "test_ppl": test_ppl, "best_epoch": best,
                       "elapsed_seconds": round(elapsed, 2), "machine": describe_machine()}
            if self.world.distributed:
                results["processes"] = self.world.size
            if last_test_ppl is not None:
                results["last_test_ppl"] = last_test_ppl
            if adapted is not None:
                results["adapted"] = adapted
            self.run_dir.write_results(results)
        budget_note = (f" of the {format_duration(self.clock.budget)} time budget"
                       if self.clock.budget else "")
        self.log(f"Finished in {format_duration(elapsed)}{budget_note}")
        for logger in self.loggers:
            logger.close()
        return TrainResult(self.run_dir.path, history, valid_ppl, test_ppl, last_test_ppl,
                           adapted_test_perplexity=adapted and adapted["test_ppl"],
                           main_process=self.world.is_main)

    def adapt(self) -> dict:
        """The best weights' test perplexity with the config's evaluation-time adaptation,
        its options tuned on the start of the valid split; logged beside the static one."""
        adaptation = tune_adaptation(self.model, self.corpus.valid, self.config.final_eval)
        test_ppl = adaptation.perplexity(self.model, self.corpus.test)
        self.log(f"Test Perplexity with {adaptation.describe()} (tuned on the first "
                 f"{adaptation.tuning_words:,} words of valid: "
                 f"{adaptation.tuning_perplexity:.3f}): {test_ppl:.3f}")
        return {"method": adaptation.method, "options": dataclasses.asdict(adaptation.options),
                "tuning_words": adaptation.tuning_words,
                "tuning_ppl": adaptation.tuning_perplexity,
                "test_ppl": test_ppl}
