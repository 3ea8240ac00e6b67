"""Data-parallel training with torchrun: two gloo processes on the CPU train exactly like one
process with their batches together, a distributed run resumes after a process died, and a
resume with another number of processes is refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstmlm import LstmlmError, cli, distributed
from lstmlm.distributed import World

from .conftest import write_corpus

pytestmark = pytest.mark.slow
TESTS = Path(__file__).parent
# Per rank; the one-process run takes both ranks' rows (and evaluation rows) at once.
BATCH, EVAL_BATCH = 4, 2
# Dropout off (so the processes' own masks cannot matter), two layers, weight decay and
# gradient clipping on, so that the gradient average and the clipping of it are both exercised.
SETTINGS = ["hidden_size=12", "num_layers=2", "num_steps=6", "max_epoch=1", "max_max_epoch=3",
            "learning_rate=1.0", "lr_decay=0.5", "max_grad_norm=0.5", "weight_decay=1e-4",
            "eval_num_steps=9", "seed=11"]


def train_args(corpus: Path, runs: Path, batch: int, eval_batch: int) -> list[str]:
    # The CPU, with gloo, on every machine: on a GPU machine "auto" would give each process a
    # GPU of its own, which a one-GPU machine does not have.
    args = ["train", "--preset", "test", "--data", str(corpus), "--runs-dir", str(runs),
            "--device", "cpu"]
    for setting in SETTINGS + [f"batch_size={batch}", f"eval_batch_size={eval_batch}"]:
        args += ["--set", setting]
    return args


def torchrun(*args: str, script: list[str] | None = None, env_extra: dict | None = None):
    """`torchrun --standalone --nproc-per-node 2 -m lstmlm ARGS` (or another script)."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    env.update(env_extra or {}, LSTMLM_DIST_TIMEOUT="60")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", *(script or ["-m", "lstmlm"]), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def run_dir_of(output: str) -> Path:
    lines = [line for line in output.splitlines() if line.startswith("run: ")]
    assert len(lines) == 1, output  # rank 0 alone reports
    return Path(lines[0][len("run: "):])


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def perplexities(run_dir: Path) -> list[tuple[float, float]]:
    return [(entry["train_ppl"], entry["valid_ppl"]) for entry in metrics(run_dir)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("ddp") / "corpus", seed=5, lines=600)


@pytest.fixture(scope="module")
def two_processes(corpus, tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("ddp-runs")
    result = torchrun(*train_args(corpus, runs, BATCH, EVAL_BATCH))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir_of(result.stdout)


def test_two_processes_train_like_one_with_their_batches_together(corpus, two_processes,
                                                                  tmp_path, capsys):
    assert cli.main(train_args(corpus, tmp_path, 2 * BATCH, 2 * EVAL_BATCH)) == 0
    alone = run_dir_of(capsys.readouterr().out)
    # Only the order of additions differs (the gradient average, the loss sums), so the
    # perplexities agree to float32 rounding accumulated over three epochs.
    together = perplexities(two_processes)
    assert len(together) == 3
    for (train_two, valid_two), (train_one, valid_one) in zip(together, perplexities(alone)):
        assert train_two == pytest.approx(train_one, rel=1e-5)
        assert valid_two == pytest.approx(valid_one, rel=1e-5)
    results = json.loads((two_processes / "results.json").read_text())
    expected = json.loads((alone / "results.json").read_text())
    assert results["processes"] == 2
    assert results["test_ppl"] == pytest.approx(expected["test_ppl"], rel=1e-5)
    log = (two_processes / "train.log").read_text()
    assert "distributed: 2 processes, batch_size 4 each (8 rows in all)" in log
    # torchrun set OMP_NUM_THREADS=1 for its two processes; each gets its share of the cores.
    cores = len(os.sched_getaffinity(0))
    assert f"threads: {max(1, cores // 2)} per process ({cores} cores / 2 processes" in log
    # Rank 0 alone wrote the run: one run directory, one line per epoch.
    assert len(list(two_processes.parent.iterdir())) == 1
    assert [line.startswith("Epoch: 1 Valid") for line in log.splitlines()].count(True) == 1


def test_a_process_that_dies_stops_the_run_and_the_run_resumes(corpus, two_processes,
                                                                tmp_path):
    first_epoch = json.loads((two_processes / "losses.jsonl").read_text().splitlines()[0])
    # Die in the second epoch: the first epoch's checkpoint is what the resume continues from.
    crash_at = len(first_epoch["losses"]) + 10
    crashed = torchrun(*train_args(corpus, tmp_path, BATCH, EVAL_BATCH),
                       script=[str(TESTS / "distributed_crash.py")],
                       env_extra={"LSTMLM_TEST_CRASH_AT": str(crash_at)})
    assert crashed.returncode != 0
    (run_dir,) = tmp_path.iterdir()
    assert len(metrics(run_dir)) == 1 and not (run_dir / "results.json").exists()

    resumed = torchrun("train", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in (run_dir / "train.log").read_text()
    # The same numbers as the run that was never interrupted (timings aside).
    assert perplexities(run_dir) == perplexities(two_processes)
    assert json.loads((run_dir / "results.json").read_text())["test_ppl"] == \
        json.loads((two_processes / "results.json").read_text())["test_ppl"]

    # One process cannot continue what two trained.
    code = cli.main(["train", "--resume", str(run_dir)])
    assert code == 2


@pytest.mark.parametrize("options", [
    # cpu-fast's model: tied weights, one module per layer, weight and embedding dropout,
    # locked dropout, AR/TAR, variable windows, and a time budget planned by rank 0.
    ["tie_weights=true", "variational_dropout=true", "keep_prob=0.8", "weight_drop=0.2",
     "embedding_dropout=0.1", "ar_alpha=2", "tar_beta=1", "num_steps=10",
     "variable_length=true", "time_budget=15s"],
    # The adaptive softmax, whose clusters some windows leave unused.
    ["softmax=adaptive", "adaptive_cutoffs=6,10", "adaptive_div_value=2"],
], ids=["regularised-budget", "adaptive"])
def test_every_model_option_trains_under_ddp(corpus, tmp_path, options):
    args = train_args(corpus, tmp_path, BATCH, EVAL_BATCH)
    for option in options:
        args += ["--set", option]
    result = torchrun(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = run_dir_of(result.stdout)
    assert json.loads((run_dir / "results.json").read_text())["test_ppl"] < 17  # 17 words
    if "time_budget=15s" in options:
        log = (run_dir / "train.log").read_text()
        assert "plan: " in log and json.loads((run_dir / "results.json").read_text())[
            "elapsed_seconds"] <= 15


def test_one_process_is_a_world_of_one_whose_operations_do_nothing(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    world = distributed.world_from_environment()
    assert world == World() and world.is_main and not world.distributed
    assert world.from_main(lambda: 5) == 5 and world.main_first(lambda: 6) == 6
    assert distributed.cpu_threads(world) is None
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(LstmlmError, match="must be integers"):
        distributed.world_from_environment()


def test_a_world_without_torchrun_s_rendezvous_is_a_one_line_error(monkeypatch):
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"),
                        ("LOCAL_WORLD_SIZE", "2"), ("LSTMLM_DIST_TIMEOUT", "5")):
        monkeypatch.setenv(name, value)
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    world = distributed.world_from_environment()
    with pytest.raises(LstmlmError, match="cannot join the other 1 processes"):
        distributed.join(world, torch.device("cpu"))
    monkeypatch.setenv("LSTMLM_DIST_TIMEOUT", "soon")
    with pytest.raises(LstmlmError, match="LSTMLM_DIST_TIMEOUT must be a number"):
        distributed.join(world, torch.device("cpu"))
