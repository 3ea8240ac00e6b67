"""The PTB test perplexity of an exported model through onnxruntime against `lstmlm eval`.

    python benchmarks/onnx_parity.py MODEL_FOLDER

MODEL_FOLDER comes from `lstmlm export RUN_DIR MODEL_FOLDER --onnx`. The test split is streamed
through `model.onnx` in windows of 100 words at batch 1, the state carried from window to
window, as `lstmlm eval` streams it through PyTorch.
"""

import argparse
import time

from common import machine

import lstmlm
from lstmlm.builders import build_corpus
from lstmlm.export import onnx_perplexity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    args = parser.parse_args()
    model = lstmlm.load(args.folder, device="cpu")
    ids = build_corpus(model.config.data, model.vocab, model.plan.data).test
    began = time.perf_counter()
    torch_ppl = model.evaluate("test")
    torch_seconds = time.perf_counter() - began
    began = time.perf_counter()
    onnx_ppl = onnx_perplexity(args.folder, ids, model.config.evaluation.num_steps)
    onnx_seconds = time.perf_counter() - began
    print(f"machine: {machine()}")
    print(f"model folder {args.folder}, {len(ids) - 1:,} test targets")
    print("| runtime | test perplexity | seconds |\n|---|---|---|")
    print(f"| PyTorch (lstmlm eval) | {torch_ppl:.4f} | {torch_seconds:.1f} |")
    print(f"| onnxruntime | {onnx_ppl:.4f} | {onnx_seconds:.1f} |")
    print(f"relative difference: {abs(onnx_ppl - torch_ppl) / torch_ppl:.2e}")


if __name__ == "__main__":
    main()
