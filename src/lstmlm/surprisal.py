"""Surprisal for experimental stimuli: one value per word of the experimenter's own text.

Each sentence is split at whitespace into the user's tokens; a normalisation
(lstmlm.normalization) maps each token to the words the model reads, and a token's surprisal
is the sum over those pieces. Sentences start from the model's state after `<eos>`, as
sentence starts were read in training, and the closing `<eos>` gets a row of its own. Regions,
given by `|` in the text or by a region column, sum the surprisals of their tokens.

Beside surprisal, MEASURES of the predictive distribution, in the table's unit:
- entropy: H(W_t | w_<t), the entropy of the distribution that predicts the token (before
  its first piece);
- entropy_reduction: max(0, H(W_t | w_<t) - H(W_t+1 | w_<=t)), how much reading the token
  (all its pieces) lowers the uncertainty about the next word (Hale 2006);
- rank: the token's (its first piece's) place among all words by probability, 1 the most
  probable;
- topk: the k most probable words before the token, with their probabilities.
A region sums its tokens' surprisals and entropy reductions, and reports the entropy before
its first token.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass

from .errors import LstmlmError
from .normalization import check_normalization, normalize_tokens
from .scoring import Predictions, sentence_predictions
from .vocabulary import EOS

UNITS = ("bits", "nats")
MEASURES = ("surprisal", "entropy", "entropy_reduction", "rank", "topk")
CONTEXTS = ("independent", "carry")
EOS_TOKEN = "</s>"  # how the closing <eos> is shown among the user's tokens
REGION_SEPARATOR = "|"


@dataclass(frozen=True)
class Region:
    number: int  # from 1, in reading order
    name: str
    content: str


@dataclass(frozen=True)
class Stimulus:
    """One sentence: its regions (one region, numbered 1 and unnamed, for a plain sentence),
    the columns carried through to the output, and its place in the input (FILE:LINE)."""

    regions: tuple[Region, ...]
    kept: tuple[tuple[str, str], ...] = ()
    source: str = ""

    @property
    def text(self) -> str:
        return " ".join(region.content for region in self.regions if region.content)


@dataclass(frozen=True)
class TokenSurprisal:
    sentence_id: int
    token_id: int
    token: str
    surprisal: float
    scored: str  # the pieces the model read, space-separated (`<unk>` for those it lacks)
    oov: bool  # a piece is outside the vocabulary
    eos: bool  # the row of the closing <eos>
    region: int | None = None
    entropy: float | None = None
    entropy_reduction: float | None = None
    rank: int | None = None
    topk: tuple[tuple[str, float], ...] | None = None  # (word, probability), most probable first


@dataclass(frozen=True)
class RegionSurprisal:
    sentence_id: int
    region: int
    name: str
    content: str
    surprisal: float  # the sum over the region's tokens
    tokens: int
    oov: int
    entropy: float | None = None  # before the region's first token
    entropy_reduction: float | None = None  # the sum over the region's tokens


@dataclass
class SurprisalTable:
    normalization: str
    unit: str
    context: str
    stimuli: list[Stimulus]
    tokens: list[TokenSurprisal]
    regions: list[RegionSurprisal]
    measures: tuple[str, ...] = ("surprisal",)


def read_stimuli(text: str, name: str, text_column: str | None = None,
                 keep: tuple[str, ...] = (), region_column: str | None = None,
                 delimiter: str | None = None) -> list[Stimulus]:
    """The sentences of a stimuli file's `text`: plain text, one sentence per line (blank lines
    skipped), or with `text_column` a CSV or TSV table with a header. `keep` names columns to
    carry through. `|` in a sentence separates regions; with `region_column` each row is one
    region, named by that column, and consecutive rows with the same `keep` values make one
    sentence. `name` (the file's) places errors; `delimiter` is sniffed when not given."""
    if text_column is None:
        if keep or region_column:
            raise LstmlmError(f"{name}: --keep and --region-column need a table (--text-column)")
        stimuli = [Stimulus(split_regions(line), (), f"{name}:{number}")
                   for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    else:
        stimuli = read_table(text, name, text_column, keep, region_column, delimiter)
    for stimulus in stimuli:
        if not stimulus.text:
            raise LstmlmError(f"{stimulus.source}: the sentence has no words")
    if not stimuli:
        raise LstmlmError(f"{name}: no sentences")
    return stimuli


def read_table(text: str, name: str, text_column: str, keep: tuple[str, ...],
               region_column: str | None, delimiter: str | None) -> list[Stimulus]:
    """The stimuli of a CSV or TSV table, as `read_stimuli` describes."""
    if region_column and not keep:
        raise LstmlmError(f"{name}: --region-column needs --keep naming the columns that "
                          f"identify a sentence (e.g. --keep item,condition)")
    if delimiter is None:
        delimiter = "\t" if "\t" in text.partition("\n")[0] else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = reader.fieldnames or []
    for column in (text_column, *keep, *([region_column] if region_column else [])):
        if column not in columns:
            raise LstmlmError(f"{name}: no column {column!r} (its columns: "
                              f"{', '.join(columns) or 'none'})")
    stimuli: list[Stimulus] = []
    for row in reader:
        where = f"{name}:{reader.line_num}"
        content = (row[text_column] or "").strip()
        kept = tuple((column, row[column] or "") for column in keep)
        if not region_column:
            if not content:
                raise LstmlmError(f"{where}: the {text_column!r} column is empty")
            stimuli.append(Stimulus(split_regions(content), kept, where))
        elif stimuli and stimuli[-1].kept == kept:  # the next region of the same sentence
            last = stimuli.pop()
            region = Region(len(last.regions) + 1, row[region_column] or "", content)
            stimuli.append(Stimulus(last.regions + (region,), kept, last.source))
        else:
            stimuli.append(Stimulus((Region(1, row[region_column] or "", content),), kept,
                                    where))
    return stimuli


def split_regions(text: str) -> tuple[Region, ...]:
    """The regions of a sentence with `|` between them (numbered from 1, named by number), or
    one unnamed region."""
    if REGION_SEPARATOR not in text:
        return (Region(1, "", text.strip()),)
    return tuple(Region(number, str(number), part.strip())
                 for number, part in enumerate(text.split(REGION_SEPARATOR), start=1))


def has_regions(stimuli: list[Stimulus]) -> bool:
    return any(len(stimulus.regions) > 1 or stimulus.regions[0].name for stimulus in stimuli)


def parse_measures(text: str) -> tuple[tuple[str, ...], int]:
    """The measures of `--measures surprisal,entropy,topk=5`, and topk's k (0 without it)."""
    names, top = [], 0
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, _, value = item.partition("=")
        if name not in MEASURES:
            raise LstmlmError(f"unknown measure {name!r} (measures: {', '.join(MEASURES)})")
        if (name == "topk") != bool(value) or value and not value.isdigit() or value == "0":
            raise LstmlmError(f"{item!r}: topk takes a count (topk=5) and the others none")
        top = int(value) if value else top
        names.append(name)
    if not names:
        raise LstmlmError("no measures named (e.g. surprisal,entropy)")
    return tuple(dict.fromkeys(names)), top


def placed_pieces(stimuli: list[Stimulus],
                  normalization: str) -> list[list[tuple[int, str, list[str]]]]:
    """Per sentence, (region number, token, the pieces the model reads) for each user token.
    A whole sentence is normalised at once, since a normalisation may depend on the token's
    place (the last)."""
    sentences = []
    for stimulus in stimuli:
        placed = [(region.number, token) for region in stimulus.regions
                  for token in region.content.split()]
        pieces = normalize_tokens([token for _, token in placed], normalization)
        sentences.append([(number, token, words)
                          for (number, token), words in zip(placed, pieces)])
    return sentences


def compute(model, stimuli: list[Stimulus], normalization: str | None = None,
            unit: str = "bits", context: str = "independent", batch_size: int = 64,
            measures: tuple[str, ...] = ("surprisal",), top: int = 0) -> SurprisalTable:
    """The surprisal of every token and region of `stimuli` under `model` (a LanguageModel),
    with the other `measures` (MEASURES; `top` words for topk) where asked.

    `normalization` defaults to the model's own; `unit` is bits (-log2 p) or nats (-ln p);
    `context` "independent" reads each sentence from the start state, "carry" reads them in
    order as one stream. Scores do not depend on the batch size."""
    normalization = check_normalization(normalization or model.normalization)
    if unit not in UNITS:
        raise LstmlmError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    if context not in CONTEXTS:
        raise LstmlmError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    unknown = sorted(set(measures) - set(MEASURES))
    if unknown:
        raise LstmlmError(f"unknown measure {unknown[0]!r} (measures: {', '.join(MEASURES)})")
    if ("topk" in measures) != (top > 0):
        raise LstmlmError("topk needs a count of words (top > 0), and a count needs topk")
    sentences = placed_pieces(stimuli, normalization)
    words = [[word for _, _, pieces in sentence for word in pieces] for sentence in sentences]
    predictions = sentence_predictions(
        model.network, model.vocab, words, batch_size, carry=context == "carry",
        entropy=bool({"entropy", "entropy_reduction"} & set(measures)),
        ranks="rank" in measures, top=top)
    scale = 1 / math.log(2) if unit == "bits" else 1.0
    regioned = has_regions(stimuli)
    table = SurprisalTable(normalization, unit, context, stimuli, [], [], tuple(measures))
    for sentence_id, (stimulus, sentence, predicted) in enumerate(
            zip(stimuli, sentences, predictions), start=1):
        rows = _token_rows(model.vocab, sentence_id, sentence, predicted, scale, measures,
                           regioned)
        table.tokens.extend(rows)
        if regioned:
            for region in stimulus.regions:
                inside = [row for row in rows[:-1] if row.region == region.number]
                table.regions.append(RegionSurprisal(
                    sentence_id, region.number, region.name, region.content,
                    math.fsum(row.surprisal for row in inside), len(inside),
                    sum(row.oov for row in inside),
                    inside[0].entropy if inside and "entropy" in measures else None,
                    math.fsum(row.entropy_reduction for row in inside)
                    if "entropy_reduction" in measures else None))
    return table


def _token_rows(vocab, sentence_id: int, sentence: list[tuple[int, str, list[str]]],
                predicted: Predictions, scale: float, measures: tuple[str, ...],
                regioned: bool) -> list[TokenSurprisal]:
    """The rows of one sentence's tokens and of its closing `<eos>`: each token's pieces take
    the positions after the previous token's."""
    surprisals = (-predicted.logprobs * scale).tolist()
    entropies = (None if predicted.entropies is None
                 else (predicted.entropies * scale).tolist())
    spans = []  # (token, region, pieces, first position, positions)
    position = 0
    for number, token, pieces in sentence:
        spans.append((token, number if regioned else None, pieces, position, len(pieces)))
        position += len(pieces)
    spans.append((EOS_TOKEN, None, [EOS], position, 1))
    rows = []
    for token_id, (token, region, pieces, first, count) in enumerate(spans, start=1):
        extra: dict = {}
        if "entropy" in measures:
            extra["entropy"] = entropies[first]
        if "entropy_reduction" in measures:
            extra["entropy_reduction"] = max(0.0, entropies[first] - entropies[first + count])
        if "rank" in measures and count:
            extra["rank"] = int(predicted.ranks[first])
        if "topk" in measures and count:
            extra["topk"] = tuple(
                (vocab.words[index], math.exp(logprob)) for index, logprob in
                zip(predicted.top_ids[first].tolist(), predicted.top_logprobs[first].tolist()))
        eos = token_id == len(spans)
        rows.append(TokenSurprisal(
            sentence_id, token_id, token, math.fsum(surprisals[first:first + count]),
            "<eos>" if eos else " ".join(piece if piece in vocab.ids else "<unk>"
                                         for piece in pieces),
            not eos and any(piece not in vocab.ids for piece in pieces), eos, region, **extra))
    return rows


def token_rows(table: SurprisalTable) -> list[dict]:
    """The token table as rows: lm-zoo's sentence_id, token_id, token, surprisal, then the kept
    columns, the scored form, the OOV and `</s>` flags, and the region where there are any."""
    rows = []
    for token in table.tokens:
        kept = dict(table.stimuli[token.sentence_id - 1].kept)
        row = {"sentence_id": token.sentence_id, "token_id": token.token_id,
               "token": token.token, "surprisal": token.surprisal,
               **{name: getattr(token, name) for name in MEASURES
                  if name in table.measures and name not in ("surprisal", "topk")},
               **({"topk": topk_text(token.topk)} if "topk" in table.measures else {}),
               **kept, "scored": token.scored, "oov": int(token.oov), "eos": int(token.eos)}
        if table.regions:
            row["region"] = "" if token.region is None else token.region
        rows.append(row)
    return rows


def topk_text(topk: tuple[tuple[str, float], ...] | None) -> str | None:
    """The top words as one cell: `word:probability` pairs, most probable first."""
    return None if topk is None else " ".join(f"{word}:{probability:.6g}"
                                              for word, probability in topk)


def region_rows(table: SurprisalTable) -> list[dict]:
    """The region table as rows, the kept columns after the sentence id; the measures
    defined for a region where they were asked for."""
    return [{"sentence_id": region.sentence_id,
             **dict(table.stimuli[region.sentence_id - 1].kept),
             **{key: value for key, value in asdict(region).items()
                if key != "sentence_id" and value is not None}}
            for region in table.regions]
