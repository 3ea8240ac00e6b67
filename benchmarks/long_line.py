"""Peak memory and time of scoring one very long line (surprisal of every word).

    python benchmarks/long_line.py [--words 10000 100000 1000000]

Each length runs in a process of its own: a model of the `small` preset's shape over PTB's
10,000-word vocabulary (untrained: memory and time do not depend on the weights) scores one
line of that many words drawn from the vocabulary. It reports the peak resident memory above
what the process held once the model and the line were ready, and the words scored per
second. Scoring holds at most `lstmlm.scoring.LOGIT_BUDGET` logits at once, so the peak
should not grow with the line's length.
"""

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from common import machine, write_result


def resident_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since the last reset) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(words: int) -> dict:
    import torch

    import lstmlm
    from lstmlm.builders import build_network

    torch.set_num_threads(2)
    config = lstmlm.get_preset("small")
    vocab = lstmlm.load_corpus("ptb").vocab
    model = lstmlm.LanguageModel(build_network(config.model, config.regularisation, len(vocab)),
                                 vocab, config)
    line = " ".join(random.Random(0).choices(vocab.words[:-1], k=words))
    model.surprisals([" ".join(line.split()[:1000])])  # warm-up
    Path("/proc/self/clear_refs").write_text("5")  # the peak counts from here
    before = resident_mb("VmRSS")
    began = time.perf_counter()
    scored = model.surprisals([line])[0]
    seconds = time.perf_counter() - began
    return {"words": words, "peak_mb_above_ready": round(resident_mb("VmHWM") - before, 1),
            "ready_mb": round(before, 1), "seconds": round(seconds, 2),
            "words_per_sec": round(len(scored) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    rows = []
    print(f"machine: {machine()}")
    print("| words | peak MB above ready | ready MB | seconds | words/sec |")
    print("|---|---|---|---|---|")
    for words in args.words:
        output = subprocess.run([sys.executable, __file__, "--child", str(words)], check=True,
                                capture_output=True, text=True).stdout
        row = json.loads(output.splitlines()[-1])
        rows.append(row)
        print(f"| {words:,} | {row['peak_mb_above_ready']:,.1f} | {row['ready_mb']:,.1f} | "
              f"{row['seconds']:.1f} | {row['words_per_sec']:,} |")
    print(f"wrote {write_result('long_line', rows)}")


if __name__ == "__main__":
    main()
