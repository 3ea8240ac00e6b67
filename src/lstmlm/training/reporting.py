"""What a run tells as it trains and when it ends: log lines, metrics to the loggers, logged
samples and sample.txt, then the curves plot and results.json."""

from __future__ import annotations

import itertools
from typing import Callable

import torch

from ..budget import format_duration
from ..config import LoggingConfig
from ..distributed import World
from ..generation import Generator, text_of
from ..hardware import describe_machine
from ..rundir import RunDir
from ..vocabulary import UNK, Vocabulary
from .loggers import MetricLogger, ProgressBarLogger, TensorBoardLogger, TextLogger

# Words a logged sample continues its prime with.
SAMPLE_LENGTH = 10


class Reporter:
    """A run's voice. Only rank 0 of a distributed run writes files."""

    def __init__(self, run_dir: RunDir, log: Callable[[str], None], progress_bar: bool,
                 logging: LoggingConfig, generator: Generator, world: World, seed: int):
        self.run_dir = run_dir
        self.log = log
        self.logging = logging
        self.generator = generator
        self.world = world
        self.seed = seed
        self.progress_bar = ProgressBarLogger(progress_bar)
        self.loggers: list[MetricLogger] = [TextLogger(log), self.progress_bar]

    def open_tensorboard(self, global_step: int) -> None:
        """Add the TensorBoard logger where the run asks for it."""
        if self.logging.tensorboard and self.world.is_main:
            self.loggers.append(TensorBoardLogger(self.run_dir / RunDir.TENSORBOARD, global_step))

    def report(self, metrics: dict[str, float], step: int) -> None:
        """Send metrics to every logger of the run."""
        for logger in self.loggers:
            logger.log(metrics, step)

    def after_step(self, global_step: int) -> None:
        """Samples every `sample_every` steps."""
        every = self.logging.sample_every
        if every and global_step % every == 0 and self.world.is_main:
            self.log_samples(global_step)

    def log_samples(self, global_step: int) -> None:
        """Log a short continuation of each configured prime (own RNG: training is unaffected).

        Greedy samples (the cookbook's) are the 10 most likely words, ending early at the first
        `<unk>` (logged as the last word); random ones draw 10 words with `<unk>` masked out.
        """
        for index, prime in enumerate(self.logging.sample_primes):
            if self.logging.sample_strategy == "greedy":
                words = list(itertools.islice(self.generator.words(
                    prime, strategy="greedy", allow_unk=True, stop_at_unk=True), SAMPLE_LENGTH))
                # Shown where it stopped, so that a short sample is not mistaken for a bug.
                text = text_of(words + [UNK] if len(words) < SAMPLE_LENGTH else words)
            else:
                seed = self.seed + 1000003 * global_step + index
                text = self.generator.text(prime, SAMPLE_LENGTH, seed=seed)
            text = text.replace("\n", " / ")
            self.log(f"step {global_step} sample [{prime}] {text}")

    def write_sample(self, vocab: Vocabulary) -> None:
        """Write `sample_words` sampled words to sample.txt, from a sentence start or (as the
        PyTorch tutorial) from a word drawn uniformly from the vocabulary."""
        logging, prime = self.logging, ""
        if logging.sample_start == "random":
            draw = torch.Generator().manual_seed(self.seed)
            prime = vocab.words[int(torch.randint(len(vocab), (1,), generator=draw))]
        text = self.generator.text(prime, logging.sample_words, seed=self.seed,
                                   allow_unk=logging.sample_allow_unk)
        path = self.run_dir.write_sample(text)
        self.log(f"wrote {logging.sample_words} sampled words to {path}")

    def finish(self, results: dict, vocab: Vocabulary, elapsed: float, budget: float | None
               ) -> None:
        """The end of a run: the curves plot, sample.txt, results.json (the machine added),
        the last line, and the loggers closed."""
        if self.world.is_main:
            from ..plotting import plot_runs  # matplotlib is loaded only when a run ends

            plot_runs([self.run_dir], self.run_dir / RunDir.CURVES)
            if self.logging.sample_words:
                self.write_sample(vocab)
            self.run_dir.write_results({**results, "elapsed_seconds": round(elapsed, 2),
                                        "machine": describe_machine()})
        budget_note = f" of the {format_duration(budget)} time budget" if budget else ""
        self.log(f"Finished in {format_duration(elapsed)}{budget_note}")
        for logger in self.loggers:
            logger.close()
