"""Training: the library pieces (schedules and optimizers, the update step, planning a run
from its config and a time budget, progress, metric loggers) and, above them, the recipe
(`train`) and its loop (`Trainer`).

The names below are the package's public interface; benchmarks and users import these.
"""

from .loggers import MetricLogger, ProgressBarLogger, TensorBoardLogger, TextLogger
from .planning import (budget_shapes, check_corpus_fits, measure_throughput, optimizer_of,
                       plan_budget, regularisation_line, scaled_schedule, schedule_of, shaped,
                       step_options, throwaway_training)
from .progress import TrainResult, TrainState, best_epoch
from .run import train
from .schedule import (LearningRateSchedule, averaged_weights, build_optimizer, plateaus,
                       should_average)
from .step import WindowLoss, new_scaler, train_step
from .trainer import Trainer

__all__ = ["LearningRateSchedule", "MetricLogger", "ProgressBarLogger", "TensorBoardLogger",
           "TextLogger", "TrainResult", "TrainState", "Trainer", "WindowLoss", "averaged_weights",
           "best_epoch", "budget_shapes", "build_optimizer", "check_corpus_fits",
           "measure_throughput", "new_scaler", "optimizer_of", "plan_budget", "plateaus",
           "regularisation_line",
           "scaled_schedule", "schedule_of", "shaped", "should_average", "step_options",
           "throwaway_training", "train", "train_step"]
