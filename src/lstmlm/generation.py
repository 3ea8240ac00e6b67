"""Text generation: feed a prime through the model, then produce one word at a time.

The LSTM state is carried from word to word, so each new word costs one step of the network,
never a re-run of the prefix.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Iterator

import torch

from .config import STRATEGIES
from .errors import LstmlmError
from .model import RecurrentLanguageModel, evaluating
from .normalization import clean_line
from .vocabulary import EOS, UNK, Vocabulary


def check_options(strategy: str = "sample", temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> None:
    """Raise LstmlmError for an unknown strategy or an out-of-range sampling option."""
    if strategy not in STRATEGIES:
        raise LstmlmError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    if not temperature >= 0:
        raise LstmlmError(f"temperature must be >= 0, got {temperature}")
    if top_k < 0:
        raise LstmlmError(f"top-k must be >= 0 (0: no limit), got {top_k}")
    if not 0 < top_p <= 1:
        raise LstmlmError(f"top-p must be in (0, 1], got {top_p}")


def choose(logits: torch.Tensor, strategy: str = "sample", temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None) -> int:
    """Pick the next id from a vector of logits (banned ids already set to -inf).

    Greedy takes the argmax, as does sampling at temperature 0. Sampling divides the logits by
    the temperature, keeps the `top_k` most likely ids and then the smallest set whose
    probability reaches `top_p` (nucleus), and draws from what is left.
    """
    if strategy == "greedy" or temperature == 0:
        return int(torch.argmax(logits))
    logits = logits.float().cpu() / temperature  # the generator lives on the CPU
    if top_k:
        threshold = torch.topk(logits, min(top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    if top_p < 1:
        sorted_probabilities, order = torch.sort(probabilities, descending=True)
        before = torch.cumsum(sorted_probabilities, dim=-1) - sorted_probabilities
        sorted_probabilities[before >= top_p] = 0  # keeps the first id that crosses top_p
        probabilities = torch.zeros_like(probabilities).scatter(0, order, sorted_probabilities)
    return int(torch.multinomial(probabilities, 1, generator=generator))


@torch.no_grad()
def generate_ids(network: RecurrentLanguageModel, prime_ids: list[int], *, strategy: str = "sample",
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 banned_ids: tuple[int, ...] = (), generator: torch.Generator | None = None,
                 state=None) -> Iterator[int]:
    """Endless stream of ids continuing `prime_ids` (which must not be empty).

    `state`, if given, is a list holding the LSTM state, updated after every word so that a
    caller can snapshot and restore it (as sentence generation does to retry a sentence).
    """
    check_options(strategy, temperature, top_k, top_p)
    state = state if state is not None else [network.init_state(1)]
    inputs = torch.tensor([prime_ids], dtype=torch.long, device=network.device)
    # The mode is restored when the caller stops iterating (the generator is closed).
    with evaluating(network):
        while True:
            logits, state[0] = network(inputs, state[0])
            last = logits[0, -1]
            if banned_ids:
                last = last.clone()
                last[list(banned_ids)] = float("-inf")
            next_id = choose(last, strategy, temperature, top_k, top_p, generator)
            yield next_id
            inputs = torch.tensor([[next_id]], dtype=torch.long, device=network.device)


def text_of(words: list[str]) -> str:
    """Words joined by spaces, each `<eos>` written as a line break."""
    lines, current = [], []
    for word in words:
        if word == EOS:
            lines.append(" ".join(current))
            current = []
        else:
            current.append(word)
    return "\n".join(lines + [" ".join(current)])


class Generator:
    """Generation from a network and its vocabulary: word streams, texts and sentences."""

    def __init__(self, network: RecurrentLanguageModel, vocab: Vocabulary, clean: bool = False):
        self.network = network
        self.vocab = vocab
        self.clean = clean
        self.eos_id = vocab.ids.get(EOS, vocab.unk_id)

    def prime_words(self, prime: str) -> list[str]:
        return (clean_line(prime) if self.clean else prime).split()

    def unknown_words(self, prime: str) -> list[str]:
        """The prime's words that the vocabulary lacks (they are read as `<unk>`)."""
        return [word for word in self.prime_words(prime) if word not in self.vocab.ids]

    def prime_ids(self, prime: str) -> list[int]:
        unknown = self.unknown_words(prime)
        if unknown:
            warnings.warn(f"prime words not in the vocabulary, read as {UNK}: {', '.join(unknown)}",
                          stacklevel=3)
        return self.vocab.encode(self.prime_words(prime)).tolist() or [self.eos_id]

    def words(self, prime: str = "", *, allow_unk: bool = False, stop_at_eos: bool = False,
              stop_at_unk: bool = False, seed: int | None = None,
              **options) -> Iterator[str]:
        """Endless stream of generated words; with `stop_at_eos` it ends before the first
        `<eos>`, with `stop_at_unk` before the first `<unk>` (the cookbook's samples).

        `options` are those of `choose`: strategy, temperature, top_k, top_p. Unless
        `allow_unk`, `<unk>` is masked out of the distribution and never produced.
        """
        banned = () if allow_unk else (self.vocab.unk_id,)
        stops = {self.eos_id} if stop_at_eos else set()
        if stop_at_unk:
            stops.add(self.vocab.unk_id)
        generator = torch.Generator()
        generator.manual_seed(seed) if seed is not None else generator.seed()
        for next_id in generate_ids(self.network, self.prime_ids(prime), banned_ids=banned,
                                    generator=generator, **options):
            if next_id in stops:
                return
            yield self.vocab.words[next_id]

    def text(self, prime: str = "", num_words: int = 50, **options) -> str:
        """`num_words` generated words (fewer if `stop_at_eos` or `stop_at_unk`) as text."""
        if num_words < 1:
            raise LstmlmError(f"number of words must be >= 1, got {num_words}")
        return text_of(list(itertools.islice(self.words(prime, **options), num_words)))

    def sentences(self, count: int, min_length: int = 1, prime: str = "", *,
                  allow_unk: bool = False, seed: int | None = None, max_words: int = 200,
                  max_attempts: int = 100, **options) -> list[str]:
        """`count` sentences of at least `min_length` words, each ended by `<eos>`.

        A sentence that is too short is discarded and generated again from the same state.
        """
        if count < 1 or min_length < 0:
            raise LstmlmError("sentences must be >= 1 and min-length >= 0")
        banned = () if allow_unk else (self.vocab.unk_id,)
        generator = torch.Generator()
        generator.manual_seed(seed) if seed is not None else generator.seed()
        state, ids, result = [self.network.init_state(1)], self.prime_ids(prime), []
        for _ in range(count):
            for _attempt in range(max_attempts):
                trial = [tuple(tensor.clone() for tensor in state[0])]
                words: list[str] = []
                for next_id in generate_ids(self.network, ids, banned_ids=banned,
                                            generator=generator, state=trial, **options):
                    if next_id == self.eos_id or len(words) == max_words:
                        break
                    words.append(self.vocab.words[next_id])
                if len(words) >= min_length:
                    state, ids = trial, [next_id]
                    result.append(" ".join(words))
                    break
            else:
                raise LstmlmError(f"no sentence of at least {min_length} words in {max_attempts} "
                                  "attempts (greedy decoding repeats itself: sample instead)")
        return result
