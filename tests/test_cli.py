"""The real `lstmlm` command, run as a user runs it."""

import csv
import io
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import lstmlm
from lstmlm import NeuralCache

from .conftest import write_corpus

# Every test here starts the real command in a new process (a second or more each).
pytestmark = pytest.mark.slow

LSTMLM = str(Path(sys.executable).with_name("lstmlm"))


def run_cli(*args, env_extra=None, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([LSTMLM, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def printed_number(pattern: str, text: str) -> float:
    match = re.search(pattern + r": ([0-9.]+)", text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1))


def test_test_preset_end_to_end_on_real_ptb(tmp_path, ptb_dir):
    trained = run_cli("train", "--preset", "test", "--data", ptb_dir, "--runs-dir", tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "Epoch: 1 Train Perplexity" in trained.stdout and "wps" in trained.stdout
    valid = printed_number("valid perplexity", trained.stdout)
    test = printed_number("test perplexity", trained.stdout)
    # Pinned from this command with torch 2.13.0 (seed 1234); an AVX512-BF16 EPYC and an
    # AVX2-only one print the same three decimals. 1e-5 leaves room for another BLAS build's
    # summation order, and is far below what a change of the computation moves.
    assert valid == pytest.approx(500.640, rel=1e-5)
    assert test == pytest.approx(476.304, rel=1e-5)
    run_dir = re.search(r"run: (\S+)", trained.stdout).group(1)
    evaluated = run_cli("eval", run_dir, "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.strip() == f"test perplexity: {test:.3f}"


def assert_clean_failure(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmlm: error:"), result.stderr
    assert message in lines[0]


@pytest.fixture
def tiny_args(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    return ["--data", corpus, "--set", "hidden_size=4", "--set", "batch_size=4",
            "--set", "num_steps=5", "--runs-dir", tmp_path / "runs"]


def test_bad_inputs_fail_with_one_line_and_leave_runs_untouched(tmp_path, tiny_args):
    first = run_cli("train", "--preset", "test", *tiny_args)
    assert first.returncode == 0, first.stderr
    runs = tmp_path / "runs"
    snapshot = {path: path.stat().st_mtime_ns for path in runs.rglob("*")}

    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait\n" * 40)
    (tmp_path / "short.txt").write_text("a b\n" * 20)
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    cases = [
        (["train", "--preset", "huge"], "unknown preset 'huge'"),
        (["train", "--set", "colour=red"], "unknown key 'colour'"),
        (["train", "--set", "hidden_size=big"], "bad value 'big' for hidden_size"),
        (["train", "--set", "keep_prob=0"], "keep_prob must be in (0, 1]"),
        (["train", "--data", tmp_path / "missing.txt"], "no dataset, folder or file named"),
        (["train", "--data", tmp_path / "empty.txt"], "is empty"),
        (["train", "--data", tmp_path / "latin1.txt"], "is not UTF-8"),
        (["train", "--data", tmp_path / "short.txt", "--runs-dir", runs], "too short"),
        (["train", "--resume", not_a_run], "is not a run directory"),
        (["eval", not_a_run], "is not a run directory"),
        (["eval", tmp_path / "nowhere"], "run directory not found"),
        (["train", "--time-budget", "soon"], "bad duration 'soon'"),
        (["train", "--time-budget", "0s"], "time_budget must be above 0 (none: no limit)"),
        (["train", "--resume", next(runs.iterdir()), "--set", "hidden_size=8"],
         "hidden_size is settled when a run starts"),
        (["train", *tiny_args, "--time-budget", "1s"], "time budget 1s is too small"),
        (["train", *tiny_args, "--time-budget", "1s"], "preset cpu-fast sizes its model"),
        (["train", *tiny_args, "--set", "final_eval=twice"],
         "final_eval must be one of static, dynamic, cache, got 'twice'"),
    ]
    for args, message in cases:
        assert_clean_failure(run_cli(*args), message)
    assert {path: path.stat().st_mtime_ns for path in runs.rglob("*")} == snapshot


def test_train_prints_the_adapted_test_perplexity_after_the_static_one(tiny_args):
    result = run_cli("train", "--preset", "test", *tiny_args, "--set", "final_eval=dynamic")
    assert result.returncode == 0, result.stderr
    static = printed_number("test perplexity", result.stdout)
    adapted = printed_number("test perplexity adapted at evaluation time", result.stdout)
    run_dir = Path(re.search(r"run: (\S+)", result.stdout).group(1))
    saved = json.loads((run_dir / "results.json").read_text())
    assert (saved["test_ppl"], saved["adapted"]["test_ppl"]) == \
        (pytest.approx(static, abs=5e-4), pytest.approx(adapted, abs=5e-4))
    lines = result.stdout.splitlines()
    assert lines.index(f"test perplexity: {static:.3f}") < \
        lines.index(f"test perplexity adapted at evaluation time: {adapted:.3f}")


def test_download_failure_is_one_line_and_leaves_no_cache(tmp_path):
    result = run_cli("download", "ptb", env_extra={
        "LSTMLM_DATA_DIR": str(tmp_path / "none"), "LSTMLM_CACHE_DIR": str(tmp_path / "cache"),
        "LSTMLM_PTB_URL": "http://127.0.0.1:9/simple-examples.tgz"})
    assert_clean_failure(result, "download of http://127.0.0.1:9/simple-examples.tgz failed")
    assert list((tmp_path / "cache").iterdir()) == []


def test_resume_of_a_finished_run_reprints_its_result(tmp_path, tiny_args):
    first = run_cli("train", "--preset", "test", *tiny_args)
    run_dir = re.search(r"run: (\S+)", first.stdout).group(1)
    again = run_cli("train", "--resume", run_dir)
    assert again.returncode == 0, again.stderr
    assert printed_number("test perplexity", again.stdout) == \
        printed_number("test perplexity", first.stdout)
    assert_clean_failure(run_cli("train", "--resume", run_dir, "--set", "seed=3"),
                         "seed is settled when a run starts")
    assert_clean_failure(run_cli("train", "--resume", run_dir, "--seed", "3"),
                         "--resume continues a run with its saved config")


def test_presets_lists_every_preset():
    result = run_cli("presets")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["small", "medium", "large", "medium-tied", "large-tied", "awd",
                                "cpu-fast", "wt103", "shakespeare", "tutorial", "test"]
    hidden = next(line for line in lines if line.startswith("hidden_size "))
    assert hidden.split()[1:] == ["200", "650", "1500", "650", "1500", "1150", "512", "2048", "128",
                                  "1024", "2"]
    sizes = next(line for line in lines if line.startswith("budget_hidden_sizes "))
    # whole, not cut short
    assert sizes.split() == ["budget_hidden_sizes", "512,400,320,256", "2048,1536,1024"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("data")
    corpus = write_corpus(folder / "corpus")
    result = run_cli("train", "--preset", "test", "--data", corpus, "--set", "hidden_size=8",
                     "--set", "batch_size=4", "--set", "num_steps=5", "--set", "max_max_epoch=2",
                     "--runs-dir", folder / "runs")
    assert result.returncode == 0, result.stderr
    return re.search(r"run: (\S+)", result.stdout).group(1)


def test_generate_greedy_and_sampled_to_a_file(trained_run, tmp_path):
    greedy = run_cli("generate", trained_run, "--prime", "the cat", "--words", "12",
                     "--strategy", "greedy")
    assert greedy.returncode == 0, greedy.stderr
    assert greedy.stdout == run_cli("generate", trained_run, "--prime", "the cat", "--words", "12",
                                    "--strategy", "greedy").stdout
    out = tmp_path / "sample.txt"
    sampled = run_cli("generate", trained_run, "--words", "20", "--seed", "1", "--top-p", "0.9",
                      "--out", out)
    assert sampled.returncode == 0 and out.read_text() == sampled.stdout
    sentences = run_cli("generate", trained_run, "--sentences", "3", "--min-length", "3",
                        "--seed", "2")
    lines = sentences.stdout.splitlines()
    assert len(lines) == 3 and all(len(line.split()) >= 3 for line in lines)


def test_generate_warns_about_unknown_prime_words(trained_run):
    result = run_cli("generate", trained_run, "--prime", "the zebra", "--words", "3", "--seed", "0")
    assert result.returncode == 0
    assert result.stderr.strip() == "lstmlm: warning: prime words not in the vocabulary, read as " \
                                    "<unk>: zebra"


def test_score_text_and_jsonl_from_file_and_stdin(trained_run, tmp_path):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("the cat sees mary\n\njohn eats some bread\n")
    text = run_cli("score", trained_run, sentences)
    assert text.returncode == 0, text.stderr
    rows = text.stdout.splitlines()
    assert len(rows) == 3 and rows[0].endswith("\tthe cat sees mary")
    assert rows[2].startswith("corpus: 2 sentences, 8 words, 0 OOV")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    piped = subprocess.run([LSTMLM, "score", trained_run, "-", "--format", "jsonl"], env=env,
                           input=sentences.read_text(), capture_output=True, text=True)
    records = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [record.get("sentence") for record in records[:2]] == ["the cat sees mary",
                                                                  "john eats some bread"]
    assert float(rows[0].split("\t")[0]) == pytest.approx(records[0]["logprob"], abs=1e-4)
    assert records[2]["corpus"]["sentences"] == 2


def test_plot_of_two_runs(trained_run, tmp_path):
    result = run_cli("plot", trained_run, trained_run, "--out", tmp_path / "curves.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_generate_score_plot_bad_inputs(trained_run, tmp_path):
    cases = [
        (["generate", trained_run, "--temperature", "-1"], "temperature must be >= 0"),
        (["generate", trained_run, "--top-p", "1.5"], "top-p must be in (0, 1]"),
        (["generate", trained_run, "--words", "0"], "number of words must be >= 1"),
        (["generate", tmp_path], "is not a run directory"),
        (["score", trained_run, tmp_path / "missing.txt"], "corpus file not found"),
        (["plot", tmp_path, "--out", tmp_path / "x.png"], "is not a run directory"),
    ]
    for args, message in cases:
        assert_clean_failure(run_cli(*args), message)


def test_numpy_rnn_train_generate_gradcheck(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("The cat sat on the mat. The dog sat on the log!\nA cat saw a dog. "
                    "The dog saw the cat?\n" * 20)
    model = tmp_path / "model.npz"
    trained = run_cli("numpy-rnn", "train", "--data", data, "--hidden", "8", "--vocab", "50",
                      "--epochs", "3", "--out", model)
    assert trained.returncode == 0, trained.stderr
    assert "Parsed 80 sentences." in trained.stdout and "Found 14 unique words tokens." in trained.stdout  # 12 + start, end
    losses = [float(line.rsplit(": ", 1)[1]) for line in trained.stdout.splitlines()
              if "loss after" in line]
    assert len(losses) == 3 and losses[-1] < losses[0]
    generated = run_cli("numpy-rnn", "generate", model, "--sentences", "4", "--min-length", "3",
                        "--seed", "1")
    assert generated.returncode == 0, generated.stderr
    lines = generated.stdout.splitlines()
    assert len(lines) == 4 and all(len(line.split()) >= 3 for line in lines)
    checked = run_cli("numpy-rnn", "gradcheck", "--vocab", "20", "--hidden", "4")
    assert checked.returncode == 0 and "gradient check passed" in checked.stdout
    assert checked.stdout.count("worst relative error") == 6


def test_numpy_rnn_bad_inputs(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "data.csv").write_text("id,text\n1,Hello there.\n")
    cases = [
        (["numpy-rnn", "train", "--data", tmp_path / "empty.txt"], "is empty"),
        (["numpy-rnn", "train", "--data", tmp_path / "data.csv", "--csv-column", "body"],
         "has no column 'body'"),
        (["numpy-rnn", "train", "--data", tmp_path / "data.csv", "--csv-column", "text",
          "--vocab", "2"], "vocabulary size must be at least 3"),
        (["numpy-rnn", "generate", tmp_path / "data.csv"], "cannot read NumPy RNN model"),
        (["numpy-rnn", "gradcheck", "--vocab", "2"], "vocabulary size must be at least 3"),
    ]
    for args, message in cases:
        assert_clean_failure(run_cli(*args), message)


def test_eval_of_standard_input(trained_run, tmp_path):
    text = "the cat sees mary\njohn eats a ball\n" * 20
    result = subprocess.run([LSTMLM, "eval", trained_run, "--data", "-"], input=text,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert printed_number("standard input perplexity", result.stdout) == \
        pytest.approx(lstmlm.load(trained_run).perplexity(text), rel=1e-3)


def test_eval_with_dynamic_evaluation(trained_run):
    static = run_cli("eval", trained_run, "--split", "test")
    dynamic = run_cli("eval", trained_run, "--split", "test", "--dynamic", "--dynamic-lr", "0.05",
                      "--dynamic-steps", "5")
    assert dynamic.returncode == 0, dynamic.stderr
    # Whether adaptation helps is tested on a stream built to reward it (test_evaluation);
    # here the command must print what the API computes.
    model = lstmlm.load(trained_run)
    assert printed_number("test perplexity", static.stdout) == \
        pytest.approx(model.evaluate("test"), rel=1e-3)
    adapted = model.evaluate("test", dynamic=lstmlm.DynamicEvaluation(learning_rate=0.05,
                                                                      num_steps=5))
    assert printed_number(r"test perplexity \(dynamic evaluation\)", dynamic.stdout) == \
        pytest.approx(adapted, rel=1e-3)
    assert_clean_failure(run_cli("eval", trained_run, "--dynamic", "--dynamic-lr", "0"),
                         "dynamic evaluation needs learning rate > 0")


def test_eval_with_neural_cache(trained_run):
    result = run_cli("eval", trained_run, "--split", "valid", "--cache", "--cache-window", "100")
    assert result.returncode == 0, result.stderr
    # The command prints what the library computes with the same options (3 decimals).
    expected = lstmlm.load(trained_run).evaluate("valid", cache=NeuralCache(window=100))
    assert printed_number(r"valid perplexity \(neural cache\)", result.stdout) == \
        pytest.approx(expected, abs=5e-4)
    assert_clean_failure(run_cli("eval", trained_run, "--cache", "--dynamic"), "cannot be combined")


def test_eval_of_the_last_weights(trained_run):
    result = run_cli("eval", trained_run, "--split", "test", "--weights", "last")
    assert result.returncode == 0, result.stderr
    expected = lstmlm.load(trained_run, weights="last").evaluate("test")
    assert printed_number("test perplexity", result.stdout) == pytest.approx(expected, abs=5e-4)
    refused = run_cli("eval", trained_run, "--weights", "final")
    assert refused.returncode == 2 and "invalid choice: 'final'" in refused.stderr


def test_export_then_every_command_takes_the_folder(trained_run, tmp_path):
    exported = run_cli("export", trained_run, tmp_path / "model")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == str(tmp_path / "model")
    from_run = run_cli("eval", trained_run, "--split", "test")
    from_folder = run_cli("eval", tmp_path / "model", "--split", "test")
    assert from_folder.returncode == 0 and from_folder.stdout == from_run.stdout
    generated = run_cli("generate", tmp_path / "model", "--words", "5", "--seed", "1")
    assert generated.returncode == 0 and generated.stdout == \
        run_cli("generate", trained_run, "--words", "5", "--seed", "1").stdout
    (tmp_path / "sentences.txt").write_text("the cat sees mary\n")
    scored = run_cli("score", tmp_path / "model", tmp_path / "sentences.txt")
    assert scored.returncode == 0 and scored.stdout == \
        run_cli("score", trained_run, tmp_path / "sentences.txt").stdout
    assert_clean_failure(run_cli("export", trained_run, tmp_path / "model"),
                         "already exists and is not an empty folder")
    assert_clean_failure(run_cli("eval", tmp_path / "model", "--weights", "last"),
                         "is a model folder: it holds one set of weights")


def test_rescore_prints_every_hypothesis_or_the_best(trained_run, tmp_path):
    nbest = "u1\t-10\tthe cat sees mary\nu2\t-3\tjohn eats\nu1\t-2\tthe cat sees\n"
    every = subprocess.run([LSTMLM, "rescore", trained_run, "--lm-weight", "0.5"], input=nbest,
                           capture_output=True, text=True)
    assert every.returncode == 0, every.stderr
    rows = [line.split("\t") for line in every.stdout.splitlines()]
    assert [row[0] for row in rows] == ["u1", "u2", "u1"] and rows[0][5] == "the cat sees mary"
    for utterance, score, lm_logprob, words, combined, _ in rows:
        assert float(combined) == pytest.approx(float(score) + 0.5 * float(lm_logprob), abs=1e-3)
    (tmp_path / "nbest.txt").write_text(nbest)
    best = run_cli("rescore", trained_run, "--best", tmp_path / "nbest.txt", "--lm-weight", "0")
    assert [line.split("\t")[5] for line in best.stdout.splitlines()] == ["the cat sees",
                                                                          "john eats"]
    (tmp_path / "bad.txt").write_text("u1\t-1\tfine\nu2 -3 no tabs\n")
    assert_clean_failure(run_cli("rescore", trained_run, tmp_path / "bad.txt"),
                         "n-best line 2: expected utterance-id<TAB>score<TAB>text")


def test_score_per_word_surprisal(trained_run, tmp_path):
    (tmp_path / "sentences.txt").write_text("the cat sees mary\njohn eats a zebra\n")
    # Options may come before an optional positional.
    per_word = run_cli("score", trained_run, "--per-word", tmp_path / "sentences.txt")
    assert per_word.returncode == 0, per_word.stderr
    rows = [line.split("\t") for line in per_word.stdout.splitlines()]
    assert [(row[0], row[1], row[2]) for row in rows[:5]] == [
        ("1", "1", "the"), ("1", "2", "cat"), ("1", "3", "sees"), ("1", "4", "mary"),
        ("1", "5", "<eos>")]
    assert rows[8][2:4] == ["zebra", "1"] and len(rows) == 10
    sentence_logprobs = [float(line.split("\t")[0]) for line in run_cli(
        "score", trained_run, tmp_path / "sentences.txt").stdout.splitlines()[:2]]
    for number, logprob in zip(("1", "2"), sentence_logprobs):
        bits = sum(float(row[4]) for row in rows if row[0] == number)
        assert bits * math.log(2) == pytest.approx(-logprob, abs=5e-3)  # printed to 4 decimals
    as_json = run_cli("score", trained_run, tmp_path / "sentences.txt", "--per-word",
                      "--format", "jsonl")
    first = json.loads(as_json.stdout.splitlines()[0])
    assert first == {"sentence": 1, "position": 1, "word": "the", "oov": False,
                     "bits": pytest.approx(float(rows[0][4]), abs=1e-4)}


class SmallDisk:
    """A folder that takes `size` bytes: a tmpfs of that size where this process may mount one
    (root), else one where a file stops growing at that size (RLIMIT_FSIZE, the signal it
    sends ignored, so that the write fails with EFBIG). `grow()` lifts the limit."""

    def __init__(self, path: Path, size: int):
        self.path, self.size = path, size
        path.mkdir()
        self.mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                       str(path)], capture_output=True).returncode == 0
        self.limited = not self.mounted

    def run(self, *args) -> subprocess.CompletedProcess:
        def limit_file_size():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.size, self.size))

        return subprocess.run([LSTMLM, *map(str, args)], capture_output=True, text=True,
                              env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600,
                              preexec_fn=limit_file_size if self.limited else None)

    def grow(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,size=64m", str(self.path)], check=True)
        self.limited = False

    def remove(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    disks = []

    def make(size: int) -> SmallDisk:
        disks.append(SmallDisk(tmp_path / f"disk{len(disks)}", size))
        return disks[-1]

    yield make
    for disk in disks:
        disk.remove()


def test_a_full_disk_ends_a_run_in_one_line_and_the_run_resumes(small_disk, tmp_path):
    small_disk = small_disk(64 * 1024)
    corpus = write_corpus(tmp_path / "corpus")
    args = ["--preset", "test", "--data", corpus, "--set", "hidden_size=64",
            "--set", "max_max_epoch=2", "--quiet"]
    # A checkpoint of this model (about 140 KB) does not fit.
    failed = small_disk.run("train", *args, "--runs-dir", small_disk.path)
    cause = "No space left on device" if small_disk.mounted else "File too large"
    assert_clean_failure(failed, f"best.safetensors: {cause}; `lstmlm train --resume")
    (run_dir,) = small_disk.path.iterdir()
    assert f"--resume {run_dir}` continues from the last complete checkpoint" in failed.stderr
    assert not [path for path in run_dir.iterdir() if path.name.endswith(".tmp")]
    small_disk.grow()
    resumed = small_disk.run("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = run_cli("train", *args, "--runs-dir", tmp_path / "runs")
    assert printed_number("test perplexity", resumed.stdout) == \
        printed_number("test perplexity", uninterrupted.stdout)


def test_a_file_that_cannot_be_written_is_one_line(trained_run, tmp_path, small_disk):
    small_disk = small_disk(4096)  # a page: the config fits, not the rest
    exported = small_disk.run("export", trained_run, small_disk.path / "model")
    cause = "No space left on device" if small_disk.mounted else "File too large"
    assert_clean_failure(exported, cause)
    assert list(small_disk.path.iterdir()) == []  # the folder appears whole or not at all
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if os.access(read_only, os.W_OK):
        return  # root may write anyway: the disk above is the test
    assert_clean_failure(run_cli("generate", trained_run, "--out", read_only / "text.txt"),
                         "Permission denied")


def test_pairs_of_a_file_and_bad_pair_files(trained_run, tmp_path):
    (tmp_path / "pairs.tsv").write_text("the cat sees mary\tthe cat see mary\n")
    result = run_cli("pairs", trained_run, tmp_path / "pairs.tsv", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    overall = json.loads(result.stdout.splitlines()[-1])
    assert overall["level"] == "overall" and overall["pairs"] == 1
    (tmp_path / "bad.jsonl").write_text('{"sentence_good": "the cat"}\n')
    assert_clean_failure(run_cli("pairs", trained_run, tmp_path / "bad.jsonl"),
                         "bad.jsonl:1: a BLiMP pair needs sentence_good and sentence_bad")


def test_surprisal_of_a_table_with_regions_and_its_bad_inputs(trained_run, tmp_path):
    stimuli = tmp_path / "stimuli.csv"
    stimuli.write_text('item,condition,sentence\n1,a,"The cat | sees | Mary."\n'
                       "1,b,The cat | see | Mary.\n")
    result = run_cli("surprisal", trained_run, stimuli, "--text-column", "sentence", "--keep",
                     "item,condition", "--normalize", "ptb", "--regions", tmp_path / "r.tsv")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ("lstmlm: surprisal in bits; normalization: ptb; "
                             "context: independent\n")
    rows = list(csv.DictReader(io.StringIO(result.stdout), delimiter="\t"))
    assert list(rows[0]) == ["sentence_id", "token_id", "token", "surprisal", "item",
                             "condition", "scored", "oov", "eos", "region"]
    assert [row["token"] for row in rows[:5]] == ["The", "cat", "sees", "Mary.", "</s>"]
    assert rows[3]["scored"] == "mary" and rows[4]["eos"] == "1"
    regions = list(csv.DictReader(open(tmp_path / "r.tsv"), delimiter="\t"))
    assert [region["content"] for region in regions] == ["The cat", "sees", "Mary.", "The cat",
                                                         "see", "Mary."]
    assert float(regions[0]["surprisal"]) == pytest.approx(
        float(rows[0]["surprisal"]) + float(rows[1]["surprisal"]), rel=1e-9)
    assert_clean_failure(run_cli("surprisal", trained_run, stimuli, "--text-column", "text"),
                         "stimuli.csv: no column 'text' (its columns: item, condition, sentence)")
    plain = tmp_path / "plain.txt"
    plain.write_text("the cat sees mary\n")
    assert_clean_failure(run_cli("surprisal", trained_run, plain, "--regions", tmp_path / "x"),
                         "--regions: " + str(plain) + " has no regions")
    assert not (tmp_path / "x").exists()


def test_syntaxgym_suite_and_a_bad_formula(trained_run, tmp_path):
    suite = {"meta": {"name": "agreement", "metric": "sum"},
             "region_meta": {"1": "Subject", "2": "Verb"},
             "predictions": [{"type": "formula", "formula": "(2;%bad%) > (2;%good%)"}],
             "items": [{"item_number": 1, "conditions": [
                 {"condition_name": condition,
                  "regions": [{"region_number": 1, "content": "the cat"},
                              {"region_number": 2, "content": verb}]}
                 for condition, verb in (("good", "sees"), ("bad", "see"))]}]}
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    result = run_cli("syntaxgym", trained_run, tmp_path / "suite.json", "--format", "jsonl",
                     "--regions", tmp_path / "regions.tsv")
    assert result.returncode == 0, result.stderr
    prediction, total = map(json.loads, result.stdout.splitlines())
    assert prediction["formula"] == "(2;%bad%) > (2;%good%)" and total["level"] == "suite"
    assert total["accuracy"] == prediction["accuracy"] in (0.0, 1.0)
    regions = [json.loads(line) for line in open(tmp_path / "regions.tsv")]  # as --format
    verbs = {row["condition"]: row["surprisal"] for row in regions if row["region_number"] == 2}
    assert prediction["accuracy"] == float(verbs["bad"] > verbs["good"])
    text = run_cli("syntaxgym", trained_run, tmp_path / "suite.json")
    assert text.stdout.splitlines()[-1].startswith("agreement\taccuracy\t")
    suite["predictions"][0]["formula"] = "(2;%bad%) > (2;%ok%)"
    (tmp_path / "bad.json").write_text(json.dumps(suite))
    assert_clean_failure(run_cli("syntaxgym", trained_run, tmp_path / "bad.json"),
                         "bad.json: prediction 1: the formula '(2;%bad%) > (2;%ok%)' names "
                         "condition 'ok'")


def test_kaldi_rescoring_writes_costs_and_sweeps_the_weight(trained_run, tmp_path):
    (tmp_path / "nbest.txt").write_text("utt1-1 the cat sees mary\nutt1-2 the cat see mary\n"
                                        "utt2-1 john eats\nutt2-2 john eat\n")
    (tmp_path / "ac.txt").write_text("utt1-1 50.0\nutt1-2 49.0\nutt2-1 30.5\nutt2-2 30.0\n")
    (tmp_path / "ref.txt").write_text("utt1 the cat sees mary\nutt2 john eats\n")
    files = [tmp_path / name for name in ("nbest.txt", "ac.txt", "ref.txt", "lm.txt")]
    best = run_cli("rescore", trained_run, files[0], "--format", "kaldi", "--ac-costs",
                   files[1], "--lm-weight", "0", "--write-lm-costs", files[3])
    assert best.returncode == 0, best.stderr
    assert best.stdout == "utt1 the cat see mary\nutt2 john eat\n"  # the acoustics alone
    written = dict(line.split() for line in files[3].read_text().splitlines())
    assert list(written) == ["utt1-1", "utt1-2", "utt2-1", "utt2-2"]
    assert all(float(cost) > 0 for cost in written.values())
    sweep = run_cli("rescore", trained_run, files[0], "--format", "kaldi", "--ac-costs",
                    files[1], "--ref", files[2], "--lm-weights", "0:1:0.5")
    assert sweep.returncode == 0, sweep.stderr
    lines = sweep.stdout.splitlines()
    assert lines[0] == "0\t33.33"  # 2 errors in 6 words
    assert [line.split("\t")[0] for line in lines[:3]] == ["0", "0.5", "1"]
    assert lines[3].startswith("best lm-weight: ")
    (tmp_path / "short.txt").write_text("utt1-1 50.0\n")
    assert_clean_failure(run_cli("rescore", trained_run, files[0], "--format", "kaldi",
                                 "--ac-costs", tmp_path / "short.txt", "--write-lm-costs",
                                 tmp_path / "never.txt"), "has no cost for 'utt1-2'")
    assert not (tmp_path / "never.txt").exists()
    assert_clean_failure(run_cli("rescore", trained_run, files[0], "--format", "kaldi"),
                         "--format kaldi needs --ac-costs FILE")
    assert_clean_failure(run_cli("rescore", trained_run, files[0], "--ac-costs", files[1]),
                         "--ac-costs: for --format kaldi")

