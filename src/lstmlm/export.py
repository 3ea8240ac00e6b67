"""Model folders: a trained model on its own, to be loaded on any machine.

`lstmlm export RUN_DIR OUT_DIR` (and `lstmlm import`, for a published model) writes:
  config.json        the Config as asked, `format_version`, `weights_sha256` (and `source`)
  plan.json          the plan the run trained by (its shape, precision and schedule)
  vocab.json         the vocabulary, in id order
  model.safetensors  one set of weights (the best-on-valid ones unless asked for the last)
  README.md          a model card: what was trained, on what, how well, and how to load it
  model.onnx         with --onnx: the network for ONNX runtimes, state carried by the caller

Every command and function that takes a run directory takes such a folder too. Tensors are
saved on the CPU, so a folder written from a GPU run loads on a machine without one.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shlex
import warnings
from pathlib import Path

import torch

from . import checkpoint
from .budget import plural
from .builders import build_network
from .config import Config, ModelConfig, format_value
from .datasets import file_digest
from .errors import LstmlmError
from .files import atomic_write_text, default_mode, replacing_folder
from .model import RecurrentLanguageModel, evaluating
from .normalization import model_normalization
from .plan import RunPlan, load_plans, plans_json
from .presets import PRESETS, get_preset
from .rundir import RunDir
from .vocabulary import Vocabulary

# 1: config.json held what the run trained with; 2: the request, with the plan in plan.json;
# 3: config.json also holds the weights' SHA-256 (and an imported model's source).
FORMAT_VERSION = 3
CONFIG = "config.json"
PLAN = "plan.json"
VOCAB = "vocab.json"
WEIGHTS = "model.safetensors"
CARD = "README.md"
ONNX = "model.onnx"
WEIGHT_CHOICES = ("best", "last")


def is_model_folder(path: str | Path) -> bool:
    """Whether `path` is a model folder (rather than a run directory)."""
    return (Path(path) / WEIGHTS).is_file()


def load_parts(path: str | Path, weights: str = "best"
               ) -> tuple[Config, RunPlan, Vocabulary, RecurrentLanguageModel]:
    """The request, the plan, the vocabulary and the network (on the CPU, in eval mode) of a
    run directory or a model folder. A run directory gives its best-on-valid weights or, with `weights="last"`,
    those training ended with; a model folder holds one set and takes `weights="best"`."""
    if weights not in WEIGHT_CHOICES:
        raise LstmlmError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    if is_model_folder(path):
        if weights != "best":
            raise LstmlmError(f"{path} is a model folder: it holds one set of weights "
                              f"(choose best or last when exporting it)")
        return _read_folder(Path(path))
    run_dir = RunDir.open(path)
    config, plan, vocab = run_dir.load_config(), run_dir.load_plan(), run_dir.load_vocab()
    network = build_network(plan.model, plan.regularisation, len(vocab))
    if weights == "best":
        checkpoint.load_weights(run_dir / RunDir.BEST, network)
    else:
        checkpoint.load_training_weights(run_dir / RunDir.LAST, network)
    return config, plan, vocab, network.eval()


def export(run_dir: str | Path, out_dir: str | Path, *, weights: str = "best",
           onnx: bool = False) -> Path:
    """Write the model folder of a run to `out_dir` (which must not exist, or be empty), with
    `model.onnx` too if `onnx`."""
    if onnx and importlib.util.find_spec("onnx") is None:
        raise LstmlmError("--onnx needs the onnx package: pip install -e \".[onnx]\"")
    out_dir = check_new_folder(out_dir)
    if is_model_folder(run_dir):
        raise LstmlmError(f"{run_dir} is already a model folder")
    config, plan, vocab, network = load_parts(run_dir, weights)
    card = model_card(RunDir.open(run_dir), config, plan, vocab, network, weights, out_dir, onnx)
    return write_folder(out_dir, config, plan, vocab, network, card, onnx=onnx,
                        metadata={"weights": weights})


def check_new_folder(out_dir: str | Path) -> Path:
    """`out_dir`, which must not exist or be an empty folder (checked before any work)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise LstmlmError(f"{out_dir} already exists and is not an empty folder")
    return out_dir


def write_folder(out_dir: Path, config: Config, plan: RunPlan, vocab: Vocabulary,
                 network: RecurrentLanguageModel, card: str, *, onnx: bool = False,
                 metadata: dict | None = None, source: dict | None = None) -> Path:
    """Write a model folder: the request, the plan, the vocabulary, the weights (their SHA-256
    in config.json), the model card `card`, and `model.onnx` if `onnx`; `source` records where
    an imported model came from.

    The folder appears whole or not at all: it is written beside `out_dir` and renamed over
    it (which `check_new_folder` has found absent or empty).
    """
    with replacing_folder(out_dir) as staging:
        checkpoint.save_weights(staging / WEIGHTS, network, metadata)
        header = {"format_version": FORMAT_VERSION,
                  "weights_sha256": file_digest(staging / WEIGHTS),
                  **({"source": source} if source else {})}
        atomic_write_text(staging / CONFIG, json.dumps({**header, **config.to_dict()},
                                                       indent=2) + "\n")
        atomic_write_text(staging / PLAN, plans_json([plan]))
        vocab.save(staging / VOCAB)
        if onnx:
            export_onnx(network, staging / ONNX)
        atomic_write_text(staging / CARD, card)
        os.chmod(staging, default_mode(directory=True))
    return out_dir


class _StateInOut(torch.nn.Module):
    """The network with its recurrent state as separate tensors, as ONNX graphs take them."""

    def __init__(self, network: RecurrentLanguageModel):
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, *state: torch.Tensor):
        logits, new_state = self.network(input_ids, tuple(state))
        return (logits, *new_state)


def onnx_names(network: RecurrentLanguageModel) -> tuple[list[str], list[str]]:
    """The ONNX graph's input and output names: `input_ids` and `state_0`... in, `logits` and
    `new_state_0`... out, the state tensors in the order of `network.init_state`."""
    count = len(network.init_state(1))
    return (["input_ids"] + [f"state_{index}" for index in range(count)],
            ["logits"] + [f"new_state_{index}" for index in range(count)])


def export_onnx(network: RecurrentLanguageModel, path: Path) -> None:
    """Write `network` as ONNX: inputs `input_ids` (batch, steps) int64 and the state tensors,
    outputs `logits` (batch, steps, vocab) and the new state; batch and steps are dynamic.

    The TorchScript-based exporter (`dynamo=False`) is used: it turns `nn.LSTM` into ONNX's
    own LSTM operator.
    """
    inputs, outputs = onnx_names(network)
    example_ids = torch.zeros((2, 3), dtype=torch.long, device=network.device)
    example_state = network.init_state(2)
    batch_axes = {name: {1: "batch"} for name in inputs[1:] + outputs[1:]}
    with evaluating(network), warnings.catch_warnings():
        # The exporter warns that LSTM state must be an input for other batch sizes: it is.
        warnings.simplefilter("ignore")
        torch.onnx.export(_StateInOut(network), (example_ids, *example_state), str(path),
                          dynamo=False, input_names=inputs, output_names=outputs,
                          dynamic_axes={"input_ids": {0: "batch", 1: "steps"},
                                        "logits": {0: "batch", 1: "steps"}, **batch_axes},
                          opset_version=17)


def onnx_perplexity(folder: str | Path, ids: torch.Tensor, num_steps: int = 100) -> float:
    """The stream perplexity of `ids` through the folder's `model.onnx` under onnxruntime, at
    batch 1 with the state carried from window to window: what `lstmlm eval` computes through
    PyTorch, to check an export against."""
    import onnxruntime  # optional: pip install -e ".[onnx]"

    folder = Path(folder)
    if not (folder / ONNX).is_file():
        raise LstmlmError(f"{folder} has no {ONNX} (export it with --onnx)")
    session = onnxruntime.InferenceSession(str(folder / ONNX), providers=["CPUExecutionProvider"])
    state_inputs = session.get_inputs()[1:]
    state_names = [node.name for node in state_inputs]
    # Zeros to start, each (layers, batch, units) with the dynamic batch axis at 1.
    state = [torch.zeros([size if isinstance(size, int) else 1 for size in node.shape]).numpy()
             for node in state_inputs]
    total, ids = 0.0, ids.cpu()
    for start in range(0, len(ids) - 1, num_steps):
        window = ids[start:start + num_steps + 1]
        results = session.run(None, {"input_ids": window[None, :-1].numpy(),
                                     **dict(zip(state_names, state))})
        state = results[1:]
        total += torch.nn.functional.cross_entropy(torch.from_numpy(results[0][0]).double(),
                                                   window[1:], reduction="sum").item()
    return math.exp(total / (len(ids) - 1))


def _read_folder(folder: Path) -> tuple[Config, RunPlan, Vocabulary, RecurrentLanguageModel]:
    try:
        values = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LstmlmError(f"cannot read {folder / CONFIG}: {error}") from None
    if not isinstance(values, dict) or not isinstance(values.get("format_version"), int):
        raise LstmlmError(f"{folder / CONFIG} has no format_version: not a model folder")
    version = values.pop("format_version")
    if version > FORMAT_VERSION:
        raise LstmlmError(f"{folder} is a model folder of format {version}; this lstmlm reads "
                          f"format {FORMAT_VERSION} and older (upgrade lstmlm)")
    recorded = values.pop("weights_sha256", None)
    values.pop("source", None)
    if recorded is not None and file_digest(folder / WEIGHTS) != recorded:
        raise LstmlmError(f"{folder / WEIGHTS} does not match the SHA-256 that {CONFIG} records: "
                          f"the file is damaged or was changed")
    config = Config.from_dict(values)
    plan = load_plans(folder / PLAN)[-1] if version >= 2 else RunPlan.of(config)
    vocab = Vocabulary.load(folder / VOCAB)
    network = build_network(plan.model, plan.regularisation, len(vocab))
    checkpoint.load_weights(folder / WEIGHTS, network)
    return config, plan, vocab, network.eval()


def training_command(config: Config) -> str:
    """The `lstmlm train` command that gives `config`: its preset and the fields it changes."""
    preset = config.preset if config.preset in PRESETS else "small"
    base, values = get_preset(preset).flat(), config.flat()
    changed = [name for name, value in values.items() if name != "preset" and value != base[name]]
    return " ".join(["lstmlm train --preset", preset] +
                    [f"--set {shlex.quote(f'{name}={format_value(name, values[name])}')}"
                     for name in changed])


def softmax_description(model: ModelConfig) -> str:
    """The softmax layer in words; the adaptive one's logits are log-probabilities."""
    if model.softmax == "full":
        return "full softmax"
    cutoffs = format_value("adaptive_cutoffs", model.adaptive_cutoffs)
    return (f"adaptive softmax (cutoffs {cutoffs}, div_value {model.adaptive_div_value:g}; its "
            f"logits are log-probabilities)")


def model_card(run_dir: RunDir, config: Config, plan: RunPlan, vocab: Vocabulary,
               network: RecurrentLanguageModel, weights: str, folder: Path,
               onnx: bool = False) -> str:
    """The README.md of the model folder `folder`, from what the run recorded."""
    model = plan.model
    parameters = sum(tensor.numel() for tensor in checkpoint.model_tensors(network).values())
    results = run_dir.results() if (run_dir / RunDir.RESULTS).is_file() else None
    metrics = run_dir.metrics()
    lines = [f"# lstmlm model `{run_dir.name}`", "",
             f"A word-level {model.cell.upper()} language model trained with lstmlm.", "",
             "| | |", "|---|---|",
             f"| preset | `{config.preset}` |",
             f"| data | `{plan.data}` ({len(vocab):,} words in the vocabulary) |",
             f"| model | {plural(model.num_layers, 'layer')} of {model.hidden_size} units, "
             f"embeddings of {model.embedding_size or model.hidden_size}, tied weights: "
             f"{'yes' if model.tie_weights else 'no'}; {softmax_description(model)}; "
             f"{parameters:,} parameters |",
             f"| precision | {plan.precision} |",
             f"| text normalisation | `{model_normalization(config.data)}`: how `pairs`, "
             f"`surprisal` and `syntaxgym` bring text to the model's conventions by default |",
             f"| epochs trained | {len(metrics)} |"]
    if weights == "best" and results is not None:
        lines += [f"| weights | best on valid (epoch {results['best_epoch']}) |",
                  f"| valid perplexity | {results['valid_ppl']:.2f} |",
                  f"| test perplexity | {results['test_ppl']:.2f} |"]
    elif weights == "best":
        best = min(metrics, key=lambda entry: entry.valid_ppl) if metrics else None
        lines.append(f"| weights | best on valid so far (epoch {best.epoch}, valid perplexity "
                     f"{best.valid_ppl:.2f}); the run had not finished |" if best else
                     "| weights | the run had not finished an epoch |")
    else:
        last_test = results.get("last_test_ppl", results["test_ppl"]) if results else None
        lines += ["| weights | last (those training ended with) |"] + (
            [f"| test perplexity | {last_test:.2f} |"] if last_test is not None else [])
    if results is not None and "machine" in results:
        lines.append(f"| trained on | {results['machine']} |")
    if results is not None:
        lines.append(f"| training time | {results['elapsed_seconds'] / 60:.1f} min |")
    if onnx:
        inputs, outputs = onnx_names(network)
        # Every state tensor is (layers, batch, units), batch the dynamic axis.
        shapes = ", ".join(f"`{name}` ({tensor.size(0)}, batch, {tensor.size(2)})"
                           for name, tensor in zip(inputs[1:], network.init_state(1)))
        lines += ["", f"`{ONNX}`: inputs `input_ids` (batch, steps) int64 and the state "
                  f"({shapes}, float32; zeros to start); outputs `logits` (batch, steps, "
                  f"{len(vocab)}) and {', '.join(f'`{name}`' for name in outputs[1:])}, the "
                  f"state to pass with the next window."]
    lines += ["", "Trained with:", "", "```bash", training_command(config), "```", "",
              "Use it:", "", "```bash", f"lstmlm eval {folder} --split test",
              f"lstmlm generate {folder} --prime \"the\" --words 20", "```", "",
              "```python", "import lstmlm", f"model = lstmlm.load({str(folder)!r})",
              "print(model.generate(\"the\", 20))", "```", ""]
    return "\n".join(lines)
