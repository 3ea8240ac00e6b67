"""Named corpora: find them locally, or download, verify and cache them."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .errors import LstmlmError


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named corpus comes from and what its files must hash to."""

    name: str
    url: str
    url_env: str  # environment variable that overrides `url` (tests point it at a local mirror)
    archive_dir: str | None  # folder inside the archive holding the files; None: url is the file
    # File name -> expected sha256. None where no checksum is published: the hash seen at the
    # first download is recorded in SHA256SUMS beside the file and verified on every later use.
    sha256: dict[str, str | None]


PTB = DatasetSpec(
    name="ptb",
    url="http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz",
    url_env="LSTMLM_PTB_URL",
    archive_dir="simple-examples/data",
    sha256={
        "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
        "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
        "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    },
)

SHAKESPEARE = DatasetSpec(
    name="shakespeare",
    url="http://www.gutenberg.org/cache/epub/100/pg100.txt",
    url_env="LSTMLM_SHAKESPEARE_URL",
    archive_dir=None,
    sha256={"pg100.txt": None},
)

DATASETS = {PTB.name: PTB, SHAKESPEARE.name: SHAKESPEARE}
RECORDED_SUMS = "SHA256SUMS"


def cache_dir() -> Path:
    """`LSTMLM_CACHE_DIR`, else `~/.cache/lstmlm`."""
    return Path(os.environ.get("LSTMLM_CACHE_DIR") or Path.home() / ".cache" / "lstmlm")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete(folder: Path, spec: DatasetSpec) -> bool:
    return all((folder / name).is_file() for name in spec.sha256)


def _expected_sums(folder: Path, spec: DatasetSpec) -> dict[str, str | None]:
    recorded = {}
    if (folder / RECORDED_SUMS).is_file():
        for line in (folder / RECORDED_SUMS).read_text(encoding="utf-8").splitlines():
            digest, name = line.split(maxsplit=1)
            recorded[name] = digest
    return {name: expected or recorded.get(name) for name, expected in spec.sha256.items()}


def _verify(folder: Path, spec: DatasetSpec, record: bool = False) -> None:
    """Check every file's sha256; with `record`, note the hash of files that have no checksum."""
    for name, expected in _expected_sums(folder, spec).items():
        if expected is None and not record:
            continue
        actual = sha256_of(folder / name)
        if expected is None:
            with open(folder / RECORDED_SUMS, "a", encoding="utf-8") as handle:
                handle.write(f"{actual}  {name}\n")
        elif actual != expected:
            raise LstmlmError(f"checksum mismatch for {folder / name}: expected sha256 "
                              f"{expected}, got {actual}")


def resolve(name: str, *, show_progress: bool = True) -> Path:
    """The folder holding the files of dataset `name`, downloading it if needed.

    Order: `$LSTMLM_DATA_DIR/<name>/`, then the cache, then a download into the cache.
    """
    spec = DATASETS[name]
    local_root = os.environ.get("LSTMLM_DATA_DIR")
    if local_root and _complete(Path(local_root) / name, spec):
        folder = Path(local_root) / name
        _verify(folder, spec)
        return folder
    cached = cache_dir() / name
    if _complete(cached, spec):
        _verify(cached, spec)
        return cached
    return download(spec, cache_dir(), show_progress=show_progress)


def download(spec: DatasetSpec, root: Path, *, show_progress: bool = True) -> Path:
    """Fetch `spec`'s archive, extract and verify its files into `root/<name>` atomically.

    Everything is written to a temporary folder inside `root` first and renamed into place only
    when every checksum matches, so a failure or interrupt leaves no partial files behind.
    """
    url = os.environ.get(spec.url_env) or spec.url
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=root))
    try:
        extracted = staging / spec.name
        if spec.archive_dir is None:
            extracted.mkdir()
            _fetch(url, extracted / next(iter(spec.sha256)), show_progress)
        else:
            archive = staging / "archive.tgz"
            _fetch(url, archive, show_progress)
            _extract(archive, spec, extracted)
        _verify(extracted, spec, record=True)
        target = root / spec.name
        if target.exists():  # an incomplete folder left by hand; the verified copy replaces it
            shutil.rmtree(target)
        os.replace(extracted, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch(url: str, destination: Path, show_progress: bool) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            expected = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with open(destination, "wb") as out, tqdm(
                total=expected, unit="B", unit_scale=True, desc=f"downloading {url}",
                disable=not show_progress, leave=False,
            ) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError) as error:
        raise LstmlmError(f"download of {url} failed: {error}") from None
    if expected is not None and received != expected:
        raise LstmlmError(f"download of {url} interrupted: got {received} of {expected} bytes")


def _extract(archive: Path, spec: DatasetSpec, destination: Path) -> None:
    """Copy the dataset's files out of the archive, refusing unsafe member names."""
    destination.mkdir()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = {}
            for member in tar.getmembers():
                path = PurePosixPath(member.name)
                if path.is_absolute() or ".." in path.parts:
                    raise LstmlmError(f"unsafe path {member.name!r} in archive {archive.name}")
                members[str(path)] = member
            for name in spec.sha256:
                member = members.get(f"{spec.archive_dir}/{name}")
                if member is None or not member.isfile():
                    raise LstmlmError(f"archive has no file {spec.archive_dir}/{name}")
                with tar.extractfile(member) as source, open(destination / name, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise LstmlmError(f"cannot extract {archive.name}: {error}") from None
