"""The first thing to run on a CUDA machine: one command, at most about 8 minutes, a Markdown
report.

    python benchmarks/gpu_check.py [--out REPORT.md]

In order, each step with its own time limit, its command, exit status, time and output:
1. the tests marked `gpu`;
2. `throughput.py` for small, medium, large and awd, in fp32 and in the `auto` precision;
3. `lstmlm train --preset awd --time-budget 3m`;
4. a one-process `torchrun` training run, which joins its process group over NCCL;
5. ONNX parity: that CUDA-trained run exported with `--onnx`, loaded on the CPU, its test
   perplexity through PyTorch against onnxruntime.
The report goes to benchmarks/results/gpu_check-GPU-DATE.md unless `--out` says otherwise.
PTB is found as `lstmlm` finds it: point LSTMLM_DATA_DIR at a folder with `ptb/`. Without
CUDA it says so in one line and exits 0.
"""

import argparse
import datetime
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable


def steps(scratch: Path) -> list[tuple[str, list[str], int]]:
    """(title, command, seconds allowed) of each step."""
    runs, folder = scratch / "runs", scratch / "model"
    lstmlm = [PYTHON, "-m", "lstmlm"]
    throughput = [PYTHON, str(ROOT / "benchmarks" / "throughput.py"), "--device", "cuda",
                  "--seconds", "5", "--presets", "small", "medium", "large", "awd"]
    return [
        ("GPU tests", [PYTHON, "-m", "pytest", "-q", "-m", "gpu", str(ROOT / "tests")], 90),
        ("throughput, fp32", throughput + ["--set", "precision=fp32"], 75),
        ("throughput, auto precision", throughput + ["--set", "precision=auto"], 75),
        ("awd in a 3-minute budget", lstmlm + ["train", "--preset", "awd", "--time-budget",
                                               "3m", "--runs-dir", str(runs), "--quiet"], 210),
        ("torchrun, one process over NCCL",
         [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m",
          "lstmlm", "train", "--preset", "small", "--device", "cuda", "--time-budget", "60s",
          "--runs-dir", str(runs), "--name", "nccl", "--quiet"], 90),
        ("export the CUDA-trained run with ONNX",
         lstmlm + ["export", str(runs / "nccl"), str(folder), "--onnx"], 30),
        ("ONNX parity on the CPU",
         [PYTHON, str(ROOT / "benchmarks" / "onnx_parity.py"), str(folder)], 60),
    ]


def shown(command: list[str]) -> str:
    """`command` as a reader would type it: `python`, and paths inside the checkout relative."""
    return " ".join("python" if word == PYTHON else word.replace(f"{ROOT}/", "")
                    for word in command)


def run_step(title: str, command: list[str], seconds: int) -> tuple[list[str], bool]:
    began = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds,
                                cwd=ROOT)
        status, output = f"exit {result.returncode}", result.stdout + result.stderr
        passed = result.returncode == 0
    except subprocess.TimeoutExpired as error:
        status, passed = f"stopped after its {seconds} s", False
        output = (error.stdout or b"").decode(errors="replace") + \
            (error.stderr or b"").decode(errors="replace")
    took = time.perf_counter() - began
    tail = "\n".join(output.strip().splitlines()[-40:])
    lines = [f"## {title}: {'passed' if passed else 'FAILED'} ({status}, {took:.0f} s)", "",
             "```console", f"$ {shown(command)}", tail, "```", ""]
    print(f"{title}: {'passed' if passed else 'FAILED'} ({status}, {took:.0f} s)", flush=True)
    return lines, passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the report")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to check")
        return 0
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import machine

    gpu = torch.cuda.get_device_name(0)
    now = datetime.datetime.now(datetime.timezone.utc)
    report = [f"# GPU check on {gpu}", "", f"{machine()}; {now:%Y-%m-%d %H:%M} UTC", ""]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for title, command, seconds in steps(Path(scratch)):
            lines, passed = run_step(title, command, seconds)
            report += lines
            results.append(passed)
    report.insert(4, f"{sum(results)} of {len(results)} steps passed.\n")
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    out = Path(args.out) if args.out else RESULTS / f"gpu_check-{slug}-{now:%Y%m%d-%H%M}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report) + "\n")
    print(f"wrote {out}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
