"""A preset trained from scratch end to end against its target, on this machine.

    python benchmarks/end_to_end.py --preset cpu-fast
    ... --preset cpu-fast --set dropout=0.25      (a trial of other values)

Runs what `lstmlm train --preset NAME` runs, then prints the machine (CPU model and flags),
the per-epoch log and a summary table. Targets: `small` test perplexity <= 115.91
(`ptb_word_lm.py`'s published figure) in <= 30 min; `cpu-fast` within its 2-hour budget,
<= 69.0 where the CPU has native bf16 (AVX512-BF16 or AMX) and <= 82.0 (Zaremba medium) on an
fp32-only CPU.
"""

import argparse
import time

from common import machine

from lstmlm import apply_overrides, get_preset, load, train
from lstmlm.hardware import native_bf16, select_device


# ptb_word_lm small's test perplexity, as the table in ptb_word_lm.py's docstring publishes it
# (Zaremba et al. 2014 report 114.5).
PTB_WORD_LM_SMALL = 115.91


def target(preset: str) -> tuple[float, float] | None:
    """(test perplexity, seconds) the preset must reach on this machine, if it has a target."""
    if preset == "small":
        return PTB_WORD_LM_SMALL, 30 * 60
    if preset == "cpu-fast":
        native, _ = native_bf16(select_device("auto"))
        return (69.0 if native else 82.0), 120 * 60
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides, as `lstmlm train --set`")
    args = parser.parse_args()
    config = apply_overrides(get_preset(args.preset), args.set)
    started = time.perf_counter()
    result = train(config, runs_dir=args.runs_dir)
    wall = time.perf_counter() - started
    history = result.history
    print(f"\nmachine: {machine()}; run {result.run_dir}")
    if args.set:
        print(f"overrides: {' '.join(args.set)}")
    print("| epoch | lr | train ppl | valid ppl | seconds | words/sec |")
    print("|---|---|---|---|---|---|")
    for entry in history:
        share = f" ({entry.fraction:.0%} of it)" if entry.fraction < 1 else ""
        print(f"| {entry.epoch}{share} | {entry.lr:.3g} | {entry.train_ppl:.2f} | "
              f"{entry.valid_ppl:.2f} | {entry.seconds:.0f} | {entry.words_per_sec:,} |")
    mean_speed = sum(entry.words_per_sec for entry in history) / len(history)
    parameters = sum(tensor.numel() for tensor in load(result.run_dir).network.parameters())
    print("\n| preset | parameters | epochs | train ppl | valid ppl | test ppl | wall | mean words/sec |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.preset} | {parameters / 1e6:.1f}M | {len(history)} | {history[-1].train_ppl:.2f} | "
          f"{result.valid_perplexity:.2f} | {result.test_perplexity:.2f} | {wall / 60:.1f} min | "
          f"{mean_speed:,.0f} |")
    goal = target(args.preset)
    if goal:
        max_ppl, max_seconds = goal
        met = result.test_perplexity <= max_ppl and wall <= max_seconds
        print(f"target test ppl <= {max_ppl} in <= {max_seconds / 60:.0f} min: "
              f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
