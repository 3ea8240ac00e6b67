"""Time budgets: durations, the arithmetic of the epochs that fit, and the shape a budget
chooses for cpu-fast on each kind of device (their throughput faked, so the test does not
depend on the machine it runs on)."""

import pytest

from lstmlm import LstmlmError, budget, get_preset
from lstmlm.budget import Clock, Costs, Shape, Throughput, format_duration
from lstmlm.config import parse_duration
from lstmlm.training import budget_shapes, shaped, stretched_schedule

PTB_WORDS = (929_589, 73_760, 82_430)  # train, valid, test as lstmlm reads them


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("45m", 2700), ("2h", 7200), ("1h30m", 5400), ("1.5h", 5400),
    ("2h 0m 30s", 7230), ("7200", 7200), ("0", 0), ("1H", 3600)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "-5", "h", "1m30h", "inf"])
def test_bad_durations_are_one_line_errors(text):
    with pytest.raises(LstmlmError, match="bad duration"):
        parse_duration(text)


def test_durations_format():
    assert [format_duration(seconds) for seconds in (42, 250, 7200, 5430.4)] == \
        ["42s", "4m 10s", "2h 00m", "1h 30m"]


def test_epochs_fit_with_the_finish_and_the_safety_margin_kept_free():
    costs = Costs.of(Throughput(1000.0, 5000.0), train_words=100_000, valid_words=10_000,
                     test_words=15_000)
    assert (costs.epoch, costs.validation) == (100.0, 2.0)
    assert costs.finish == 8.0 + budget.FINISH_SECONDS  # valid, and test for best and last weights
    # 1000 s of a 1000 s budget: 980 after the 2% margin, minus 5 s and the 11 s finish: 964 s.
    # Nine 102 s epochs leave 46 s, of which the last fraction's validation takes 2: 0.44 of an
    # epoch.
    assert costs.epochs_within(1000.0, 1000.0) == 9.44
    # The margin is a share of the whole budget: 500 s left of it keep 20 s free too.
    assert costs.epochs_within(500.0, 1000.0) == 4.54
    # Less than an epoch: 82 s usable, 80 after its validation.
    assert costs.epochs_within(100.0, 100.0) == 0.8
    # Below MIN_LAST_EPOCH of an epoch nothing is planned.
    tight = 16 / 0.98 + 2 + 9.9 / 0.98
    assert costs.epochs_within(tight, tight) == 0
    assert costs.epochs_within(537.0, 537.0) == 5  # five whole epochs, and no time for a fraction


def test_evaluation_time_adaptation_is_planned_into_the_finish():
    static = Costs.of(Throughput(1000.0, 5000.0), 100_000, 10_000, 15_000)
    adapted = Costs.of(Throughput(1000.0, 5000.0, 500.0), 100_000, 10_000, 15_000,
                       adapted_words=20_000)
    assert adapted.adaptation == 40.0 and adapted.finish == static.finish + 40.0
    assert adapted.describe().endswith("final evaluation 51s, adaptation 40s of it")
    assert adapted.epochs_within(1000.0, 1000.0) < static.epochs_within(1000.0, 1000.0)
    # Re-estimated from a measured validation, the adaptation's share stays.
    again = Costs.from_validation(2.0, 100.0, 10_000, 15_000, adapted.adaptation)
    assert again == adapted


@pytest.mark.parametrize("epochs", [0.1, 0.8, 1.0, 9.44, 33.17])
def test_seconds_for_is_the_inverse_of_epochs_within(epochs):
    costs = Costs.of(Throughput(1000.0, 5000.0), 100_000, 10_000, 15_000)
    seconds = costs.seconds_for(epochs, 5000.0)
    assert costs.epochs_within(seconds + 1e-6, 5000.0) == epochs
    assert costs.epochs_within(seconds - 2.0, 5000.0) < epochs


def flops_per_word(shape: Shape, vocab: int = 10_000) -> float:
    """Training FLOPs per word of cpu-fast's tied two-layer LSTM (forward and backward). The
    adaptive softmax scores the 2,000 head words and its cluster, and the tail (13% of PTB's
    words) through 1/4 of the width."""
    size = shape.hidden_size
    softmax = (size * 2001 + 0.13 * (size // 4) * (size + vocab - 2000) if shape.adaptive
               else size * vocab)
    return 3 * (2 * 2 * 4 * size * 2 * size + 2 * softmax)


def machine(train_words_per_sec_at_512: float, eval_words_per_sec_at_512: float):
    """A fake measurement: speeds scale with the FLOPs of each shape."""
    measured = []

    def measure(shape: Shape) -> Throughput:
        measured.append(shape)
        ratio = flops_per_word(Shape(512)) / flops_per_word(shape)
        return Throughput(train_words_per_sec_at_512 * ratio, eval_words_per_sec_at_512 * ratio)

    return measure, measured


@pytest.mark.parametrize("kind, train_speed, eval_speed, expected_size", [
    # AVX512-BF16 EPYC in bf16: the mean of cpu-fast's 34-epoch run, and its test set
    # evaluated in 17.4 s.
    ("avx512-bf16", 5576.0, 4737.0, 512),
    # AVX2-only EPYC in fp32: benchmarks/throughput.py --presets cpu-fast --seconds 10.
    ("avx2", 977.0, 1883.0, None),
])
def test_cpu_fast_sizes_itself_from_the_measured_throughput(kind, train_speed, eval_speed,
                                                           expected_size):
    config = get_preset("cpu-fast")
    measure, measured = machine(train_speed, eval_speed)
    shapes = budget_shapes(config)
    plan = budget.plan(config.budget.seconds, shapes, config.budget.min_epochs, measure,
                       PTB_WORDS, lambda: config.budget.seconds, cheapest_first=True)
    assert plan.epochs >= config.budget.min_epochs
    # The cheapest fits 10 epochs, so the widest that does is looked for from the widest down.
    assert measured == shapes[-1:] + shapes[:len(measured) - 1]
    assert "at least 10: measuring from the widest model" in plan.lines[0]
    if expected_size is not None:
        assert plan.shape == Shape(expected_size) and measured == [shapes[-1], Shape(512)]
    else:  # too few epochs at 512 on this machine: a smaller model trains for longer
        assert plan.shape.hidden_size < 512 and len(measured) > 2
        assert "trying a cheaper model" in plan.lines[1]
    needed = plan.epochs * (plan.costs.epoch + plan.costs.validation) + plan.costs.finish
    assert needed <= config.budget.seconds
    assert plan.lines[-1].startswith(f"plan: {plan.epochs} epochs of {plan.shape} fit in 2h 00m")


def measured_machine(speeds: dict[Shape, tuple[float, float]]):
    """A fake measurement that gives each shape the speeds measured for it."""
    measured = []

    def measure(shape: Shape) -> Throughput:
        measured.append(shape)
        return Throughput(*speeds[shape])

    return measure, measured


# cpu-fast's training and evaluation speeds of each shape on an NVIDIA H200 in bf16, as
# `lstmlm train --preset cpu-fast --device cuda --time-budget 90s` measured them. Batch 20
# leaves the GPU bound by the sequential steps: the width barely changes the speed, and the
# adaptive softmax is the slowest.
H200_SPEEDS = {Shape(512): (67163.0, 26090.0), Shape(400): (66084.0, 27181.0),
               Shape(320): (60640.0, 25989.0), Shape(256): (60523.0, 25251.0),
               Shape(256, adaptive=True): (53133.0, 19875.0)}


# The fake measurement of each kind of device: the two CPUs' speeds at 512 units (measured,
# above) scaled by the FLOPs of each shape; the GPU's measured shape by shape.
DEVICE_KINDS = {"fp32 cpu": lambda: machine(977.0, 1883.0),
                "bf16 cpu": lambda: machine(5576.0, 4737.0),
                "gpu": lambda: measured_machine(H200_SPEEDS)}


BUDGETS = {"5m": 300.0, "30m": 1800.0, "2h": 7200.0, "12h": 43200.0}


def planned_on(kind: str, seconds: float) -> tuple[budget.Plan, float]:
    """cpu-fast's plan on a device of `kind` for a budget of `seconds`, and the seconds left
    after measuring (each size measured for measuring_seconds, as the trainer does)."""
    config = get_preset("cpu-fast")
    measure, measured = DEVICE_KINDS[kind]()
    clock = {"left": seconds}

    def seconds_left() -> float:
        clock["left"] = seconds - len(measured) * (budget.measuring_seconds(seconds) + 2.0)
        return clock["left"]

    plan = budget.plan(seconds, budget_shapes(config), config.budget.min_epochs, measure,
                       PTB_WORDS, seconds_left, cheapest_first=kind != "gpu")
    return plan, clock["left"]


@pytest.mark.parametrize("kind", DEVICE_KINDS)
@pytest.mark.parametrize("name", BUDGETS)
def test_cpu_fast_plans_every_budget_on_every_kind_of_device(kind, name):
    plan, left = planned_on(kind, BUDGETS[name])
    costs = plan.costs
    assert plan.epochs > 0 and plan.shape in budget_shapes(get_preset("cpu-fast"))
    assert costs.seconds_for(plan.epochs, BUDGETS[name]) <= left
    # The whole budget is used: what stays free is less than what one more step of an epoch,
    # or the smallest last fraction with its validation, would take.
    unused = left - costs.seconds_for(plan.epochs, BUDGETS[name])
    assert unused < max(budget.EPOCH_STEP * costs.epoch,
                        budget.MIN_LAST_EPOCH * costs.epoch + costs.validation) + 1.0
    fast = get_preset("cpu-fast")
    scheduled = stretched_schedule(fast.optimisation, plan.epochs)
    assert scheduled.max_max_epoch == plan.epochs and scheduled.warmup_epochs < plan.epochs
    model = shaped(fast, plan.shape)
    assert model.hidden_size == plan.shape.hidden_size
    assert (model.softmax == "adaptive") == plan.shape.adaptive


@pytest.mark.parametrize("kind", DEVICE_KINDS)
def test_a_longer_budget_never_plans_a_cheaper_or_shorter_model(kind):
    plans = [planned_on(kind, seconds)[0] for seconds in BUDGETS.values()]
    costs = [flops_per_word(plan.shape) for plan in plans]
    assert costs == sorted(costs)
    assert all(later.epochs >= earlier.epochs for earlier, later in zip(plans, plans[1:])
               if later.shape == earlier.shape)


def test_what_each_device_plans_at_the_budgets_that_differ():
    # Five minutes on an fp32 CPU: the narrowest model with the adaptive softmax, for under
    # two epochs, the only one measured.
    plan, _ = planned_on("fp32 cpu", BUDGETS["5m"])
    assert plan.shape == Shape(256, adaptive=True) and plan.epochs < 2 and len(plan.lines) == 2
    assert plan.lines[0].endswith("(fewer than 10: no wider model fits more on this device)")
    # Two hours: 512 units where bf16 makes them fast enough, a smaller model in fp32.
    assert planned_on("bf16 cpu", BUDGETS["2h"])[0].shape == Shape(512)
    fp32 = planned_on("fp32 cpu", BUDGETS["2h"])[0].shape
    assert fp32.hidden_size < 512 and not fp32.adaptive
    # A GPU trains the widest model from 5 minutes on.
    assert all(planned_on("gpu", seconds)[0].shape == Shape(512) for seconds in BUDGETS.values())


def test_a_budget_shorter_than_an_epoch_trains_the_fraction_that_fits():
    measure, _ = machine(2400.0, 4000.0)  # an epoch of 512 takes 387 s
    plan = budget.plan(300.0, [Shape(512)], 0, measure, PTB_WORDS, lambda: 290.0)
    assert 0.3 < plan.epochs < 0.6
    assert plan.costs.seconds_for(plan.epochs, 300.0) <= 290.0
    assert plan.lines[-1].startswith(f"plan: {plan.epochs:g} epochs of hidden_size 512 fit in 5m")


def test_a_budget_too_small_for_a_tenth_of_an_epoch_is_an_error():
    measure, _ = machine(2400.0, 4000.0)
    with pytest.raises(LstmlmError, match=r"time budget 1m 40s is too small: 0.1 of an epoch "
                                          r"with validation and the final evaluation need about "
                                          r"2m 17s, measuring included"):
        budget.plan(100.0, [Shape(512)], 0, measure, PTB_WORDS, lambda: 90.0)


def test_where_no_shape_fits_the_wanted_epochs_the_one_that_fits_the_most_is_taken():
    # On a CPU the last shape, the cheapest, fits the most.
    measure, measured = machine(2400.0, 4000.0)
    shapes = [Shape(512), Shape(256)]
    plan = budget.plan(3600.0, shapes, 1000, measure, PTB_WORDS, lambda: 3600.0)
    assert plan.shape == Shape(256) and measured == shapes and plan.epochs >= 1
    assert plan.lines[-1].startswith("plan:") and "fits the most" not in plan.lines[-2]
    # On the H200, 90 seconds fit fewer than 10 epochs of every shape, the most of the widest.
    measure, measured = measured_machine(H200_SPEEDS)
    shapes = budget_shapes(get_preset("cpu-fast"))
    plan = budget.plan(90.0, shapes, 10, measure, PTB_WORDS, lambda: 80.0)
    assert measured == shapes and plan.shape == Shape(512)
    assert 1 < plan.epochs < 10
    assert plan.epochs > budget.plan(90.0, shapes[-1:], 10, measure, PTB_WORDS,
                                     lambda: 80.0).epochs
    assert plan.lines[-2] == "none fits 10 epochs: hidden_size 512 fits the most"


def test_on_a_cpu_the_cheapest_shape_is_measured_first():
    shapes = budget_shapes(get_preset("cpu-fast"))

    def planned(seconds: float, cheapest_first: bool) -> tuple[budget.Plan, list[Shape]]:
        measure, measured = machine(977.0, 1883.0)  # the fp32 CPU
        plan = budget.plan(seconds, shapes, 10, measure, PTB_WORDS,
                           lambda: seconds - 4.0 * len(measured), cheapest_first=cheapest_first)
        return plan, measured

    # Five minutes: the cheapest fits fewer than 10 epochs, so it is the plan with or without
    # the others measured, and the seconds they would take train it for longer.
    plan, measured = planned(300.0, cheapest_first=True)
    every, every_measured = planned(300.0, cheapest_first=False)
    assert measured == shapes[-1:] and every_measured == shapes
    assert plan.shape == every.shape == shapes[-1] and plan.epochs > every.epochs
    # Two hours: the cheapest fits 10, so the same width is chosen, one measurement later.
    plan, measured = planned(7200.0, cheapest_first=True)
    every, every_measured = planned(7200.0, cheapest_first=False)
    assert measured == shapes[-1:] + every_measured and plan.shape == every.shape
    assert plan.shape != shapes[-1] and plan.epochs <= every.epochs


def test_the_clock_counts_time_spent_before_a_resume(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(budget, "monotonic", lambda: now[0])
    clock = Clock(60.0)
    now[0] += 10
    assert (clock.elapsed(), clock.left()) == (10.0, 50.0)
    clock.spent_before = 30.0
    assert clock.left() == 20.0
    assert Clock(0).left() == float("inf")


def test_time_off_the_clock_does_not_count(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(budget, "monotonic", lambda: now[0])
    clock = Clock(100.0)
    now[0] += 10
    with clock.off_the_clock():
        now[0] += 30
    now[0] += 5
    assert (clock.elapsed(), clock.left()) == (15.0, 85.0)
    with pytest.raises(RuntimeError), clock.off_the_clock():
        now[0] += 20
        raise RuntimeError
    assert clock.elapsed() == 15.0
