"""HDF5 output through h5py (the `hdf5` extra): written to a file beside its path and renamed
over it when complete, so a crash never leaves half a file."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import LstmlmError
from .files import temporary_beside, writing


def require_h5py():
    """The h5py module, or a one-line error saying how to install it."""
    try:
        import h5py
    except ImportError:
        raise LstmlmError("HDF5 output needs h5py: pip install -e \".[hdf5]\"") from None
    return h5py


@contextmanager
def writing_hdf5(path: str | Path) -> Iterator:
    """An h5py File to fill within the block; it appears at `path` when the block ends."""
    h5py = require_h5py()
    path = Path(path)
    with temporary_beside(path) as temp, writing(path), h5py.File(temp, "w") as file:
        yield file
