"""The metrics a run writes: metrics.csv, and the TensorBoard logger's event files."""

import csv
import importlib.util

import pytest

from lstmlm import LstmlmError, apply_overrides, train
from lstmlm.rundir import RunDir


def test_metrics_csv_holds_the_same_epochs_as_metrics_jsonl(tmp_path, tiny_config):
    result = train(tiny_config, runs_dir=tmp_path, echo=None)
    with open(result.run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["epoch", "lr", "train_ppl", "valid_ppl", "words_per_sec", "seconds",
                             "fraction", "test_ppl", "elapsed"]
    metrics = RunDir(result.run_dir).metrics()
    assert [int(row["epoch"]) for row in rows] == [entry.epoch for entry in metrics]
    assert [float(row["valid_ppl"]) for row in rows] == [entry.valid_ppl for entry in metrics]


def test_asking_for_tensorboard_without_the_package_fails_before_the_run(tmp_path, tiny_config,
                                                                          monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tensorboard" else
                        real_find_spec(name, *args))
    with pytest.raises(LstmlmError, match="tensorboard=true needs the tensorboard package"):
        train(apply_overrides(tiny_config, {"tensorboard": True}), runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def event_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder)).Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="the tensorboard package is not installed (pip install -e \".[test]\")")
def test_tensorboard_scalars_match_the_log_and_survive_a_resume(tmp_path, tiny_config,
                                                               monkeypatch):
    from .conftest import train_killed_at_step

    config = apply_overrides(tiny_config, {"tensorboard": True, "checkpoint_every": 20})
    reference = train(config, runs_dir=tmp_path / "reference", echo=None)
    scalars = event_scalars(reference.run_dir / "tensorboard")
    assert {"train/loss", "train/perplexity", "train/learning_rate", "train/words_per_sec",
            "epoch/train_perplexity", "epoch/valid_perplexity"} <= set(scalars)
    valid = [value for _, value in scalars["epoch/valid_perplexity"]]
    assert valid == pytest.approx([entry.valid_ppl for entry in reference.history], rel=1e-6)
    assert [step for step, _ in scalars["epoch/valid_perplexity"]] == [82, 164, 246]
    assert len(scalars["train/perplexity"]) == 3 * 10  # every tenth of each epoch
    run_dir = train_killed_at_step(config, tmp_path / "killed", 130, monkeypatch)
    train(resume=run_dir, echo=None)
    resumed = event_scalars(run_dir / "tensorboard")
    # The events after the checkpoint the run resumed from were dropped, not doubled.
    assert [step for step, _ in resumed["train/perplexity"]] == \
        [step for step, _ in scalars["train/perplexity"]]
    assert [value for _, value in resumed["epoch/valid_perplexity"]] == pytest.approx(valid,
                                                                                      rel=1e-6)
