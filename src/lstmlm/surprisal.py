"""Surprisal for experimental stimuli: one value per word of the experimenter's own text.

Each sentence is split at whitespace into the user's tokens; a normalisation
(lstmlm.normalization) maps each token to the words the model reads, and a token's surprisal
is the sum over those pieces. Sentences start from the model's state after `<eos>`, as
sentence starts were read in training, and the closing `<eos>` gets a row of its own. Regions,
given by `|` in the text or by a region column, sum the surprisals of their tokens.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass

from .errors import LstmlmError
from .normalization import check_normalization, normalize_tokens
from .scoring import carried_logprobs, token_logprobs

UNITS = ("bits", "nats")
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


@dataclass(frozen=True)
class RegionSurprisal:
    sentence_id: int
    region: int
    name: str
    content: str
    surprisal: float  # the sum over the region's tokens
    tokens: int
    oov: int


@dataclass
class SurprisalTable:
    normalization: str
    unit: str
    context: str
    stimuli: list[Stimulus]
    tokens: list[TokenSurprisal]
    regions: list[RegionSurprisal]


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


def compute(model, stimuli: list[Stimulus], normalization: str | None = None,
            unit: str = "bits", context: str = "independent",
            batch_size: int = 64) -> SurprisalTable:
    """The surprisal of every token and region of `stimuli` under `model` (a LanguageModel).

    `normalization` defaults to the model's own; `unit` is bits (-log2 p) or nats (-ln p);
    `context` "independent" reads each sentence from the start state, "carry" reads them in
    order as one stream. Scores do not depend on the batch size."""
    normalization = check_normalization(normalization or model.normalization)
    if unit not in UNITS:
        raise LstmlmError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    if context not in CONTEXTS:
        raise LstmlmError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    # Per sentence: (region number, token, pieces) for each user token. The whole sentence is
    # normalised at once, since a normalisation may depend on the token's place (the last).
    sentences = []
    for stimulus in stimuli:
        placed = [(region.number, token) for region in stimulus.regions
                  for token in region.content.split()]
        pieces = normalize_tokens([token for _, token in placed], normalization)
        sentences.append([(number, token, words)
                          for (number, token), words in zip(placed, pieces)])
    words = [[word for _, _, pieces in sentence for word in pieces] for sentence in sentences]
    if context == "carry":
        logprobs = carried_logprobs(model.network, model.vocab, words)
    else:
        logprobs = token_logprobs(model.network, model.vocab, words, batch_size)
    scale = 1 / math.log(2) if unit == "bits" else 1.0
    vocab, regioned = model.vocab.ids, has_regions(stimuli)
    table = SurprisalTable(normalization, unit, context, stimuli, [], [])
    for sentence_id, (stimulus, sentence, values) in enumerate(
            zip(stimuli, sentences, logprobs), start=1):
        surprisals = (-values * scale).tolist()
        position = 0
        for token_id, (number, token, pieces) in enumerate(sentence, start=1):
            taken = surprisals[position:position + len(pieces)]
            position += len(pieces)
            table.tokens.append(TokenSurprisal(
                sentence_id, token_id, token, math.fsum(taken),
                " ".join(piece if piece in vocab else "<unk>" for piece in pieces),
                any(piece not in vocab for piece in pieces), False,
                number if regioned else None))
        table.tokens.append(TokenSurprisal(sentence_id, len(sentence) + 1, EOS_TOKEN,
                                           surprisals[-1], "<eos>", False, True))
        if regioned:
            rows = table.tokens[-len(sentence) - 1:-1]
            for region in stimulus.regions:
                inside = [row for row in rows if row.region == region.number]
                table.regions.append(RegionSurprisal(
                    sentence_id, region.number, region.name, region.content,
                    math.fsum(row.surprisal for row in inside), len(inside),
                    sum(row.oov for row in inside)))
    return table


def token_rows(table: SurprisalTable) -> list[dict]:
    """The token table as rows: lm-zoo's sentence_id, token_id, token, surprisal, then the kept
    columns, the scored form, the OOV and `</s>` flags, and the region where there are any."""
    rows = []
    for token in table.tokens:
        kept = dict(table.stimuli[token.sentence_id - 1].kept)
        row = {"sentence_id": token.sentence_id, "token_id": token.token_id,
               "token": token.token, "surprisal": token.surprisal, **kept,
               "scored": token.scored, "oov": int(token.oov), "eos": int(token.eos)}
        if table.regions:
            row["region"] = "" if token.region is None else token.region
        rows.append(row)
    return rows


def region_rows(table: SurprisalTable) -> list[dict]:
    """The region table as rows, the kept columns after the sentence id."""
    return [{"sentence_id": region.sentence_id,
             **dict(table.stimuli[region.sentence_id - 1].kept),
             **{key: value for key, value in asdict(region).items() if key != "sentence_id"}}
            for region in table.regions]
