"""Peak resident memory of training one epoch, for two epoch lengths, beside a plain PyTorch
loop training the same model.

    python benchmarks/training_memory.py \
        [--presets cpu-fast awd] [--words 200000 2000000]

Each run is a process of its own. The training split is PTB's, repeated or cut to the given
number of words (valid and test: the first 20,000 words of PTB's). `lstmlm` trains one epoch
of the preset (its time budget off) and evaluates; the plain loop builds the same model and
trains it on windows drawn the same way (variable lengths where the preset has them), with SGD,
clipping and the same precision, and nothing else. Memory that grew with the epoch would make
the long epoch's peak exceed the short one's.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_result

EVAL_WORDS = 20_000


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def write_corpus(folder: Path, words: int) -> None:
    """PTB's training words repeated or cut to `words`; short valid and test splits."""
    import lstmlm.datasets

    ptb = lstmlm.datasets.resolve("ptb")
    folder.mkdir(parents=True, exist_ok=True)
    train = (ptb / "ptb.train.txt").read_text().split("\n")
    lines, count = [], 0
    while count < words:
        for line in train:
            lines.append(line)
            count += len(line.split()) + 1
            if count >= words:
                break
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    for split in ("valid", "test"):
        text = (ptb / f"ptb.{split}.txt").read_text().split()[:EVAL_WORDS]
        (folder / f"{split}.txt").write_text(" ".join(text) + "\n")


def child(preset: str, corpus: str, runner: str) -> dict:
    import torch

    import lstmlm
    from lstmlm.batching import batchify, window_lengths, windows_of_lengths
    from lstmlm.builders import build_corpus, build_network
    from lstmlm.hardware import autocast, resolve_precision

    config = lstmlm.apply_overrides(lstmlm.get_preset(preset), {
        "data": corpus, "time_budget": None, "max_max_epoch": 1, "max_epoch": 1})
    began = time.perf_counter()
    if runner == "lstmlm":
        lstmlm.train(config, runs_dir=tempfile.mkdtemp(), echo=None)
    else:
        precision = resolve_precision(config.run.precision, torch.device("cpu")).precision
        optimisation = config.optimisation
        data = build_corpus(config.data)
        torch.manual_seed(config.run.seed)
        model = build_network(config.model, config.regularisation, len(data.vocab)).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=optimisation.learning_rate)
        state = model.init_state(optimisation.batch_size)
        lengths = window_lengths(len(data.train), optimisation.batch_size, optimisation.num_steps,
                                 optimisation.variable_length, config.run.seed)
        rows = batchify(data.train, optimisation.batch_size)
        for inputs, targets in windows_of_lengths(rows, lengths):
            with autocast("cpu", precision):
                logits, state = model(inputs, state)
            loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1),
                                                     targets.flatten())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), optimisation.max_grad_norm)
            optimizer.step()
            state = tuple(tensor.detach() for tensor in state)
    return {"peak_mb": round(peak_mb(), 1), "seconds": round(time.perf_counter() - began, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu-fast", "awd"])
    parser.add_argument("--words", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    print(f"machine: {machine()}")
    print("| preset | epoch words | lstmlm peak MB | plain loop peak MB | lstmlm / plain | "
          "lstmlm seconds |")
    print("|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for preset in args.presets:
            for words in args.words:
                corpus = Path(scratch) / f"corpus-{words}"
                if not corpus.exists():
                    write_corpus(corpus, words)
                measured = {}
                for runner in ("lstmlm", "plain"):
                    output = subprocess.run(
                        [sys.executable, __file__, "--child", preset, str(corpus), runner],
                        check=True, capture_output=True, text=True).stdout
                    measured[runner] = json.loads(output.splitlines()[-1])
                row = {"preset": preset, "words": words,
                       "lstmlm_peak_mb": measured["lstmlm"]["peak_mb"],
                       "plain_peak_mb": measured["plain"]["peak_mb"],
                       "lstmlm_seconds": measured["lstmlm"]["seconds"],
                       "plain_seconds": measured["plain"]["seconds"]}
                rows.append(row)
                print(f"| {preset} | {words:,} | {row['lstmlm_peak_mb']:,.0f} | "
                      f"{row['plain_peak_mb']:,.0f} | "
                      f"{row['lstmlm_peak_mb'] / row['plain_peak_mb']:.2f} | "
                      f"{row['lstmlm_seconds']:,.0f} |", flush=True)
    print(f"wrote {write_result('training_memory', rows)}")


if __name__ == "__main__":
    main()
