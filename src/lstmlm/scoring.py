"""Sentence scoring: the log-probability a model gives each sentence, many sentences at once."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .model import RecurrentLanguageModel, evaluating
from .vocabulary import EOS, Vocabulary


@dataclass
class SentenceScore:
    """Scores of one sentence; `logprob` is natural log and includes the closing `<eos>`."""

    sentence: str
    logprob: float
    log10prob: float
    words: int
    oov: int
    perplexity: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CorpusScore:
    sentences: int
    words: int
    oov: int
    logprob: float
    perplexity: float  # exp(-total logprob / (words + one <eos> per sentence))


@dataclass
class WordSurprisal:
    """How surprising one word of a sentence was: -log2 of its probability given the words
    before it. An OOV word is scored as `<unk>`; the closing `<eos>` is a word like any other."""

    word: str
    oov: bool
    bits: float

    def to_dict(self) -> dict:
        return asdict(self)


# The most logits held at once (floats; 64 MB): a long sentence is scored in windows of steps
# that carry the state, so memory does not grow with its length.
LOGIT_BUDGET = 1 << 24


@torch.no_grad()
def token_logprobs(network: RecurrentLanguageModel, vocab: Vocabulary, sentences: list[list[str]],
                   batch_size: int = 64) -> list[torch.Tensor]:
    """For each word list, the natural-log probability (float64, on the CPU) of each of its
    words and of the closing `<eos>`, each sentence read from a fresh state with `<eos>` as
    its context.

    Sentences are sorted by length and scored `batch_size` at a time, padded to the longest in
    the batch; the padding comes after each sentence, so it never affects the scored positions.
    Each batch is read in windows of at most LOGIT_BUDGET logits, the state carried between
    them.
    """
    eos = vocab.ids[EOS]
    encoded = [[eos] + vocab.encode(words).tolist() + [eos] for words in sentences]
    results: list[torch.Tensor | None] = [None] * len(sentences)
    order = sorted(range(len(sentences)), key=lambda index: len(encoded[index]))
    with evaluating(network):
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            longest = max(len(encoded[index]) for index in batch)
            ids = torch.full((len(batch), longest), eos, dtype=torch.long)
            for row, index in enumerate(batch):
                ids[row, :len(encoded[index])] = torch.tensor(encoded[index])
            logprobs = window_logprobs(network, ids.to(network.device))
            for row, index in enumerate(batch):
                results[index] = logprobs[row, :len(encoded[index]) - 1]
    return results


@torch.no_grad()
def carried_logprobs(network: RecurrentLanguageModel, vocab: Vocabulary,
                     sentences: list[list[str]]) -> list[torch.Tensor]:
    """The same as `token_logprobs`, but the sentences read in order as one stream, each after
    the `<eos>` of the one before and the state carried across (a story read in order)."""
    eos = vocab.ids[EOS]
    ids = [eos]
    for words in sentences:
        ids += vocab.encode(words).tolist() + [eos]
    with evaluating(network):
        logprobs = window_logprobs(network, torch.tensor([ids], device=network.device))[0]
    return list(torch.split(logprobs, [len(words) + 1 for words in sentences]))


def window_logprobs(network: RecurrentLanguageModel, ids: torch.Tensor) -> torch.Tensor:
    """The log-probability (float64, on the CPU) of each id of the (batch, steps) `ids` after
    the first, given those before it in its row, from a fresh state."""
    steps = max(1, LOGIT_BUDGET // (ids.size(0) * network.vocab_size))
    state, pieces = network.init_state(ids.size(0)), []
    for first in range(0, ids.size(1) - 1, steps):
        window = ids[:, first:first + steps + 1]
        logits, state = network(window[:, :-1], state)
        targets = window[:, 1:]
        # One row per position: the softmax runs over contiguous rows (a transposed
        # (batch, vocab, steps) layout costs a copy and a strided softmax, 30% of the time).
        logprobs = -F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                                    reduction="none").view_as(targets)
        pieces.append(logprobs.double().cpu())  # one transfer per window
    return torch.cat(pieces, dim=1)


def score_sentences(network: RecurrentLanguageModel, vocab: Vocabulary, sentences: list[list[str]],
                    batch_size: int = 64) -> list[SentenceScore]:
    """Score each word list from a fresh state with `<eos>` as its context, `<eos>` closing it."""
    scores = []
    for words, logprobs in zip(sentences, token_logprobs(network, vocab, sentences, batch_size)):
        logprob = logprobs.sum().item()
        scores.append(SentenceScore(
            sentence=" ".join(words), logprob=logprob, log10prob=logprob / math.log(10),
            words=len(words), oov=sum(word not in vocab.ids for word in words),
            perplexity=math.exp(-logprob / (len(words) + 1))))
    return scores


def surprisals(network: RecurrentLanguageModel, vocab: Vocabulary, sentences: list[list[str]],
               batch_size: int = 64) -> list[list[WordSurprisal]]:
    """For each word list, the surprisal of each word and of the closing `<eos>`; a sentence's
    bits sum to -log2 of the probability `score_sentences` gives it."""
    return [[WordSurprisal(word, word not in vocab.ids, -logprob / math.log(2))
             for word, logprob in zip(words + [EOS], logprobs.tolist())]
            for words, logprobs in zip(sentences,
                                       token_logprobs(network, vocab, sentences, batch_size))]


def corpus_score(scores: list[SentenceScore]) -> CorpusScore:
    """Totals over sentences; the perplexity counts each sentence's closing `<eos>`."""
    logprob = sum(score.logprob for score in scores)
    predicted = sum(score.words + 1 for score in scores)
    return CorpusScore(sentences=len(scores), words=sum(score.words for score in scores),
                       oov=sum(score.oov for score in scores), logprob=logprob,
                       perplexity=math.exp(-logprob / predicted) if predicted else float("nan"))
