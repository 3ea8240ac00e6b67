"""The hidden states of a model reading stimuli: every layer's h (and an LSTM's cell state c,
and the gates) after each token, streamed to an HDF5 file a batch of sentences at a time.

Rows match `surprisal`'s token rows: one per user token, the closing `</s>` included, each
holding the state after the token's last piece (after the one before it, for a token with no
piece). Each sentence is read from a fresh state after `<eos>`; memory is bounded by a batch
(glibc's malloc gives freed blocks back: `hardware.give_back_freed_memory`). The file holds flat datasets:
`sentence_id`, `token_id` and `token` per row, and per layer L (from 1) `layer_L/h`,
`layer_L/c` and `layer_L/gates/<name>` (i, f, g, o of an LSTM; r, z, n of a GRU), each
(rows, units) float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .errors import LstmlmError
from .hardware import give_back_freed_memory
from .hdf5 import require_h5py, writing_hdf5
from .model import GATE_NAMES, evaluating
from .normalization import check_normalization
from .surprisal import EOS_TOKEN, Stimulus, placed_pieces
from .vocabulary import EOS

WHAT = ("h", "c", "gates")


def check_request(cell: str, num_layers: int, layers: list[int] | None,
                  what: tuple[str, ...]) -> list[int]:
    """The layers (from 1) to write, all if `layers` is None, once `what` is known to exist
    in a `cell` network of `num_layers` layers."""
    unknown = sorted(set(what) - set(WHAT))
    if unknown or not what:
        raise LstmlmError(f"what must name some of {', '.join(WHAT)}, got "
                          f"{', '.join(what) or 'nothing'}")
    if "c" in what and cell != "lstm":
        raise LstmlmError(f"a {cell} cell has no cell state c (an LSTM has)")
    if "gates" in what and cell not in GATE_NAMES:
        raise LstmlmError(f"a {cell} cell has no gates (an LSTM and a GRU have)")
    layers = list(range(1, num_layers + 1)) if layers is None else layers
    outside = [layer for layer in layers if not 1 <= layer <= num_layers]
    if outside or not layers:
        raise LstmlmError(f"layer {outside[0] if outside else 'none'} is outside the model's "
                          f"{num_layers} layers (numbered from 1)")
    return sorted(set(layers))


@torch.no_grad()
def write_states(model, stimuli: list[Stimulus], path: str | Path,
                 layers: list[int] | None = None, what: tuple[str, ...] = ("h",),
                 normalization: str | None = None, batch_size: int = 16) -> Path:
    """Write the states `what` (WHAT) of `layers` (from 1; None: all) after every token of
    `stimuli` to the HDF5 file `path`, as the module docstring lays it out. A batch holds
    each step's gates and states for every position of its sentences, so it is smaller than
    scoring's (16 sentences: 100,009 tokens on 2 × 650 units peaked at 427 MB against
    570 MB for 64, on an AMD EPYC Zen 4 with 2 cores)."""
    network = model.network
    layers = check_request(network.cell, network.num_layers, layers, tuple(what))
    require_h5py()
    normalization = check_normalization(normalization or model.normalization)
    give_back_freed_memory()
    sentences = placed_pieces(stimuli, normalization)
    eos = model.vocab.ids[EOS]
    with writing_hdf5(path) as file, evaluating(network):
        file.attrs.update({"normalization": normalization, "cell": network.cell,
                           "context": "each sentence from a fresh state after <eos>",
                           "ablation": _ablation_text(network.ablation)})
        rows = 0
        for first in range(0, len(sentences), batch_size):
            batch = sentences[first:first + batch_size]
            encoded = [[eos] + model.vocab.encode([piece for _, _, pieces in sentence
                                                   for piece in pieces]).tolist() + [eos]
                       for sentence in batch]
            ids = torch.full((len(batch), max(map(len, encoded))), eos, dtype=torch.long)
            for row, sentence_ids in enumerate(encoded):
                ids[row, :len(sentence_ids)] = torch.tensor(sentence_ids)
            ids = ids.to(network.device)
            _, _, records = network.stepwise(network.embedding(ids),
                                             network.init_state(len(batch)), frozenset(what))
            # Per sentence, the step after each token's last piece (step 0 read the <eos>).
            positions, keys, tokens = [], [], []
            for row, sentence in enumerate(batch):
                read = 0
                for token_id, (_, token, pieces) in enumerate(sentence, start=1):
                    read += len(pieces)
                    positions.append((row, read))
                    keys.append((first + row + 1, token_id))
                    tokens.append(token)
                positions.append((row, read + 1))
                keys.append((first + row + 1, len(sentence) + 1))
                tokens.append(EOS_TOKEN)
            at = tuple(torch.tensor(column) for column in zip(*positions))
            values = {"sentence_id": np.array([key[0] for key in keys], dtype=np.int32),
                      "token_id": np.array([key[1] for key in keys], dtype=np.int32),
                      "token": np.array([token.encode("utf-8") for token in tokens],
                                        dtype=object)}
            for layer in layers:
                recorded = records[layer - 1]
                for name in ("h", "c"):
                    if name in what:
                        values[f"layer_{layer}/{name}"] = recorded[name][at].float().cpu().numpy()
                for gate, tensor in recorded.get("gates", {}).items():
                    values[f"layer_{layer}/gates/{gate}"] = tensor[at].float().cpu().numpy()
            _append(file, values, rows)
            rows += len(keys)
    return Path(path)


def _append(file, values: dict[str, np.ndarray], rows: int) -> None:
    """Append each array's rows to the dataset of its name, made resizable on first use."""
    h5py = require_h5py()
    for name, array in values.items():
        if name not in file:
            dtype = h5py.string_dtype("utf-8") if array.dtype == object else array.dtype
            file.create_dataset(name, shape=(0,) + array.shape[1:], dtype=dtype,
                                maxshape=(None,) + array.shape[1:], chunks=True)
        dataset = file[name]
        dataset.resize(rows + len(array), axis=0)
        dataset[rows:] = array


def _ablation_text(ablation: dict[int, torch.Tensor]) -> str:
    """The ablation as `--ablate` writes it (layers from 1), or empty."""
    return " ".join(f"{layer + 1}:{','.join(map(str, units.tolist()))}"
                    for layer, units in sorted(ablation.items()))
