"""SyntaxGym test suites (Hu et al. 2020): region surprisals and the suite's predictions.

A suite (JSON: `meta`, `region_meta`, `items`, `predictions`) holds items, each a sentence in
several conditions cut into numbered regions. A region's value aggregates its words'
surprisals (bits) by the suite's `metric`, as syntaxgym-core does: `sum`, `mean`, `median`,
`range`, `max` or `min`, a list of them, or `all`. Each prediction is a formula over the region
values of one metric (its own `metric`, else the suite's first), such as
`(2;%mismatch%) > (2;%match%)`, and holds or not on each item. A suite of syntaxgym-core's
older layout states a prediction as `relation` (greaterthan, lessthan or equal), `region_number`,
`l_operand` and `r_operand` (two conditions), read as the formula it means.

Formulas are parsed here, never evaluated as code: region references `(N;%condition%)` (`*`
for all of a condition's regions, summed), number literals, `+` and `-`, the comparisons `<`,
`>` and `=` (equal within SyntaxGym's tolerances, 1e-5 relative and 1e-3 absolute), `&` and
`|`, and parentheses.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from statistics import fmean, median

from .errors import LstmlmError
from .normalization import check_normalization
from .surprisal import Region, Stimulus, SurprisalTable, compute

EQUALITY_RELATIVE, EQUALITY_ABSOLUTE = 1e-5, 1e-3
# A region's value from its words' surprisals; an empty region's is 0 (sum) or NaN.
METRICS = {"sum": math.fsum,
           "mean": lambda values: fmean(values) if values else math.nan,
           "median": lambda values: median(values) if values else math.nan,
           "range": lambda values: max(values) - min(values) if values else math.nan,
           "max": lambda values: max(values) if values else math.nan,
           "min": lambda values: min(values) if values else math.nan}
RELATIONS = {"greaterthan": ">", "lessthan": "<", "equal": "=", "equals": "="}
ALL_REGIONS = 0  # the region number `*` stands for in a parsed formula
_TOKEN = re.compile(r"\s*(?:(?P<region>\(\s*(\d+|\*)\s*;\s*%([^%]*)%\s*\))"
                    r"|(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<op>[-+<>=&|()]))")


@dataclass(frozen=True)
class Formula:
    """A parsed prediction: a tree of ("region", condition, number), ("number", value) and
    (operator, left, right) tuples."""

    text: str
    tree: tuple
    metric: str = "sum"  # the region values it compares

    def holds(self, surprisal: dict[tuple[str, int], float]) -> bool:
        return bool(evaluate_tree(self.tree, surprisal))


@dataclass(frozen=True)
class Item:
    number: int
    conditions: dict[str, tuple[Region, ...]]


@dataclass(frozen=True)
class Suite:
    name: str
    region_names: dict[int, str]
    items: list[Item]
    predictions: list[Formula]
    source: str  # the file
    metrics: tuple[str, ...] = ("sum",)


@dataclass
class SuiteResult:
    suite: Suite
    normalization: str
    # (metric, item number, condition, region number) -> the region's value (bits)
    values: dict[tuple[str, int, str, int], float]
    table: SurprisalTable  # the regions' rows
    # per prediction, whether it holds on each item (in the suite's order)
    outcomes: list[list[bool]] = field(default_factory=list)

    @property
    def surprisals(self) -> dict[tuple[int, str, int], float]:
        """(item number, condition, region number) -> the region's summed surprisal (bits)."""
        return {key[1:]: value for key, value in self.values.items() if key[0] == "sum"}

    @property
    def prediction_accuracies(self) -> list[float]:
        return [fmean(holds) for holds in self.outcomes]

    @property
    def accuracy(self) -> float | None:
        """The share of items on which every prediction holds (None without predictions)."""
        if not self.outcomes:
            return None
        return fmean(all(holds) for holds in zip(*self.outcomes))


def parse_formula(text: str, conditions: set[str], regions: set[int], where: str) -> Formula:
    """Parse a prediction, checking its conditions and region numbers against the suite's."""
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise LstmlmError(f"{where}: cannot read the formula {text!r} at "
                              f"{text[position:].strip()[:20]!r}")
        position = match.end()
        if match.group("region"):
            number = ALL_REGIONS if match.group(2) == "*" else int(match.group(2))
            condition = match.group(3)
            if condition not in conditions:
                raise LstmlmError(f"{where}: the formula {text!r} names condition {condition!r}, "
                                  f"which the suite lacks (its conditions: "
                                  f"{', '.join(sorted(conditions))})")
            if number != ALL_REGIONS and number not in regions:
                raise LstmlmError(f"{where}: the formula {text!r} names region {number}, which "
                                  f"the suite lacks (its regions: "
                                  f"{', '.join(map(str, sorted(regions)))})")
            tokens.append(("region", condition, number))
        elif match.group("number"):
            tokens.append(("number", float(match.group("number"))))
        else:
            tokens.append(("op", match.group("op")))
    parser = _Parser(tokens, text, where)
    tree = parser.disjunction()
    if parser.position != len(tokens):
        parser.fail("an operator")
    if kind_of(tree) != "truth":
        raise LstmlmError(f"{where}: the formula {text!r} compares nothing (it needs <, > or =)")
    return Formula(text, tree)


def kind_of(tree: tuple) -> str:
    return "truth" if tree[0] in ("<", ">", "=", "&", "|") else "number"


class _Parser:
    """Recursive descent, lowest precedence first: |, &, comparison, + and -."""

    def __init__(self, tokens: list[tuple], text: str, where: str):
        self.tokens, self.text, self.where, self.position = tokens, text, where, 0

    def fail(self, expected: str):
        found = self.tokens[self.position] if self.position < len(self.tokens) else None
        shown = "its end" if found is None else repr(found[-1])
        raise LstmlmError(f"{self.where}: the formula {self.text!r} has {shown} where "
                          f"{expected} should be")

    def peek_op(self, *operators: str) -> str | None:
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "op" \
                and self.tokens[self.position][1] in operators:
            self.position += 1
            return self.tokens[self.position - 1][1]
        return None

    def logical(self, operator: str, operand) -> tuple:
        tree = operand()
        while self.peek_op(operator):
            right = operand()
            for side in (tree, right):
                if kind_of(side) != "truth":
                    raise LstmlmError(f"{self.where}: in {self.text!r}, {operator} joins "
                                      f"comparisons, not numbers")
            tree = (operator, tree, right)
        return tree

    def disjunction(self) -> tuple:
        return self.logical("|", self.conjunction)

    def conjunction(self) -> tuple:
        return self.logical("&", self.comparison)

    def comparison(self) -> tuple:
        left = self.sum()
        operator = self.peek_op("<", ">", "=")
        if operator is None:
            return left
        right = self.sum()
        if kind_of(left) != "number" or kind_of(right) != "number":
            raise LstmlmError(f"{self.where}: in {self.text!r}, {operator} compares numbers "
                              f"(wrap a comparison of comparisons in & or |)")
        if self.peek_op("<", ">", "="):
            raise LstmlmError(f"{self.where}: in {self.text!r}, comparisons do not chain; "
                              f"join them with &")
        return (operator, left, right)

    def sum(self) -> tuple:
        tree = self.atom()
        while operator := self.peek_op("+", "-"):
            right = self.atom()
            if kind_of(tree) != "number" or kind_of(right) != "number":
                raise LstmlmError(f"{self.where}: in {self.text!r}, {operator} adds numbers")
            tree = (operator, tree, right)
        return tree

    def atom(self) -> tuple:
        if self.position < len(self.tokens) and self.tokens[self.position][0] in ("region",
                                                                                 "number"):
            self.position += 1
            return self.tokens[self.position - 1]
        if self.peek_op("("):
            tree = self.disjunction()
            if not self.peek_op(")"):
                self.fail("')'")
            return tree
        self.fail("a region (N;%condition%) or a number")


def evaluate_tree(tree: tuple, surprisal: dict[tuple[str, int], float]):
    kind = tree[0]
    if kind == "region" and tree[2] == ALL_REGIONS:
        return math.fsum(value for (condition, _), value in surprisal.items()
                         if condition == tree[1])
    if kind == "region":
        return surprisal[tree[1], tree[2]]
    if kind == "number":
        return tree[1]
    left, right = evaluate_tree(tree[1], surprisal), evaluate_tree(tree[2], surprisal)
    if kind == "=":
        return math.isclose(left, right, rel_tol=EQUALITY_RELATIVE, abs_tol=EQUALITY_ABSOLUTE)
    return {"+": lambda: left + right, "-": lambda: left - right, "<": lambda: left < right,
            ">": lambda: left > right, "&": lambda: left and right,
            "|": lambda: left or right}[kind]()


def _require(value, kind: type, where: str, what: str):
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        expected = {dict: "an object", list: "a list", str: "a string", int: "an integer"}[kind]
        raise LstmlmError(f"{where}: {what} must be {expected}, got {json.dumps(value)[:40]}")
    return value


def read_suite(text: str, name: str) -> Suite:
    """A suite from its JSON text, checked against SyntaxGym's published structure; an error
    names the file and the item, condition and region at fault."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise LstmlmError(f"{name}: not JSON ({error})") from None
    _require(document, dict, name, "a suite")
    for key in ("meta", "region_meta", "items"):
        if key not in document:
            raise LstmlmError(f"{name}: a SyntaxGym suite needs {key!r} (it has: "
                              f"{', '.join(document) or 'nothing'})")
    meta = _require(document["meta"], dict, name, "meta")
    metrics = suite_metrics(meta.get("metric", "sum"), name)
    region_meta = _require(document["region_meta"], dict, name, "region_meta")
    try:
        region_names = {int(number): str(title) for number, title in region_meta.items()}
    except ValueError:
        raise LstmlmError(f"{name}: region_meta's keys must be region numbers, got "
                          f"{', '.join(region_meta)}") from None
    if sorted(region_names) != list(range(1, len(region_names) + 1)):
        raise LstmlmError(f"{name}: region_meta must number the regions 1 to N, got "
                          f"{', '.join(map(str, sorted(region_names)))}")
    items, conditions = [], None
    for index, item in enumerate(_require(document["items"], list, name, "items"), start=1):
        where = f"{name}: item {index}"
        _require(item, dict, where, "an item")
        number = _require(item.get("item_number"), int, where, "item_number")
        where = f"{name}: item {number}"
        if any(item.number == number for item in items):
            raise LstmlmError(f"{where}: item_number {number} appears twice")
        by_condition = {}
        for condition in _require(item.get("conditions"), list, where, "conditions"):
            _require(condition, dict, where, "a condition")
            condition_name = _require(condition.get("condition_name"), str, where,
                                      "condition_name")
            place = f"{where}, condition {condition_name!r}"
            regions = []
            for region in _require(condition.get("regions"), list, place, "regions"):
                _require(region, dict, place, "a region")
                region_number = _require(region.get("region_number"), int, place,
                                         "region_number")
                at = f"{place}, region {region_number}"
                if region_number not in region_names:
                    raise LstmlmError(f"{at}: region_meta has no region {region_number}")
                content = _require(region.get("content"), str, at, "content")
                regions.append(Region(region_number,
                                      region_names[region_number] or str(region_number), content))
            if [region.number for region in regions] != sorted({r.number for r in regions}):
                raise LstmlmError(f"{place}: regions must come once each, in order")
            by_condition[condition_name] = tuple(regions)
        if conditions is None:
            conditions = set(by_condition)
        elif set(by_condition) != conditions:
            raise LstmlmError(f"{where}: its conditions ({', '.join(sorted(by_condition))}) "
                              f"differ from the first item's ({', '.join(sorted(conditions))})")
        items.append(Item(number, by_condition))
    if not items:
        raise LstmlmError(f"{name}: the suite has no items")
    predictions = []
    for index, prediction in enumerate(_require(document.get("predictions", []), list, name,
                                                "predictions"), start=1):
        where = f"{name}: prediction {index}"
        _require(prediction, dict, where, "a prediction")
        metric = prediction.get("metric", metrics[0])
        if metric not in METRICS:
            raise LstmlmError(f"{where}: metric {metric!r} is not one of {', '.join(METRICS)}")
        formula = parse_formula(prediction_formula(prediction, where), conditions,
                                set(region_names), where)
        formula = Formula(formula.text, formula.tree, metric)
        predictions.append(formula)
        for item in items:
            for node in regions_of(formula.tree):
                condition, number = node[1], node[2]
                if number != ALL_REGIONS and number not in {
                        region.number for region in item.conditions[condition]}:
                    raise LstmlmError(f"{where}: item {item.number}, condition {condition!r} "
                                      f"has no region {number}")
    return Suite(str(meta.get("name", name)), region_names, items, predictions, name,
                 metrics)


def suite_metrics(metric, name: str) -> tuple[str, ...]:
    """The metrics `meta.metric` names: one, a list, or "all" (every one, sum first)."""
    names = [metric] if isinstance(metric, str) else metric
    if not isinstance(names, list) or not names or not all(isinstance(item, str)
                                                           for item in names):
        raise LstmlmError(f"{name}: meta.metric must be a metric's name, a list of them or "
                          f"\"all\", got {json.dumps(metric)[:40]}")
    expanded = [item for entry in names for item in (METRICS if entry == "all" else [entry])]
    unknown = [item for item in expanded if item not in METRICS]
    if unknown:
        raise LstmlmError(f"{name}: meta.metric {unknown[0]!r} is not one of "
                          f"{', '.join(METRICS)} (or \"all\")")
    return tuple(dict.fromkeys(expanded))


def prediction_formula(prediction: dict, where: str) -> str:
    """A prediction's formula: its `formula`, or that of the older layout's `relation`
    between `region_number` in conditions `l_operand` and `r_operand`."""
    if "relation" in prediction:
        relation = prediction["relation"]
        if relation not in RELATIONS:
            raise LstmlmError(f"{where}: relation {relation!r} is not one of "
                              f"{', '.join(RELATIONS)} (the older prediction layout)")
        number = _require(prediction.get("region_number"), int, where, "region_number")
        left = _require(prediction.get("l_operand"), str, where, "l_operand")
        right = _require(prediction.get("r_operand"), str, where, "r_operand")
        return f"({number};%{left}%) {RELATIONS[relation]} ({number};%{right}%)"
    if prediction.get("type", "formula") != "formula":
        raise LstmlmError(f"{where}: type {prediction.get('type')!r} is not supported "
                          f"(a \"formula\", or the older layout's \"relation\")")
    return _require(prediction.get("formula"), str, where, "formula")


def regions_of(tree: tuple) -> list[tuple]:
    if tree[0] == "region":
        return [tree]
    if tree[0] == "number":
        return []
    return regions_of(tree[1]) + regions_of(tree[2])


def evaluate(model, suites: list[Suite], normalization: str | None = None,
             batch_size: int = 64) -> list[SuiteResult]:
    """Every suite's region surprisals (bits) under `model` (a LanguageModel), after
    `normalization` (default: the model's own), and whether each prediction holds per item."""
    normalization = check_normalization(normalization or model.normalization)
    results = []
    for suite in suites:
        stimuli = [Stimulus(regions, (("suite", suite.name), ("item", str(item.number)),
                                      ("condition", condition)), suite.source)
                   for item in suite.items for condition, regions in item.conditions.items()]
        table = compute(model, stimuli, normalization, "bits", "independent", batch_size)
        by_region = {}
        for token in table.tokens:
            if token.region is not None:
                by_region.setdefault((token.sentence_id, token.region), []).append(
                    token.surprisal)
        values = {}
        for region in table.regions:
            kept = dict(stimuli[region.sentence_id - 1].kept)
            surprisals = by_region.get((region.sentence_id, region.region), [])
            for metric in {"sum", *suite.metrics, *(formula.metric
                                                    for formula in suite.predictions)}:
                values[metric, int(kept["item"]), kept["condition"], region.region] = \
                    METRICS[metric](surprisals)
        result = SuiteResult(suite, normalization, values, table)
        result.outcomes = [[formula.holds({(condition, number): value for (metric, item_number,
                                                                          condition, number),
                                           value in values.items()
                                           if metric == formula.metric
                                           and item_number == item.number})
                            for item in suite.items] for formula in suite.predictions]
        results.append(result)
    return results


def summary_rows(results: list[SuiteResult]) -> list[dict]:
    """One row per prediction, then one per suite, with the accuracies (fractions)."""
    rows = []
    for result in results:
        for index, (formula, accuracy) in enumerate(
                zip(result.suite.predictions, result.prediction_accuracies), start=1):
            rows.append({"suite": result.suite.name, "level": "prediction", "prediction": index,
                         "formula": formula.text, "metric": formula.metric,
                         "items": len(result.suite.items), "accuracy": accuracy})
        rows.append({"suite": result.suite.name, "level": "suite", "prediction": "",
                     "formula": "every prediction", "items": len(result.suite.items),
                     "accuracy": result.accuracy, "normalization": result.normalization,
                     "metrics": ",".join(result.suite.metrics)})
    return rows


def region_rows(results: list[SuiteResult]) -> list[dict]:
    """The region table: suite, item, condition, region number and name, content, surprisal
    (the sum, in bits), each other metric of the suite's, and the OOV words in the region."""
    rows = []
    for result in results:
        for region in result.table.regions:
            kept = dict(result.table.stimuli[region.sentence_id - 1].kept)
            key = (int(kept["item"]), kept["condition"], region.region)
            rows.append({"suite": result.suite.name, "item": key[0],
                         "condition": key[1], "region_number": region.region,
                         "region": region.name, "content": region.content,
                         "surprisal": region.surprisal,
                         **{metric: result.values[(metric,) + key]
                            for metric in result.suite.metrics if metric != "sum"},
                         "oov": region.oov})
    return rows
