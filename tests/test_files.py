"""Writing files: whole or not at all, and a failed write as one line naming the file."""

import errno
import os

import pytest

from lstmlm.errors import LstmlmError, WriteError
from lstmlm.files import atomic_write, atomic_write_text, writing


def failing_write(code: int):
    def write(temp):
        temp.write_text("half")
        raise OSError(code, os.strerror(code), str(temp))
    return write


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, code):
    path = tmp_path / "results.json"
    atomic_write_text(path, "old")
    with pytest.raises(WriteError) as error:
        atomic_write(path, failing_write(code))
    assert str(error.value).startswith(f"cannot write {tmp_path}")
    assert os.strerror(code) in str(error.value) and "\n" not in str(error.value)
    assert isinstance(error.value, LstmlmError)
    assert path.read_text() == "old" and [item.name for item in tmp_path.iterdir()] == [path.name]


def test_a_folder_that_cannot_be_written_names_the_file(tmp_path):
    with pytest.raises(WriteError, match=r"cannot write .*missing.*No such file or directory"):
        atomic_write_text(tmp_path / "missing" / "config.json", "{}")
    with pytest.raises(WriteError, match="cannot write x: Read-only file system"):
        with writing("x"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
