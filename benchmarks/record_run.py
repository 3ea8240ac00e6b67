"""Record a finished training run as a result file (benchmarks/results/run-*.json), from which
the README's results table is generated.

    python benchmarks/record_run.py RUN_DIR --command "lstmlm train --preset small" [--note TEXT]

It copies what the run wrote (results.json, config.json): the preset, the data, the test
perplexity, the wall time and the machine. `--note` says what a reader must know about the
number, such as another process having shared the machine.
"""

import argparse
import datetime
import json
import re
from pathlib import Path

import torch
from common import RESULTS

from lstmlm.rundir import RunDir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--command", required=True, help="the command that trained the run")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    run_dir = RunDir.open(args.run_dir)
    results, config = run_dir.results(), run_dir.load_config()
    corpus = run_dir.load_plan().data
    data = corpus if "/" not in corpus else Path(corpus).name
    # The run may come from another machine: its machine line names the PyTorch it ran.
    trained_with = re.search(r"torch (\S+)", results["machine"])
    record = {"benchmark": "run", "command": args.command, "preset": config.preset,
              "data": data, "test_ppl": results["test_ppl"], "valid_ppl": results["valid_ppl"],
              "epochs": len(run_dir.metrics()), "elapsed_seconds": results["elapsed_seconds"],
              "machine": results["machine"], "torch": trained_with.group(1) if trained_with
              else torch.__version__,
              "date": datetime.date.today().isoformat(), "note": args.note}
    slug = re.sub(r"[^a-z0-9]+", "-", f"{config.preset}-{data}").strip("-")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"run-{slug}-{stamp}.json"
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
