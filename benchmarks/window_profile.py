"""Where a training window's time goes: a `cpu-fast` window under torch.profiler, its time per
kernel class.

    python benchmarks/window_profile.py [--hidden-size 512] [--precision auto] [--windows 10]

A throwaway network of the `cpu-fast` plan at `--hidden-size` units (its regularisers, weight
drop, AR/TAR and SGD included) trains on PTB windows of 20 rows × 35 words, as a time budget
measures it. Every profiled op's own time is put into one class:

- recurrent layers: the oneDNN RNN layers (each layer's input and recurrent products, gates and
  their backward), forward and backward;
- window GEMMs: the matrix products over a whole window (the decoder and its gradient);
- softmax and loss: log-softmax, the loss and their gradients;
- casts: autocast's conversions between fp32 and bf16;
- dropout and masks: the random masks of the dropouts and weight drop;
- gradient clipping, optimizer (SGD's update and zero_grad), embedding;
- other ATen work: the elementwise rest (AR/TAR, detaching, additions);
- Python and dispatch: the window's wall time outside every profiled op.

Ops are classed by their own name, else by the nearest enclosing op that names a class (a
copy inside a cast is a cast, one inside an RNN layer the layer's). The profiled window is
slower than an unprofiled one; the table gives both times and the shares of the profiled one.
"""

import argparse
import time
from collections import defaultdict

import torch
from common import machine, write_result
from torch.profiler import ProfilerActivity, profile

from lstmlm import apply_overrides, get_preset, load_corpus
from lstmlm.hardware import keep_freed_memory, resolve_precision, select_device
from lstmlm.plan import RunPlan
from lstmlm.training import throwaway_training

# (class, the name fragments that put an op in it), in the order they are tried on a name.
CLASSES = [
    ("optimizer", ("Optimizer.step", "Optimizer.zero_grad")),
    ("window GEMMs", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear",
                      "MmBackward", "AddmmBackward", "LinearBackward")),
    ("softmax and loss", ("log_softmax", "softmax", "nll_loss", "cross_entropy",
                          "LogSoftmaxBackward", "NllLossBackward")),
    ("casts", ("aten::to", "aten::_to_copy", "ToCopyBackward")),
    ("gradient clipping", ("norm", "clip_grad")),
    ("dropout and masks", ("bernoulli", "dropout", "aten::rand", "uniform")),
    ("embedding", ("embedding",)),
    ("recurrent layers", ("rnn_layer", "RnnLayer", "mkldnn_rnn", "aten::lstm", "LstmBackward",
                          "aten::gru", "rnn_tanh", "rnn_relu")),
]
OTHER, GAPS = "other ATen work", "Python and dispatch"


def class_of_name(name: str) -> str | None:
    for kind, fragments in CLASSES:
        if any(fragment in name for fragment in fragments):
            return kind
    return None


def class_of(event) -> str:
    """The class of a profiled op: the optimizer's wherever it runs inside an optimizer step,
    else its own name's, else the nearest enclosing op's."""
    chain, parent = [], event
    while parent is not None:
        chain.append(parent)
        parent = parent.cpu_parent
    if any(class_of_name(link.name) == "optimizer" for link in chain):
        return "optimizer"
    for link in chain:
        kind = class_of_name(link.name)
        if kind is not None:
            return kind
    return OTHER


def window_breakdown(steps, windows: int) -> tuple[dict[str, float], float]:
    """Seconds per window of each class over `windows` profiled windows, and the profiled
    wall seconds per window."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        began = time.perf_counter()
        for _ in range(windows):
            next(steps)
        wall = time.perf_counter() - began
    seconds: dict[str, float] = defaultdict(float)
    covered = 0.0
    for event in profiler.events():
        seconds[class_of(event)] += event.self_cpu_time_total / 1e6
        if event.cpu_parent is None:
            covered += event.cpu_time_total / 1e6
    seconds[GAPS] = max(0.0, wall - covered)
    return {kind: value / windows for kind, value in seconds.items()}, wall / windows


def unprofiled_window(steps, windows: int) -> float:
    """The best of three timings of `windows` windows, per window."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(windows):
            next(steps)
        best = min(best, (time.perf_counter() - began) / windows)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16")
    # The profiler's own records disturb the heap: past about ten windows of bf16 training
    # the softmax's large buffers page-faulted and a profiled window ran 1.4x an unprofiled
    # one (EPYC model 17); over the first ten they ran within 6% of it.
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = select_device(args.device)
    if device.type == "cpu":
        keep_freed_memory()  # as lstmlm's training runs
    config = apply_overrides(get_preset("cpu-fast"), {"hidden_size": args.hidden_size,
                                                       "variable_length": False})
    precision = resolve_precision(args.precision, device, config.model.cell).precision
    plan = RunPlan.of(config, precision=precision, device=str(device))
    corpus = load_corpus("ptb")
    torch.manual_seed(0)
    _, steps = throwaway_training(plan, corpus, device, plan.optimisation.batch_size)
    for _ in range(5):  # oneDNN primitives, allocations
        next(steps)
    plain = unprofiled_window(steps, args.windows)
    breakdown, profiled = window_breakdown(steps, args.windows)
    words = plan.optimisation.batch_size * plan.optimisation.num_steps
    rows = [{"class": kind, "ms_per_window": round(1000 * value, 3),
             "share": round(value / profiled, 4)}
            for kind, value in sorted(breakdown.items(), key=lambda item: -item[1])]
    print(f"machine: {machine()}; cpu-fast at {args.hidden_size} units, {precision}, "
          f"{torch.get_num_threads()} threads")
    print(f"window of {plan.optimisation.batch_size} x {plan.optimisation.num_steps} words: "
          f"{1000 * plain:.1f} ms ({words / plain:,.0f} words/sec) unprofiled, "
          f"{1000 * profiled:.1f} ms profiled")
    print("| kernel class | ms per window (profiled) | share |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['class']} | {row['ms_per_window']:.2f} | {row['share']:.1%} |")
    path = write_result(f"window_profile_{precision}", rows, hidden_size=args.hidden_size,
                        precision=precision, threads=torch.get_num_threads(),
                        ms_per_window=round(1000 * plain, 3),
                        words_per_sec=round(words / plain),
                        ms_per_window_profiled=round(1000 * profiled, 3))
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
