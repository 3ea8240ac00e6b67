"""bfloat16 autocast against float32: training speed and the perplexity it reaches.

    python benchmarks/precision.py [--preset cpu-fast] [--epochs 1]

Trains the preset from the same seed once per precision for a shortened run (`--epochs`, the
schedule compressed to fit) and prints words/sec and the best-on-valid valid/test perplexity.
"""

import argparse
import time

from common import machine
from lstmlm import apply_overrides, get_preset, train
from lstmlm.hardware import select_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-fast")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    base = get_preset(args.preset)
    overrides = {"max_max_epoch": args.epochs}
    if base.lr_schedule == "cosine":
        overrides["warmup_epochs"] = min(base.warmup_epochs, args.epochs / 2)
    rows = []
    for precision in ("fp32", "bf16"):
        config = apply_overrides(base, dict(overrides, precision=precision))
        started = time.perf_counter()
        result = train(config, runs_dir=args.runs_dir, echo=None)
        wall = time.perf_counter() - started
        speed = sum(entry["words_per_sec"] for entry in result.history) / len(result.history)
        rows.append((precision, speed, result.valid_perplexity, result.test_perplexity, wall))
    print(f"machine: {machine()}; device {select_device(base.device)}")
    print(f"preset {args.preset}, {args.epochs} epoch(s)")
    print("| precision | train words/sec | valid ppl | test ppl | wall |")
    print("|---|---|---|---|---|")
    for precision, speed, valid, test, wall in rows:
        print(f"| {precision} | {speed:,.0f} | {valid:.2f} | {test:.2f} | {wall / 60:.1f} min |")


if __name__ == "__main__":
    main()
