"""The run directory's layout and its files."""

import json

import pytest

from lstmlm import Config, LstmlmError, Vocabulary
from lstmlm.files import default_mode
from lstmlm.rundir import EpochMetrics, RunDir


def test_create_never_reuses_a_directory(tmp_path):
    first, second = RunDir.create(tmp_path / "runs", "small"), RunDir.create(tmp_path / "runs", "small")
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()
    assert first.name.startswith("small-") and second.name.startswith(first.name)


def test_open_checks_for_a_config_and_a_vocabulary(tmp_path):
    with pytest.raises(LstmlmError, match="run directory not found"):
        RunDir.open(tmp_path / "missing")
    with pytest.raises(LstmlmError, match="is not a run directory \\(no config.json\\)"):
        RunDir.open(tmp_path)
    run_dir = RunDir.create(tmp_path, "tiny")
    run_dir.save_config(Config())
    with pytest.raises(LstmlmError, match="no vocab.json"):
        RunDir.open(run_dir.path)
    run_dir.save_vocab(Vocabulary(["a", "<unk>"]))
    opened = RunDir.open(run_dir.path)
    assert opened.load_config() == Config() and opened.load_vocab().words == ["a", "<unk>"]


def test_metrics_round_trip_and_a_cut_epoch_keeps_its_fraction(tmp_path):
    run_dir = RunDir.create(tmp_path, "tiny")
    assert run_dir.metrics() == [] and run_dir.losses() == []
    history = [EpochMetrics(1, 1.0, 20.0, 18.0, 900, 3.5),
               EpochMetrics(2, 0.5, 15.0, 14.0, 950, 1.2, fraction=0.4)]
    losses = [{"epoch": 1, "losses": [3.0, 2.5]}, {"epoch": 2, "losses": [2.4]}]
    run_dir.write_metrics(history, losses)
    assert run_dir.metrics() == history and run_dir.losses() == losses
    lines = (run_dir / RunDir.METRICS).read_text().splitlines()
    assert "fraction" not in json.loads(lines[0]) and json.loads(lines[1])["fraction"] == 0.4


def test_results_of_an_unfinished_run_are_an_error(tmp_path):
    run_dir = RunDir.create(tmp_path, "tiny")
    with pytest.raises(LstmlmError, match="has no results.json: the run has not finished"):
        run_dir.results()
    run_dir.write_results({"test_ppl": 80.5})
    assert run_dir.results() == {"test_ppl": 80.5}
    assert run_dir.write_sample("a b\nc").read_text() == "a b\nc\n"
    assert not list(run_dir.path.glob(".*.tmp"))  # every write went through a renamed temp file
    # Written with the permissions of a plainly created file, not mkstemp's owner-only ones.
    assert (run_dir / RunDir.RESULTS).stat().st_mode & 0o777 == default_mode()
