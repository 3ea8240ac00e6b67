"""Minimal pairs (BLiMP, Warstadt et al. 2020): does the model give the grammatical sentence of
each pair the higher probability?

A pair is right when the whole-sentence log-probability of the good sentence, its closing
`<eos>` included, is above the bad one's (BLiMP's "simple LM method"). Accuracy is reported
per phenomenon (BLiMP's `UID`), per field (the mean of its phenomena) and overall (the mean
over phenomena, as BLiMP reports it).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from .errors import LstmlmError
from .normalization import check_normalization, normalize
from .scoring import score_sentences


@dataclass(frozen=True)
class MinimalPair:
    good: str
    bad: str
    uid: str  # the phenomenon
    field: str = ""
    source: str = ""  # FILE:LINE


@dataclass(frozen=True)
class PairScore:
    pair: MinimalPair
    good_logprob: float
    bad_logprob: float
    oov: bool  # either sentence has a word outside the vocabulary

    @property
    def correct(self) -> bool:
        return self.good_logprob > self.bad_logprob


@dataclass
class PairsReport:
    """Accuracies (fractions) per phenomenon and field, overall, and for pairs without OOV."""

    normalization: str
    scores: list[PairScore]
    phenomena: dict[str, float] = field(default_factory=dict)
    fields: dict[str, float] = field(default_factory=dict)
    overall: float = 0.0
    oov_share: float = 0.0
    accuracy_without_oov: float | None = None


def read_pairs(lines: list[str], name: str) -> list[MinimalPair]:
    """The pairs of a file's lines: BLiMP's JSONL (`sentence_good`, `sentence_bad`, and `UID`,
    `field` where present), or TSV of `good<TAB>bad` with optional further columns. `name`
    (the file's) names the phenomenon of TSV pairs and the place of an error."""
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        if line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
            except ValueError as error:
                raise LstmlmError(f"{where}: not a JSON object ({error})") from None
            missing = [key for key in ("sentence_good", "sentence_bad") if key not in record]
            if missing:
                raise LstmlmError(f"{where}: a BLiMP pair needs sentence_good and "
                                  f"sentence_bad (missing {', '.join(missing)})")
            pairs.append(MinimalPair(str(record["sentence_good"]), str(record["sentence_bad"]),
                                     str(record.get("UID", Path(name).stem)),
                                     str(record.get("field", "")), where))
        else:
            columns = line.rstrip("\n").split("\t")
            if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
                raise LstmlmError(f"{where}: expected good<TAB>bad (a TSV pair) or a BLiMP "
                                  f"JSON line")
            pairs.append(MinimalPair(columns[0], columns[1], Path(name).stem, "", where))
    if not pairs:
        raise LstmlmError(f"{name}: no minimal pairs")
    return pairs


def evaluate(model, pairs: list[MinimalPair], normalization: str | None = None,
             batch_size: int = 64) -> PairsReport:
    """Score both sentences of every pair with `model` (a LanguageModel), after
    `normalization` (default: the model's own), and report the accuracies."""
    normalization = check_normalization(normalization or model.normalization)
    sentences = [normalize(text, normalization)
                 for pair in pairs for text in (pair.good, pair.bad)]
    scores = score_sentences(model.network, model.vocab, sentences, batch_size)
    results = [PairScore(pair, good.logprob, bad.logprob, bool(good.oov or bad.oov))
               for pair, good, bad in zip(pairs, scores[0::2], scores[1::2])]
    report = PairsReport(normalization, results)
    by_phenomenon, field_of = defaultdict(list), {}
    for score in results:
        by_phenomenon[score.pair.uid].append(score.correct)
        field_of[score.pair.uid] = score.pair.field
    report.phenomena = {uid: fmean(correct) for uid, correct in sorted(by_phenomenon.items())}
    by_field = defaultdict(list)
    for uid, accuracy in report.phenomena.items():
        by_field[field_of[uid]].append(accuracy)
    report.fields = {name: fmean(values) for name, values in sorted(by_field.items()) if name}
    report.overall = fmean(report.phenomena.values())
    report.oov_share = fmean(score.oov for score in results)
    without = [score.correct for score in results if not score.oov]
    report.accuracy_without_oov = fmean(without) if without else None
    return report


def report_rows(report: PairsReport) -> list[dict]:
    """The report as rows: one per phenomenon, one per field, then the overall one."""
    counts = defaultdict(int)
    for score in report.scores:
        counts[score.pair.uid] += 1
    rows = [{"level": "phenomenon", "name": uid, "pairs": counts[uid], "accuracy": accuracy}
            for uid, accuracy in report.phenomena.items()]
    rows += [{"level": "field", "name": name, "accuracy": accuracy}
             for name, accuracy in report.fields.items()]
    rows.append({"level": "overall", "name": "mean over phenomena", "pairs": len(report.scores),
                 "accuracy": report.overall, "oov_share": report.oov_share,
                 "accuracy_without_oov": report.accuracy_without_oov,
                 "normalization": report.normalization})
    return rows


def pair_row(score: PairScore) -> dict:
    """One pair's line of `--by-pair`."""
    return {"uid": score.pair.uid, "good_logprob": score.good_logprob,
            "bad_logprob": score.bad_logprob, "correct": score.correct, "oov": score.oov,
            "good": score.pair.good, "bad": score.pair.bad, "source": score.pair.source}
