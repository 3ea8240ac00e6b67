"""Does `--time-budget` keep its word? Planned against actual wall time of whole commands.

    python benchmarks/time_budget.py [--preset cpu-fast]
        [--budgets 5m 20m 120m] [--set key=value ...]

Runs `lstmlm train --preset P --time-budget B` as a user would (a new process, imports
included) once per budget, times it from outside, and reads the plan and the epochs from the
run's train.log and metrics.jsonl.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine
from lstmlm.config import parse_duration
from lstmlm.rundir import RunDir

LSTMLM = str(Path(sys.executable).with_name("lstmlm"))


def run(preset: str, budget: str, overrides: list[str], runs_dir: Path) -> dict:
    command = [LSTMLM, "train", "--preset", preset, "--time-budget", budget,
               "--runs-dir", str(runs_dir), "--quiet"]
    for override in overrides:
        command += ["--set", override]
    started = time.monotonic()
    finished = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    if finished.returncode != 0:
        return {"budget": budget, "error": finished.stderr.strip().splitlines()[-1], "wall": wall}
    run_dir = RunDir.open(re.search(r"run: (\S+)", finished.stdout).group(1))
    log = (run_dir / RunDir.LOG).read_text(encoding="utf-8")
    plan = re.search(r"plan: (\d+) epochs? of hidden_size (\d+)", log)
    history = run_dir.metrics()
    return {"budget": budget, "planned": int(plan.group(1)), "hidden": int(plan.group(2)),
            "epochs": len(history), "last_fraction": history[-1].fraction,
            "wall": wall, "test_ppl": run_dir.results()["test_ppl"], "run_dir": str(run_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-fast")
    parser.add_argument("--budgets", nargs="+", default=["5m", "20m", "120m"])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--runs-dir", default=None, help="default: a temporary folder")
    args = parser.parse_args()
    runs_dir = Path(args.runs_dir or tempfile.mkdtemp(prefix="lstmlm-budget-"))
    print(f"machine: {machine()}")
    print(f"preset {args.preset}, overrides {' '.join(args.overrides) or 'none'}, runs in {runs_dir}")
    rows = []
    for budget in args.budgets:
        row = run(args.preset, budget, args.overrides, runs_dir)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| budget | hidden | epochs planned | epochs run | last epoch done | wall (s) | wall / budget "
          "| test ppl |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        seconds = parse_duration(row["budget"])
        if "error" in row:
            print(f"| {row['budget']} | | | | | {row['wall']:,.0f} | "
                  f"{row['wall'] / seconds:.3f} | error: {row['error']} |")
            continue
        print(f"| {row['budget']} | {row['hidden']} | {row['planned']} | {row['epochs']} | "
              f"{row['last_fraction']:.0%} | {row['wall']:,.0f} | "
              f"{row['wall'] / seconds:.3f} | {row['test_ppl']:.2f} |")


if __name__ == "__main__":
    main()
