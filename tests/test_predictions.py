"""Predictions: the top words per token in JSON Lines, and the full distributions in lm-zoo's
HDF5 layout, the same whatever the chunking."""

import json
import math

import numpy as np
import pytest

from lstmlm import LstmlmError, predictions, scoring
from lstmlm.cli import main
from lstmlm.surprisal import read_stimuli

h5py = pytest.importorskip("h5py")

SENTENCES = "the cat sees mary\njohn likes the fish\na dog\n"


def test_rows_give_each_token_its_top_words_and_the_distribution_file_holds_them(
        toy_model, tmp_path, monkeypatch):
    stimuli = read_stimuli(SENTENCES, "s.txt")
    rows = list(predictions.prediction_rows(toy_model, stimuli, top=3, normalization="none"))
    assert [row["token"] for row in rows[:5]] == ["the", "cat", "sees", "mary", "</s>"]
    assert all(len(row["predictions"]) == 3 for row in rows)
    path = predictions.write_distributions(toy_model, stimuli, tmp_path / "p.h5", "none")
    with h5py.File(path) as file:
        vocabulary = np.char.decode(file["vocabulary"][:], "utf-8").tolist()
        assert vocabulary == toy_model.vocab.words
        assert sorted(file["sentence"]) == ["0", "1", "2"]
        for sentence_id in range(3):
            group = file[f"sentence/{sentence_id}"]
            distributions, tokens = group["predictions"][:], group["tokens"][:]
            sentence_rows = [row for row in rows if row["sentence_id"] == sentence_id + 1]
            assert distributions.shape == (len(sentence_rows), len(vocabulary))
            assert np.exp(distributions).sum(1) == pytest.approx(1.0, abs=1e-5)
            for row, distribution, token in zip(sentence_rows, distributions, tokens):
                assert -distribution[token] / math.log(2) == pytest.approx(row["surprisal"],
                                                                           abs=1e-4)
                best = np.argsort(-distribution)[:3]
                assert [vocabulary[index] for index in best] == [
                    prediction["word"] for prediction in row["predictions"]]
    # Chunks of one sentence, and windows of two positions, give the same file.
    monkeypatch.setattr(predictions, "CHUNK_SENTENCES", 1)
    monkeypatch.setattr(predictions, "LOGIT_BUDGET", 1)
    monkeypatch.setattr(scoring, "LOGIT_BUDGET", 2 * len(toy_model.vocab))
    again = predictions.write_distributions(toy_model, stimuli, tmp_path / "q.h5", "none")
    with h5py.File(path) as first, h5py.File(again) as second:
        for sentence_id in range(3):
            assert np.allclose(first[f"sentence/{sentence_id}/predictions"][:],
                               second[f"sentence/{sentence_id}/predictions"][:], atol=1e-5)
    chunked = list(predictions.prediction_rows(toy_model, stimuli, 3, "none"))
    assert [row["sentence_id"] for row in chunked] == [row["sentence_id"] for row in rows]
    assert [row["surprisal"] for row in chunked] == pytest.approx(
        [row["surprisal"] for row in rows], abs=1e-5)


def test_cli_predict_prints_json_lines_and_refuses_a_top_of_zero(toy_model, tmp_path, capsys):
    stimuli = tmp_path / "s.txt"
    stimuli.write_text(SENTENCES, encoding="utf-8")
    assert main(["predict", str(toy_model.path), str(stimuli), "--top", "2", "--full",
                 str(tmp_path / "p.h5")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 + 1 + 4 + 1 + 2 + 1
    assert json.loads(lines[0])["token"] == "the"
    assert (tmp_path / "p.h5").is_file()
    assert main(["predict", str(toy_model.path), str(stimuli), "--top", "0"]) == 2
    assert capsys.readouterr().err.strip() == "lstmlm: error: --top must be at least 1, got 0"


def test_prediction_rows_refuse_a_top_of_zero(toy_model):
    with pytest.raises(LstmlmError, match="top must be at least 1"):
        list(predictions.prediction_rows(toy_model, read_stimuli("a b", "s"), 0))
