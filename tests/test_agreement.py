"""Agreement test sets: both layouts read, each item scored as the model's own log-probabilities
say, fresh and carried, and the bad files refused."""

import math

import pytest
import torch

import lstmlm
from lstmlm import LstmlmError, agreement
from lstmlm.cli import main
from lstmlm.importing import import_checkpoint

from . import published

HEADER = ("pattern\tconstr_id\tsent_id\tcorrect_number\tform\tclass\ttype\tprefix\tn_attr\t"
          "punct\tfreq\tlen_context\tlen_prefix\tsent\n")
ROWS = [
    ("NOUN_VERB", "1", "0", "plur", "are", "correct", "original", "the keys to the cabinet",
     "the keys to the cabinet are on the table . <eos>"),
    ("NOUN_VERB", "1", "0", "plur", "is", "wrong", "original", "the keys to the cabinet",
     "the keys to the cabinet are on the table . <eos>"),
    ("NOUN_VERB", "1", "1", "sing", "is", "correct", "generated", "the key to the dogs",
     "the key to the dogs is on the table . <eos>"),
    ("NOUN_VERB", "1", "1", "sing", "are", "wrong", "generated", "the key to the dogs",
     "the key to the dogs is on the table . <eos>"),
    ("VERB_NOUN", "2", "1", "plur", "bark", "correct", "generated", "dogs",
     "dogs bark . <eos>"),
    ("VERB_NOUN", "2", "1", "plur", "barks", "wrong", "generated", "dogs",
     "dogs bark . <eos>"),
]
WORDS = ["<unk>", "<eos>", "the", "keys", "key", "to", "cabinet", "are", "is", "on", "table",
         "dogs", "bark", "barks", "."]


def tab_text(rows=ROWS) -> str:
    return HEADER + "".join("\t".join(row[:8] + ("0", "False", "10", "3", "5", row[8])) + "\n"
                            for row in rows)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> lstmlm.LanguageModel:
    folder = tmp_path_factory.mktemp("agreement")
    torch.manual_seed(6)
    original = published.WordLanguageModel("LSTM", len(WORDS), 8, 8, 2, 0.0)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    return lstmlm.load(import_checkpoint(
        "word-language-model", published.save(original, folder / "model.pt"),
        folder / "imported", vocab=folder / "vocab.txt", normalization="wikipedia"))


def logprob(model, words: list[str]) -> float:
    """log p(last word | `<eos>` and the words before it), by one forward pass."""
    ids = model.vocab.encode(["<eos>"] + words)[None, :]
    with torch.no_grad():
        logits, _ = model.network(ids[:, :-1], model.network.init_state(1))
    return torch.log_softmax(logits[0, -1].double(), -1)[ids[0, -1]].item()


def test_a_tab_file_is_scored_item_by_item_from_a_fresh_state(model, tmp_path):
    path = tmp_path / "generated.tab"
    path.write_text(tab_text())
    items = agreement.read_items(path)
    assert [(item.pattern, item.kind, item.correct, item.wrong) for item in items] == [
        ("NOUN_VERB", "original", "are", "is"), ("NOUN_VERB", "generated", "is", "are"),
        ("VERB_NOUN", "generated", "bark", "barks")]
    report = agreement.evaluate(model, items)
    assert report.normalization == "wikipedia" and report.context == "independent"
    for score in report.scores:
        prefix = score.item.prefix.split()
        assert score.correct_logprob == pytest.approx(
            logprob(model, prefix + [score.item.correct]), abs=1e-6)
        assert score.wrong_logprob == pytest.approx(
            logprob(model, prefix + [score.item.wrong]), abs=1e-6)
    rows = agreement.report_rows(report)
    right = [score.right for score in report.scores]
    assert rows[-1]["accuracy"] == pytest.approx(sum(right) / 3)
    by_type = {row["name"]: row for row in rows if row["level"] == "type"}
    assert by_type["original"]["items"] == 1 and by_type["generated"]["items"] == 2
    assert by_type["generated"]["accuracy"] == pytest.approx(sum(right[1:]) / 2)


def test_carried_context_reads_the_sentences_as_one_stream(model, tmp_path):
    path = tmp_path / "generated.tab"
    path.write_text(tab_text())
    report = agreement.evaluate(model, agreement.read_items(path), context="carry")
    # The stream: <eos>, then each sentence as the file writes it and an <eos>.
    sentences = ["the keys to the cabinet are on the table .",
                 "the key to the dogs is on the table .", "dogs bark ."]
    before: list[str] = []
    for score, sentence in zip(report.scores, sentences):
        prefix = before + score.item.prefix.split()
        assert score.correct_logprob == pytest.approx(
            logprob(model, prefix + [score.item.correct]), abs=1e-5)
        assert score.wrong_logprob == pytest.approx(
            logprob(model, prefix + [score.item.wrong]), abs=1e-5)
        before += sentence.split() + ["<eos>"]


def test_linzen_s_gold_and_text_files(model, tmp_path):
    (tmp_path / "subj.text").write_text("the keys to the cabinet are on the table .\n"
                                        "dogs bark .\n")
    (tmp_path / "subj.gold").write_text("5\tare\tis\t1\n1\tbark\tbarks\t0\n")
    items = agreement.read_items(tmp_path / "subj.gold")
    assert [(item.pattern, item.prefix, item.correct) for item in items] == [
        ("attractors=1", "the keys to the cabinet", "are"), ("attractors=0", "dogs", "bark")]
    report = agreement.evaluate(model, items)
    assert math.isfinite(report.scores[0].correct_logprob)


@pytest.mark.parametrize("text, message", [
    ("pattern\tform\n", "no column constr_id, sent_id, class, type, prefix"),
    (tab_text(ROWS[:1]), "the item has no wrong form"),
    (tab_text(ROWS[:2] + ROWS[1:2]), "a second wrong form for the item of"),
    (tab_text([ROWS[0][:5] + ("right",) + ROWS[0][6:]]), "class must be correct or wrong"),
    (HEADER, "no items"),
])
def test_bad_tab_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.tab"
    path.write_text(text)
    with pytest.raises(LstmlmError, match=message):
        agreement.read_items(path)


def test_bad_gold_files_are_one_line_errors(tmp_path):
    (tmp_path / "a.text").write_text("dogs bark\n")
    (tmp_path / "a.gold").write_text("1\tbark\tbarks\t0\n2\tx\ty\t0\n")
    with pytest.raises(LstmlmError, match="has 2 lines but .* has 1"):
        agreement.read_items(tmp_path / "a.gold")
    (tmp_path / "a.gold").write_text("7\tbark\tbarks\t0\n")
    with pytest.raises(LstmlmError, match="expected the target's index"):
        agreement.read_items(tmp_path / "a.gold")
    with pytest.raises(LstmlmError, match="cannot read"):
        agreement.read_items(tmp_path / "missing.gold")


def test_cli_agreement_prints_the_summary_and_refuses_a_bad_file(model, tmp_path, capsys):
    path = tmp_path / "generated.tab"
    path.write_text(tab_text())
    assert main(["agreement", str(model.path), str(path), "--by-item"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("pattern\ttype\tcorrect_logprob")
    assert "overall\tall items" in out and "wikipedia\tindependent" in out
    (tmp_path / "bad.tab").write_text("x\ty\n")
    assert main(["agreement", str(model.path), str(tmp_path / "bad.tab")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not an agreement .tab file" in err
