"""Perplexity of a model over a continuous id stream."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .batching import batchify, windows
from .errors import LstmlmError
from .model import RecurrentLanguageModel, detach_state, evaluating


def stream_rows(ids: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """The id stream as `batch_size` rows on `device`; too short to predict anything is an error."""
    rows = batchify(ids, batch_size).to(device)
    if rows.size(1) < 2:
        raise LstmlmError(f"too few words ({len(ids)}) to evaluate with batch size {batch_size}")
    return rows


def stream_perplexity(model: RecurrentLanguageModel, ids: torch.Tensor, batch_size: int = 1,
                      num_steps: int = 100) -> float:
    """exp(mean cross-entropy) of predicting every next id of `ids`, the state carried throughout.

    With batch_size 1 this scores all `len(ids) - 1` targets, like the reference's eval config
    (batch 1, one step at a time); longer windows give the same number, faster.
    """
    total_loss, total_targets = stream_nll(model, stream_rows(ids, batch_size, model.device),
                                           num_steps)
    return math.exp(total_loss.item() / total_targets)


@torch.no_grad()
def stream_nll(model: RecurrentLanguageModel, rows: torch.Tensor,
               num_steps: int = 100) -> tuple[torch.Tensor, int]:
    """The summed negative log-likelihood (a float64 tensor) of every next id of each row of
    `rows`, each row's state carried throughout, and the number of targets: the sums a
    distributed evaluation adds up over processes before taking their ratio."""
    state = model.init_state(rows.size(0))
    total_loss = torch.zeros((), dtype=torch.float64, device=model.device)
    total_targets = 0
    with evaluating(model):
        for inputs, targets in windows(rows, num_steps, include_partial=True):
            loss, state = model.window_nll(inputs, targets, state)
            total_loss += loss.double()
            total_targets += targets.numel()
    return total_loss, total_targets


@dataclass(frozen=True)
class DynamicEvaluation:
    """Options of dynamic evaluation (Krause et al. 2018); the CLI's defaults are these.

    `num_steps` words are scored, then used for one gradient step. `method="sgd"` steps by the
    gradient of the window's summed loss at `learning_rate` (0.03 was best on the small
    model's valid split); `"rms"` divides it by the root of a running mean of squared gradients
    (RMSprop-style with `rms_beta` and `epsilon`, gathered on the stream itself, where the paper
    gathers it on training data). `decay` pulls the weights back towards the trained ones each
    step.
    """

    num_steps: int = 20
    learning_rate: float = 0.03
    decay: float = 0.0
    method: str = "sgd"
    rms_beta: float = 0.99
    epsilon: float = 1e-8

    def check(self) -> "DynamicEvaluation":
        """Raise LstmlmError for an unknown method or an out-of-range option."""
        if self.method not in ("sgd", "rms"):
            raise LstmlmError(f"dynamic evaluation method must be sgd or rms, got {self.method!r}")
        if not self.learning_rate > 0 or not 0 <= self.decay < 1 or self.num_steps < 1:
            raise LstmlmError("dynamic evaluation needs learning rate > 0, 0 <= decay < 1 and "
                              "steps >= 1")
        return self


def dynamic_perplexity(model: RecurrentLanguageModel, ids: torch.Tensor,
                       options: DynamicEvaluation = DynamicEvaluation()) -> float:
    """Perplexity with dynamic evaluation: score each window of the stream first, then take a
    gradient step on it, so the model adapts to the text as it reads it. The model's weights
    are restored afterwards."""
    options.check()
    rows = stream_rows(ids, 1, model.device)
    parameters = list(model.parameters())
    trained = [parameter.detach().clone() for parameter in parameters]
    mean_squares = [torch.zeros_like(parameter) for parameter in parameters]
    state = model.init_state(1)
    total_loss, total_targets = 0.0, 0
    # No dropout: the adaptation is to the text, not to noise.
    with evaluating(model):
        try:
            for inputs, targets in windows(rows, options.num_steps, include_partial=True):
                loss, state = model.window_nll(inputs, targets, state)
                total_loss += loss.item()
                total_targets += targets.numel()
                model.zero_grad(set_to_none=True)
                loss.backward()
                state = detach_state(state)
                with torch.no_grad():
                    for parameter, original, mean_square in zip(parameters, trained, mean_squares):
                        step = parameter.grad
                        # None: the window did not reach it (an adaptive softmax's tail
                        # cluster with none of the window's targets in it).
                        if step is not None:
                            if options.method == "rms":
                                mean_square.mul_(options.rms_beta).addcmul_(
                                    step, step, value=1 - options.rms_beta)
                                step = step / (mean_square.sqrt() + options.epsilon)
                            parameter.add_(step, alpha=-options.learning_rate)
                        parameter.add_(original - parameter, alpha=options.decay)
        finally:
            with torch.no_grad():
                for parameter, original in zip(parameters, trained):
                    parameter.copy_(original)
            model.zero_grad(set_to_none=True)
    return math.exp(total_loss / total_targets)


def mix_with_cache(vocab_probabilities: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                   query: torch.Tensor, theta: float, lambda_: float) -> torch.Tensor:
    """The neural cache's distribution (Grave et al. 2017) for one step.

    `(1 - lambda_) * p_vocab + lambda_ * p_cache`, where p_cache puts on each word the softmax
    weight `exp(theta * query . key)` of every cached hidden state `key` that was followed by
    that word (`values`). With an empty cache it is p_vocab.
    """
    if len(keys) == 0:
        return vocab_probabilities
    weights = torch.softmax(theta * (keys @ query), dim=0)
    cache = torch.zeros_like(vocab_probabilities).index_add_(0, values, weights)
    return (1 - lambda_) * vocab_probabilities + lambda_ * cache


@dataclass(frozen=True)
class NeuralCache:
    """Options of the neural cache (Grave et al. 2017); the CLI's defaults are these.

    The cache holds the last `window` hidden states; `theta` sharpens their match with the
    current one and `lambda_` is the cache's share of the mixed distribution (500 / 0.5 / 0.1
    were best on the small model's valid split). `num_steps` only bounds memory.
    """

    window: int = 500
    theta: float = 0.5
    lambda_: float = 0.1
    num_steps: int = 100

    def check(self) -> "NeuralCache":
        """Raise LstmlmError for an out-of-range option."""
        if self.window < 1 or self.theta < 0 or not 0 <= self.lambda_ <= 1 or self.num_steps < 1:
            raise LstmlmError("cache needs window >= 1, theta >= 0 and 0 <= lambda <= 1")
        return self


@torch.no_grad()
def cache_perplexity(model: RecurrentLanguageModel, ids: torch.Tensor,
                     options: NeuralCache = NeuralCache()) -> float:
    """Perplexity of the stream with a neural cache over the last `options.window` hidden states."""
    options.check()
    window, device = options.window, model.device
    rows = stream_rows(ids, 1, device)
    state = model.init_state(1)
    # A ring buffer: the cache's order does not matter, only which states are in it.
    keys = torch.empty(window, model.output_size, device=device)
    values = torch.empty(window, dtype=torch.long, device=device)
    cached = 0  # states seen so far; the newest is at (cached - 1) % window
    total_log_probability, total_targets = 0.0, 0
    with evaluating(model):
        for inputs, targets in windows(rows, options.num_steps, include_partial=True):
            features, state = model.features(inputs, state)
            probabilities = torch.softmax(model.logits(features)[0], dim=-1)
            for step, target in enumerate(targets[0]):
                filled = min(cached, window)
                mixed = mix_with_cache(probabilities[step], keys[:filled], values[:filled],
                                       features[0, step], options.theta, options.lambda_)
                total_log_probability += math.log(mixed[target].item())
                keys[cached % window], values[cached % window] = features[0, step], target
                cached += 1
            total_targets += targets.numel()
    return math.exp(-total_log_probability / total_targets)


# Evaluation-time adaptation (the final_eval setting): the options tried on the first
# TUNING_WORDS words of the valid split, around the defaults above.
TUNING_WORDS = 20_000
DYNAMIC_RATES = (0.01, 0.03, 0.1)
CACHE_GRID = tuple(NeuralCache(theta=theta, lambda_=lambda_)
                   for theta in (0.1, 0.3, 0.5) for lambda_ in (0.05, 0.1, 0.2))


@dataclass(frozen=True)
class Adaptation:
    """What tuning an evaluation-time adaptation found: the method, the options chosen, and
    the perplexity they gave on the tuning words (the first `tuning_words` of valid)."""

    method: str
    options: DynamicEvaluation | NeuralCache
    tuning_perplexity: float
    tuning_words: int

    def perplexity(self, model: RecurrentLanguageModel, ids: torch.Tensor) -> float:
        """The stream's perplexity with this adaptation."""
        return adapted_perplexity(model, ids, self.options)

    def describe(self) -> str:
        if isinstance(self.options, DynamicEvaluation):
            return f"dynamic evaluation, learning rate {self.options.learning_rate:g}"
        return (f"neural cache, window {self.options.window}, theta {self.options.theta:g}, "
                f"lambda {self.options.lambda_:g}")


def adapted_perplexity(model: RecurrentLanguageModel, ids: torch.Tensor,
                       options: DynamicEvaluation | NeuralCache) -> float:
    """The stream's perplexity with dynamic evaluation or a neural cache, as `options` say."""
    if isinstance(options, DynamicEvaluation):
        return dynamic_perplexity(model, ids, options)
    return cache_perplexity(model, ids, options)


def adaptation_grid(method: str) -> tuple[DynamicEvaluation | NeuralCache, ...]:
    """The options tuning tries for `method` ("dynamic" or "cache")."""
    if method == "dynamic":
        return tuple(DynamicEvaluation(learning_rate=rate) for rate in DYNAMIC_RATES)
    if method == "cache":
        return CACHE_GRID
    raise LstmlmError(f"evaluation-time adaptation must be dynamic or cache, got {method!r}")


def tune_adaptation(model: RecurrentLanguageModel, valid: torch.Tensor, method: str,
                    words: int = TUNING_WORDS) -> Adaptation:
    """The options of `method` that give the lowest perplexity on the first `words` words of
    the valid split (the earliest of equals)."""
    tuning = valid[:words]
    tried = [(adapted_perplexity(model, tuning, options), index, options)
             for index, options in enumerate(adaptation_grid(method))]
    perplexity, _, options = min(tried)
    return Adaptation(method, options, perplexity, len(tuning))


def adaptation_words(method: str, valid_words: int, test_words: int,
                     words: int = TUNING_WORDS) -> int:
    """The words an adaptation streams: each tried option over the tuning words, then test
    (none for "static", no adaptation)."""
    if method == "static":
        return 0
    return len(adaptation_grid(method)) * min(words, valid_words) + test_words
