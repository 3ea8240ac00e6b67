"""Training throughput (words/sec) of the small and medium shapes, and test-set evaluation time.

    python benchmarks/throughput.py [--steps 100] [--device cpu] [--presets small medium]
                                    [--set precision=bf16 ...]

Uses the real PTB training windows and the library's own train_step and stream_perplexity.
Target (issue #2): at least 7,400 words/sec for the small shape on 2 CPU cores.
"""

import argparse
import time

import torch

from common import machine
from lstmlm import apply_overrides, get_preset, load_corpus
from lstmlm.corpus import batchify, windows
from lstmlm.evaluation import stream_perplexity
from lstmlm.training import build_model, build_optimizer, select_device, train_step


def measure(preset: str, overrides: list[str], corpus, steps: int,
            device: torch.device) -> tuple[float, float]:
    config = apply_overrides(get_preset(preset), overrides)
    torch.manual_seed(0)
    model = build_model(config, len(corpus.vocab)).to(device)
    optimizer = build_optimizer(config, model)
    rows = batchify(corpus.train, config.batch_size).to(device)
    hidden = model.init_state(config.batch_size)
    warmup = 10
    for index, (inputs, targets) in enumerate(windows(rows, config.num_steps)):
        if index == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        if index == warmup + steps:
            break
        _, hidden = train_step(model, optimizer, inputs, targets, hidden, config.max_grad_norm,
                               config.loss_average, config.ar_alpha, config.tar_beta,
                               config.precision)
    if device.type == "cuda":
        torch.cuda.synchronize()
    words_per_sec = steps * config.batch_size * config.num_steps / (time.perf_counter() - started)
    started = time.perf_counter()
    stream_perplexity(model, corpus.test, config.eval_batch_size, config.eval_num_steps)
    return words_per_sec, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", nargs="+", default=["small", "medium"])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field of every preset")
    args = parser.parse_args()
    device = select_device(args.device)
    corpus = load_corpus("ptb")
    print(f"machine: {machine()}; device {device}; overrides {' '.join(args.overrides) or 'none'}")
    print(f"| preset | train words/sec | test eval seconds ({len(corpus.test):,} words, batch 1) |")
    print("|---|---|---|")
    for preset in args.presets:
        words_per_sec, eval_seconds = measure(preset, args.overrides, corpus, args.steps, device)
        print(f"| {preset} | {words_per_sec:,.0f} | {eval_seconds:.1f} |")


if __name__ == "__main__":
    main()
