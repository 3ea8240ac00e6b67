"""Full against adaptive softmax: training speed and memory at WikiText-103's vocabulary, and
perplexity after the same training on a real corpus.

    python benchmarks/adaptive_softmax.py speed [--vocab 267735] [--hidden 512] [--steps 5]
        [--cutoffs 20000,40000,200000]
    python benchmarks/adaptive_softmax.py quality [--data ptb]
        [--cutoffs 2000,6000] [--set max_max_epoch=1 ...]

`speed` trains a 2-layer LSTM language model (batch 20, 35 steps) on Zipf-distributed ids of
the given vocabulary through lstmlm's train_step, each softmax in a fresh process, and reports
words/sec after a warm-up step and the process's peak memory. `quality` trains the `small`
preset with each softmax (same seed and schedule) and reports valid/test perplexity and wall
time. WikiText-2 is the usual choice; any corpus `--data` accepts works.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

from common import machine


def speed_child(softmax: str, vocab: int, hidden: int, steps: int, cutoffs: str) -> dict:
    import torch

    from lstmlm import RecurrentLanguageModel
    from lstmlm.training import train_step

    torch.manual_seed(0)
    model = RecurrentLanguageModel(vocab_size=vocab, hidden_size=hidden, num_layers=2,
                              adaptive_cutoffs=tuple(int(cutoff) for cutoff in cutoffs.split(","))
                              if softmax == "adaptive" else ())
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    probabilities = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
    ids = torch.multinomial(probabilities, 20 * 36 * (steps + 1), replacement=True).view(20, -1)
    state = model.init_state(20)
    timings = []
    for step in range(steps + 1):
        window = ids[:, step * 36:(step + 1) * 36]
        started = time.perf_counter()
        _, state = train_step(model, optimizer, window[:, :-1], window[:, 1:], state,
                              max_grad_norm=5.0)
        timings.append(time.perf_counter() - started)
    seconds = sum(timings[1:])  # the first step allocates and creates kernels
    return {"words_per_sec": 20 * 35 * steps / seconds,
            "parameters": sum(parameter.numel() for parameter in model.parameters()),
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def speed(args) -> None:
    print(f"machine: {machine()}")
    print(f"vocabulary {args.vocab:,}, 2 layers of {args.hidden}, batch 20 x 35 steps, "
          f"{args.steps} timed steps; adaptive cutoffs {args.cutoffs}")
    print("| softmax | parameters | train words/sec | peak memory GiB |")
    print("|---|---|---|---|")
    results = {}
    for softmax in ("full", "adaptive"):
        output = subprocess.run([sys.executable, __file__, "speed-child", softmax,
                                 str(args.vocab), str(args.hidden), str(args.steps), args.cutoffs],
                                check=True, capture_output=True, text=True).stdout
        results[softmax] = json.loads(output)
        result = results[softmax]
        print(f"| {softmax} | {result['parameters'] / 1e6:.1f}M | "
              f"{result['words_per_sec']:,.0f} | {result['peak_gib']:.2f} |")
    ratio = results["adaptive"]["words_per_sec"] / results["full"]["words_per_sec"]
    print(f"adaptive / full words/sec: {ratio:.1f}x")


def quality(args) -> None:
    from lstmlm import apply_overrides, get_preset, train

    print(f"machine: {machine()}")
    print(f"data {args.data}; preset small with {' '.join(args.overrides) or 'no overrides'}; "
          f"adaptive cutoffs {args.cutoffs}")
    print("| softmax | valid ppl | test ppl | wall |")
    print("|---|---|---|---|")
    for softmax in ("full", "adaptive"):
        overrides = {"data": args.data, "softmax": softmax}
        if softmax == "adaptive":
            overrides["adaptive_cutoffs"] = args.cutoffs
        config = apply_overrides(apply_overrides(get_preset("small"), overrides), args.overrides)
        started = time.perf_counter()
        result = train(config, runs_dir=args.runs_dir, echo=None)
        wall = time.perf_counter() - started
        print(f"| {softmax} | {result.valid_perplexity:.2f} | {result.test_perplexity:.2f} | "
              f"{wall / 60:.1f} min |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "speed-child":
        softmax, vocab, hidden, steps, cutoffs = sys.argv[2:]
        print(json.dumps(speed_child(softmax, int(vocab), int(hidden), int(steps), cutoffs)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    speed_parser = commands.add_parser("speed")
    speed_parser.add_argument("--vocab", type=int, default=267_735)
    speed_parser.add_argument("--hidden", type=int, default=512)
    speed_parser.add_argument("--steps", type=int, default=5)
    speed_parser.add_argument("--cutoffs", default="20000,40000,200000")
    quality_parser = commands.add_parser("quality")
    quality_parser.add_argument("--data", default="ptb")
    quality_parser.add_argument("--cutoffs", default="2000,6000")
    quality_parser.add_argument("--runs-dir", default="runs")
    quality_parser.add_argument("--set", dest="overrides", nargs="*", default=[],
                                metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.command == "speed":
        speed(args)
    else:
        quality(args)


if __name__ == "__main__":
    main()
