"""The real download path, served from a loopback HTTP server: never the internet."""

import http.server
import io
import tarfile
import threading

import pytest

from lstmlm import LstmlmError, datasets, load_corpus


@pytest.fixture(scope="module")
def ptb_archive(ptb_dir) -> bytes:
    """The canonical archive's layout around the real PTB files (it verifies like the original)."""
    return make_archive({f"simple-examples/data/{name}": (ptb_dir / name).read_bytes()
                         for name in datasets.PTB.sha256})


class ArchiveHandler(http.server.BaseHTTPRequestHandler):
    body = b""
    claimed_length = None  # a Content-Length larger than the body simulates a dropped connection

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(self.claimed_length or len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve(monkeypatch, tmp_path):
    """Serve given bytes at a loopback URL that PTB downloads use; yields a setter."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ArchiveHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LSTMLM_PTB_URL", f"http://127.0.0.1:{server.server_port}/simple-examples.tgz")
    monkeypatch.setenv("LSTMLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LSTMLM_DATA_DIR", raising=False)

    def set_body(body: bytes, claimed_length: int | None = None):
        ArchiveHandler.body, ArchiveHandler.claimed_length = body, claimed_length

    yield set_body
    server.shutdown()
    server.server_close()


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


def test_shakespeare_without_published_checksum_is_recorded_then_verified(monkeypatch, tmp_path):
    text = ("*** START OF THE PROJECT GUTENBERG EBOOK THE COMPLETE WORKS ***\n"
            + "To be, or not to be: that is the question.\n" * 30
            + "*** END OF THE PROJECT GUTENBERG EBOOK ***\nlicence text\n").encode()

    class TextHandler(ArchiveHandler):
        body = text

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TextHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("LSTMLM_SHAKESPEARE_URL", f"http://127.0.0.1:{server.server_port}/pg100.txt")
        monkeypatch.setenv("LSTMLM_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.delenv("LSTMLM_DATA_DIR", raising=False)
        folder = datasets.resolve("shakespeare", show_progress=False)
    finally:
        server.shutdown()
        server.server_close()
    recorded = (folder / "SHA256SUMS").read_text().split()
    assert recorded == [datasets.sha256_of(folder / "pg100.txt"), "pg100.txt"]
    corpus = load_corpus("shakespeare", clean=True)
    assert corpus.vocab.decode(corpus.train[:11]) == \
        "to be or not to be that is the question <eos>".split()
    assert "licence" not in corpus.vocab.ids
    (folder / "pg100.txt").write_bytes(text + b"tampered\n")
    with pytest.raises(LstmlmError, match="checksum mismatch for .*pg100.txt"):
        datasets.resolve("shakespeare")
