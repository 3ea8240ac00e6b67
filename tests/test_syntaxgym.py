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
    (lambda s: s["meta"].update(metric="mean"), "meta.metric 'mean' is not supported"),
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
