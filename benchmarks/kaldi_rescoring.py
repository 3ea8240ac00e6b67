"""Speed and memory of Kaldi n-best rescoring with a weight sweep (`lstmlm rescore --format
kaldi --ref --lm-weights`): words per second, and peak memory as the list grows.

    python benchmarks/kaldi_rescoring.py [--utterances 250 1000 4000] [--hypotheses 100]

A model of the `small` preset's shape (2 × 200 LSTM units), trained for a moment on the sample
corpus, rescores n-best lists made from the sample's test lines: each line is an utterance's
reference (drawn at random, so that every size meets the long lines), and each of its hypotheses is the line with up to three words replaced at random,
with a random acoustic cost. Each list goes through the command line in a process of its own,
which sweeps 21 weights (0:2:0.1) against the references and writes the new LM costs; its peak
resident memory is the process's. The list is streamed, so the peak should not grow with it.
"""

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_result

from lstmlm.corpus import split_files

CHILD = """
import resource, sys
from lstmlm.cli import main
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)
sys.exit(code)
"""


def write_lists(folder: Path, utterances: int, hypotheses: int) -> int:
    """nbest.txt, ac.txt and ref.txt in Kaldi's layouts; the words in the list."""
    draw = random.Random(utterances)
    lines = [line.split() for line in split_files("sample")["test"] if len(line.split()) > 3]
    vocabulary = sorted({word for line in lines for word in line})
    words = 0
    with open(folder / "nbest.txt", "w") as nbest, open(folder / "ac.txt", "w") as costs, \
            open(folder / "ref.txt", "w") as references:
        for index in range(utterances):
            reference = draw.choice(lines)
            references.write(f"utt{index} {' '.join(reference)}\n")
            for number in range(1, hypotheses + 1):
                text = list(reference)
                for _ in range(draw.randrange(4)):
                    text[draw.randrange(len(text))] = draw.choice(vocabulary)
                nbest.write(f"utt{index}-{number} {' '.join(text)}\n")
                costs.write(f"utt{index}-{number} {draw.uniform(100, 120):.3f}\n")
                words += len(text) + 1
    return words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--hypotheses", type=int, default=100)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print("| utterances × hypotheses | words (with <eos>) | seconds | words/sec | peak MB |")
    print("|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        # The rescoring speed does not depend on the weights: a model of a few windows will do.
        subprocess.run([sys.executable, "-m", "lstmlm", "train", "--preset", "small", "--data",
                        "sample", "--set", "max_max_epoch=1", "--set", "max_windows=10",
                        "--set", "max_eval_words=2000", "--quiet",
                        "--runs-dir", folder, "--name", "model"], check=True,
                       capture_output=True)
        for utterances in args.utterances:
            words = write_lists(folder, utterances, args.hypotheses)
            began = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CHILD, "rescore", folder / "model",
                 folder / "nbest.txt", "--format", "kaldi", "--ac-costs", folder / "ac.txt",
                 "--ref", folder / "ref.txt", "--lm-weights", "0:2:0.1", "--write-lm-costs",
                 folder / "lm.txt"], check=True, capture_output=True, text=True)
            seconds = time.perf_counter() - began
            peak = float(done.stderr.strip().splitlines()[-1])
            row = {"utterances": utterances, "hypotheses": args.hypotheses, "words": words,
                   "seconds": round(seconds, 1), "words_per_sec": round(words / seconds),
                   "peak_mb": round(peak), "best": done.stdout.strip().splitlines()[-1]}
            rows.append(row)
            print(f"| {utterances:,} × {args.hypotheses} | {words:,} | {seconds:.1f} | "
                  f"{words / seconds:,.0f} | {peak:,.0f} |", flush=True)
    print(f"wrote {write_result('kaldi_rescoring', rows)}")


if __name__ == "__main__":
    main()
