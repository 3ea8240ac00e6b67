"""A speed lever of `cpu-fast` training against the code without it, side by side.

    python benchmarks/levers.py --lever allocator [--precision auto] [--rounds 5]

Each round starts one process without the lever and one with it, in turn; each trains a
throwaway `cpu-fast` network of 512 units on PTB windows (20 rows x 35 words) and reports its
words/sec and the minor page faults per window. The best round of each counts: on a shared
machine a slow spell only ever lowers a rate. The lever kept:

- allocator: glibc's malloc keeping freed memory for reuse (lstmlm.hardware.keep_freed_memory)
  against its default.

A lever that did not pay is removed with its code; its results stay in benchmarks/results/.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
from common import machine, write_result

from lstmlm import apply_overrides, get_preset, load_corpus
from lstmlm.hardware import keep_freed_memory, resolve_precision
from lstmlm.plan import RunPlan
from lstmlm.training import throwaway_training


def without_allocator() -> None:
    """The allocator lever off: glibc's default."""


# Each lever: (what it is, what the process without it runs first, the same with it).
LEVERS = {"allocator": ("glibc's malloc keeping freed memory", without_allocator,
                        keep_freed_memory)}


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
            / windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lever", required=True, choices=sorted(LEVERS))
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--child", choices=["without", "with"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    precision = resolve_precision(args.precision, torch.device("cpu")).precision
    if args.child:
        print(json.dumps(child(args.lever, args.child == "with", precision, args.windows)))
        return
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for mode in ("without", "with"):
            output = subprocess.run(
                [sys.executable, __file__, "--lever", args.lever, "--child", mode,
                 "--precision", precision, "--windows", str(args.windows)],
                capture_output=True, text=True, check=True)
            measured = json.loads(output.stdout.strip().splitlines()[-1])
            if measured["words_per_sec"] > best.get(mode, {}).get("words_per_sec", 0):
                best[mode] = measured
    base = best["without"]["words_per_sec"]
    rows = [{"lever": f"{mode} {args.lever}", "words_per_sec": round(best[mode]["words_per_sec"]),
             "against_without": round(best[mode]["words_per_sec"] / base, 3),
             "minor_faults_per_window": round(best[mode]["faults_per_window"])}
            for mode in ("without", "with")]
    print(f"machine: {machine()}; {LEVERS[args.lever][0]}; cpu-fast at 512 units, {precision}, "
          f"best of {args.rounds} rounds of {args.windows} windows")
    print("| lever | words/sec | against without it | minor faults per window |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['lever']} | {row['words_per_sec']:,} | {row['against_without']:.3f} "
              f"| {row['minor_faults_per_window']:,} |")
    name = f"lever_{args.lever.replace('-', '_')}_{precision}"
    print(f"recorded in {write_result(name, rows, precision=precision)}")


if __name__ == "__main__":
    main()
