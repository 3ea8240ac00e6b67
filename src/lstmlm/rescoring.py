"""N-best rescoring: combine a recogniser's or translator's scores with the language model's.

Input: one hypothesis per line, `utterance-id<TAB>score<TAB>text`, where `score` is the
first-pass system's log-score of the hypothesis; an utterance's lines need not be together.
Each hypothesis gets `combined = score + lm_weight * lm_logprob + word_penalty * words`, with
`lm_logprob` the model's log-probability of the text as a sentence (closing `<eos>` included;
natural log, or base 10 with `log10`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .api import LanguageModel
from .errors import LstmlmError


@dataclass(frozen=True)
class Hypothesis:
    """One line of an n-best list."""

    utterance: str
    score: float
    text: str


@dataclass(frozen=True)
class Rescored:
    """A hypothesis with the language model's log-probability and the combined score."""

    hypothesis: Hypothesis
    lm_logprob: float
    words: int
    combined: float


def read_nbest(lines: list[str]) -> list[Hypothesis]:
    """Parse `utterance-id<TAB>score<TAB>text` lines (blank lines skipped; text may be empty)."""
    hypotheses = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != 3 or not fields[0]:
            raise LstmlmError(f"n-best line {number}: expected utterance-id<TAB>score<TAB>text, "
                              f"got {line.strip()[:60]!r}")
        try:
            score = float(fields[1])
        except ValueError:
            raise LstmlmError(f"n-best line {number}: score {fields[1]!r} is not a number") from None
        if not math.isfinite(score):
            raise LstmlmError(f"n-best line {number}: score {fields[1]!r} is not finite")
        hypotheses.append(Hypothesis(fields[0], score, fields[2]))
    if not hypotheses:
        raise LstmlmError("the n-best list has no hypotheses")
    return hypotheses


def rescore(model: LanguageModel, hypotheses: list[Hypothesis], *, lm_weight: float = 1.0,
            word_penalty: float = 0.0, log10: bool = False,
            batch_size: int = 64) -> list[Rescored]:
    """Every hypothesis with its LM log-probability and combined score, in input order; the
    sentences are scored in batches, as `LanguageModel.score` does."""
    scores = model.score([hypothesis.text for hypothesis in hypotheses], batch_size)
    rescored = []
    for hypothesis, score in zip(hypotheses, scores):
        lm_logprob = score.log10prob if log10 else score.logprob
        rescored.append(Rescored(hypothesis, lm_logprob, score.words, hypothesis.score
                                 + lm_weight * lm_logprob + word_penalty * score.words))
    return rescored


def best_per_utterance(rescored: list[Rescored]) -> list[Rescored]:
    """The hypothesis with the highest combined score of each utterance (the first of equals),
    utterances in the order they first appear."""
    best: dict[str, Rescored] = {}
    for entry in rescored:
        current = best.get(entry.hypothesis.utterance)
        if current is None or entry.combined > current.combined:
            best[entry.hypothesis.utterance] = entry
    return list(best.values())
