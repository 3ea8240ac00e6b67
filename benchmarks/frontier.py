"""The budget-to-perplexity frontier on PTB: what each recipe reaches within the same wall-clock
budget on this machine, and how soon it first reaches the reference small model's 116.

    python benchmarks/frontier.py [--budgets 5m 10m 30m 1h 2h] [--peer-budgets 10m 30m]
                                  [--dynamic-budgets 2h] [--recipes lstmlm ...] [--note TEXT]
                                  [--carry benchmarks/results/frontier-CPU-DATE.json]
                                  [--benchmark frontier]

Every recipe is an lstmlm config run with `lstmlm train --time-budget`, so that each gets a
whole schedule laid out for the epochs that fit (the last one a fraction), and with
`test_each_epoch=true`, so that the test perplexity of every epoch is known. Those test passes
run off the budget's clock: each recipe plans and trains as it would without them.

- lstmlm: the `cpu-fast` preset, the budgeted recipe;
- lstmlm-dynamic: the same with `final_eval=dynamic`: its plan spends part of the budget on
  dynamic evaluation, reported beside the static test perplexity (which pays for the
  adaptation's time);
- lstmlm-adaptive-softmax: a lever measured against lstmlm, run only when named in --recipes
  (at lstmlm's budgets): `cpu-fast` with the adaptive softmax at every width, not only where
  not even the narrowest width fits its 10 epochs;
- lstmlm-sampled-softmax: a lever, `cpu-fast` training the full softmax at every width on
  the targets and 1,024 words sampled per window (`softmax_samples`), scoring the whole
  vocabulary in evaluation, in place of the adaptive softmax at 256 units;
- lstmlm-batch-10, lstmlm-batch-40 and lstmlm-batch-80: levers too, `cpu-fast` with 10, 40
  or 80 rows a batch instead of 20 (where the sequential steps bound the speed, more rows
  train more words a second with fewer updates);
- lstmlm-bptt-20: a lever, `cpu-fast` with windows of 20 words instead of 35 (more updates,
  shorter gradients through time);
- lstmlm-width-320: a lever, `cpu-fast` choosing from 320 and 256 units only (more epochs of a
  narrower model where 400 would fit its 10);
- lstmlm-no-ar-tar: a lever, `cpu-fast` without activation and temporal activation
  regularisation (AR/TAR);
- lstmlm-no-warmup and lstmlm-warmup-tenth: levers, `cpu-fast` with no warm-up, or with a
  warm-up of a tenth of the run instead of 1/68;
- lstmlm-average-last-third: a lever, `cpu-fast` averaging its weights over the last third of
  its epochs (`average_last`, stochastic weight averaging);
- lstmlm-anneal-third: the lever that measured `cpu-fast`'s `anneal_share=0.34` (its rate held
  at the peak after the warm-up, annealed over the last third of the run) against the cosine
  over the whole run; it spells the setting out, as its recorded rows ran with it;
- lstmlm-one-cycle: a lever, `cpu-fast` with Adam at 0.008 on the one-cycle schedule, warming
  up over 0.3 of the run (Smith; the fast.ai group's fast AWD-LSTM training);
- lstmlm-one-cycle-0.016: a lever, `cpu-fast` with one-cycle Adam's peak rate at 0.016 instead
  of 0.008 where its plan is shorter than 10 epochs;
- lstmlm-sgd: a lever, `cpu-fast` keeping SGD on the cosine schedule where its plan is
  shorter than 10 epochs, which the budgeted recipe trains with one-cycle Adam instead;
- lstmlm-narrow-last-layer: a lever, `cpu-fast` with a last layer of 256 units, the width of the
  tied embedding and softmax, under the budget's width (AWD-LSTM's 400 under 1150);
- ptb_word_lm: TensorFlow's ptb_word_lm `small`, its step decay laid out for the epochs that fit;
- word_language_model: pytorch/examples' defaults: 2 × 200 LSTM, 200-wide embeddings, dropout
  0.2, plain SGD at 20 divided by 4 after each epoch that does not improve validation,
  clipping 0.25, BPTT 35, batch 20, untied, PyTorch's own initialisation of the LSTM
  (lstmlm's `init_method=awd`) and ±0.1 for the embedding and decoder, the loss averaged over
  tokens. Its evaluation batch of 10 is lstmlm's 1 here, as for every recipe.

The runs go to benchmarks/frontier-runs/ (git-ignored) and the script is resumable: a finished
run is read, not rerun, and an interrupted one resumes. Each invocation writes every finished
run to benchmarks/results/frontier-*.json and draws the frontier to frontier-CPU.png beside it
(`--benchmark NAME`: NAME-*.json and NAME-CPU.png).
`--carry` keeps the rows and curves of an earlier results file of this machine for the runs
whose folders are not in frontier-runs/ (a fresh checkout), so that a machine keeps one file.
Minutes to 116 count the run's clock from the start of the command to the end of the first
epoch whose test perplexity is 116 or less, the epoch-end test passes left out.
"""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from common import RESULTS, machine, machine_slug, write_result

from lstmlm.config import parse_duration
from lstmlm.hardware import short_machine_name
from lstmlm.rundir import RunDir

RUNS = Path(__file__).resolve().parent / "frontier-runs"
# The threshold of "minutes to a test perplexity of 116": ptb_word_lm small's published 115.91
# rounded up (the results recorded so far were measured against it).
REFERENCE = 116.0
RECIPES = {
    "lstmlm": ("cpu-fast", []),
    "lstmlm-dynamic": ("cpu-fast", ["final_eval=dynamic"]),
    "lstmlm-sgd": ("cpu-fast", ["budget_onecycle_epochs=0"]),
    "lstmlm-adaptive-softmax": ("cpu-fast", ["softmax=adaptive", "adaptive_cutoffs=2000",
                                             "budget_adaptive_cutoffs="]),
    "lstmlm-sampled-softmax": ("cpu-fast", ["softmax_samples=1024", "budget_adaptive_cutoffs="]),
    "lstmlm-batch-10": ("cpu-fast", ["batch_size=10"]),
    "lstmlm-batch-40": ("cpu-fast", ["batch_size=40"]),
    "lstmlm-batch-80": ("cpu-fast", ["batch_size=80"]),
    "lstmlm-narrow-last-layer": ("cpu-fast", ["embedding_size=256"]),
    "lstmlm-bptt-20": ("cpu-fast", ["num_steps=20"]),
    "lstmlm-width-320": ("cpu-fast", ["budget_hidden_sizes=320,256"]),
    "lstmlm-no-ar-tar": ("cpu-fast", ["ar_alpha=0", "tar_beta=0"]),
    "lstmlm-no-warmup": ("cpu-fast", ["warmup_epochs=0"]),
    "lstmlm-warmup-tenth": ("cpu-fast", ["warmup_epochs=3.4"]),  # the plan scales it with the run
    "lstmlm-average-last-third": ("cpu-fast", ["average_last=0.34"]),
    "lstmlm-anneal-third": ("cpu-fast", ["anneal_share=0.34"]),
    # The warm-up scales with the run: 10.2 of 34 epochs is 0.3 of it (OneCycleLR's default).
    "lstmlm-one-cycle": ("cpu-fast", ["optimizer=adam", "learning_rate=0.008",
                                      "lr_schedule=onecycle", "warmup_epochs=10.2"]),
    "lstmlm-one-cycle-0.016": ("cpu-fast", ["budget_onecycle_lr=0.016"]),
    "ptb_word_lm": ("small", []),
    "word_language_model": ("small", [
        "num_steps=35", "batch_size=20", "hidden_size=200", "dropout=0.2",
        "optimizer=sgd", "learning_rate=20", "lr_schedule=plateau", "lr_decay=0.25",
        "max_grad_norm=0.25", "loss_average=token", "init_method=awd", "init_scale=0.1",
        "max_max_epoch=40"]),
}
RUN_NAME = re.compile(rf"({'|'.join(RECIPES)})-(\w+)")
# Recipes that measure one change to lstmlm's, run only when --recipes names them.
LEVERS = ("lstmlm-adaptive-softmax", "lstmlm-sampled-softmax", "lstmlm-batch-10",
          "lstmlm-batch-40", "lstmlm-batch-80", "lstmlm-narrow-last-layer", "lstmlm-bptt-20",
          "lstmlm-width-320", "lstmlm-no-ar-tar", "lstmlm-no-warmup", "lstmlm-warmup-tenth",
          "lstmlm-average-last-third", "lstmlm-anneal-third", "lstmlm-one-cycle",
          "lstmlm-one-cycle-0.016", "lstmlm-sgd")


def run_name(recipe: str, budget: str) -> str:
    return f"{recipe}-{budget}"


def train(recipe: str, budget: str) -> Path:
    """Run (or resume, or just find) one recipe at one budget; its run directory."""
    folder = RUNS / run_name(recipe, budget)
    if (folder / RunDir.RESULTS).is_file():
        return folder
    if folder.exists():
        command = [sys.executable, "-m", "lstmlm", "train", "--resume", str(folder)]
    else:
        preset, overrides = RECIPES[recipe]
        command = [sys.executable, "-m", "lstmlm", "train", "--preset", preset, "--data", "ptb",
                   "--time-budget", budget, "--runs-dir", str(RUNS), "--name", folder.name,
                   "--set", "test_each_epoch=true"]
        command += [word for override in overrides for word in ("--set", override)]
    print(f"$ {' '.join(command)}", flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder


def budget_minutes(budget: str) -> float:
    """A budget such as "2m15s" in minutes, as the results' rows give it (2.2)."""
    return round(parse_duration(budget) / 60, 1)


def row_of(recipe: str, budget: str, folder: Path) -> tuple[dict, list[tuple[float, float]]]:
    """The result row of a finished run, and its (minutes, test perplexity) per epoch."""
    run = RunDir(folder)
    results, metrics = run.results(), run.metrics()
    curve = [(entry.elapsed / 60, entry.test_ppl) for entry in metrics
             if entry.elapsed is not None and entry.test_ppl is not None]
    reached = [minutes for minutes, test in curve if test <= REFERENCE]
    model = run.load_plan().model
    adapted = results.get("adapted")
    return {"recipe": recipe, "budget_minutes": budget_minutes(budget),
            "test_ppl": round(results["test_ppl"], 2), "valid_ppl": round(results["valid_ppl"], 2),
            "adapted_test_ppl": round(adapted["test_ppl"], 2) if adapted else "",
            "wall_minutes": round(results["elapsed_seconds"] / 60, 1),
            "epochs": round(sum(entry.fraction for entry in metrics), 2),
            "hidden_size": model.hidden_size,
            "softmax": "sampled" if model.softmax_samples else model.softmax,
            "minutes_to_116": round(reached[0], 1) if reached else "not reached"}, curve


def plot(rows: list[dict], path: Path, machine_description: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for recipe in (recipe for recipe in RECIPES if recipe not in LEVERS):  # levers: a table
        points = sorted((row["budget_minutes"], row["test_ppl"]) for row in rows
                        if row["recipe"] == recipe)
        if points:
            line, = axes.plot(*zip(*points), marker="o", label=recipe)
        adapted = sorted((row["budget_minutes"], row["adapted_test_ppl"]) for row in rows
                         if row["recipe"] == recipe and row.get("adapted_test_ppl"))
        if adapted:
            axes.plot(*zip(*adapted), marker="o", linestyle="--", color=line.get_color(),
                      label=f"{recipe}, dynamic evaluation")
    axes.axhline(REFERENCE, color="grey", linestyle="--", linewidth=1,
                 label="ptb_word_lm small, published (116)")
    axes.set_xscale("log")
    axes.set_xlabel("wall-clock budget (minutes, log scale)")
    axes.set_ylabel("PTB test perplexity")
    axes.set_title(f"Budget to perplexity on {short_machine_name(machine_description)}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", default=["5m", "10m", "30m", "1h", "2h"],
                        help="lstmlm's budgets")
    parser.add_argument("--peer-budgets", nargs="+", default=["10m", "30m"],
                        help="the peer recipes' budgets")
    parser.add_argument("--dynamic-budgets", nargs="+", default=["2h"],
                        help="lstmlm-dynamic's budgets")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES),
                        default=[recipe for recipe in RECIPES if recipe not in LEVERS])
    parser.add_argument("--note", default="", help="recorded with the results (for example, "
                                                   "what else ran on the machine)")
    parser.add_argument("--benchmark", default="frontier",
                        help="the results' name: another than frontier keeps runs out of this "
                             "machine's frontier, such as levers compared on an instance of "
                             "its CPU that trains at a different speed")
    parser.add_argument("--carry", type=Path, help="an earlier frontier results file of this "
                        "machine: its runs that are not in frontier-runs/ are kept")
    parser.add_argument("--redraw", type=Path, metavar="RESULT",
                        help="draw a results file's plot again (beside it) and run nothing")
    args = parser.parse_args()
    if args.redraw:
        result = json.loads(args.redraw.read_text())
        picture = args.redraw.with_name(re.sub(r"-\d{8}-\d{6}\.json$", ".png", args.redraw.name))
        plot(result["rows"], picture, result["machine"])
        print(picture)
        return
    carried = json.loads(args.carry.read_text()) if args.carry else None
    if carried and carried.get("machine") != machine():
        parser.error(f"{args.carry} was measured on {carried.get('machine')}, not on this "
                     f"machine ({machine()})")
    if not os.environ.get("LSTMLM_DATA_DIR"):
        print("note: LSTMLM_DATA_DIR is not set; PTB is downloaded to the cache if needed")
    budgets = {"lstmlm": args.budgets, "lstmlm-dynamic": args.dynamic_budgets,
               **{lever: args.budgets for lever in LEVERS}}
    plan = [(recipe, budget)
            for budget in sorted(set(args.budgets + args.peer_budgets + args.dynamic_budgets),
                                 key=parse_duration)
            for recipe in args.recipes if budget in budgets.get(recipe, args.peer_budgets)]
    for recipe, budget in plan:
        train(recipe, budget)
    rows, curves = [], {}
    for folder in sorted(RUNS.glob("*")) if RUNS.exists() else []:
        match = RUN_NAME.fullmatch(folder.name)
        if match and (folder / RunDir.RESULTS).is_file():
            row, curve = row_of(match.group(1), match.group(2), folder)
            rows.append(row)
            curves[folder.name] = curve
    for name, curve in carried["curves"].items() if carried else []:
        if name not in curves:
            recipe, budget = RUN_NAME.fullmatch(name).groups()
            rows += [row for row in carried["rows"] if row["recipe"] == recipe
                     and row["budget_minutes"] == budget_minutes(budget)]
            curves[name] = curve
    rows.sort(key=lambda row: (row["budget_minutes"], list(RECIPES).index(row["recipe"])))
    print(f"machine: {machine()}")
    print("| budget (min) | recipe | test ppl | adapted | wall (min) | epochs | hidden | "
          "softmax | min to 116 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['budget_minutes']:g} | {row['recipe']} | {row['test_ppl']:.2f} | "
              f"{row.get('adapted_test_ppl', '')} | {row['wall_minutes']:.1f} | "
              f"{row['epochs']:g} | {row['hidden_size']} | {row['softmax']} | "
              f"{row['minutes_to_116']} |")
    if rows:
        RESULTS.mkdir(exist_ok=True)
        picture = RESULTS / f"{args.benchmark}-{machine_slug()}.png"
        plot(rows, picture, machine())
        extra = {"note": args.note} if args.note else {}
        extra["levers"] = [lever for lever in LEVERS if any(row["recipe"] == lever
                                                            for row in rows)]
        print(f"wrote {write_result(args.benchmark, rows, curves=curves, **extra)} and {picture}")


if __name__ == "__main__":
    main()
