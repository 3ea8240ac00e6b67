"""A trained model loaded from its run directory or model folder: evaluate, generate, score."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch

from .builders import build_corpus
from .config import Config
from .errors import LstmlmError
from .evaluation import (DynamicEvaluation, NeuralCache, cache_perplexity, dynamic_perplexity,
                         stream_perplexity)
from .export import is_model_folder, load_parts
from .generation import Generator
from .hardware import select_device
from .model import RecurrentLanguageModel
from .normalization import clean_lines, model_normalization
from .plan import RunPlan
from .scoring import SentenceScore, WordSurprisal, score_sentences, surprisals
from .vocabulary import Vocabulary, words_of_lines


class LanguageModel:
    """A network together with its vocabulary, the request it was trained from and the plan it
    was trained by (its shape, precision and schedule; `RunPlan.of(config)` where nothing was
    decided)."""

    def __init__(self, network: RecurrentLanguageModel, vocab: Vocabulary, config: Config,
                 path: Path | None = None, quantized: str | None = None,
                 plan: RunPlan | None = None):
        self.network = network.eval()
        self.quantized = quantized  # "int8" when loaded with quantize="int8"
        self.vocab = vocab
        self.config = config
        self.plan = plan or RunPlan.of(config)
        self.path = path  # the run directory or model folder it was loaded from
        self.generator = Generator(self.network, vocab, config.data.clean_text)

    @property
    def device(self) -> torch.device:
        return self.network.device

    @property
    def normalization(self) -> str:
        """How `pairs`, `surprisal` and `syntaxgym` bring text to this model's conventions by
        default (lstmlm.normalization): the config's `normalization`, "auto" resolved."""
        return model_normalization(self.config.data)

    def perplexity(self, text: str, dynamic: DynamicEvaluation | None = None,
                   cache: NeuralCache | None = None) -> float:
        """Perplexity of `text` (lines of words; each line ends with `<eos>`) as one stream,
        with dynamic evaluation or a neural cache as `evaluate` takes them."""
        lines = (clean_lines(text.splitlines()) if self.config.data.clean_text
                 else text.splitlines())
        return self._stream_perplexity(self.vocab.encode(words_of_lines(lines)), 1, dynamic,
                                       cache)

    def evaluate(self, split: str = "test", data: str | None = None,
                 dynamic: DynamicEvaluation | None = None,
                 cache: NeuralCache | None = None) -> float:
        """Perplexity on a split of the run's corpus, or of `data` read with this vocabulary.

        Uses the same streaming evaluation as training, so it reproduces the reported number.
        `dynamic` (`DynamicEvaluation()` for its defaults) adapts the model to the stream as it
        reads it; `cache` (`NeuralCache()`) adds a neural cache.
        """
        if not (data or self.plan.data):
            raise LstmlmError("this model was imported: it has no corpus of its own to take a "
                              "split from (evaluate a text with --data - < FILE, or a corpus "
                              "folder with --data FOLDER)")
        ids = build_corpus(self.config.data, self.vocab, data or self.plan.data).split(split)
        return self._stream_perplexity(ids, self.config.evaluation.batch_size, dynamic, cache)

    def _stream_perplexity(self, ids: torch.Tensor, batch_size: int,
                           dynamic: DynamicEvaluation | None,
                           cache: NeuralCache | None) -> float:
        """Perplexity of an id stream: streamed in `batch_size` rows, or read one word at a
        time with dynamic evaluation or a neural cache."""
        if dynamic is not None and cache is not None:
            raise LstmlmError("dynamic evaluation and the neural cache cannot be combined here")
        if dynamic is not None and self.quantized:
            raise LstmlmError(f"dynamic evaluation trains the weights: it cannot run on a model "
                              f"quantised to {self.quantized}")
        if dynamic is not None:
            return dynamic_perplexity(self.network, ids, dynamic)
        if cache is not None:
            return cache_perplexity(self.network, ids, cache)
        return stream_perplexity(self.network, ids, batch_size,
                                 self.config.evaluation.num_steps)

    def generate(self, prime: str = "", words: int = 50, **options) -> str:
        """Generated text continuing `prime` (empty: a sentence start), `<eos>` as line breaks.

        Options: strategy ("greedy" or "sample"), temperature, top_k, top_p, seed, allow_unk
        (default False: `<unk>` is never produced), stop_at_eos.
        """
        return self.generator.text(prime, words, **options)

    def generate_words(self, prime: str = "", **options) -> Iterator[str]:
        """The same as `generate`, as an endless stream of words (`<eos>` included)."""
        return self.generator.words(prime, **options)

    def generate_sentences(self, count: int, min_length: int = 1, prime: str = "",
                           **options) -> list[str]:
        """`count` sentences of at least `min_length` words each."""
        return self.generator.sentences(count, min_length, prime, **options)

    def score(self, sentences: list[str], batch_size: int = 64) -> list[SentenceScore]:
        """Log-probability, word and OOV counts and perplexity of each sentence (one per string).

        Each sentence is scored from a fresh state after `<eos>`, including its closing `<eos>`;
        `lstmlm.scoring.corpus_score` totals them.
        """
        return score_sentences(self.network, self.vocab, self.sentence_words(sentences),
                               batch_size)

    def surprisals(self, sentences: list[str], batch_size: int = 64) -> list[list[WordSurprisal]]:
        """Per sentence, each word's surprisal in bits (-log2 p) and whether it is OOV, the
        closing `<eos>` included; read as `score` reads the sentences."""
        return surprisals(self.network, self.vocab, self.sentence_words(sentences), batch_size)

    def sentence_words(self, sentences: list[str]) -> list[list[str]]:
        """The words of each sentence as the model reads them (cleaned if it was trained so)."""
        return [self.generator.prime_words(sentence) for sentence in sentences]


QUANTIZATIONS = ("int8",)


def load(path: str | Path, device: str | None = None, weights: str = "best",
         quantize: str | None = None,
         ablate: dict[int, list[int]] | None = None) -> LanguageModel:
    """Load a run directory or a model folder (`lstmlm export`) for use on `device`.

    The default device is the run's configured one; a model folder, which may come from
    another machine, goes to the best device here. From a run it takes the best-on-valid
    weights or, with `weights="last"`, those training ended with (the ones the reference
    implementations report). `quantize="int8"` (CPU only) stores the recurrent layers' and
    the decoder's weights in int8 and quantises their inputs on the fly
    (`torch.ao.quantization.quantize_dynamic`), for smaller and often faster CPU inference.
    `ablate` maps layers (from 1) to units (from 0) whose output and cell state are zero at
    every step (`RecurrentLanguageModel.ablate`).
    """
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise LstmlmError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    if quantize and ablate:
        raise LstmlmError("an ablation runs the float layers step by step: it cannot be "
                          "combined with int8 quantisation")
    config, plan, vocab, network = load_parts(path, weights)
    if ablate:
        try:
            network.ablate({layer - 1: list(units) for layer, units in ablate.items()})
        except ValueError as error:
            raise LstmlmError(f"ablate: {error}") from None
    default = "cpu" if quantize else "auto" if is_model_folder(path) else config.run.device
    target = select_device(device or default)
    if quantize:
        if target.type != "cpu":
            raise LstmlmError(f"quantize={quantize} runs on the CPU only, not on {target}")
        network = torch.ao.quantization.quantize_dynamic(
            network, {torch.nn.LSTM, torch.nn.GRU, torch.nn.Linear}, dtype=torch.qint8)
    network.to(target)
    return LanguageModel(network, vocab, config, Path(path), quantize, plan)
