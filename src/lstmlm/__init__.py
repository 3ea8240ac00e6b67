"""lstmlm: word-level recurrent language models (Zaremba et al. 2014) on PyTorch."""

from .api import LanguageModel, load
from .config import PRESETS, Config, apply_overrides, get_preset
from .corpus import Corpus, Vocabulary, load_corpus
from .errors import LstmlmError
from .model import LSTMLanguageModel
from .training import TrainResult, train

__all__ = ["Config", "Corpus", "LSTMLanguageModel", "LanguageModel", "LstmlmError", "PRESETS",
           "TrainResult", "Vocabulary", "apply_overrides", "get_preset", "load", "load_corpus",
           "train"]
__version__ = "0.1.0"
