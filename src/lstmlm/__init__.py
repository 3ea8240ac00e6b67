"""lstmlm: word-level recurrent language models (Zaremba et al. 2014) on PyTorch.

Importing the package loads what inference needs; the `training` package is imported the
first time `lstmlm.train` or `lstmlm.TrainResult` is used, and matplotlib only when a plot is
drawn.
"""

from importlib import metadata

from .api import LanguageModel, load
from .config import Config, apply_overrides
from .corpus import Corpus, load_corpus
from .errors import LstmlmError
from .evaluation import DynamicEvaluation, NeuralCache
from .importing import import_checkpoint
from .model import LSTMLanguageModel, RecurrentLanguageModel
from .plan import RunPlan
from .presets import PRESETS, get_preset
from .vocabulary import Vocabulary

__all__ = ["Config", "Corpus", "DynamicEvaluation", "LSTMLanguageModel", "LanguageModel",
           "LstmlmError", "NeuralCache", "PRESETS", "RecurrentLanguageModel", "RunPlan",
           "TrainResult", "Vocabulary",
           "apply_overrides", "get_preset", "import_checkpoint", "load", "load_corpus", "train"]
__version__ = metadata.version("lstmlm")

_TRAINING = ("train", "TrainResult")


def __getattr__(name: str):
    if name in _TRAINING:
        from . import training

        return getattr(training, name)
    raise AttributeError(f"module 'lstmlm' has no attribute {name!r}")
