"""What the benchmark scripts share: the machine's description (CPU model and the flags that
decide float speed, cores, torch, the GPU) and the result files they write.

A result file is one JSON object in benchmarks/results/: the benchmark, the command that
produced it, the machine, the torch version, the date, and its rows (one dict each)."""

import datetime
import json
import re
import shlex
import sys
from pathlib import Path

import torch

from lstmlm.hardware import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"


def sample_model_and_lines():
    """An untrained model of the `small` preset's shape (2 × 200 LSTM units, seeded) over the
    sample corpus's vocabulary, for speed benchmarks (the speed does not depend on the
    weights), and the sample's test lines of more than three words."""
    import lstmlm
    from lstmlm.builders import build_network
    from lstmlm.corpus import split_files

    torch.manual_seed(0)
    config = lstmlm.apply_overrides(lstmlm.get_preset("small"), {"data": "sample"})
    corpus = lstmlm.load_corpus("sample")
    network = build_network(config.model, config.regularisation, len(corpus.vocab))
    model = lstmlm.LanguageModel(network, corpus.vocab, config)
    lines = [line for line in split_files("sample")["test"] if len(line.split()) > 3]
    return model, lines


def machine() -> str:
    return describe_machine()


def machine_slug() -> str:
    """The CPU's model and reported flags as a file name's part: two machines of one model
    name with different flags (an AVX2-only EPYC, an AVX512-BF16 one) get different files."""
    return re.sub(r"[^a-z0-9]+", "-", machine().split("],")[0].lower()).strip("-")


def write_result(benchmark: str, rows: list[dict], **extra) -> Path:
    """Write the rows of a run of `benchmark` to benchmarks/results/BENCHMARK-MACHINE-DATE.json
    (MACHINE: machine_slug)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    script = Path(sys.argv[0]).resolve().relative_to(RESULTS.parent.parent)
    result = {"benchmark": benchmark,
              "command": " ".join(["python", str(script), *map(shlex.quote, sys.argv[1:])]),
              "machine": machine(), "torch": torch.__version__,
              "date": now.strftime("%Y-%m-%d"), **extra, "rows": rows}
    path = RESULTS / f"{benchmark}-{machine_slug()}-{now.strftime('%Y%m%d-%H%M%S')}.json"
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
