"""Files written by lstmlm 0.1.0 (tests/fixtures: a finished run and its model folder, whose
config holds the typed fields in their text form) load, evaluate and resume."""

import json
import shutil
from pathlib import Path

import pytest

import lstmlm
from lstmlm import Config, apply_overrides

from .conftest import write_corpus

FIXTURES = Path(__file__).parent / "fixtures"


def with_corpus(folder: Path, tmp_path: Path) -> Path:
    """A copy of a fixture folder whose config points at the toy corpus it was trained on."""
    copy = shutil.copytree(folder, tmp_path / folder.name)
    corpus = write_corpus(tmp_path / "corpus")  # the same seed: the same text
    config = copy / "config.json"
    config.write_text(config.read_text().replace('"CORPUS"', json.dumps(str(corpus))))
    return copy


def test_a_config_json_of_0_1_0_reads_its_text_fields_into_typed_values():
    config = Config.load(FIXTURES / "run-0.1.0" / "config.json")
    assert config.model.adaptive_cutoffs == (4, 10) and config.budget.hidden_sizes == (8, 6)
    assert config.logging.sample_primes == ("the cat", "john")
    # Keep probabilities read as dropouts, and the 0s that meant "unset" as None.
    assert config.budget.short_regularisation == {"dropout": 0.1}
    assert config.regularisation.dropout == 0.2 and config.regularisation.input_dropout is None
    assert config.budget.seconds is None and config.model.embedding_size is None
    assert Config.from_dict(json.loads(config.to_json())) == config


def test_a_run_of_0_1_0_loads_evaluates_and_resumes_like_a_run_of_today(tmp_path):
    run_dir = with_corpus(FIXTURES / "run-0.1.0", tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    model = lstmlm.load(run_dir)
    # Evaluation on another CPU sums in another order: float32 rounding, far below 1e-5.
    assert model.evaluate("test") == pytest.approx(results["test_ppl"], rel=1e-5)
    config = model.config
    resumed = lstmlm.train(resume=run_dir, resume_changes={"max_max_epoch": 2}, echo=None)
    fresh = lstmlm.train(apply_overrides(config, {"max_max_epoch": 2}),
                         runs_dir=tmp_path / "runs", echo=None)
    # The old run continues where a run of today would be: the same weights, optimizer and
    # random state after epoch 1 (to the rounding of the CPU the fixture was made on).
    assert [entry.valid_ppl for entry in resumed.history] == \
        pytest.approx([entry.valid_ppl for entry in fresh.history], rel=1e-4)
    assert resumed.test_perplexity == pytest.approx(fresh.test_perplexity, rel=1e-4)


def test_a_model_folder_of_0_1_0_loads_and_evaluates(tmp_path):
    folder = with_corpus(FIXTURES / "model-0.1.0", tmp_path)
    results = json.loads((FIXTURES / "run-0.1.0" / "results.json").read_text())
    model = lstmlm.load(folder)
    assert model.plan.model.adaptive_cutoffs == (4, 10)
    assert model.evaluate("test") == pytest.approx(results["test_ppl"], rel=1e-5)
    assert len(model.generate("the cat", 5, seed=1).split()) <= 5
