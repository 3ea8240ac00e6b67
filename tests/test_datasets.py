"""The real download path, served from a loopback HTTP server: never the internet."""

import dataclasses
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import pytest

from lstmlm import LstmlmError, datasets, load_corpus


@pytest.fixture(scope="module")
def ptb_archive(ptb_dir) -> bytes:
    """The canonical archive's layout around the real PTB files (it verifies like the original)."""
    return make_archive({f"simple-examples/data/{name}": (ptb_dir / name).read_bytes()
                         for name in datasets.PTB.sha256})


class ArchiveHandler(http.server.BaseHTTPRequestHandler):
    """Serves `bodies[path]`; a claimed length above the body's simulates a dropped connection."""

    bodies: dict[str, tuple[bytes, int | None]] = {}

    def do_GET(self):
        if self.path not in self.bodies:
            self.send_error(404)
            return
        body, claimed_length = self.bodies[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(claimed_length or len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A loopback HTTP server and an empty cache, with no local data directory; yields the
    server's base URL. Tests put what it serves in ArchiveHandler.bodies."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ArchiveHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(ArchiveHandler, "bodies", {})
    monkeypatch.setenv("LSTMLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LSTMLM_DATA_DIR", raising=False)
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def serve(monkeypatch, server):
    """Serve given bytes at the loopback URL that PTB downloads use; yields a setter."""
    monkeypatch.setenv("LSTMLM_PTB_URL", f"{server}/simple-examples.tgz")

    def set_body(body: bytes, claimed_length: int | None = None):
        ArchiveHandler.bodies["/simple-examples.tgz"] = (body, claimed_length)

    return set_body


def cache_entries(tmp_path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(path.name for path in cache.iterdir()) if cache.exists() else []


def make_archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_download_extracts_verifies_and_caches(serve, tmp_path, ptb_archive):
    serve(ptb_archive)
    folder = datasets.resolve("ptb", show_progress=False)
    assert folder == tmp_path / "cache" / "ptb"
    assert sorted(path.name for path in folder.iterdir()) == sorted(datasets.PTB.sha256)
    assert cache_entries(tmp_path) == ["ptb"]  # no temporary files left
    serve(b"not an archive")  # the second call uses the cache and never downloads
    assert datasets.resolve("ptb", show_progress=False) == folder
    assert len(load_corpus("ptb").vocab) == 10000


def test_checksum_mismatch_leaves_nothing_in_cache(serve, tmp_path, ptb_dir):
    files = {f"simple-examples/data/{name}": (ptb_dir / name).read_bytes()
             for name in datasets.PTB.sha256}
    files["simple-examples/data/ptb.valid.txt"] += b" tampered\n"
    serve(make_archive(files))
    with pytest.raises(LstmlmError, match="checksum mismatch for .*ptb.valid.txt"):
        datasets.resolve("ptb", show_progress=False)
    assert cache_entries(tmp_path) == []


def test_interrupted_download_leaves_nothing_in_cache(serve, tmp_path, ptb_archive):
    body = ptb_archive[:50000]
    serve(body, claimed_length=len(body) * 10)
    with pytest.raises(LstmlmError, match="download of .* (interrupted|failed)"):
        datasets.resolve("ptb", show_progress=False)
    assert cache_entries(tmp_path) == []


@pytest.mark.parametrize("member", ["/etc/evil.txt", "simple-examples/../../evil.txt"])
def test_unsafe_archive_members_are_rejected(serve, tmp_path, member):
    serve(make_archive({member: b"x", "simple-examples/data/ptb.train.txt": b"a\n"}))
    with pytest.raises(LstmlmError, match="unsafe path"):
        datasets.resolve("ptb", show_progress=False)
    assert cache_entries(tmp_path) == []
    assert not (tmp_path / "evil.txt").exists()


def test_archive_missing_a_file_is_an_error(serve, tmp_path):
    serve(make_archive({"simple-examples/data/ptb.train.txt": b"a\n"}))
    with pytest.raises(LstmlmError, match="archive has no file"):
        datasets.resolve("ptb", show_progress=False)


def test_unreachable_server_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LSTMLM_PTB_URL", "http://127.0.0.1:9/none.tgz")
    monkeypatch.setenv("LSTMLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LSTMLM_DATA_DIR", raising=False)
    with pytest.raises(LstmlmError, match="download of http://127.0.0.1:9/none.tgz failed"):
        datasets.resolve("ptb", show_progress=False)


def test_local_data_dir_comes_first(monkeypatch, tmp_path, serve, ptb_dir):
    serve(b"never fetched")
    monkeypatch.setenv("LSTMLM_DATA_DIR", str(ptb_dir.parent))
    assert datasets.resolve("ptb") == ptb_dir
    assert cache_entries(tmp_path) == []


def test_shakespeare_without_published_checksum_is_recorded_then_verified(monkeypatch, server,
                                                                          tmp_path):
    text = ("*** START OF THE PROJECT GUTENBERG EBOOK THE COMPLETE WORKS ***\n"
            + "To be, or not to be: that is the question.\n" * 30
            + "*** END OF THE PROJECT GUTENBERG EBOOK ***\nlicence text\n").encode()
    ArchiveHandler.bodies["/pg100.txt"] = (text, None)
    monkeypatch.setenv("LSTMLM_SHAKESPEARE_URL", f"{server}/pg100.txt")
    folder = datasets.resolve("shakespeare", show_progress=False)
    recorded = (folder / "SHA256SUMS").read_text().split()
    assert recorded == [datasets.file_digest(folder / "pg100.txt"), "pg100.txt"]
    corpus = load_corpus("shakespeare", clean=True)
    assert corpus.vocab.decode(corpus.train[:11]) == \
        "to be or not to be that is the question <eos>".split()
    assert "licence" not in corpus.vocab.ids
    (folder / "pg100.txt").write_bytes(text + b"tampered\n")
    with pytest.raises(LstmlmError, match="checksum mismatch for .*pg100.txt"):
        datasets.resolve("shakespeare")


# WikiText's layout and conventions in miniature: headings, blank lines, the files' own <unk>.
WIKI_FILES = {
    "train": " \n = Valkyria Chronicles = \n \n The game was released in <unk> 2011 . \n"
             " It sold 1 @,@ 000 copies . \n",
    "valid": " \n = Robert <unk> = \n The game sold . \n",
    "test": " \n = Tower = \n It was released . \n",
}


def wikitext_zip(files: dict[str, str], extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for split, text in files.items():
            bundle.writestr(f"wikitext-2/wiki.{split}.tokens", text)
        for name, content in (extra or {}).items():
            bundle.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture
def small_wikitext(monkeypatch, server):
    """WikiText-2's download spec with the published MD5 and line counts replaced by those of a
    small archive of the same layout, served from two loopback mirrors in the spec's order."""
    archive = wikitext_zip(WIKI_FILES)
    spec = dataclasses.replace(
        datasets.WIKITEXT2, archive_md5=hashlib.md5(archive).hexdigest(),
        line_counts={f"wiki.{split}.tokens": text.count("\n") for split, text in WIKI_FILES.items()})
    monkeypatch.setitem(datasets.DATASETS, "wikitext-2", spec)
    monkeypatch.setenv("LSTMLM_WIKITEXT2_URL", f"{server}/first/wikitext-2-v1.zip "
                                               f"{server}/second/wikitext-2-v1.zip")
    return archive


def test_wikitext_download_reads_like_the_reference_readers(small_wikitext, tmp_path):
    ArchiveHandler.bodies["/first/wikitext-2-v1.zip"] = (small_wikitext, None)
    folder = datasets.resolve("wikitext-2", show_progress=False)
    assert folder == tmp_path / "cache" / "wikitext-2"
    assert sorted(path.name for path in folder.iterdir()) == [
        "SHA256SUMS", "wiki.test.tokens", "wiki.train.tokens", "wiki.valid.tokens"]
    corpus = load_corpus("wikitext-2")
    # Every line, blank ones and headings included, is its words and <eos>.
    assert corpus.vocab.decode(corpus.train[:8]) == \
        ["<eos>", "=", "Valkyria", "Chronicles", "=", "<eos>", "<eos>", "The"]
    assert len(corpus.train) == sum(len(line.split()) + 1 for line in WIKI_FILES["train"].splitlines())
    train_words = {word for line in WIKI_FILES["train"].splitlines() for word in line.split()}
    assert set(corpus.vocab.words) == train_words | {"<eos>"}  # no cap, <unk> the files' own
    assert corpus.vocab.decode(corpus.valid[1:5]) == ["=", "<unk>", "<unk>", "="]  # unseen Robert
    # The recorded per-file hashes are verified at every later use.
    (folder / "wiki.test.tokens").write_text(WIKI_FILES["test"].replace("Tower", "Bridge"))
    with pytest.raises(LstmlmError, match="checksum mismatch for .*wiki.test.tokens"):
        datasets.resolve("wikitext-2")


def test_a_bad_mirror_is_skipped_for_the_next(small_wikitext, tmp_path):
    ArchiveHandler.bodies["/first/wikitext-2-v1.zip"] = (small_wikitext[:-10] + b"x" * 10, None)
    ArchiveHandler.bodies["/second/wikitext-2-v1.zip"] = (small_wikitext, None)
    assert datasets.resolve("wikitext-2", show_progress=False) == tmp_path / "cache" / "wikitext-2"


def test_every_mirror_failing_names_each_and_leaves_nothing(small_wikitext, tmp_path):
    ArchiveHandler.bodies["/first/wikitext-2-v1.zip"] = (small_wikitext + b"x", None)
    ArchiveHandler.bodies["/second/wikitext-2-v1.zip"] = (small_wikitext[:100], len(small_wikitext))
    with pytest.raises(LstmlmError) as error:
        datasets.resolve("wikitext-2", show_progress=False)
    message = str(error.value)
    assert message.startswith("every mirror of wikitext-2 failed: checksum mismatch for the "
                              "archive from http://127.0.0.1:")
    assert "/second/wikitext-2-v1.zip interrupted: got 100 of" in message
    assert cache_entries(tmp_path) == []


@pytest.mark.parametrize("member", ["/etc/evil.txt", "wikitext-2/../../evil.txt",
                                    "..\\..\\evil.txt"])
def test_unsafe_zip_members_are_rejected(small_wikitext, monkeypatch, tmp_path, member):
    archive = wikitext_zip(WIKI_FILES, {member: b"x"})
    spec = dataclasses.replace(datasets.DATASETS["wikitext-2"],
                               archive_md5=hashlib.md5(archive).hexdigest())
    monkeypatch.setitem(datasets.DATASETS, "wikitext-2", spec)
    ArchiveHandler.bodies["/first/wikitext-2-v1.zip"] = (archive, None)
    with pytest.raises(LstmlmError, match="unsafe path"):
        datasets.resolve("wikitext-2", show_progress=False)
    assert cache_entries(tmp_path) == [] and not (tmp_path / "evil.txt").exists()


def test_a_local_wikitext_copy_is_checked_against_the_line_counts(small_wikitext, monkeypatch,
                                                                 tmp_path):
    local = tmp_path / "data" / "wikitext-2"
    local.mkdir(parents=True)
    for split, text in WIKI_FILES.items():
        (local / f"wiki.{split}.tokens").write_text(text)
    monkeypatch.setenv("LSTMLM_DATA_DIR", str(tmp_path / "data"))
    assert datasets.resolve("wikitext-2") == local
    (local / "wiki.valid.tokens").write_text(WIKI_FILES["valid"] + " more \n")
    with pytest.raises(LstmlmError, match=r"wiki.valid.tokens has 4 lines, expected 3 \(an "
                                          r"incomplete or different copy of wikitext-2\)"):
        datasets.resolve("wikitext-2")


def test_a_folder_of_wiki_tokens_files_is_a_corpus(tmp_path):
    for split, text in WIKI_FILES.items():
        (tmp_path / f"wiki.{split}.tokens").write_text(text)
    assert len(load_corpus(str(tmp_path)).test) == 10  # <eos>, = Tower = <eos>, It ... <eos>


def test_the_environment_replaces_the_mirror_list(monkeypatch):
    monkeypatch.delenv("LSTMLM_WIKITEXT103_URL", raising=False)
    assert datasets.WIKITEXT103.mirrors() == [
        "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-103-v1.zip",
        "https://wikitext.smerity.com/wikitext-103-v1.zip"]
    monkeypatch.setenv("LSTMLM_WIKITEXT103_URL", " http://a/x.zip  http://b/x.zip ")
    assert datasets.WIKITEXT103.mirrors() == ["http://a/x.zip", "http://b/x.zip"]
