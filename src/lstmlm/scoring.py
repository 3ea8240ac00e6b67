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
# The logits whose entropy, rank and top words are taken at once (8 MB of floats).
MEASURE_BLOCK = 1 << 21


@dataclass
class Predictions:
    """What a model predicted at each position of one sentence (its words, then the closing
    `<eos>`: n positions), each read from the distribution that predicted it. Natural logs."""

    logprobs: torch.Tensor  # (n,) float64: each word's log-probability
    entropies: torch.Tensor | None = None  # (n + 1,) float64; the last: after the closing <eos>
    ranks: torch.Tensor | None = None  # (n,) int64: 1 for the most probable word
    top_ids: torch.Tensor | None = None  # (n, k): the k most probable words
    top_logprobs: torch.Tensor | None = None  # (n, k) float64
    full: torch.Tensor | None = None  # (n, vocabulary) float32: every word's log-probability


@torch.no_grad()
def sentence_predictions(network: RecurrentLanguageModel, vocab: Vocabulary,
                         sentences: list[list[str]], batch_size: int = 64, carry: bool = False,
                         *, entropy: bool = False, ranks: bool = False, top: int = 0,
                         full: bool = False) -> list[Predictions]:
    """For each word list, the log-probability of each of its words and of the closing
    `<eos>`, and with `entropy`, `ranks`, `top` or `full` more of each distribution.

    Each sentence is read from a fresh state with `<eos>` as its context or, with `carry`,
    all of them in order as one stream, each after the `<eos>` of the one before. Sentences
    are sorted by length and read `batch_size` at a time, padded to the longest in the batch;
    the padding comes after each sentence, so it never affects the scored positions.
    """
    eos = vocab.ids[EOS]
    encoded = [vocab.encode(words).tolist() + [eos] for words in sentences]
    # One more input where the entropy after each closing <eos> is asked for.
    extra = [eos] if entropy else []
    options = dict(entropy=entropy, ranks=ranks, top=top, full=full)
    results: list[Predictions | None] = [None] * len(sentences)
    with evaluating(network):
        if carry:
            stream = [eos] + [index for ids in encoded for index in ids] + extra
            measures = window_measures(network, torch.tensor([stream], device=network.device),
                                       **options)
            start = 0
            for number, ids in enumerate(encoded):
                results[number] = _predictions_at(measures, 0, start, len(ids))
                start += len(ids)
            return results
        order = sorted(range(len(sentences)), key=lambda index: len(encoded[index]))
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            longest = max(len(encoded[index]) for index in batch)
            ids = torch.full((len(batch), 1 + longest + len(extra)), eos, dtype=torch.long)
            for row, index in enumerate(batch):
                ids[row, 1:1 + len(encoded[index])] = torch.tensor(encoded[index])
            measures = window_measures(network, ids.to(network.device), **options)
            for row, index in enumerate(batch):
                results[index] = _predictions_at(measures, row, 0, len(encoded[index]))
    return results


def _predictions_at(measures: dict[str, torch.Tensor], row: int, start: int,
                    length: int) -> Predictions:
    """One sentence's `length` positions from `start` in row `row` of `window_measures`."""
    # The entropies hold one more: the distribution after the closing <eos>.
    part = {name: tensor[row, start:start + length + (name == "entropy")]
            for name, tensor in measures.items()}
    return Predictions(part["logprob"], part.get("entropy"), part.get("rank"),
                       part.get("top_ids"), part.get("top_logprobs"), part.get("full"))


def token_logprobs(network: RecurrentLanguageModel, vocab: Vocabulary, sentences: list[list[str]],
                   batch_size: int = 64) -> list[torch.Tensor]:
    """For each word list, the natural-log probability (float64, on the CPU) of each of its
    words and of the closing `<eos>`, each sentence read from a fresh state after `<eos>`."""
    return [predictions.logprobs
            for predictions in sentence_predictions(network, vocab, sentences, batch_size)]


def window_measures(network: RecurrentLanguageModel, ids: torch.Tensor, *,
                    entropy: bool = False, ranks: bool = False, top: int = 0,
                    full: bool = False, choices: torch.Tensor | None = None
                    ) -> dict[str, torch.Tensor]:
    """For each id of the (batch, steps) `ids` after the first, read from a fresh state:
    "logprob", its log-probability (float64) given the ids before it in its row, and as
    asked "entropy" (float64, nats) of that distribution, the id's "rank", the `top` most
    probable "top_ids" and their "top_logprobs", the "full" distribution (float32), and the
    log-probabilities of the (batch, steps - 1, m) `choices` ids there ("choices"). All on
    the CPU, each (batch, steps - 1, ...).

    The ids are read in windows of at most LOGIT_BUDGET logits, the state carried between
    them, so that memory does not grow with the length of a row; the measures beyond the
    log-probabilities take a block of MEASURE_BLOCK logits at a time, so that their several
    copies of each distribution stay within a block (the full distributions excepted)."""
    steps = max(1, LOGIT_BUDGET // (ids.size(0) * network.vocab_size))
    rows = max(1, MEASURE_BLOCK // network.vocab_size)
    state, pieces = network.init_state(ids.size(0)), []
    for first in range(0, ids.size(1) - 1, steps):
        window = ids[:, first:first + steps + 1]
        features, state = network.features(window[:, :-1], state)
        # One row per position: the softmax runs over contiguous rows (a transposed
        # (batch, vocab, steps) layout costs a copy and a strided softmax, 30% of the time).
        flat = features.reshape(-1, features.size(-1))
        targets = window[:, 1:].reshape(-1)
        shape = window[:, 1:].shape
        if not (entropy or ranks or top or full or choices is not None):
            # The log-probabilities alone: the whole window's logits in one product, which
            # is faster than blocks of them.
            logprob = -F.cross_entropy(network.logits(flat), targets, reduction="none")
            pieces.append({"logprob": logprob.view(shape).double().cpu()})  # one transfer
            continue
        asked = (None if choices is None else
                 choices[:, first:first + shape[1]].reshape(shape[0] * shape[1], -1))
        blocks = [_distribution_measures(
            network.logits(flat[start:start + rows]), targets[start:start + rows], entropy,
            ranks, top, full, None if asked is None else asked[start:start + rows])
            for start in range(0, flat.size(0), rows)]
        piece = {name: torch.cat([block[name] for block in blocks]) for name in blocks[0]}
        # One transfer per window.
        pieces.append({name: tensor.view(*shape, *tensor.shape[1:]).cpu()
                       for name, tensor in piece.items()})
    return {name: torch.cat([piece[name] for piece in pieces], dim=1) for name in pieces[0]}


def _distribution_measures(logits: torch.Tensor, targets: torch.Tensor, entropy: bool,
                           ranks: bool, top: int, full: bool,
                           asked: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """window_measures' measures of (rows, vocab) logits, one entry per row."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    logprob = logprobs.gather(1, targets[:, None]).squeeze(1)
    found = {"logprob": logprob.double()}
    if entropy:
        found["entropy"] = -(logprobs.exp() * logprobs).sum(-1, dtype=torch.float64)
    if ranks:
        found["rank"] = (logprobs > logprob[:, None]).sum(-1) + 1
    if top:
        values, indices = logprobs.topk(min(top, logprobs.size(-1)), dim=-1)
        found["top_ids"], found["top_logprobs"] = indices, values.double()
    if full:
        found["full"] = logprobs
    if asked is not None:
        found["choices"] = logprobs.gather(1, asked.to(logprobs.device)).double()
    return found


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
