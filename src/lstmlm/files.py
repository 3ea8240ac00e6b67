"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TextIO

from .errors import WriteError


def write_error(path: Path, error: OSError) -> WriteError:
    """The one-line error of a write to `path` that failed with `error`."""
    return WriteError(f"cannot write {error.filename or path}: {error.strerror or error}")


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Within the block, an OSError (a full disk, no permission, a read-only file system)
    becomes a WriteError naming the file and the cause."""
    try:
        yield
    except OSError as error:
        raise write_error(path, error) from None


def default_mode(directory: bool = False) -> int:
    """The permissions a new file (or folder) gets from the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextmanager
def temporary_beside(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` to fill within the block; renamed over `path` when the
    block ends without an error (with the permissions of a plainly created file, where
    mkstemp's are owner-only), removed when it does not."""
    path = Path(path)
    with writing(path):
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
        os.close(handle)
        try:
            yield Path(temp_name)
            os.chmod(temp_name, default_mode())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temp_path)` on a temporary file beside `path`, then rename it over `path`."""
    with temporary_beside(path) as temp:
        write(temp)


@contextmanager
def atomic_lines(path: Path) -> Iterator[TextIO]:
    """A text file to write line by line (a stream too long to hold); it appears at `path` in
    one rename when the block ends without an error."""
    with temporary_beside(path) as temp, open(temp, "w", encoding="utf-8") as handle:
        yield handle


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) in one rename."""
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


@contextmanager
def replacing_folder(target: Path) -> Iterator[Path]:
    """A new empty folder beside `target` to fill within the block. If the block ends without
    an error, the folder is renamed over `target` (whose old contents go); if not, it is
    removed, so `target` is never seen half-written."""
    target = Path(target)
    with writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
