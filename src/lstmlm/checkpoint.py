"""Tensor state saved as safetensors: model weights, and everything a resume needs.

Nothing is unpickled: tensors go into safetensors files and the rest (training position,
optimizer settings, the gradient scaler) into their JSON metadata. Where the files live is
`rundir`'s business.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import LstmlmError, WriteError
from .files import atomic_write


def model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state as CPU tensors, each shared (tied) tensor once under its first name."""
    tensors, seen = {}, set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue  # safetensors refuses shared memory; the model re-ties it on load
        seen.add(tensor.data_ptr())
        tensors[name] = tensor.detach().cpu().contiguous()
    return tensors


def load_model_tensors(model: torch.nn.Module, tensors: dict, source: Path) -> None:
    """Load what model_tensors saved; only tied names may be missing."""
    tied = set(model.state_dict()) - set(model_tensors(model))
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as error:
        # PyTorch writes a header line, then one line per mismatch; the first names the problem.
        lines = [line.strip() for line in str(error).splitlines()]
        more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
        raise LstmlmError(f"{source} does not match the model: {lines[min(1, len(lines) - 1)]}"
                          f"{more}") from None
    if set(missing) - tied or unexpected:
        raise LstmlmError(f"{source} does not match the model: missing {sorted(set(missing) - tied)}, "
                          f"unexpected {sorted(unexpected)}")


def save_weights(path: Path, model: torch.nn.Module, metadata: dict | None = None) -> None:
    _save(path, model_tensors(model), metadata or {})


def load_weights(path: Path, model: torch.nn.Module) -> dict:
    """Load safetensors weights into `model`; returns the file's JSON metadata."""
    tensors, metadata = _load(path)
    load_model_tensors(model, tensors, path)
    return metadata


def load_training_weights(path: Path, model: torch.nn.Module) -> None:
    """Load only the model weights of a training state that save_training_state wrote."""
    tensors, _ = _load(path)
    load_model_tensors(model, _model_part(tensors), path)


def _model_part(tensors: dict) -> dict:
    return {name[len("model."):]: tensor for name, tensor in tensors.items()
            if name.startswith("model.")}


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's random number generator states: the CPU's, and its GPU's on CUDA."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def save_training_state(path: Path, model, optimizer, state: dict, hidden=None,
                        scaler_state: dict | None = None,
                        other_ranks_rng: list[dict[str, torch.Tensor]] = ()) -> None:
    """Everything needed to continue training exactly where it stopped, as one atomic file
    (`scaler_state`: the fp16 gradient scaler's, plain numbers). A distributed run's rank 0
    saves it, with the random states of ranks 1, 2, ... (`other_ranks_rng`, rng_state's)."""
    tensors = {f"model.{name}": tensor for name, tensor in model_tensors(model).items()}
    optimizer_state = optimizer.state_dict()
    optimizer_plain = {"param_groups": optimizer_state["param_groups"], "state": {}}
    for index, values in optimizer_state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                optimizer_plain["state"].setdefault(str(index), {})[key] = value
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for index, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = rng
    for rank, states in enumerate(other_ranks_rng, start=1):
        for kind, rng in states.items():
            tensors[f"rng.rank{rank}.{kind}"] = rng
    if hidden is not None:
        for index, tensor in enumerate(hidden):
            tensors[f"hidden.{index}"] = tensor.detach().cpu().contiguous()
    _save(path, tensors, {"state": state, "optimizer": optimizer_plain,
                          "scaler": scaler_state})


def load_training_state(path: Path, model, optimizer_for, device: torch.device, rank: int = 0):
    """Restore what save_training_state wrote, with the random states of process `rank`;
    `optimizer_for(state)` builds the optimizer the saved state was using. Returns (state dict,
    hidden state or None, optimizer, the gradient scaler's state or None)."""
    tensors, metadata = _load(path)
    optimizer = optimizer_for(metadata["state"])
    load_model_tensors(model, _model_part(tensors), path)
    optimizer_plain = metadata["optimizer"]
    optimizer_state = {"param_groups": optimizer_plain["param_groups"], "state": {}}
    for index, values in optimizer_plain["state"].items():
        optimizer_state["state"].setdefault(int(index), {}).update(values)
    for name, tensor in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            optimizer_state["state"].setdefault(int(index), {})[key] = tensor
    optimizer.load_state_dict(optimizer_state)
    if rank == 0:
        torch.set_rng_state(tensors["rng.cpu"])
        cuda_states = [tensors[name] for name in sorted(tensors) if name.startswith("rng.cuda.")]
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_states)
    else:
        if f"rng.rank{rank}.cpu" not in tensors:
            raise LstmlmError(f"{path} has no random state for rank {rank}")
        torch.set_rng_state(tensors[f"rng.rank{rank}.cpu"])
        if device.type == "cuda" and f"rng.rank{rank}.cuda" in tensors:
            torch.cuda.set_rng_state(tensors[f"rng.rank{rank}.cuda"], device)
    hidden_names = sorted((name for name in tensors if name.startswith("hidden.")),
                          key=lambda name: int(name.split(".")[1]))
    hidden = tuple(tensors[name].to(device) for name in hidden_names) or None
    return metadata["state"], hidden, optimizer, metadata.get("scaler")


def _save(path: Path, tensors: dict, metadata: dict) -> None:
    encoded = {key: json.dumps(value) for key, value in metadata.items()}

    def write(temp: Path) -> None:
        try:
            save_file(tensors, str(temp), metadata=encoded)
        except SafetensorError as error:
            # Its message wraps the operating system's ("I/O error: No space left on device
            # (os error 28)"; older versions: IoError(Os { ..., message: "..." })).
            cause = re.search(r'I/O error: (.+?) \(os error \d+\)|message: "([^"]+)"',
                              str(error))
            raise WriteError(f"cannot write {path}: "
                             f"{next(filter(None, cause.groups())) if cause else error}") from None

    atomic_write(path, write)


def _load(path: Path) -> tuple[dict, dict]:
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
    except FileNotFoundError:
        raise LstmlmError(f"checkpoint not found: {path}") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise LstmlmError(f"cannot read checkpoint {path}: {error}") from None
    return tensors, {key: json.loads(value) for key, value in raw.items()}
