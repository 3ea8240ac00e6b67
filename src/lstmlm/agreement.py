"""Number agreement test sets: does the model prefer the verb form that agrees with its
subject, after the same prefix?

Two layouts from facebookresearch/colorlessgreenRNNs:
- `.tab` (Gulordava et al. 2018, `data/agreement/<language>/generated.tab`): one row per form,
  with columns `pattern`, `constr_id`, `sent_id`, `form`, `class` (correct or wrong), `type`
  (original, or generated: the nonce sentences) and `prefix`; `sent` holds the whole sentence.
- `.gold` beside a `.text` of the same name (Linzen et al. 2016's subset,
  `data/linzen_testset/subj_agr_filtered`): per line of the text, the target's index, the
  correct form, the wrong form and the number of attractors (reported as the pattern
  `attractors=N`).

An item is right when log p(correct form | prefix) > log p(wrong form | prefix). By default
each prefix is read from a fresh state after `<eos>` (lstmlm's convention for sentences);
`context="carry"` reads the file's sentences in order as one stream, the state carried across
them, as colorlessgreenRNNs' `evaluate_target_word.py` does, and compares the two forms in the
distribution at the target's place. Accuracy is reported per pattern and type, per type and
overall, each the share of items that are right.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

import torch

from .errors import LstmlmError
from .model import evaluating
from .normalization import check_normalization, normalize_tokens
from .scoring import sentence_predictions, window_measures
from .vocabulary import EOS

CONTEXTS = ("independent", "carry")
TAB_COLUMNS = ("pattern", "constr_id", "sent_id", "form", "class", "type", "prefix")


@dataclass(frozen=True)
class AgreementItem:
    pattern: str
    kind: str  # original, or generated (nonce)
    prefix: str
    correct: str
    wrong: str
    sentence: str  # the whole sentence, read in context="carry"
    source: str  # FILE:LINE


@dataclass(frozen=True)
class ItemScore:
    item: AgreementItem
    correct_logprob: float
    wrong_logprob: float

    @property
    def right(self) -> bool:
        return self.correct_logprob > self.wrong_logprob


@dataclass
class AgreementReport:
    normalization: str
    context: str
    scores: list[ItemScore]


def read_items(path: str | Path) -> list[AgreementItem]:
    """The items of a `.tab` file, or of a `.gold` file with its `.text` beside it."""
    path = Path(path)
    try:
        if path.suffix == ".gold":
            return _read_gold(path, path.with_suffix(".text"))
        return _read_tab(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise LstmlmError(f"cannot read {getattr(error, 'filename', None) or path}: "
                          f"{getattr(error, 'strerror', None) or error}") from None


def _read_tab(text: str, name: str) -> list[AgreementItem]:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    missing = [column for column in TAB_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise LstmlmError(f"{name}: not an agreement .tab file: no column "
                          f"{', '.join(missing)} (it needs {', '.join(TAB_COLUMNS)})")
    groups: dict[tuple, dict] = {}
    for row in reader:
        key = tuple(row[column] for column in ("pattern", "constr_id", "sent_id", "type",
                                                "prefix"))
        group = groups.setdefault(key, {"source": f"{name}:{reader.line_num}",
                                        "sentence": row.get("sent") or ""})
        if row["class"] not in ("correct", "wrong"):
            raise LstmlmError(f"{name}:{reader.line_num}: class must be correct or wrong, got "
                              f"{row['class']!r}")
        if row["class"] in group:
            raise LstmlmError(f"{name}:{reader.line_num}: a second {row['class']} form for the "
                              f"item of {group['source']}")
        group[row["class"]] = row["form"]
    items = []
    for (pattern, _, _, kind, prefix), group in groups.items():
        for needed in ("correct", "wrong"):
            if not group.get(needed):
                raise LstmlmError(f"{group['source']}: the item has no {needed} form")
        items.append(AgreementItem(pattern, kind, prefix, group["correct"], group["wrong"],
                                   group["sentence"] or f"{prefix} {group['correct']}",
                                   group["source"]))
    if not items:
        raise LstmlmError(f"{name}: no items")
    return items


def _read_gold(gold: Path, text: Path) -> list[AgreementItem]:
    sentences = text.read_text(encoding="utf-8").splitlines()
    lines = gold.read_text(encoding="utf-8").splitlines()
    if len(sentences) != len(lines):
        raise LstmlmError(f"{gold} has {len(lines)} lines but {text} has {len(sentences)}: "
                          f"they must be line-aligned")
    items = []
    for number, (line, sentence) in enumerate(zip(lines, sentences), start=1):
        columns = line.split("\t")
        words = sentence.split()
        if len(columns) < 4 or not columns[0].isdigit() or int(columns[0]) >= len(words):
            raise LstmlmError(f"{gold}:{number}: expected the target's index (within the "
                              f"sentence), the correct form, the wrong form, the attractors")
        index = int(columns[0])
        items.append(AgreementItem(f"attractors={columns[3]}", "original",
                                   " ".join(words[:index]), columns[1], columns[2], sentence,
                                   f"{gold}:{number}"))
    if not items:
        raise LstmlmError(f"{gold}: no items")
    return items


def evaluate(model, items: list[AgreementItem], normalization: str | None = None,
             context: str = "independent", batch_size: int = 64) -> AgreementReport:
    """Score both forms of every item with `model` (a LanguageModel) after `normalization`
    (default: the model's own), reading prefixes as `context` says (module docstring)."""
    normalization = check_normalization(normalization or model.normalization)
    if context not in CONTEXTS:
        raise LstmlmError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")

    def pieces(text: str) -> list[str]:
        return [piece for token in normalize_tokens(text.split(), normalization)
                for piece in token]

    if context == "carry":
        scores = _carried_scores(model, items, pieces)
    else:
        sentences, spans = [], []
        for item in items:
            prefix = pieces(item.prefix)
            for form in (item.correct, item.wrong):
                sentences.append(prefix + pieces(form))
                spans.append((len(prefix), len(sentences[-1])))
        predictions = sentence_predictions(model.network, model.vocab, sentences, batch_size)
        logprobs = [predicted.logprobs[start:end].sum().item()
                    for predicted, (start, end) in zip(predictions, spans)]
        scores = [ItemScore(item, correct, wrong)
                  for item, correct, wrong in zip(items, logprobs[0::2], logprobs[1::2])]
    return AgreementReport(normalization, context, scores)


def _carried_scores(model, items: list[AgreementItem], pieces) -> list[ItemScore]:
    """Each item's sentence read in file order as one stream after an `<eos>`, the two forms'
    log-probabilities taken where the target stands."""
    vocab = model.vocab
    eos = vocab.ids[EOS]
    stream, choices, places = [eos], [], []
    for item in items:
        correct, wrong = pieces(item.correct), pieces(item.wrong)
        if len(correct) != 1 or len(wrong) != 1:
            raise LstmlmError(f"{item.source}: with the context carried, each form must be one "
                              f"word of the model (got {' '.join(correct)} / {' '.join(wrong)})")
        # The sentence as the file has it from the target on (its own verb there).
        rest = item.sentence.split()[len(item.prefix.split()):]
        if rest and rest[-1] == EOS:
            rest = rest[:-1]  # the .tab's sentences end with a written <eos>
        prefix = pieces(item.prefix)
        places.append(len(stream) + len(prefix) - 1)  # the input whose output predicts the form
        stream += vocab.encode(prefix + pieces(" ".join(rest))).tolist() + [eos]
        choices.append(vocab.encode(correct + wrong).tolist())
    asked = torch.full((1, len(stream) - 1, 2), eos, dtype=torch.long)
    for place, pair in zip(places, choices):
        asked[0, place] = torch.tensor(pair)
    with torch.no_grad(), evaluating(model.network):
        found = window_measures(model.network, torch.tensor([stream], device=model.device),
                                choices=asked)["choices"][0]
    return [ItemScore(item, found[place, 0].item(), found[place, 1].item())
            for item, place in zip(items, places)]


def report_rows(report: AgreementReport) -> list[dict]:
    """Accuracy per pattern and type, per type, and overall, each the share of right items."""
    by_pattern, by_kind = defaultdict(list), defaultdict(list)
    for score in report.scores:
        by_pattern[(score.item.pattern, score.item.kind)].append(score.right)
        by_kind[score.item.kind].append(score.right)
    rows = [{"level": "pattern", "name": pattern, "type": kind, "items": len(right),
             "accuracy": fmean(right)} for (pattern, kind), right in sorted(by_pattern.items())]
    rows += [{"level": "type", "name": kind, "type": kind, "items": len(right),
              "accuracy": fmean(right)} for kind, right in sorted(by_kind.items())]
    rows.append({"level": "overall", "name": "all items", "type": "",
                 "items": len(report.scores),
                 "accuracy": fmean(score.right for score in report.scores),
                 "normalization": report.normalization, "context": report.context})
    return rows


def item_row(score: ItemScore) -> dict:
    """One item's line of `--by-item`."""
    return {"pattern": score.item.pattern, "type": score.item.kind,
            "correct_logprob": score.correct_logprob, "wrong_logprob": score.wrong_logprob,
            "right": score.right, "correct": score.item.correct, "wrong": score.item.wrong,
            "prefix": score.item.prefix, "source": score.item.source}
