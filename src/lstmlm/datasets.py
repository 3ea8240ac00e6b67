"""Named corpora: find them locally, or download, verify and cache them."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .errors import LstmlmError
from .files import replacing_folder


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named corpus comes from and what its files must hash to."""

    name: str
    urls: tuple[str, ...]  # mirrors, tried in this order
    # Environment variable that replaces `urls` (one URL or several separated by spaces; tests
    # point it at a loopback server).
    url_env: str
    archive_dir: str | None  # folder inside the archive holding the files; None: url is the file
    # File name -> expected sha256. None where no checksum is published: the hash seen at the
    # first download is recorded in SHA256SUMS beside the file and verified on every later use.
    sha256: dict[str, str | None]
    archive_md5: str | None = None  # the published checksum of the archive itself
    line_counts: dict[str, int] = field(default_factory=dict)  # lines each file must have

    def mirrors(self) -> list[str]:
        """The URLs to try, in order: the environment override's, else the known mirrors."""
        override = os.environ.get(self.url_env, "").split()
        return override or list(self.urls)


PTB = DatasetSpec(
    name="ptb",
    urls=("http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz",),
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
    urls=("http://www.gutenberg.org/cache/epub/100/pg100.txt",),
    url_env="LSTMLM_SHAKESPEARE_URL",
    archive_dir=None,
    sha256={"pg100.txt": None},
)


def wikitext(size: str, archive_md5: str, train_lines: int) -> DatasetSpec:
    """WikiText-2 or -103 (Merity et al. 2016), word level: the original host first, then the
    author's mirror. Only the archives' MD5 is published; the files' sha256 are recorded at
    the first download, and every copy is checked against the published line counts."""
    archive = f"wikitext-{size}-v1.zip"
    return DatasetSpec(
        name=f"wikitext-{size}",
        urls=(f"https://s3.amazonaws.com/research.metamind.io/wikitext/{archive}",
              f"https://wikitext.smerity.com/{archive}"),
        url_env=f"LSTMLM_WIKITEXT{size}_URL",
        archive_dir=f"wikitext-{size}",
        sha256={f"wiki.{split}.tokens": None for split in ("train", "valid", "test")},
        archive_md5=archive_md5,
        line_counts={"wiki.train.tokens": train_lines, "wiki.valid.tokens": 3760,
                     "wiki.test.tokens": 4358},
    )


WIKITEXT2 = wikitext("2", "542ccefacc6c27f945fb54453812b3cd", 36718)
WIKITEXT103 = wikitext("103", "9ddaacaf6af0710eda8c456decff7832", 1801350)

DATASETS = {spec.name: spec for spec in (PTB, SHAKESPEARE, WIKITEXT2, WIKITEXT103)}
# The corpus shipped inside the package (data/sample/README.md says what it is): a first model
# trains on it offline.
SAMPLE = "sample"
SAMPLE_DIR = Path(__file__).parent / "data" / "sample"
RECORDED_SUMS = "SHA256SUMS"


def cache_dir() -> Path:
    """`LSTMLM_CACHE_DIR`, else `~/.cache/lstmlm`."""
    return Path(os.environ.get("LSTMLM_CACHE_DIR") or Path.home() / ".cache" / "lstmlm")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def line_count(path: Path) -> int:
    """Newlines in a file, as `wc -l` counts them."""
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


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
    """Check every file's line count and sha256; with `record`, note the hash of files that
    have no checksum."""
    for name, expected_lines in spec.line_counts.items():
        lines = line_count(folder / name)
        if lines != expected_lines:
            raise LstmlmError(f"{folder / name} has {lines:,} lines, expected {expected_lines:,} "
                              f"(an incomplete or different copy of {spec.name})")
    for name, expected in _expected_sums(folder, spec).items():
        if expected is None and not record:
            continue
        actual = file_digest(folder / name)
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

    The mirrors are tried in turn until one serves an archive whose checksum matches.
    Everything is written to a temporary folder inside `root` first and renamed into place only
    when every checksum matches, so a failure or interrupt leaves no partial files behind (an
    incomplete folder left by hand is replaced by the verified copy).
    """
    failures = []
    for url in spec.mirrors():
        try:
            with replacing_folder(root / spec.name) as folder:
                _fetch_verified(spec, url, folder, show_progress)
            return root / spec.name
        except LstmlmError as error:
            failures.append(str(error))
    if len(failures) == 1:
        raise LstmlmError(failures[0])
    raise LstmlmError(f"every mirror of {spec.name} failed: " + "; ".join(failures))


def _fetch_verified(spec: DatasetSpec, url: str, folder: Path, show_progress: bool) -> None:
    """Download from one URL and leave the verified files in `folder` (and nothing else)."""
    if spec.archive_dir is None:
        _fetch(url, folder / next(iter(spec.sha256)), show_progress)
    else:
        archive = folder / ".archive"
        _fetch(url, archive, show_progress)
        if spec.archive_md5 is not None:
            actual = file_digest(archive, "md5")
            if actual != spec.archive_md5:
                raise LstmlmError(f"checksum mismatch for the archive from {url}: expected md5 "
                                  f"{spec.archive_md5}, got {actual}")
        _extract(archive, spec, folder)
        archive.unlink()
    _verify(folder, spec, record=True)


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
    """Copy the dataset's files out of a tar or zip archive, refusing unsafe member names."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                members = _safe_members(archive, {info.filename: info for info in bundle.infolist()
                                                  if not info.is_dir()})
                _copy_files(spec, members, bundle.open, destination)
        else:
            with tarfile.open(archive, "r:*") as bundle:
                members = _safe_members(archive, {member.name: member
                                                  for member in bundle.getmembers()})
                files = {name: member for name, member in members.items() if member.isfile()}
                _copy_files(spec, files, bundle.extractfile, destination)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise LstmlmError(f"cannot extract the archive of {spec.name}: {error}") from None


def _safe_members(archive: Path, members: dict) -> dict:
    """The members by normalised name; an absolute name or one with `..` is an error."""
    safe = {}
    for name, member in members.items():
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts:
            raise LstmlmError(f"unsafe path {name!r} in archive {archive.name}")
        safe[str(path)] = member
    return safe


def _copy_files(spec: DatasetSpec, members: dict, open_member, destination: Path) -> None:
    """Write each of the spec's files from its archive member into `destination`."""
    for name in spec.sha256:
        member = members.get(f"{spec.archive_dir}/{name}")
        if member is None:
            raise LstmlmError(f"archive has no file {spec.archive_dir}/{name}")
        with open_member(member) as source, open(destination / name, "wb") as out:
            shutil.copyfileobj(source, out)
