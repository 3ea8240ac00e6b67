"""N-best rescoring: parsing, the combined score, the best hypothesis per utterance; Kaldi's
n-best text and cost files, the interpolation and the weight sweep."""

import math

import pytest

from lstmlm import LstmlmError
from lstmlm.rescoring import (CostLookup, Hypothesis, KaldiHypothesis, best_kaldi,
                              best_per_utterance, mixed_cost, parse_weights, read_costs,
                              read_kaldi_nbest, read_nbest, read_references, rescore, rescore_kaldi,
                              sweep_weights)

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


def test_the_combined_score_adds_the_weighted_lm_logprob_less_the_word_penalty(toy_model):
    hypotheses = read_nbest(NBEST)
    rescored = rescore(toy_model, hypotheses, lm_weight=0.7, word_penalty=0.5)
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


# Kaldi's layout: n-best text lines `utt-N words`, costs in `utt-N cost` files.
KALDI_NBEST = ["spk1-utt1-1 the cat sees mary", "spk1-utt1-2 the cat see mary",
               "spk1-utt1-3 a cat sees mary", "", "spk1-utt2-1 john eats", "spk1-utt2-2 john"]
AC = {"spk1-utt1-1": 120.5, "spk1-utt1-2": 119.0, "spk1-utt1-3": 119.5, "spk1-utt2-1": 80.0,
      "spk1-utt2-2": 79.0}


def costs(values: dict) -> list[str]:
    return [f"{key} {value}" for key, value in values.items()]


def test_kaldi_ids_split_at_the_last_dash():
    read = list(read_kaldi_nbest(KALDI_NBEST, "nbest.txt"))
    assert read[0] == ("spk1-utt1-1", "spk1-utt1", "the cat sees mary")
    assert [utterance for _, utterance, _ in read] == ["spk1-utt1"] * 3 + ["spk1-utt2"] * 2


@pytest.mark.parametrize("lines, message", [
    (["utt1 the cat"], "nbest.txt:1: 'utt1' is not an utterance id with its hypothesis number"),
    (["utt1-x the cat"], "nbest.txt:1: 'utt1-x' is not"),
    (["u1-1 a", "u2-1 b", "u1-2 c"], "nbest.txt:3: the hypotheses of 'u1' are not together"),
])
def test_bad_kaldi_nbest_lines(lines, message):
    with pytest.raises(LstmlmError, match=message):
        list(read_kaldi_nbest(lines, "nbest.txt"))


def test_costs_are_found_in_step_or_out_of_order_and_must_match_the_list():
    in_order = CostLookup(read_costs(costs(AC), "ac.txt"), "ac.txt")
    assert [in_order[key] for key in AC] == list(AC.values()) and not in_order.ahead
    in_order.check_used()
    shuffled = CostLookup(read_costs(costs(AC)[::-1], "ac.txt"), "ac.txt")
    assert [shuffled[key] for key in AC] == list(AC.values())
    shuffled.check_used()
    extra = CostLookup(read_costs(costs({**AC, "spk9-1": 1.0}), "ac.txt"), "ac.txt")
    [extra[key] for key in AC]
    with pytest.raises(LstmlmError, match="ac.txt has costs for 1 ids the n-best list lacks "
                                          "\\(first: 'spk9-1'\\)"):
        extra.check_used()
    with pytest.raises(LstmlmError, match="ac.txt has no cost for 'spk1-utt3-1'"):
        CostLookup(read_costs(costs(AC), "ac.txt"), "ac.txt")["spk1-utt3-1"]
    for line, message in (("u-1", "ac.txt:1: expected utt-N cost"),
                          ("u-1 high", "ac.txt:1: cost 'high' is not a number"),
                          ("u-1 inf", "ac.txt:1: cost 'inf' is not finite")):
        with pytest.raises(LstmlmError, match=message):
            list(read_costs([line], "ac.txt"))


def test_the_mixture_of_two_lms():
    assert mixed_cost(-3.0, 5.0, 1.0) == 3.0 and mixed_cost(-3.0, 5.0, 0.0) == 5.0
    assert mixed_cost(-3.0, 5.0, 0.25) == pytest.approx(
        -math.log(0.25 * math.exp(-3.0) + 0.75 * math.exp(-5.0)), rel=1e-12)
    assert mixed_cost(-3000.0, 5000.0, 0.5) == pytest.approx(3000 + math.log(2), rel=1e-12)


def test_kaldi_rescoring_ranks_by_acoustic_plus_weighted_lm_cost(toy_model):
    def rescored(chunk, **options):
        return list(rescore_kaldi(toy_model, read_kaldi_nbest(KALDI_NBEST, "nbest.txt"),
                                  CostLookup(read_costs(costs(AC), "ac"), "ac"), chunk=chunk,
                                  **options))
    utterances = rescored(4096)
    assert [len(hypotheses) for hypotheses in utterances] == [3, 2]
    texts = [line.split(" ", 1)[1] for line in KALDI_NBEST if line]
    scores = toy_model.score(texts)
    flat = [hypothesis for hypotheses in utterances for hypothesis in hypotheses]
    assert [hypothesis.lm_cost for hypothesis in flat] == [-score.logprob for score in scores]
    assert [hypothesis.ac_cost for hypothesis in flat] == list(AC.values())
    assert rescored(1) == utterances  # scored a chunk at a time: the same
    for weight in (0.0, 1.0, 10.0):
        for hypotheses in utterances:
            best = best_kaldi(hypotheses, weight, 0.5)
            assert best == min(hypotheses, key=lambda h: h.ac_cost + weight * h.lm_cost
                               + 0.5 * h.words)
    existing = {key: 30.0 for key in AC}
    mixed = rescored(4096, lm_costs=CostLookup(read_costs(costs(existing), "lm"), "lm"),
                     interpolate=0.5)
    assert [h.lm_cost for hs in mixed for h in hs] == pytest.approx(
        [mixed_cost(score.logprob, 30.0, 0.5) for score in scores], rel=1e-12)
    with pytest.raises(LstmlmError, match="--interpolate L and --lm-costs go together"):
        rescored(4096, interpolate=0.5)


def test_parse_weights():
    assert parse_weights("0:2:0.5") == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert len(parse_weights("0:2:0.1")) == 21 and parse_weights("0:2:0.1")[-1] == 2.0
    assert parse_weights("8,10,12") == [8.0, 10.0, 12.0] and parse_weights("1") == [1.0]
    for bad in ("2:0:0.5", "0:2:0", "0:2", "a,b"):
        with pytest.raises(LstmlmError, match="--lm-weights: expected start:stop:step"):
            parse_weights(bad)


def test_the_weight_sweep_counts_word_errors_per_weight():
    def hypothesis(key, text, ac, lm):
        return KaldiHypothesis(key, key.rsplit("-", 1)[0], text, ac, lm, len(text.split()))
    utterances = [
        # At weight 0 the acoustically best "a cat sees" wins (1 substitution); from weight 1
        # on the LM's "the cat sees" does.
        [hypothesis("u1-1", "a cat sees", 10.0, 8.0), hypothesis("u1-2", "the cat sees", 11.0, 6.0)],
        # Weight 0: "john eats" (right); weight 1 and up: "john" (1 deletion).
        [hypothesis("u2-1", "john eats", 5.0, 9.0), hypothesis("u2-2", "john", 6.0, 4.0)],
    ]
    references = read_references(["u1 the cat sees", "u2 john eats", ""], "ref.txt")
    sweep = sweep_weights(iter(utterances), references, [0.0, 1.0, 2.0])
    assert sweep.errors == [1, 1, 1] and sweep.reference_words == 5
    assert sweep.word_error_rates == pytest.approx([20.0] * 3)
    assert sweep.best_weight == 0.0  # the smallest of equals
    sweep = sweep_weights(iter(utterances[:1]), {"u1": "the cat sees".split()}, [0.0, 1.0])
    assert sweep.errors == [1, 0] and sweep.best_weight == 1.0
    with pytest.raises(LstmlmError, match="ref.txt has no transcript of 'u2'"):
        sweep_weights(iter(utterances), {"u1": ["x"]}, [1.0], references_name="ref.txt")
    with pytest.raises(LstmlmError, match="ref.txt has 1 utterances the n-best list lacks "
                                          "\\(first: 'u2'\\)"):
        sweep_weights(iter(utterances[:1]), references, [1.0], references_name="ref.txt")
    with pytest.raises(LstmlmError, match="ref.txt:2: 'u1' appears twice"):
        read_references(["u1 a", "u1 b"], "ref.txt")


def test_a_positive_word_penalty_favours_fewer_words_in_both_layouts(toy_model):
    from lstmlm.rescoring import best_per_utterance

    # Two hypotheses that tie but for their length: the penalty alone decides.
    short, long = "the cat", "the cat sees"
    scores = {entry.sentence: entry.logprob for entry in toy_model.score([short, long])}
    tsv = [Hypothesis("u", -scores[short], short), Hypothesis("u", -scores[long], long)]
    for penalty, winner in ((1.0, short), (-1.0, long)):
        (best,) = best_per_utterance(rescore(toy_model, tsv, word_penalty=penalty))
        assert best.hypothesis.text == winner
        kaldi = [KaldiHypothesis("u-1", "u", short, 0.0, 1.0, 2),
                 KaldiHypothesis("u-2", "u", long, 0.0, 1.0, 3)]
        assert best_kaldi(kaldi, 1.0, penalty).text == winner
