"""Bringing a user's text to a model's conventions before it is scored.

A normalisation maps each whitespace token of a sentence to the words (pieces) the model reads:
none or one or several (`don't` → `do n't` for PTB), so that a score can be reported for the
user's own tokens. It is explicit: `pairs`, `surprisal` and `syntaxgym` print the one they used,
and a model's config names its own (the `normalization` field, "auto" by default).

- none: each token as it is.
- ptb: the conventions of Mikolov's PTB text: lower case; punctuation dropped (standalone, and
  at the ends of words), the full stop only at the end of the sentence, so that `u.s.` keeps
  its dots inside one; clitics split as the treebank splits them (`do n't`, `king 's`);
  numbers as `N`.
- clean: lstmlm's `clean_text` (lower case, punctuation but hyphens and apostrophes removed),
  what a model trained with `clean_text` read.
- wikipedia: the tokenised Wikipedia of Gulordava et al. (2018), which their published
  models read: case kept; punctuation split off the words as tokens of its own (a run of one
  mark, `??` or `--`, as one token; the dots inside an abbreviation such as `U.S.` kept);
  clitics split as the treebank splits them (`do n't`, `you 're`); numbers as written;
  `<unk>` and the like kept whole.
"""

from __future__ import annotations

import re

from .config import NORMALIZATIONS, DataConfig
from .datasets import SAMPLE
from .errors import LstmlmError

GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG", re.MULTILINE)
GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG", re.MULTILINE)
NOT_WORD = re.compile(r"[^\w\s'-]+")


def strip_gutenberg(text: str) -> str:
    """The text between Project Gutenberg's START and END markers (all of it if they are absent)."""
    start, end = GUTENBERG_START.search(text), GUTENBERG_END.search(text)
    begin = text.index("\n", start.end()) + 1 if start else 0
    return text[begin:end.start() if end else len(text)]


def clean_line(line: str) -> str:
    """Lowercase, drop punctuation except hyphens and apostrophes, collapse whitespace.

    The typographic apostrophe (U+2019, as in the current pg100.txt's `o’er`) is read as `'`,
    so it never splits a word and both spellings are one vocabulary entry.
    """
    return " ".join(NOT_WORD.sub(" ", line.lower().replace("\u2019", "'")).split())


def clean_lines(lines: list[str]) -> list[str]:
    """`clean_line` on every line, keeping the non-empty ones (the cookbook's text cleaning)."""
    cleaned = (clean_line(line) for line in strip_gutenberg("\n".join(lines)).splitlines())
    return [line for line in cleaned if line]


_CLITIC = re.compile(r"(\w)(n't|'s|'re|'ve|'ll|'d|'m)$")
_NUMBER = re.compile(r"^[\d.,]*\d[\d.,]*$")
_EDGE_PUNCTUATION = ",;:!?\"()[]{}`"
_SENTENCE_END = ".!?"


def model_normalization(data: DataConfig) -> str:
    """The normalisation a model's data section asks for, "auto" resolved: clean for a model
    trained with `clean_text` or on the sample corpus (cleaned so), ptb for one trained on
    PTB, else none."""
    if data.normalization != "auto":
        return data.normalization
    if data.clean_text or data.corpus == SAMPLE:
        return "clean"
    return "ptb" if data.corpus == "ptb" else "none"


def check_normalization(name: str) -> str:
    if name not in NORMALIZATIONS:
        raise LstmlmError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, "
                          f"got {name!r}")
    return name


def ptb_pieces(token: str, last: bool) -> list[str]:
    """The PTB words of one token; `last` when it ends its sentence (its full stop goes)."""
    word = token.lower().replace("\u2019", "'").strip(_EDGE_PUNCTUATION)
    if last:
        word = word.rstrip(_SENTENCE_END + _EDGE_PUNCTUATION)
    if not word or re.fullmatch(r"[\W_]+", word) and word not in ("$", "&", "#", "'"):
        return []  # punctuation alone: "--", "...", a quote
    clitic = _CLITIC.search(word)
    pieces = [word[:clitic.start(2)], clitic.group(2)] if clitic else [word]
    return ["N" if _NUMBER.match(piece) else piece for piece in pieces]


_LEADING_MARKS = re.compile(r"^([\"'`(\[{]+)")
_TRAILING_MARKS = re.compile(r"((?:([^\w\s])\2*)+)$")


def _mark_runs(marks: str) -> list[str]:
    """Punctuation split into runs of one mark: `),` -> `)` `,`; `??` stays one."""
    return [match.group(0) for match in re.finditer(r"([^\w\s])\1*", marks)]


def wikipedia_pieces(token: str) -> list[str]:
    """The words of one token under the `wikipedia` conventions (module docstring)."""
    word = token.replace("\u2019", "'")
    if re.fullmatch(r"<\w+>", word):
        return [word]  # a vocabulary's own token: <unk>, <eos>
    if not re.search(r"\w", word):
        return _mark_runs(word)
    leading = _LEADING_MARKS.match(word)
    before = _mark_runs(leading.group(1)) if leading else []
    word = word[leading.end():] if leading else word
    trailing = _TRAILING_MARKS.search(word)
    after: list[str] = []
    if trailing:
        marks = trailing.group(1)
        core = word[:trailing.start()]
        if marks.startswith(".") and "." in core and len(marks) == 1:
            core, marks = core + ".", ""  # an abbreviation's last dot: U.S.
        word, after = core, _mark_runs(marks)
    clitic = _CLITIC.search(word.lower())
    middle = [word[:clitic.start(2)], word[clitic.start(2):]] if clitic else [word]
    return before + middle + after


def normalize_tokens(tokens: list[str], name: str) -> list[list[str]]:
    """The pieces each token becomes under normalisation `name` (NORMALIZATIONS)."""
    check_normalization(name)
    if name == "none":
        return [[token] for token in tokens]
    if name == "clean":
        return [clean_line(token).split() for token in tokens]
    if name == "wikipedia":
        return [wikipedia_pieces(token) for token in tokens]
    # The sentence's last token with words in it is the one whose full stop goes.
    ends = [index for index, token in enumerate(tokens)
            if token.strip(_SENTENCE_END + _EDGE_PUNCTUATION)]
    last = ends[-1] if ends else -1
    return [ptb_pieces(token, index == last) for index, token in enumerate(tokens)]


def normalize(sentence: str, name: str) -> list[str]:
    """The words of `sentence` after normalisation `name`."""
    return [piece for pieces in normalize_tokens(sentence.split(), name) for piece in pieces]
