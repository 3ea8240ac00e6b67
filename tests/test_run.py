"""The training recipe: the request stays as the user made it, the plan holds what the run
decided, a resume may go on for longer, and the caps that shorten a run."""

import copy
import json

import pytest

from lstmlm import Config, LstmlmError, apply_overrides, train
from lstmlm.rundir import RunDir

from .conftest import FakeMachine


def test_the_request_is_unchanged_from_parse_to_results(tmp_path, tiny_config, monkeypatch):
    # A budget whose epochs take three times the measured time: the run plans, and re-plans
    # after each epoch, without touching the request.
    FakeMachine(monkeypatch, tiny_config, actual=300.0)
    config = apply_overrides(tiny_config, {"time_budget": 1001, "lr_schedule": "cosine"})
    asked = copy.deepcopy(config)
    result = train(config, runs_dir=tmp_path, echo=None)
    assert result.config is config and config == asked
    assert Config.load(result.run_dir / "config.json") == asked
    plans = RunDir(result.run_dir).plans()
    assert len(plans) > 1 and result.plan == plans[-1]
    assert all(plan.optimisation.max_max_epoch != config.optimisation.max_max_epoch
               for plan in plans)


def test_a_resumed_run_may_go_on_for_longer_and_nothing_else(tmp_path, tiny_config):
    first = train(apply_overrides(tiny_config, {"max_max_epoch": 1}), runs_dir=tmp_path,
                  echo=None)
    with pytest.raises(LstmlmError, match="hidden_size is settled when a run starts"):
        train(resume=first.run_dir, resume_changes=["hidden_size=16"], echo=None)
    longer = train(resume=first.run_dir, resume_changes=["max_max_epoch=2"], echo=None)
    assert [entry.epoch for entry in longer.history] == [1, 2]
    plans = RunDir(first.run_dir).plans()
    assert [(plan.after_epoch, plan.optimisation.max_max_epoch) for plan in plans] == \
        [(0, 1), (1, 2)]
    assert plans[-1].notes == ("resumed with max_max_epoch=2",)
    # The same two epochs as a run asked for two from the start.
    fresh = train(apply_overrides(tiny_config, {"max_max_epoch": 2}), runs_dir=tmp_path,
                  echo=None)
    assert longer.test_perplexity == pytest.approx(fresh.test_perplexity, rel=1e-6)


def test_caps_shorten_each_epoch_and_the_evaluation(tmp_path, tiny_config):
    config = apply_overrides(tiny_config, {"max_windows": 3, "max_eval_words": 40,
                                           "max_max_epoch": 2})
    result = train(config, runs_dir=tmp_path, echo=None)
    losses = [json.loads(line)["losses"]
              for line in (result.run_dir / "losses.jsonl").read_text().splitlines()]
    assert [len(epoch) for epoch in losses] == [3, 3]
    full = train(apply_overrides(tiny_config, {"max_max_epoch": 1}), runs_dir=tmp_path,
                 echo=None)
    assert len(json.loads((full.run_dir / "losses.jsonl").read_text())["losses"]) > 3
