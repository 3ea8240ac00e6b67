"""A speed lever of `cpu-fast` training against the code without it, side by side.

    python benchmarks/levers.py --lever allocator [--precision auto] [--rounds 5]
    python benchmarks/levers.py --baseline REF --name NAME [--precision auto] [--rounds 5]

Each round starts one process without the lever and one with it, in turn; each trains a
throwaway `cpu-fast` network of 512 units on PTB windows (20 rows x 35 words) and reports its
words/sec and the minor page faults per window. The best round of each counts: on a shared
machine a slow spell only ever lowers a rate. Where the machine's speed drifts between rounds,
the median of the rounds' own ratios (with against without, measured back to back) is the
steadier figure, and is reported beside. The lever kept:

- allocator: glibc's malloc keeping freed memory for reuse (lstmlm.hardware.keep_freed_memory)
  against its default.

`--baseline REF` measures a change of the library's code: the process without it imports
lstmlm from the git revision REF, checked out in a temporary worktree, the process with it
from this checkout; both keep freed memory, as training does. NAME names the result.

A lever that did not pay is removed with its code; its results stay in benchmarks/results/.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from common import machine, write_result

import lstmlm
from lstmlm import apply_overrides, get_preset, load_corpus
from lstmlm.hardware import keep_freed_memory, resolve_precision
from lstmlm.plan import RunPlan
from lstmlm.training import throwaway_training


def without_allocator() -> None:
    """The allocator lever off: glibc's default."""


# Each lever: (what it is, what the process without it runs first, the same with it).
LEVERS = {"allocator": ("glibc's malloc keeping freed memory", without_allocator,
                        keep_freed_memory),
          # A change of the code: the processes differ in the lstmlm they import.
          "baseline": ("", keep_freed_memory, keep_freed_memory)}
CHECKOUT = Path(__file__).resolve().parent.parent


def child(lever: str, enabled: bool, precision: str, windows: int) -> dict:
    _, without, with_lever = LEVERS[lever]
    (with_lever if enabled else without)()
    corpus = load_corpus("ptb")
    config = apply_overrides(get_preset("cpu-fast"), {"variable_length": False})
    plan = RunPlan.of(config, precision=precision, device="cpu")
    torch.manual_seed(0)
    _, steps = throwaway_training(plan, corpus, torch.device("cpu"), 20)
    for _ in range(5):  # oneDNN primitives, the allocator's first blocks
        next(steps)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    began = time.perf_counter()
    words = sum(next(steps) for _ in range(windows))
    seconds = time.perf_counter() - began
    return {"words_per_sec": words / seconds,
            "faults_per_window": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
            / windows,
            "lstmlm": str(Path(lstmlm.__file__).resolve().parent)}


def git(*arguments: str) -> str:
    return subprocess.run(["git", "-C", str(CHECKOUT), *arguments], capture_output=True,
                          text=True, check=True).stdout.strip()


def revision_name(ref: str | None) -> str:
    """The short hash and subject of the last commit that changed the library's source at
    revision REF, or in this checkout (with "+ uncommitted changes" where its source differs
    from HEAD)."""
    name = git("log", "-1", "--format=%h %s", ref or "HEAD", "--", "src")
    name = name if len(name) <= 72 else name[:71] + "…"
    if ref is None and git("status", "--porcelain", "--", "src"):
        name += " + uncommitted changes"
    return name


@contextmanager
def source_of(ref: str | None):
    """The environment of a child that imports lstmlm from revision REF (None: this checkout),
    a temporary worktree while the block runs."""
    if ref is None:
        yield dict(os.environ)
        return
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "tree"
        git("worktree", "add", "--detach", str(tree), ref)
        try:
            yield {**os.environ, "PYTHONPATH": str(tree / "src")}
        finally:
            git("worktree", "remove", "--force", str(tree))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--lever", choices=[name for name in LEVERS if name != "baseline"])
    which.add_argument("--baseline", metavar="REF",
                       help="measure this checkout's code against git revision REF's")
    parser.add_argument("--name", help="the change measured against --baseline, for the "
                                       "result's file name (lever_NAME_PRECISION)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--child", choices=["without", "with"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if bool(args.baseline) != bool(args.name):
        parser.error("--baseline REF and --name NAME go together")
    precision = resolve_precision(args.precision, torch.device("cpu")).precision
    lever = "baseline" if args.baseline else args.lever
    if args.child:
        print(json.dumps(child(lever, args.child == "with", precision, args.windows)))
        return
    if args.baseline:
        labels = {"without": revision_name(args.baseline), "with": revision_name(None)}
        what = f"this checkout's code against {args.baseline}'s"
    else:
        labels = {mode: f"{mode} {lever}" for mode in ("without", "with")}
        what = LEVERS[lever][0]
    best: dict[str, dict] = {}
    round_ratios = []  # with / without in each round: steadier than the bests where speed drifts
    with source_of(args.baseline) as without_env, source_of(None) as with_env:
        for _ in range(args.rounds):
            speeds = {}
            for mode, env in (("without", without_env), ("with", with_env)):
                output = subprocess.run(
                    [sys.executable, __file__, "--child", mode, "--precision", precision,
                     "--windows", str(args.windows),
                     *(["--baseline", args.baseline, "--name", args.name] if args.baseline
                       else ["--lever", lever])],
                    capture_output=True, text=True, check=True, env=env)
                measured = json.loads(output.stdout.strip().splitlines()[-1])
                source = Path(env.get("PYTHONPATH", CHECKOUT / "src")).resolve()
                if not Path(measured["lstmlm"]).is_relative_to(source):
                    raise SystemExit(f"the {mode} process imported lstmlm from "
                                     f"{measured['lstmlm']}, not from {source}")
                speeds[mode] = measured["words_per_sec"]
                if measured["words_per_sec"] > best.get(mode, {}).get("words_per_sec", 0):
                    best[mode] = measured
            round_ratios.append(speeds["with"] / speeds["without"])
    base = best["without"]["words_per_sec"]
    rows = [{"lever": labels[mode], "words_per_sec": round(best[mode]["words_per_sec"]),
             "against_without": round(best[mode]["words_per_sec"] / base, 3),
             "median_round_ratio": round(statistics.median(round_ratios), 3) if mode == "with"
             else 1.0,
             "minor_faults_per_window": round(best[mode]["faults_per_window"])}
            for mode in ("without", "with")]
    print(f"machine: {machine()}; {what}; cpu-fast at 512 units, {precision}, "
          f"best of {args.rounds} rounds of {args.windows} windows")
    print("| lever | words/sec | against without it | median of the rounds' ratios | "
          "minor faults per window |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['lever']} | {row['words_per_sec']:,} | {row['against_without']:.3f} "
              f"| {row['median_round_ratio']:.3f} | {row['minor_faults_per_window']:,} |")
    name = f"lever_{(args.name or lever).replace('-', '_')}_{precision}"
    print(f"recorded in {write_result(name, rows, precision=precision)}")


if __name__ == "__main__":
    main()
