"""Reading a user's text files and standard input, with their checks."""

import pytest

from lstmlm import LstmlmError
from lstmlm.textfiles import read_lines


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    (b"", "is empty"),
    (b"  \n\n", "is empty"),
    (b"caf\xe9\n", "is not UTF-8"),
])
def test_bad_corpus_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LstmlmError, match=message):
        read_lines(path)


def test_lines_end_at_newlines_with_or_without_carriage_returns(tmp_path):
    (tmp_path / "corpus.txt").write_bytes(b"a b\r\nc\n\nd\xc3\xa9")
    assert read_lines(tmp_path / "corpus.txt") == ["a b", "c", "", "d\u00e9"]
    (tmp_path / "bad.txt").write_bytes(b"fine\nst\xe9\n")
    with pytest.raises(LstmlmError, match=r"is not UTF-8 \(bad byte at offset 7\)"):
        read_lines(tmp_path / "bad.txt")
