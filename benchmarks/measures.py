"""The measures of the predictive distribution, predictions and hidden states, on a model of
Gulordava et al.'s GRNN shape: speed against plain surprisal, and peak memory.

    python benchmarks/measures.py [--predict-tokens 1000000] [--states-tokens 100000]

A model of two LSTM layers of 650 units with embeddings of 650 (GRNN's shape) over PTB's
10,000 words (untrained, seeded: speed and memory do not depend on the weights) is written as
a pytorch/examples state_dict and imported with `lstmlm import`, as a user imports one. Then:
- speed: `surprisal.compute` over PTB's test sentences, plain and with every measure
  (surprisal, entropy, entropy_reduction, rank, topk=5), side by side in alternating order,
  three times each; words/sec is the median, words count each sentence's `<eos>`;
- memory: the peak resident memory of `lstmlm predict --top 5` over the first
  `--predict-tokens` tokens of PTB's training text, and of `lstmlm states --what h,c` over
  `--states-tokens`, each its own process (output to /dev/null and a temporary file); 0
  tokens leaves that measurement out.
Needs PTB ($LSTMLM_DATA_DIR, the cache, or a download) and h5py.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import machine, write_result

from lstmlm import datasets, load, surprisal
from lstmlm.corpus import corpus_files
from lstmlm.importing import import_checkpoint, vocabulary_of

UNITS, LAYERS = 650, 2
ALL_MEASURES = ("surprisal", "entropy", "entropy_reduction", "rank", "topk")


def grnn_shaped_folder(folder: Path, train: Path) -> Path:
    """A seeded GRNN-shaped network over PTB's vocabulary, as a state_dict imported."""
    words = vocabulary_of(None, train)[0].words  # as the import below numbers them
    torch.manual_seed(0)
    state = {"encoder.weight": torch.empty(len(words), UNITS).uniform_(-0.1, 0.1),
             "decoder.weight": torch.empty(len(words), UNITS).uniform_(-0.1, 0.1),
             "decoder.bias": torch.zeros(len(words))}
    lstm = torch.nn.LSTM(UNITS, UNITS, LAYERS)
    state.update({f"rnn.{name}": tensor.detach() for name, tensor in lstm.state_dict().items()})
    torch.save(state, folder / "grnn_shaped.pt")
    return import_checkpoint("word-language-model", folder / "grnn_shaped.pt", folder / "model",
                             corpus_train=train, cell="lstm")


def peak_memory_mb(command: list[str]) -> tuple[float, float]:
    """The peak resident memory (MB) and the seconds of `command` run in its own process."""
    probe = ("import resource, subprocess, sys, time; began = time.perf_counter(); "
             "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
             "time.perf_counter() - began, code)")
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                         text=True, check=True).stdout.split()
    if out[2] != "0":
        raise SystemExit(f"{' '.join(command)} failed")
    return int(out[0]) / 1024, float(out[1])


def tokens_file(lines: list[str], tokens: int, path: Path) -> int:
    """Write lines (repeated if need be) until `tokens` words (each line's `<eos>` counted);
    the count written."""
    written, chosen, index = 0, [], 0
    while written < tokens:
        line = lines[index % len(lines)]
        chosen.append(line)
        written += len(line.split()) + 1
        index += 1
    path.write_text("\n".join(chosen) + "\n")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predict-tokens", type=int, default=1_000_000)
    parser.add_argument("--states-tokens", type=int, default=100_000)
    args = parser.parse_args()
    files = corpus_files(str(datasets.resolve("ptb")))
    print(f"machine: {machine()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = grnn_shaped_folder(scratch, files["train"])
        model = load(folder, device="cpu")
        test = [line for line in files["test"].read_text().splitlines() if line.strip()]
        stimuli = surprisal.read_stimuli("\n".join(test), "ptb.test.txt")
        words = sum(len(line.split()) + 1 for line in test)
        runs = {"surprisal": lambda: surprisal.compute(model, stimuli, "none"),
                "all measures": lambda: surprisal.compute(model, stimuli, "none",
                                                          measures=ALL_MEASURES, top=5)}
        surprisal.compute(model, stimuli[:200], "none", measures=ALL_MEASURES, top=5)  # warm-up
        seconds = {name: [] for name in runs}
        for _ in range(3):
            for name, run in runs.items():
                began = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - began)
        rates = {name: words / statistics.median(times) for name, times in seconds.items()}
        print("| what | words | words/sec | against plain surprisal |")
        print("|---|---|---|---|")
        for name, rate in rates.items():
            ratio = rate / rates["surprisal"]
            rows.append({"what": f"speed: {name}", "words": words,
                         "words_per_sec": round(rate), "ratio_to_surprisal": round(ratio, 3),
                         "threads": torch.get_num_threads()})
            print(f"| {name} | {words:,} | {rate:,.0f} | {ratio:.2f} |", flush=True)
        train = [line for line in files["train"].read_text().splitlines() if line.strip()]
        for what, tokens, command in ((what, tokens, command) for what, tokens, command in (
                ("memory: predict --top 5", args.predict_tokens,
                 ["predict", str(folder), "STIMULI", "--top", "5"]),
                ("memory: states --what h,c", args.states_tokens,
                 ["states", str(folder), "STIMULI", "--what", "h,c", "--out",
                  str(scratch / "states.h5")])) if tokens):
            stimuli_file = scratch / f"{tokens}.txt"
            counted = tokens_file(train, tokens, stimuli_file)
            full = ["lstmlm"] + [str(stimuli_file) if part == "STIMULI" else part
                                 for part in command]
            peak, took = peak_memory_mb(full)
            rows.append({"what": what, "tokens": counted, "peak_resident_mb": round(peak),
                         "seconds": round(took, 1), "words_per_sec": round(counted / took)})
            print(f"{what}: {counted:,} tokens, peak resident {peak:,.0f} MB, {took:,.0f} s",
                  flush=True)
    print(f"wrote {write_result('measures', rows)}")


if __name__ == "__main__":
    main()
