"""N-best rescoring: parsing, the combined score, the best hypothesis per utterance."""

import math

import pytest

from lstmlm import LstmlmError
from lstmlm.rescoring import Hypothesis, best_per_utterance, read_nbest, rescore

NBEST = ["u1\t-10.0\tthe cat sees mary", "u2\t-4.5\tjohn eats", "u1\t-9.5\tthe cat sees",
         "", "u2\t-4.0\tjohn eats some bread", "u3\t-1\t"]


def test_read_nbest_keeps_order_and_allows_empty_text():
    hypotheses = read_nbest(NBEST)
    assert hypotheses[0] == Hypothesis("u1", -10.0, "the cat sees mary")
    assert [hypothesis.utterance for hypothesis in hypotheses] == ["u1", "u2", "u1", "u2", "u3"]
    assert hypotheses[-1].text == ""


@pytest.mark.parametrize("lines, message", [
    (["u1 -3 the cat"], "n-best line 1: expected utterance-id<TAB>score<TAB>text"),
    (["u1\t-3\tok", "u2\tlow\tthe cat"], "n-best line 2: score 'low' is not a number"),
    (["u1\tnan\tthe cat"], "score 'nan' is not finite"),
    (["\tx\t-3\tthe"], "expected utterance-id"),
    (["", "  "], "the n-best list has no hypotheses"),
])
def test_bad_nbest_lines_are_one_line_errors(lines, message):
    with pytest.raises(LstmlmError, match=message):
        read_nbest(lines)


def test_the_combined_score_adds_the_weighted_lm_logprob_and_the_word_penalty(toy_model):
    hypotheses = read_nbest(NBEST)
    rescored = rescore(toy_model, hypotheses, lm_weight=0.7, word_penalty=-0.5)
    scores = toy_model.score([hypothesis.text for hypothesis in hypotheses])
    for entry, score in zip(rescored, scores):
        assert entry.lm_logprob == score.logprob < 0 and entry.words == score.words
        assert entry.combined == pytest.approx(
            entry.hypothesis.score + 0.7 * score.logprob - 0.5 * score.words)
    in_log10 = rescore(toy_model, hypotheses, log10=True)
    assert in_log10[0].lm_logprob == pytest.approx(rescored[0].lm_logprob / math.log(10))
    one_at_a_time = rescore(toy_model, hypotheses, batch_size=1)
    assert [entry.lm_logprob for entry in one_at_a_time] == \
        pytest.approx([entry.lm_logprob for entry in rescored], rel=1e-5)


def test_the_best_hypothesis_of_each_utterance_in_order_of_appearance(toy_model):
    rescored = rescore(toy_model, read_nbest(NBEST), lm_weight=0.0)  # first-pass scores decide
    best = best_per_utterance(rescored)
    assert [(entry.hypothesis.utterance, entry.hypothesis.text) for entry in best] == [
        ("u1", "the cat sees"), ("u2", "john eats some bread"), ("u3", "")]
    tied = rescore(toy_model, [Hypothesis("u", 0.0, "the cat"), Hypothesis("u", 0.0, "the cat")],
                   lm_weight=1.0)
    assert best_per_utterance(tied)[0] is tied[0]  # the first of equals
