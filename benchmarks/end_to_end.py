"""A preset trained from scratch end to end against its target: `small` (issue #2: test
perplexity <= 116.7 in <= 30 min) and `cpu-fast` (issue #5: <= 82.0 in <= 2 hours).

    LSTMLM_DATA_DIR=../shared/data python benchmarks/end_to_end.py --preset cpu-fast

Runs what `lstmlm train --preset NAME` runs, then prints the per-epoch log and a summary table.
"""

import argparse
import time

from common import machine
from lstmlm import get_preset, train

TARGETS = {"small": (116.7, 30 * 60), "cpu-fast": (82.0, 120 * 60)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    started = time.perf_counter()
    result = train(get_preset(args.preset), runs_dir=args.runs_dir)
    wall = time.perf_counter() - started
    history = result.history
    print(f"\nmachine: {machine()}; run {result.run_dir}")
    print("| epoch | lr | train ppl | valid ppl | seconds | words/sec |")
    print("|---|---|---|---|---|---|")
    for entry in history:
        print(f"| {entry['epoch']} | {entry['lr']:.3g} | {entry['train_ppl']:.2f} | "
              f"{entry['valid_ppl']:.2f} | {entry['seconds']:.0f} | {entry['words_per_sec']:,} |")
    mean_speed = sum(entry["words_per_sec"] for entry in history) / len(history)
    print("\n| preset | epochs | train ppl | valid ppl | test ppl | wall | mean words/sec |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.preset} | {len(history)} | {history[-1]['train_ppl']:.2f} | "
          f"{result.valid_perplexity:.2f} | {result.test_perplexity:.2f} | {wall / 60:.1f} min | "
          f"{mean_speed:,.0f} |")
    if args.preset in TARGETS:
        max_ppl, max_seconds = TARGETS[args.preset]
        met = result.test_perplexity <= max_ppl and wall <= max_seconds
        print(f"target test ppl <= {max_ppl} in <= {max_seconds / 60:.0f} min: "
              f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
