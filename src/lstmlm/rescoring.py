"""N-best rescoring: combine a recogniser's or translator's scores with the language model's.

Two layouts: lstmlm's TSV, and Kaldi's n-best text with its cost files (below).

TSV input: one hypothesis per line, `utterance-id<TAB>score<TAB>text`, where `score` is the
first-pass system's log-score of the hypothesis; an utterance's lines need not be together.
Each hypothesis gets `combined = score + lm_weight * lm_logprob - word_penalty * words`, with
`lm_logprob` the model's log-probability of the text as a sentence (closing `<eos>` included;
natural log, or base 10 with `log10`); the highest wins. The word penalty means one thing in
both layouts: a positive one favours fewer words (Kaldi's costs add it, the lowest winning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator

from rapidfuzz.distance import Levenshtein

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


def finite_number(text: str, what: str) -> float:
    """`text` as a finite float; otherwise an error starting with `what` (the place and the
    field)."""
    try:
        value = float(text)
    except ValueError:
        raise LstmlmError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise LstmlmError(f"{what} {text!r} is not finite")
    return value


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
        score = finite_number(fields[1], f"n-best line {number}: score")
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
                                 + lm_weight * lm_logprob - word_penalty * score.words))
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


# Kaldi's n-best text: `utt-N word word ...` lines (the utterance id, `-`, the hypothesis
# number), with the acoustic and LM costs (negated natural-log scores) in `utt-N cost` files,
# as `nbest-to-linear` and `int2sym.pl` write them.

@dataclass(frozen=True)
class KaldiHypothesis:
    key: str  # utt-N
    utterance: str
    text: str
    ac_cost: float
    lm_cost: float  # the cost the hypothesis is ranked with: this model's, or the mixture
    words: int


def read_kaldi_nbest(lines: Iterable[str], name: str) -> Iterator[tuple[str, str, str]]:
    """(key, utterance, text) of each hypothesis, streamed; an utterance's hypotheses must be
    together, as Kaldi writes them."""
    finished: set[str] = set()
    current = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key, _, text = line.strip().partition(" ")
        utterance, dash, hypothesis = key.rpartition("-")
        if not dash or not utterance or not hypothesis.isdigit():
            raise LstmlmError(f"{name}:{number}: {key!r} is not an utterance id with its "
                              f"hypothesis number (utt-N)")
        if utterance != current:
            if utterance in finished:
                raise LstmlmError(f"{name}:{number}: the hypotheses of {utterance!r} are not "
                                  f"together")
            if current is not None:
                finished.add(current)
            current = utterance
        yield key, utterance, " ".join(text.split())


def read_costs(lines: Iterable[str], name: str) -> Iterator[tuple[str, float]]:
    """(key, cost) of each `utt-N cost` line of a Kaldi ark,t text file, streamed."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise LstmlmError(f"{name}:{number}: expected utt-N cost, got {line.strip()[:60]!r}")
        yield fields[0], finite_number(fields[1], f"{name}:{number}: cost")


class CostLookup:
    """The costs of a streamed cost file, looked up by key in n-best order. A file in the same
    order (as Kaldi writes them) is read in step, holding almost nothing; another order still
    works, holding the costs read ahead."""

    def __init__(self, costs: Iterator[tuple[str, float]], name: str):
        self.costs, self.name, self.ahead = costs, name, {}

    def __getitem__(self, key: str) -> float:
        if key in self.ahead:
            return self.ahead.pop(key)
        for found, cost in self.costs:
            if found == key:
                return cost
            if found in self.ahead:
                raise LstmlmError(f"{self.name}: {found!r} appears twice")
            self.ahead[found] = cost
        raise LstmlmError(f"{self.name} has no cost for {key!r}")

    def check_used(self) -> None:
        """After the last hypothesis: the file has no cost for a hypothesis the list lacks."""
        left = list(self.ahead) + [key for key, _ in self.costs]
        if left:
            raise LstmlmError(f"{self.name} has costs for {len(left)} ids the n-best list lacks "
                              f"(first: {left[0]!r})")


def mixed_cost(model_logprob: float, lm_cost: float, weight: float) -> float:
    """-ln(weight * p_model + (1 - weight) * p_existing), p_existing = exp(-lm_cost)."""
    if weight == 1:
        return -model_logprob
    if weight == 0:
        return lm_cost
    mine, theirs = math.log(weight) + model_logprob, math.log(1 - weight) - lm_cost
    top = max(mine, theirs)
    return -(top + math.log(math.exp(mine - top) + math.exp(theirs - top)))


def rescore_kaldi(model: LanguageModel, nbest: Iterator[tuple[str, str, str]],
                  ac_costs: CostLookup, lm_costs: CostLookup | None = None,
                  interpolate: float | None = None, batch_size: int = 64,
                  chunk: int = 4096) -> Iterator[list[KaldiHypothesis]]:
    """Each utterance's hypotheses with their costs, streamed: the list is scored `chunk`
    hypotheses at a time. The LM cost is this model's -ln p (closing `<eos>` included), or with
    `interpolate` L and `lm_costs` the mixture of this model (weight L) and the existing LM."""
    if (interpolate is None) != (lm_costs is None):
        raise LstmlmError("--interpolate L and --lm-costs go together (L = 0 keeps the "
                          "existing LM's costs alone)")
    if interpolate is not None and not 0 <= interpolate <= 1:
        raise LstmlmError(f"--interpolate must be between 0 and 1, got {interpolate}")
    pending: list[tuple[str, str, str]] = []

    def scored() -> list[list[KaldiHypothesis]]:
        scores = model.score([text for _, _, text in pending], batch_size)
        groups: dict[str, list[KaldiHypothesis]] = {}
        for (key, utterance, text), score in zip(pending, scores):
            lm_cost = -score.logprob if lm_costs is None else \
                mixed_cost(score.logprob, lm_costs[key], interpolate)
            groups.setdefault(utterance, []).append(
                KaldiHypothesis(key, utterance, text, ac_costs[key], lm_cost, score.words))
        return list(groups.values())

    for hypothesis in nbest:
        if len(pending) >= chunk and hypothesis[1] != pending[-1][1]:
            yield from scored()
            pending = []
        pending.append(hypothesis)
    if pending:
        yield from scored()
    ac_costs.check_used()
    if lm_costs is not None:
        lm_costs.check_used()


def best_kaldi(hypotheses: list[KaldiHypothesis], lm_weight: float,
               word_penalty: float = 0.0) -> KaldiHypothesis:
    """The hypothesis with the lowest `ac_cost + lm_weight * lm_cost + word_penalty * words`
    (the first of equals)."""
    return min(hypotheses, key=lambda hypothesis: hypothesis.ac_cost
               + lm_weight * hypothesis.lm_cost + word_penalty * hypothesis.words)


def parse_weights(text: str) -> list[float]:
    """LM weights from `start:stop:step` (stop included) or a comma-separated list."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            return [round(start + index * step, 10) for index in range(count)]
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise LstmlmError(f"--lm-weights: expected start:stop:step (e.g. 0:2:0.1) or a list "
                          f"(8,10,12), got {text!r}") from None


def read_references(lines: Iterable[str], name: str) -> dict[str, list[str]]:
    """`utt text` lines: each utterance's reference words."""
    references = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        utterance, _, text = line.strip().partition(" ")
        if utterance in references:
            raise LstmlmError(f"{name}:{number}: {utterance!r} appears twice")
        references[utterance] = text.split()
    if not references:
        raise LstmlmError(f"{name}: no reference transcripts")
    return references


@dataclass
class WeightSweep:
    """Word errors of the best hypotheses at each LM weight, against reference transcripts."""

    weights: list[float]
    errors: list[int]
    reference_words: int

    @property
    def word_error_rates(self) -> list[float]:
        return [100 * errors / max(1, self.reference_words) for errors in self.errors]

    @property
    def best_weight(self) -> float:
        """The weight with the fewest errors (the smallest of equals)."""
        return self.weights[self.errors.index(min(self.errors))]


def sweep_weights(utterances: Iterable[list[KaldiHypothesis]], references: dict[str, list[str]],
                  weights: list[float], word_penalty: float = 0.0,
                  references_name: str = "the references") -> WeightSweep:
    """The WER of each weight's best hypotheses (a word-level edit distance), streamed over
    the utterances; every utterance needs a reference, and every reference an utterance."""
    sweep = WeightSweep(weights, [0] * len(weights), 0)
    seen = set()
    for hypotheses in utterances:
        utterance = hypotheses[0].utterance
        if utterance not in references:
            raise LstmlmError(f"{references_name} has no transcript of {utterance!r}")
        reference, distances = references[utterance], {}
        seen.add(utterance)
        sweep.reference_words += len(reference)
        for index, weight in enumerate(weights):
            best = best_kaldi(hypotheses, weight, word_penalty)
            if best.key not in distances:
                distances[best.key] = Levenshtein.distance(reference, best.text.split())
            sweep.errors[index] += distances[best.key]
    missing = [utterance for utterance in references if utterance not in seen]
    if missing:
        raise LstmlmError(f"{references_name} has {len(missing)} utterances the n-best list "
                          f"lacks (first: {missing[0]!r})")
    return sweep
