"""Training and evaluation throughput (words/sec) of presets, in the precision each would use.

    python benchmarks/throughput.py [--seconds 20] [--device cpu]
        [--presets small medium] [--set precision=fp32 ...]

Times what a time budget times when it plans a run (`lstmlm.training.measure_throughput`):
real PTB training windows through the library's train_step after two untimed ones, then a
5,000-word piece of the valid split streamed at the preset's evaluation batch size.
"""

import argparse

from common import machine

from lstmlm import apply_overrides, get_preset, load_corpus
from lstmlm.hardware import resolve_precision, select_device
from lstmlm.plan import RunPlan
from lstmlm.training import measure_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="training time per preset")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", nargs="+", default=["small", "medium"])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field of every preset")
    args = parser.parse_args()
    device = select_device(args.device)
    corpus = load_corpus("ptb")
    print(f"machine: {machine()}; device {device}; overrides {' '.join(args.overrides) or 'none'}")
    print("| preset | hidden | precision | train words/sec | eval words/sec (batch) |")
    print("|---|---|---|---|---|")
    for preset in args.presets:
        config = apply_overrides(get_preset(preset), args.overrides)
        precision = resolve_precision(config.run.precision, device, config.model.cell).precision
        plan = RunPlan.of(config, precision=precision)
        speed = measure_throughput(plan, config, corpus, device, args.seconds)
        print(f"| {preset} | {plan.model.hidden_size} | {precision} | "
              f"{speed.train_words_per_sec:,.0f} | "
              f"{speed.eval_words_per_sec:,.0f} ({config.evaluation.batch_size}) |")


if __name__ == "__main__":
    main()
