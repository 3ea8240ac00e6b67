"""SyntaxGym suites: the formula language, the suite's validation, region surprisals and
prediction accuracy, on a suite in the published layout."""

import copy
import json
import math

import pytest

from lstmlm import LstmlmError
from lstmlm.surprisal import compute, read_stimuli
from lstmlm.syntaxgym import evaluate, parse_formula, read_suite, region_rows, summary_rows


def region(number, content):
    return {"region_number": number, "content": content}


SUITE = {
    "meta": {"name": "agreement", "metric": "sum", "comment": "a toy suite"},
    "predictions": [{"type": "formula", "formula": "(2;%mismatch%) > (2;%match%)"},
                    {"type": "formula", "formula": "(3;%match%) - (3;%mismatch%) = 0"}],
    "region_meta": {"1": "Subject", "2": "Verb", "3": "Object"},
    "items": [
        {"item_number": 1, "conditions": [
            {"condition_name": "match",
             "regions": [region(1, "The cat"), region(2, "sees"), region(3, "Mary.")]},
            {"condition_name": "mismatch",
             "regions": [region(1, "The cat"), region(2, "see"), region(3, "Mary.")]}]},
        {"item_number": 2, "conditions": [
            {"condition_name": "match",
             "regions": [region(1, "John"), region(2, "eats"), region(3, "")]},
            {"condition_name": "mismatch",
             "regions": [region(1, "John"), region(2, "eat"), region(3, "")]}]},
    ],
}
VALUES = {("a", 1): 10.0, ("a", 2): 4.0, ("b", 1): 12.0, ("b", 2): 4.0005}


@pytest.mark.parametrize("formula, holds", [
    ("(1;%b%) > (1;%a%)", True),
    ("(1;%b%) < (1;%a%)", False),
    ("(1;%a%) + 2 > (1;%b%) - 0.5", True),
    ("(2;%a%) = (2;%b%)", True),  # within 1e-3
    ("(1;%a%) = (1;%b%)", False),
    ("(1;%a%) > (1;%b%) | (2;%a%) = (2;%b%)", True),
    ("(1;%a%) > (1;%b%) & (2;%a%) = (2;%b%)", False),
    ("((1;%b%) - (1;%a%)) - ((2;%b%) - (2;%a%)) > 1.5", True),
    ("( (1;%b%) > 11 ) & ((2;%a%) < 5)", True),
])
def test_formulas_evaluate_as_syntaxgym_reads_them(formula, holds):
    assert parse_formula(formula, {"a", "b"}, {1, 2}, "s.json").holds(VALUES) is holds


@pytest.mark.parametrize("formula, message", [
    ("(1;%c%) > (1;%a%)", "names condition 'c', which the suite lacks (its conditions: a, b)"),
    ("(3;%a%) > (1;%a%)", "names region 3, which the suite lacks (its regions: 1, 2)"),
    ("__import__('os') > 1", "cannot read the formula"),
    ("(1;%a%) * 2 > 1", "cannot read the formula"),
    ("(1;%a%) < (1;%b%) < 3", "comparisons do not chain"),
    ("(1;%a%) + (1;%b%)", "compares nothing"),
    ("(1;%a%) & (1;%b%) > 1", "& joins comparisons, not numbers"),
    ("((1;%a%) > 1", "has its end where ')' should be"),
    ("(1;%a%) > ", "has its end where a region"),
    ("(1;%a%) > 1 2", "has 2.0 where an operator should be"),
])
def test_bad_formulas_are_refused_before_any_scoring(formula, message):
    with pytest.raises(LstmlmError, match="s.json: prediction 1: .*" + message.replace(
            "(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        parse_formula(formula, {"a", "b"}, {1, 2}, "s.json: prediction 1")


def broken(change) -> str:
    suite = copy.deepcopy(SUITE)
    change(suite)
    return json.dumps(suite)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("region_meta"), "a SyntaxGym suite needs 'region_meta'"),
    (lambda s: s["meta"].update(metric="average"), "meta.metric 'average' is not one of sum, mean, median, range, max, min"),
    (lambda s: s["region_meta"].pop("3"), "item 1, condition 'match', region 3: region_meta "
                                          "has no region 3"),
    (lambda s: s["items"][1]["conditions"][1].update(condition_name="other"),
     "item 2: its conditions (match, other) differ from the first item's (match, mismatch)"),
    (lambda s: s["items"][1]["conditions"][0]["regions"].pop(1),
     "prediction 1: item 2, condition 'match' has no region 2"),
    (lambda s: s["items"][0]["conditions"][0]["regions"][0].update(content=3),
     "item 1, condition 'match', region 1: content must be a string, got 3"),
    (lambda s: s["items"][0].update(item_number="one"), "item 1: item_number must be an integer"),
    (lambda s: s["items"][1].update(item_number=1), "item 1: item_number 1 appears twice"),
    (lambda s: s["region_meta"].update({"5": "Extra"}), "region_meta must number the regions "
                                                        "1 to N, got 1, 2, 3, 5"),
    (lambda s: s["predictions"][0].update(type="python"), "prediction 1: type 'python' is not "
                                                          "supported"),
])
def test_a_suite_that_breaks_the_published_structure_names_the_place(change, message):
    with pytest.raises(LstmlmError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_suite(broken(change), "suite.json")
    with pytest.raises(LstmlmError, match="suite.json: not JSON"):
        read_suite("{", "suite.json")


def test_region_surprisals_and_prediction_accuracy(toy_model):
    suite = read_suite(json.dumps(SUITE), "suite.json")
    (result,) = evaluate(toy_model, [suite], normalization="ptb")
    # Each region's surprisal is the sum of its words' surprisals in bits.
    for item in suite.items:
        for condition, regions in item.conditions.items():
            text = " | ".join(region.content for region in regions)
            table = compute(toy_model, read_stimuli(text + "\n", "x"), "ptb")
            for found in table.regions:
                assert result.surprisals[item.number, condition, found.region] == \
                    pytest.approx(found.surprisal, rel=1e-5)
    values = result.surprisals
    first = [values[item, "mismatch", 2] > values[item, "match", 2] for item in (1, 2)]
    second = [math.isclose(values[item, "match", 3], values[item, "mismatch", 3],
                           rel_tol=1e-5, abs_tol=1e-3) for item in (1, 2)]
    assert result.outcomes == [first, second]
    assert result.prediction_accuracies == [sum(first) / 2, sum(second) / 2]
    assert result.accuracy == sum(a and b for a, b in zip(first, second)) / 2
    assert values[2, "match", 3] == 0.0  # an empty region
    rows = summary_rows([result])
    assert [row["level"] for row in rows] == ["prediction", "prediction", "suite"]
    assert rows[-1]["normalization"] == "ptb"
    regions = region_rows([result])
    assert len(regions) == 12 and regions[0] == {
        "suite": "agreement", "item": 1, "condition": "match", "region_number": 1,
        "region": "Subject", "content": "The cat", "surprisal": values[1, "match", 1], "oov": 0}


def test_every_metric_of_syntaxgym_core_and_a_prediction_s_own(toy_model):
    from statistics import fmean, median

    suite_json = copy.deepcopy(SUITE)
    suite_json["meta"]["metric"] = "all"
    suite_json["predictions"].append({"type": "formula", "metric": "max",
                                      "formula": "(1;%mismatch%) = (1;%match%)"})
    suite = read_suite(json.dumps(suite_json), "suite.json")
    assert suite.metrics == ("sum", "mean", "median", "range", "max", "min")
    assert [formula.metric for formula in suite.predictions] == ["sum", "sum", "max"]
    (result,) = evaluate(toy_model, [suite], normalization="ptb")
    words = [row.surprisal for row in result.table.tokens
             if row.sentence_id == 1 and row.region == 1]  # "The cat"
    assert len(words) == 2
    expected = {"sum": sum(words), "mean": fmean(words), "median": median(words),
                "range": max(words) - min(words), "max": max(words), "min": min(words)}
    for metric, value in expected.items():
        assert result.values[metric, 1, "match", 1] == pytest.approx(value, rel=1e-9)
    row = region_rows([result])[0]
    assert [row[metric] for metric in ("mean", "median", "range", "max", "min")] == \
        pytest.approx([expected[metric] for metric in ("mean", "median", "range", "max", "min")])
    assert summary_rows([result])[2]["metric"] == "max"
    assert math.isnan(result.values["mean", 2, "match", 3])  # an empty region has no mean


def test_the_older_prediction_layout_and_all_regions_read_as_their_formulas(toy_model):
    older = copy.deepcopy(SUITE)
    older["meta"]["metric"] = ["sum", "mean"]
    older["predictions"] = [{"relation": "greaterthan", "region_number": 2,
                             "l_operand": "mismatch", "r_operand": "match"},
                            {"type": "formula", "formula": "(*;%mismatch%) > (*;%match%)"}]
    suite = read_suite(json.dumps(older), "older.json")
    assert suite.predictions[0].text == "(2;%mismatch%) > (2;%match%)"
    (result,) = evaluate(toy_model, [suite], normalization="ptb")
    values = result.surprisals
    assert result.outcomes[0] == [values[item, "mismatch", 2] > values[item, "match", 2]
                                  for item in (1, 2)]
    totals = {(item, condition): sum(value for (i, c, _), value in values.items()
                                     if (i, c) == (item, condition))
              for item in (1, 2) for condition in ("match", "mismatch")}
    assert result.outcomes[1] == [totals[item, "mismatch"] > totals[item, "match"]
                                  for item in (1, 2)]


@pytest.mark.parametrize("change, message", [
    (lambda s: s["predictions"].append({"relation": "between", "region_number": 2,
                                        "l_operand": "match", "r_operand": "mismatch"}),
     "relation 'between' is not one of greaterthan, lessthan, equal"),
    (lambda s: s["predictions"].append({"formula": "(2;%match%) > 1", "metric": "mode"}),
     "metric 'mode' is not one of"),
    (lambda s: s["meta"].update(metric=[]), "meta.metric must be a metric's name"),
])
def test_bad_metrics_and_relations_are_one_line_errors(change, message):
    suite = copy.deepcopy(SUITE)
    change(suite)
    with pytest.raises(LstmlmError, match=message):
        read_suite(json.dumps(suite), "suite.json")


def test_a_suite_without_predictions_reports_its_regions(toy_model):
    bare = copy.deepcopy(SUITE)
    del bare["predictions"]
    (result,) = evaluate(toy_model, [read_suite(json.dumps(bare), "bare.json")], "ptb")
    assert result.accuracy is None and summary_rows([result])[-1]["accuracy"] is None
    assert len(region_rows([result])) == 12
