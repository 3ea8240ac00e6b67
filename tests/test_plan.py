"""The plan a run trains by: made from a request, saved as JSON and read back."""

import dataclasses
import json

import pytest

from lstmlm import LstmlmError, apply_overrides, get_preset
from lstmlm.budget import Costs
from lstmlm.plan import RunPlan, load_plans, plans_json


def test_a_plan_of_a_request_takes_its_sections_and_the_decisions():
    config = get_preset("cpu-fast")
    plan = RunPlan.of(config, device="cpu", precision="bf16", data="/data/ptb")
    assert (plan.model, plan.regularisation, plan.optimisation) == \
        (config.model, config.regularisation, config.optimisation)
    assert (plan.device, plan.precision, plan.data, plan.after_epoch) == \
        ("cpu", "bf16", "/data/ptb", 0)
    assert config.run.precision == "auto" and config.data.corpus == "ptb"  # the request as asked


def test_plans_round_trip_through_plan_json(tmp_path):
    config = apply_overrides(get_preset("small"), {"softmax": "adaptive",
                                                   "adaptive_cutoffs": "2000,6000"})
    first = RunPlan.of(config, costs=Costs(epoch=100.0, validation=5.0, finish=12.0),
                       notes=("plan: 9.72 epochs",))
    later = dataclasses.replace(first, after_epoch=3, optimisation=dataclasses.replace(
        first.optimisation, max_max_epoch=8.5))
    (tmp_path / "plan.json").write_text(plans_json([first, later]))
    assert load_plans(tmp_path / "plan.json") == [first, later]
    saved = json.loads((tmp_path / "plan.json").read_text())["plans"]
    assert saved[1]["after_epoch"] == 3 and saved[0]["model"]["adaptive_cutoffs"] == [2000, 6000]


@pytest.mark.parametrize("text, message", [
    ("{", "cannot read plan"),
    ('{"plans": []}', "holds no plan"),
    ('{"plans": [{"data": "ptb"}]}', "plan: bad entry"),
])
def test_a_damaged_plan_json_is_a_one_line_error(tmp_path, text, message):
    (tmp_path / "plan.json").write_text(text)
    with pytest.raises(LstmlmError, match=message):
        load_plans(tmp_path / "plan.json")


def test_a_plan_s_sections_are_checked_as_the_request_s():
    plan = RunPlan.of(get_preset("small")).to_dict()
    plan["model"]["hidden_size"] = 0
    with pytest.raises(LstmlmError, match="hidden_size must be > 0"):
        RunPlan.from_dict(plan)
