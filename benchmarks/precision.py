"""bfloat16 autocast against float32: training speed and the perplexity it reaches.

    python benchmarks/precision.py [--preset cpu-fast] [--epochs 1]

Trains the preset from the same seed once per precision for a shortened run (`--epochs`, the
schedule compressed to fit), prints words/sec and the best-on-valid valid/test perplexity, each
test perplexity against float32's, and records them in benchmarks/results/.
"""

import argparse
import time

from common import machine, write_result
from lstmlm import apply_overrides, get_preset, train
from lstmlm.hardware import select_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-fast")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    base = get_preset(args.preset)
    overrides = {"max_max_epoch": args.epochs, "time_budget": None}  # not a budget's plan
    if base.optimisation.lr_schedule == "cosine":
        overrides["warmup_epochs"] = min(base.optimisation.warmup_epochs, args.epochs / 2)
    rows = []
    for precision in ("fp32", "bf16"):
        config = apply_overrides(base, dict(overrides, precision=precision))
        started = time.perf_counter()
        result = train(config, runs_dir=args.runs_dir, echo=None)
        wall = time.perf_counter() - started
        speed = sum(entry.words_per_sec for entry in result.history) / len(result.history)
        rows.append({"precision": precision, "train_words_per_sec": round(speed),
                     "valid_ppl": round(result.valid_perplexity, 2),
                     "test_ppl": round(result.test_perplexity, 2),
                     "wall_minutes": round(wall / 60, 1)})
    for row in rows:
        row["test_ppl_against_fp32"] = round(row["test_ppl"] / rows[0]["test_ppl"], 4)
    print(f"machine: {machine()}; device {select_device(base.run.device)}")
    print(f"preset {args.preset}, {args.epochs} epoch(s)")
    print("| precision | train words/sec | valid ppl | test ppl | against fp32 | wall |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['precision']} | {row['train_words_per_sec']:,} | {row['valid_ppl']:.2f} | "
              f"{row['test_ppl']:.2f} | {row['test_ppl_against_fp32']:.4f} | "
              f"{row['wall_minutes']} min |")
    print(f"recorded in {write_result('precision', rows, preset=args.preset, epochs=args.epochs)}")


if __name__ == "__main__":
    main()
