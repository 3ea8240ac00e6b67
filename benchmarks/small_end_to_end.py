"""The issue #2 target: `--preset small` end to end reaches test perplexity <= 116.7 in <= 30 min.

    LSTMLM_DATA_DIR=../shared/data python benchmarks/small_end_to_end.py [--preset small]

Trains the preset from scratch (as `lstmlm train --preset small`), then prints a table.
"""

import argparse
import time

from common import machine
from lstmlm import get_preset, train

TARGETS = {"small": (116.7, 30 * 60)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    started = time.perf_counter()
    result = train(get_preset(args.preset), runs_dir=args.runs_dir)
    wall = time.perf_counter() - started
    history = result.history
    mean_speed = sum(entry["words_per_sec"] for entry in history) / len(history)
    print(f"\nmachine: {machine()}")
    print("| preset | epochs | train ppl | valid ppl | test ppl | wall | mean words/sec |")
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
