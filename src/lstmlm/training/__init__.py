"""Training: the library pieces (schedules and optimizers, the update step, one setup of a
plan's network and optimizer, planning a run from its request and a time budget, progress,
metric loggers) and, above them, the recipe (`train`) and its loop (`Trainer`) with its
collaborators (the budget's keeper, the process's shard, the reporter).

The names below are the package's public interface; benchmarks and users import these.
"""

from .loggers import MetricLogger, ProgressBarLogger, TensorBoardLogger, TextLogger
from .planning import (budget_shapes, capped_corpus, check_corpus_fits, measure_throughput,
                       one_cycle, plan_budget, plan_run, regularisation_for_epochs,
                       regularisation_line, shaped, stretched_schedule, throwaway_training)
from .progress import TrainResult, TrainState, best_epoch
from .run import train
from .schedule import (LearningRateSchedule, averaged_weights, averaging_reason, build_optimizer,
                       plateaus, should_average)
from .setup import Training, build_training, new_optimizer, schedule_of, step_options
from .step import WindowLoss, new_scaler, train_step
from .trainer import Trainer

__all__ = ["LearningRateSchedule", "MetricLogger", "ProgressBarLogger", "TensorBoardLogger",
           "TextLogger", "TrainResult", "TrainState", "Trainer", "Training", "WindowLoss",
           "averaged_weights", "averaging_reason", "best_epoch", "budget_shapes",
           "build_optimizer", "build_training", "capped_corpus", "check_corpus_fits",
           "measure_throughput", "new_optimizer", "new_scaler", "one_cycle", "plan_budget",
           "plan_run", "plateaus", "regularisation_for_epochs", "regularisation_line",
           "schedule_of", "shaped", "should_average", "step_options", "stretched_schedule",
           "throwaway_training", "train", "train_step"]
