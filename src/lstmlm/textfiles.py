"""Reading a user's text: UTF-8 files line by line with their checks (missing, undecodable,
empty), and the same for standard input, named `-` on the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

from .errors import LstmlmError


def file_lines(path: Path, keep_ends: bool = False) -> Iterator[str]:
    """The lines of a UTF-8 file, read one at a time (a line ends at a newline, which is
    dropped with a carriage return before it unless `keep_ends`). A missing, undecodable or
    empty file is an LstmlmError."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise LstmlmError(f"corpus file not found: {path}") from None
    except OSError as error:
        raise LstmlmError(f"cannot read corpus file {path}: {error.strerror}") from None
    with handle:
        offset, has_words = 0, False
        for raw in handle:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise LstmlmError(f"corpus file {path} is not UTF-8 (bad byte at offset "
                                  f"{offset + error.start})") from None
            offset += len(raw)
            has_words = has_words or not line.isspace()
            yield line if keep_ends else line.rstrip("\r\n")
    if not has_words:
        raise LstmlmError(f"corpus file {path} is empty")


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, with file_lines' checks."""
    return list(file_lines(path))


def read_text(path: Path) -> str:
    """The whole text of a UTF-8 file as it is (a CSV cell may hold its own line breaks), with
    file_lines' checks."""
    return "".join(file_lines(path, keep_ends=True))


def input_name(name: str) -> str:
    """How a file named on the command line is called in messages (`-`: standard input)."""
    return "standard input" if name == "-" else name


def input_lines(name: str) -> Iterator[str]:
    """The lines of file `name`, or of standard input for `-`, read one at a time."""
    return (line.rstrip("\r\n") for line in sys.stdin) if name == "-" else file_lines(Path(name))


def read_input(name: str) -> list[str]:
    """The lines of file `name`, or of standard input for `-`."""
    return sys.stdin.read().splitlines() if name == "-" else read_lines(Path(name))


def input_text(name: str) -> str:
    """The whole text of file `name`, or of standard input for `-`."""
    return sys.stdin.read() if name == "-" else read_text(Path(name))
