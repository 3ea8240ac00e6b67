"""Minimal pairs: BLiMP's JSONL and good<TAB>bad files, PTB normalisation, the accuracies."""

import json

import pytest

from lstmlm import LstmlmError, pairs
from lstmlm.normalization import normalize

BLIMP = [
    {"sentence_good": "The cat sees Mary.", "sentence_bad": "The cat see Mary.",
     "field": "morphology", "linguistics_term": "subject_verb_agreement",
     "UID": "agreement", "pairID": "0"},
    {"sentence_good": "John eats the fish.", "sentence_bad": "John eat the fish.",
     "field": "morphology", "linguistics_term": "subject_verb_agreement",
     "UID": "agreement", "pairID": "1"},
    {"sentence_good": "A dog likes some bread.", "sentence_bad": "A dog some bread likes.",
     "field": "syntax", "linguistics_term": "word_order", "UID": "order", "pairID": "0"},
]


def test_blimp_jsonl_and_tsv_are_read():
    lines = [json.dumps(record) for record in BLIMP]
    read = pairs.read_pairs(lines, "blimp/agreement.jsonl")
    assert [(pair.uid, pair.field) for pair in read] == [("agreement", "morphology")] * 2 + \
        [("order", "syntax")]
    assert read[2].source == "blimp/agreement.jsonl:3"
    tsv = pairs.read_pairs(["the cat sees mary\tthe cat see mary\textra", ""], "mine.tsv")
    assert (tsv[0].good, tsv[0].bad, tsv[0].uid) == ("the cat sees mary", "the cat see mary",
                                                     "mine")


@pytest.mark.parametrize("lines, message", [
    (['{"sentence_good": "a"}'], "a.jsonl:1: a BLiMP pair needs sentence_good and "
                                 "sentence_bad (missing sentence_bad)"),
    (["{not json"], "a.jsonl:1: not a JSON object"),
    (["", "only one column"], "a.jsonl:2: expected good<TAB>bad"),
    ([""], "a.jsonl: no minimal pairs"),
])
def test_bad_pair_files_name_the_line(lines, message):
    with pytest.raises(LstmlmError) as error:
        pairs.read_pairs(lines, "a.jsonl")
    assert str(error.value).startswith(message)


def test_accuracy_per_phenomenon_field_and_overall(toy_model):
    read = pairs.read_pairs([json.dumps(record) for record in BLIMP], "blimp.jsonl")
    report = pairs.evaluate(toy_model, read, "ptb")
    scores = toy_model.score([" ".join(normalize(text, "ptb")) for pair in read
                              for text in (pair.good, pair.bad)])
    correct = [good.logprob > bad.logprob for good, bad in zip(scores[0::2], scores[1::2])]
    assert [score.correct for score in report.scores] == correct
    assert report.phenomena == {"agreement": (correct[0] + correct[1]) / 2,
                                "order": float(correct[2])}
    assert report.fields == {"morphology": report.phenomena["agreement"],
                             "syntax": report.phenomena["order"]}
    assert report.overall == pytest.approx(sum(report.phenomena.values()) / 2)
    # The toy vocabulary keeps 12 words, so some pairs have a word outside it.
    oov = [any(word not in toy_model.vocab.ids
               for text in (pair.good, pair.bad) for word in normalize(text, "ptb"))
           for pair in read]
    assert [score.oov for score in report.scores] == oov and any(oov)
    assert report.oov_share == pytest.approx(sum(oov) / 3)
    without = [right for right, unknown in zip(correct, oov) if not unknown]
    assert report.accuracy_without_oov == (sum(without) / len(without) if without else None)
    assert report.normalization == "ptb" and pairs.report_rows(report)[-1]["accuracy"] == \
        report.overall


def test_a_pair_scores_the_same_alone_and_in_a_batch(toy_model):
    read = pairs.read_pairs([json.dumps(record) for record in BLIMP], "blimp.jsonl")
    together = pairs.evaluate(toy_model, read, "ptb", batch_size=64).scores
    for pair, score in zip(read, together):
        (alone,) = pairs.evaluate(toy_model, [pair], "ptb", batch_size=1).scores
        assert alone.good_logprob == pytest.approx(score.good_logprob, rel=1e-5)
        assert alone.bad_logprob == pytest.approx(score.bad_logprob, rel=1e-5)


def test_the_normalization_defaults_to_the_model_s(toy_model):
    read = pairs.read_pairs([json.dumps(record) for record in BLIMP], "blimp.jsonl")
    assert toy_model.normalization == "none"  # a folder of text, neither PTB nor cleaned
    assert pairs.evaluate(toy_model, read).normalization == "none"
    with pytest.raises(LstmlmError, match="normalization must be one of none, ptb, clean"):
        pairs.evaluate(toy_model, read, "bert")
