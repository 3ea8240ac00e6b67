"""Roofline: each workload's speed as a fraction of this machine's own limit, beside a plain loop.

    python benchmarks/roofline.py [--device cpu] [--seconds 5]
        [--rounds 3] [--presets small medium cpu-fast]

Measured in one run on the machine it runs on:

- the roofs: the matmul peak (fp32; bf16 and fp16 where the device computes them natively; fp64
  in NumPy for the NumPy RNN) and the read bandwidth for a working set the size of a model's
  weights (so that weights that stay in cache are credited with the cache's speed);
- the peak of each product a `cpu-fast` window makes (WINDOW_SHAPES) in each of those
  precisions: the rate a window's own shapes can reach, beside the large square's;
- each workload's FLOPs per word from the model's shapes: 2 per weight of every matrix a word
  goes through (the recurrent layers' input and hidden weights, any projection, the decoder),
  three times that for training (the backward pass multiplies by each matrix twice);
- the bytes of weights read per word: the hidden-to-hidden weights once per time step, shared by
  the batch's rows; the other matrices once per window, shared by every word in it;
- the ceiling, min(peak / FLOPs per word, bandwidth / bytes per word), and the fraction of it
  that lstmlm achieves; for training also the ceiling at the window's own shapes, every
  product at the peak measured for its shape (a step's hidden-to-hidden product has only the
  batch's rows, which no square-matrix peak reaches);
- the same workload in a plain PyTorch loop (the loop a user writes: nn.Embedding, nn.LSTM,
  nn.Linear, F.cross_entropy, clip_grad_norm_, torch.optim.SGD), and lstmlm's ratio to it;
- for training on the CPU, the share of a window's wall time spent in the matrix kernels (GEMMs
  and oneDNN's RNN layers, from torch.profiler), for lstmlm and for the plain loop: a loop that
  does the same products can be at most 1 / (the plain loop's share) times faster than it.

The rows and roofs are recorded in benchmarks/results/roofline-MACHINE-DATE.json, the products'
peaks in matmul_peaks-MACHINE-DATE.json.
On a CPU the allocator keeps freed memory for reuse, as lstmlm's training sets it
(lstmlm.hardware.keep_freed_memory), for lstmlm and the plain loops alike. Every measurement
runs `--rounds` times, lstmlm and the plain loop in turn (batch-1 evaluation in turn on each
piece of the test stream), and the best round counts: on a shared machine a slow spell only
ever lowers a rate. Every model is freshly initialised (speed does not depend on the weights'
values) and reads real PTB text.
"""

import argparse
import dataclasses
import itertools
import time
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from common import machine, write_result
from torch import nn

from lstmlm import get_preset, load_corpus
from lstmlm.batching import batchify
from lstmlm.builders import build_network
from lstmlm.corpus import split_files
from lstmlm.evaluation import stream_perplexity
from lstmlm.generation import generate_ids
from lstmlm.hardware import (cpu_flags, keep_freed_memory, native_bf16, resolve_precision,
                             select_device, synchronize)
from lstmlm.numpy_rnn import RNNNumpy
from lstmlm.plan import RunPlan
from lstmlm.scoring import score_sentences
from lstmlm.training import measure_throughput, throwaway_training

# Batch-1 evaluation takes seconds a pass, over which a virtual machine's speed drifts by a
# fifth: the test stream is timed in pieces of about 10,000 words, lstmlm and the plain loop in
# turn on each.
EVALUATION_PIECES = 8
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def timed(call: Callable[[], None], device: torch.device) -> float:
    """Seconds one call takes, the device's queue drained."""
    synchronize(device)
    began = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - began


def best_rate(call: Callable[[], None], work: float, device: torch.device,
              seconds: float = 1.0, repeats: int = 3) -> float:
    """The highest `work` per second over repeated calls (after a warm-up), for about `seconds`."""
    call()
    best, spent, count = 0.0, 0.0, 0
    while count < repeats or spent < seconds:
        took = timed(call, device)
        best, spent, count = max(best, work / took), spent + took, count + 1
    return best


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of the fastest large square matrix product, the compute roof."""
    peak = 0.0
    for size in (1024, 2048):
        left = torch.randn(size, size, device=device).to(dtype)
        right = torch.randn(size, size, device=device).to(dtype)
        peak = max(peak, best_rate(lambda: torch.mm(left, right), 2 * size ** 3, device,
                                   seconds=2.0))
    return peak


# The products of a cpu-fast window (20 rows x 35 words at 512 units, PTB's 10,000 words) and
# a large square one, as (rows, inner, columns).
WINDOW_SHAPES = {"input projection of a window (700 x 512 x 2048)": (700, 512, 2048),
                 "decoder of a window (700 x 512 x 10,000)": (700, 512, 10_000),
                 "recurrent product of a step (20 x 512 x 2048)": (20, 512, 2048),
                 "large square (2048 x 2048 x 2048)": (2048, 2048, 2048)}


def shape_peak(device: torch.device, dtype: torch.dtype, rows: int, inner: int,
               columns: int) -> float:
    """FLOP/s of the fastest (rows x inner) @ (inner x columns) product in `dtype`."""
    left = torch.randn(rows, inner, device=device).to(dtype)
    right = torch.randn(inner, columns, device=device).to(dtype)
    return best_rate(lambda: torch.mm(left, right), 2 * rows * inner * columns, device,
                     seconds=1.0)


def numpy_fp64_peak() -> float:
    """FLOP/s of NumPy's float64 matrix product, the NumPy RNN's compute roof."""
    rng = np.random.default_rng(0)
    left, right = rng.standard_normal((1024, 1024)), rng.standard_normal((1024, 1024))
    return best_rate(lambda: left @ right, 2 * 1024 ** 3, torch.device("cpu"))


def read_bandwidth(device: torch.device, working_set_bytes: int) -> float:
    """Bytes/s of summing a float32 tensor of the working set's size again and again: the
    cache's bandwidth where the set fits in it, memory's where it does not."""
    values = torch.ones(max(working_set_bytes // 4, 1024), device=device)
    return best_rate(lambda: values.sum(), values.numel() * 4, device, seconds=1.0, repeats=20)


def matrices(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The weight matrices a word is multiplied by: (hidden-to-hidden ones, all the others).
    The embedding is a lookup, not a product; a tied decoder is counted once, as the decoder."""
    recurrent, others = [], []
    for module in model.modules():
        if isinstance(module, nn.RNNBase):
            for name, weight in module.named_parameters():
                if name.startswith("weight_hh"):
                    recurrent.append(weight)
                elif name.startswith("weight_ih"):
                    others.append(weight)
        elif isinstance(module, nn.Linear):
            others.append(module.weight)
    return recurrent, others


@dataclasses.dataclass(frozen=True)
class Roofs:
    """The machine's limits, measured once."""
    device: torch.device
    peaks: dict[str, float]  # FLOP/s by precision
    bandwidths: dict[int, float] = dataclasses.field(default_factory=dict)  # bytes/s by set size
    # FLOP/s by (precision, rows, inner, columns)
    shape_peaks: dict[tuple, float] = dataclasses.field(default_factory=dict)

    def bandwidth(self, working_set_bytes: int) -> float:
        if working_set_bytes not in self.bandwidths:
            self.bandwidths[working_set_bytes] = read_bandwidth(self.device, working_set_bytes)
        return self.bandwidths[working_set_bytes]

    def shape_peak(self, precision: str, rows: int, inner: int, columns: int) -> float:
        key = (precision, rows, inner, columns)
        if key not in self.shape_peaks:
            self.shape_peaks[key] = shape_peak(self.device, DTYPES[precision], rows, inner,
                                               columns)
        return self.shape_peaks[key]


@dataclasses.dataclass(frozen=True)
class Ceiling:
    flops: float  # per item (word, or step of the NumPy RNN)
    words_per_sec: float
    bound: str  # "compute" or "memory"


def ceiling(model: nn.Module, roofs: Roofs, precision: str, *, rows: int, steps: int,
            training: bool) -> Ceiling:
    """The fastest a workload of `model` can go: `rows` sequences advanced `steps` words per
    window, forward only or forward and backward."""
    recurrent, others = matrices(model)
    passes = 3 if training else 1
    weights = sum(weight.numel() for weight in recurrent + others)
    flops = 2 * passes * weights
    bytes_per_weight = DTYPES[precision].itemsize
    bytes_per_word = passes * bytes_per_weight * (
        sum(weight.numel() for weight in recurrent) / rows
        + sum(weight.numel() for weight in others) / (rows * steps))
    compute = roofs.peaks[precision] / flops
    memory = roofs.bandwidth(weights * bytes_per_weight) / bytes_per_word
    return Ceiling(flops, min(compute, memory), "compute" if compute <= memory else "memory")


def shape_ceiling(model: nn.Module, roofs: Roofs, precision: str, *, rows: int,
                  steps: int) -> float:
    """Words/sec of training if every product ran at the measured peak of its own shape. A
    hidden-to-hidden matrix multiplies `rows` rows a step forward and again for the gradient
    of its input, and once a window (`rows * steps` deep) for its own gradient; every other
    matrix multiplies `rows * steps` rows a window, three times (the backward products are
    credited with their forward shape's rate)."""
    recurrent, others = matrices(model)

    def seconds(weight: torch.Tensor, product_rows: int, products: int) -> float:
        return products * 2 * weight.numel() / roofs.shape_peak(
            precision, product_rows, weight.shape[1], weight.shape[0])

    per_word = (sum(seconds(weight, rows, 2) + seconds(weight, rows * steps, 1)
                    for weight in recurrent)
                + sum(seconds(weight, rows * steps, 3) for weight in others))
    return 1 / per_word


class PlainLM(nn.Module):
    """The language model a user writes first: embedding, a multi-layer nn.LSTM over
    (steps, batch) input with dropout between layers, a linear decoder."""

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int, dropout: float,
                 tied: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers, dropout=dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tied:
            self.decoder.weight = self.embedding.weight

    def forward(self, ids, hidden):
        output, hidden = self.lstm(self.dropout(self.embedding(ids)), hidden)
        return self.decoder(self.dropout(output)), hidden

    def init_hidden(self, batch_size: int):
        shape = (self.lstm.num_layers, batch_size, self.lstm.hidden_size)
        weight = self.decoder.weight
        return weight.new_zeros(shape), weight.new_zeros(shape)


def plain_model(plan: RunPlan, vocab_size: int, device: torch.device) -> PlainLM:
    return PlainLM(vocab_size, plan.model.hidden_size, plan.model.num_layers,
                   plan.regularisation.dropout, plan.model.tie_weights).to(device)


def seq_first_windows(ids: torch.Tensor, batch_size: int, num_steps: int):
    """The plain loop's batching, as pytorch/examples does it: (steps, batch) windows."""
    rows = batchify(ids, batch_size).t().contiguous()
    for start in range(0, rows.size(0) - 1, num_steps):
        length = min(num_steps, rows.size(0) - 1 - start)
        yield rows[start:start + length], rows[start + 1:start + 1 + length]


def words_per_sec(steps: Iterator[int], seconds: float, device: torch.device) -> float:
    """Words/sec of an iterator that runs a window at each `next` and yields its number of
    targets: two windows untimed, then at least `seconds` and three windows, or until the
    windows run out."""
    spent, words = 0.0, 0
    for index in itertools.count():
        began = time.perf_counter()
        count = next(steps, None)
        synchronize(device)
        if count is None:
            break
        if index >= 2:
            spent, words = spent + time.perf_counter() - began, words + count
            if index >= 4 and spent >= seconds:
                break
    return words / spent


def plain_training(plan: RunPlan, corpus, device: torch.device) -> Iterator[int]:
    """The plain training loop on `plan`'s shape (fp32), a window at each `next`."""
    optimisation = plan.optimisation
    model = plain_model(plan, len(corpus.vocab), device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=optimisation.learning_rate)
    hidden = model.init_hidden(optimisation.batch_size)
    for inputs, targets in seq_first_windows(corpus.train, optimisation.batch_size,
                                             optimisation.num_steps):
        logits, hidden = model(inputs.to(device), hidden)
        hidden = tuple(tensor.detach() for tensor in hidden)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.to(device).view(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), optimisation.max_grad_norm)
        optimizer.step()
        yield targets.numel()


# The kernels that do a workload's matrix products: GEMMs and oneDNN's RNN layers.
MATRIX_KERNELS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::mkldnn_rnn_layer",
                  "aten::mkldnn_rnn_layer_backward"}


def matrix_share(steps: Iterator[int], device: torch.device, count: int = 4) -> float | None:
    """The fraction of the wall time of `count` training windows (after one untimed) spent in
    the matrix kernels (CPU only: the profiler sees CUDA kernels asynchronously)."""
    if device.type != "cpu":
        return None
    next(steps)  # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        took = sum(timed(lambda: next(steps), device) for _ in range(count))
    matrix = sum(event.self_cpu_time_total for event in profile.key_averages()
                 if event.key in MATRIX_KERNELS)
    return matrix / 1e6 / took


def plain_evaluation(model: PlainLM, ids: torch.Tensor, device: torch.device,
                     num_steps: int) -> float:
    """The plain batch-1 evaluation loop's summed cross-entropy over `ids`."""
    hidden = model.init_hidden(1)
    total = 0.0
    with torch.no_grad():
        for inputs, targets in seq_first_windows(ids, 1, num_steps):
            logits, hidden = model(inputs.to(device), hidden)
            total += F.cross_entropy(logits.view(-1, logits.size(-1)),
                                     targets.to(device).view(-1), reduction="sum").item()
    return total


def plain_generation(plan: RunPlan, vocab_size: int, device: torch.device, words: int) -> float:
    """Words/sec of the plain sampling loop."""
    model = plain_model(plan, vocab_size, device).eval()

    @torch.no_grad()
    def generate():
        hidden = model.init_hidden(1)
        word = torch.zeros(1, 1, dtype=torch.long, device=device)
        for _ in range(words):
            logits, hidden = model(word, hidden)
            word = torch.multinomial(torch.softmax(logits[-1], dim=-1), 1)

    return best_rate(generate, words, device, seconds=0, repeats=1)


def plain_scoring(plan: RunPlan, corpus, sentences: list[list[str]], device: torch.device) -> float:
    """Words/sec of the plain scoring loop: one sentence at a time from a fresh state."""
    model = plain_model(plan, len(corpus.vocab), device).eval()
    eos = corpus.vocab.ids["<eos>"]
    encoded = [torch.tensor([eos] + corpus.vocab.encode(words).tolist() + [eos]).view(-1, 1)
               for words in sentences]

    @torch.no_grad()
    def score():
        for ids in encoded:
            ids = ids.to(device)
            logits, _ = model(ids[:-1], model.init_hidden(1))
            F.cross_entropy(logits.view(-1, logits.size(-1)), ids[1:].view(-1),
                            reduction="sum").item()

    return best_rate(score, sum(len(ids) - 1 for ids in encoded), device, seconds=0, repeats=1)


def native_precisions(device: torch.device) -> list[str]:
    """fp32, and the half precisions the device computes in hardware."""
    precisions = ["fp32"]
    if native_bf16(device)[0]:
        precisions.append("bf16")
    if device.type == "cuda" or cpu_flags() & {"avx512_fp16", "amx_fp16"}:
        precisions.append("fp16")
    return precisions


def share_text(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"


@dataclasses.dataclass(frozen=True)
class Row:
    workload: str
    precision: str
    ceiling: Ceiling
    achieved: float  # items/sec (words, or steps of the NumPy RNN)
    plain: float | None = None  # items/sec of the plain loop
    unit: str = "words/s"  # or "ms/word", "ms/step": the time per item
    shares: tuple[float | None, float | None] = (None, None)  # in matrix kernels: lstmlm, plain
    at_shapes: float | None = None  # training: the ceiling at the window's own product shapes

    def speed(self, per_sec: float) -> str:
        if self.unit.startswith("ms/"):
            return f"{1000 / per_sec:.2f} {self.unit}"
        return f"{per_sec:,.0f} {self.unit}"

    def to_dict(self) -> dict:
        return {"workload": self.workload, "precision": self.precision,
                "flops_per_item": round(self.ceiling.flops), "bound": self.ceiling.bound,
                "ceiling_per_sec": round(self.ceiling.words_per_sec, 3),
                "achieved_per_sec": round(self.achieved, 3),
                "of_ceiling": round(self.achieved / self.ceiling.words_per_sec, 4),
                "plain_per_sec": None if self.plain is None else round(self.plain, 3),
                "unit": self.unit,
                "matrix_share_lstmlm": None if self.shares[0] is None else round(self.shares[0], 3),
                "matrix_share_plain": None if self.shares[1] is None else round(self.shares[1], 3),
                "shape_ceiling_per_sec": None if self.at_shapes is None else
                round(self.at_shapes, 3),
                "of_shape_ceiling": None if self.at_shapes is None else
                round(self.achieved / self.at_shapes, 4)}

    def markdown(self) -> str:
        plain = "—" if self.plain is None else self.speed(self.plain)
        ratio = "—" if self.plain is None else f"{self.achieved / self.plain:.2f}x"
        return (f"| {self.workload} | {self.precision} | {self.ceiling.flops / 1e6:.1f} M | "
                f"{self.ceiling.bound} | {self.speed(self.ceiling.words_per_sec)} | "
                f"{self.speed(self.achieved)} | {self.achieved / self.ceiling.words_per_sec:.2f} | "
                f"{plain} | {ratio} | {' / '.join(share_text(share) for share in self.shares)} | "
                + ("—" if self.at_shapes is None else
                   f"{self.speed(self.at_shapes)}: {self.achieved / self.at_shapes:.2f}") + " |")


def best_of_rounds(measures: list[Callable[[], float]], rounds: int) -> list[float]:
    """Each measurement's best rate over `rounds` rounds, taken in turn, so that a slow spell
    of a shared machine neither favours nor hides one of them."""
    best = [0.0] * len(measures)
    for _ in range(rounds):
        for index, measure in enumerate(measures):
            best[index] = max(best[index], measure())
    return best


def best_of_interleaved_rounds(measures: list[Callable[[torch.Tensor], float]],
                               pieces: list[torch.Tensor], rounds: int) -> list[float]:
    """Each measurement's best words/sec over `rounds` passes over `pieces`, every piece
    timed by each measurement in turn (`measure(piece)` returns seconds): a drift of the
    machine's speed within a pass then slows both alike."""
    words = sum(len(piece) - 1 for piece in pieces)
    best = [0.0] * len(measures)
    for _ in range(rounds):
        seconds = [0.0] * len(measures)
        for piece in pieces:
            for index, measure in enumerate(measures):
                seconds[index] += measure(piece)
        best = [max(rate, words / spent) for rate, spent in zip(best, seconds)]
    return best


def training_rows(preset: str, corpus, roofs: Roofs, seconds: float, rounds: int,
                  plain: bool) -> list[Row]:
    """The preset's training in fp32 and, if different, in the precision `auto` picks."""
    config = get_preset(preset)
    auto = resolve_precision("auto", roofs.device, config.model.cell).precision
    device = roofs.device
    rows = []
    for precision in dict.fromkeys(["fp32", auto]):
        shaped = RunPlan.of(config, precision=precision)
        batch_size, num_steps = shaped.optimisation.batch_size, shaped.optimisation.num_steps
        model = build_network(shaped.model, shaped.regularisation, len(corpus.vocab))
        bound = ceiling(model, roofs, precision, rows=batch_size, steps=num_steps,
                        training=True)
        measures = [lambda: measure_throughput(shaped, config, corpus, device,
                                               seconds).train_words_per_sec]
        with_plain = plain and precision == "fp32"
        if with_plain:
            measures.append(lambda: words_per_sec(plain_training(shaped, corpus, device),
                                                  seconds, device))
        achieved, *baseline = best_of_rounds(measures, rounds)
        shares = (matrix_share(throwaway_training(shaped, corpus, device, batch_size)[1], device),
                  matrix_share(plain_training(shaped, corpus, device), device)
                  if with_plain else None)
        rows.append(Row(f"train {preset} ({shaped.model.hidden_size} units)", precision, bound,
                        achieved, baseline[0] if baseline else None, shares=shares,
                        at_shapes=shape_ceiling(model, roofs, precision, rows=batch_size,
                                                steps=num_steps)))
    return rows


def inference_rows(corpus, roofs: Roofs, words: int, rounds: int) -> list[Row]:
    """Batch-1 stream evaluation of the PTB test split, generation and sentence scoring, on
    the small shape in fp32."""
    device = roofs.device
    config = get_preset("small")
    plan = RunPlan.of(config)
    torch.manual_seed(0)
    model = build_network(plan.model, plan.regularisation, len(corpus.vocab)).to(device).eval()
    rows = []

    ids, steps = corpus.test, config.evaluation.num_steps
    plain = plain_model(plan, len(corpus.vocab), device).eval()
    pieces = list(ids.tensor_split(EVALUATION_PIECES))
    speeds = best_of_interleaved_rounds([
        lambda piece: timed(lambda: stream_perplexity(model, piece, 1, steps), device),
        lambda piece: timed(lambda: plain_evaluation(plain, piece, device, steps), device)],
        pieces, rounds)
    rows.append(Row(f"eval, batch 1, PTB test ({len(ids) - 1:,} words)", "fp32",
                    ceiling(model, roofs, "fp32", rows=1, steps=steps, training=False), *speeds))

    def generate():
        stream = generate_ids(model, [corpus.vocab.ids["<eos>"]],
                              generator=torch.Generator().manual_seed(0))
        for _ in range(words):
            next(stream)
        stream.close()

    speeds = best_of_rounds([
        lambda: best_rate(generate, words, device, seconds=0, repeats=1),
        lambda: plain_generation(plan, len(corpus.vocab), device, words)], rounds)
    rows.append(Row(f"generate {words} words, sampled", "fp32",
                    ceiling(model, roofs, "fp32", rows=1, steps=1, training=False), *speeds,
                    unit="ms/word"))

    sentences = [line.split() for line in split_files("ptb")["test"]]
    scored = sum(len(words) + 1 for words in sentences)  # each word and the closing <eos>
    speeds = best_of_rounds([
        lambda: scored / timed(lambda: score_sentences(model, corpus.vocab, sentences), device),
        lambda: plain_scoring(plan, corpus, sentences, device)], rounds)
    rows.append(Row(f"score {len(sentences):,} PTB test sentences", "fp32",
                    ceiling(model, roofs, "fp32", rows=64, steps=round(scored / len(sentences)),
                            training=False), *speeds))
    return rows


def numpy_rnn_row() -> Row:
    """The NumPy RNN's SGD step on the tutorial's shape (8000 x 100, 45 words, truncation 4)
    against its float64 compute roof, beside the tutorial's per-time-step loop."""
    vocab, hidden, length, truncate = 8000, 100, 45, 4
    rng = np.random.default_rng(0)
    model = RNNNumpy(vocab, hidden, bptt_truncate=truncate, seed=0)
    x, y = rng.integers(0, vocab, length), rng.integers(0, vocab, length)
    # Per word: the output layer forward, its weight gradient and the gradient back into the
    # state (3 x 2VH); the recurrence forward and, over the truncation, backward (2H^2 each).
    flops = length * (6 * vocab * hidden + 2 * hidden ** 2 * (1 + 2 * truncate))
    cpu = torch.device("cpu")
    peak = numpy_fp64_peak()

    def loop_step():
        dU, dV, dW = model.bptt_loop(x, y)
        model.U -= 0.005 * dU
        model.V -= 0.005 * dV
        model.W -= 0.005 * dW

    achieved = best_rate(lambda: model.sgd_step(x, y, 0.005), 1, cpu, seconds=2, repeats=10)
    plain = best_rate(loop_step, 1, cpu, seconds=0, repeats=5)
    return Row("NumPy RNN SGD step (8000 x 100, 45 words, truncation 4)", "fp64 (NumPy)",
               Ceiling(flops, peak / flops, "compute"), achieved, plain, unit="ms/step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="training time per measurement and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every measurement, lstmlm and the plain loop in turn; "
                             "the best round counts")
    parser.add_argument("--presets", nargs="+", default=["small", "medium", "cpu-fast"])
    parser.add_argument("--words", type=int, default=300, help="words to generate")
    args = parser.parse_args()
    device = select_device(args.device)
    if device.type == "cpu":
        keep_freed_memory()  # as lstmlm's training runs; the plain loops get it too
    torch.manual_seed(0)
    corpus = load_corpus("ptb")
    roofs = Roofs(device, {precision: matmul_peak(device, DTYPES[precision])
                           for precision in native_precisions(device)})
    print(f"machine: {machine()}; device {device}")
    print("matmul peak: " + ", ".join(f"{precision} {peak / 1e9:,.1f} GFLOP/s"
                                      for precision, peak in roofs.peaks.items()))
    shapes = {name: {precision: roofs.shape_peak(precision, *shape) for precision in roofs.peaks}
              for name, shape in WINDOW_SHAPES.items()}
    print("| product | " + " | ".join(f"{precision} GFLOP/s" for precision in roofs.peaks)
          + " |")
    print("|---|" + "---|" * len(roofs.peaks))
    for name, peaks in shapes.items():
        print(f"| {name} | " + " | ".join(f"{peak / 1e9:,.1f}" for peak in peaks.values())
              + " |")
    rows = []
    for preset in args.presets:
        rows += training_rows(preset, corpus, roofs, args.seconds, args.rounds,
                              plain=preset != "cpu-fast")
    rows += inference_rows(corpus, roofs, args.words, args.rounds)
    if device.type == "cpu":
        rows.append(numpy_rnn_row())
    print("read bandwidth: " + ", ".join(f"{size / 2 ** 20:.1f} MiB set {speed / 1e9:.1f} GB/s"
                                         for size, speed in sorted(roofs.bandwidths.items())))
    print("| workload | precision | FLOPs per item | bound | ceiling | lstmlm | of ceiling | "
          "plain loop | lstmlm/plain | in matrix kernels (lstmlm / plain) | "
          "ceiling at its shapes: lstmlm's fraction |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())
    peaks = write_result("matmul_peaks", [
        {"product": name, **{f"{precision}_gflops": round(peak / 1e9, 1)
                             for precision, peak in by_precision.items()}}
        for name, by_precision in shapes.items()])
    path = write_result("roofline", [row.to_dict() for row in rows],
                        peaks_gflops={precision: round(peak / 1e9, 2)
                                      for precision, peak in roofs.peaks.items()},
                        bandwidths_gbs={str(size): round(speed / 1e9, 2)
                                        for size, speed in sorted(roofs.bandwidths.items())},
                        evaluation_pieces=EVALUATION_PIECES)
    print(f"recorded in {peaks} and {path}")


if __name__ == "__main__":
    main()
