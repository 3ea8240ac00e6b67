"""Small re-statements of the published recurrent LMs' modules, pickled whole under the module
paths of their repositories, as their checkpoints are: pytorch/examples' `model.RNNModel`
(which colorlessgreenRNNs and neural-complexity share) and salesforce/awd-lstm-lm's
`model.RNNModel`, `weight_drop.WeightDrop` and `splitcross.SplitCrossEntropyLoss`.

Each class keeps the attribute names and the forward computation of the original, written
here from its description; `save` pickles an object while modules of those names exist, and
removes them again, so that loading finds none of this code.
"""

from __future__ import annotations

import sys
import types
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class WordLanguageModel(nn.Module):
    """pytorch/examples' RNNModel: embedding, dropout, a multi-layer nn.LSTM/GRU/RNN over
    (steps, batch) input, dropout, a linear decoder (tied to the embedding if asked)."""

    def __init__(self, rnn_type: str, ntoken: int, ninp: int, nhid: int, nlayers: int,
                 dropout: float = 0.5, tie_weights: bool = False):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            self.rnn = nn.RNN(ninp, nhid, nlayers, dropout=dropout,
                              nonlinearity={"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type])
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def init_hidden(self, batch: int):
        zeros = self.encoder.weight.new_zeros(self.nlayers, batch, self.nhid)
        return (zeros, zeros.clone()) if self.rnn_type == "LSTM" else zeros

    def forward(self, input_ids, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(input_ids)), hidden)
        return self.decoder(self.drop(output)), hidden


class TransformerModel(nn.Module):
    """Stands for pytorch/examples' Transformer: only its name matters to the import."""

    def __init__(self, ntoken: int, ninp: int):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.decoder = nn.Linear(ninp, ntoken)


class WeightDrop(nn.Module):
    """awd-lstm-lm's DropConnect wrapper: the wrapped module's `weight_hh_l0` parameter is
    replaced by `weight_hh_l0_raw`, and a dropped copy is set on the module before each call."""

    def __init__(self, module: nn.Module, weights: list[str], dropout: float = 0.0):
        super().__init__()
        self.module, self.weights, self.dropout = module, weights, dropout
        for name in weights:
            weight = getattr(module, name)
            del module._parameters[name]
            module.register_parameter(name + "_raw", nn.Parameter(weight.data))
        self._set_weights()

    def _set_weights(self):
        for name in self.weights:
            raw = getattr(self.module, name + "_raw")
            setattr(self.module, name, F.dropout(raw, p=self.dropout, training=self.training))

    def forward(self, *args):
        self._set_weights()
        return self.module(*args)


class AwdLstmModel(nn.Module):
    """awd-lstm-lm's RNNModel: one nn.LSTM per layer (the last as wide as the embedding),
    WeightDrop on each if wdrop, a decoder tied to the embedding if asked."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, wdrop: float = 0.0,
                 tie_weights: bool = True, rnn_type: str = "LSTM"):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        rnns = [nn.LSTM(ninp if layer == 0 else nhid, nhid if layer != nlayers - 1 else ninp, 1)
                for layer in range(nlayers)]
        if wdrop:
            rnns = [WeightDrop(rnn, ["weight_hh_l0"], dropout=wdrop) for rnn in rnns]
        self.rnns = nn.ModuleList(rnns)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.rnn_type, self.ninp, self.nhid, self.nlayers = rnn_type, ninp, nhid, nlayers
        self.dropout, self.dropouti, self.dropouth, self.dropoute = 0.4, 0.65, 0.3, 0.1

    def init_hidden(self, batch: int):
        sizes = [self.nhid] * (self.nlayers - 1) + [self.ninp]
        return [(self.encoder.weight.new_zeros(1, batch, size),
                 self.encoder.weight.new_zeros(1, batch, size)) for size in sizes]

    def forward(self, input_ids, hidden):
        output, new_hidden = self.encoder(input_ids), []
        for rnn, state in zip(self.rnns, hidden):
            output, state = rnn(output, state)
            new_hidden.append(state)
        return self.decoder(output), new_hidden


class SplitCrossEntropyLoss(nn.Module):
    """awd-lstm-lm's criterion: its vocabulary split points, [0] + splits + [a large number],
    and a head vector and bias per tail cluster."""

    def __init__(self, hidden_size: int, splits: list[int]):
        super().__init__()
        self.splits = [0] + splits + [100 * 1000000]
        self.nsplits = len(self.splits) - 1
        if self.nsplits > 1:
            self.tail_vectors = nn.Parameter(torch.zeros(self.nsplits - 1, hidden_size))
            self.tail_bias = nn.Parameter(torch.zeros(self.nsplits - 1))


# The repositories' module paths of each class.
MODULES = {"model": {"RNNModel": WordLanguageModel, "TransformerModel": TransformerModel},
           "weight_drop": {"WeightDrop": WeightDrop},
           "splitcross": {"SplitCrossEntropyLoss": SplitCrossEntropyLoss}}
AWD_MODULES = {**MODULES, "model": {"RNNModel": AwdLstmModel}}


@contextmanager
def published_modules(modules: dict):
    """The classes importable under their repositories' module paths, for pickling."""
    saved = {}
    for module_name, classes in modules.items():
        module = types.ModuleType(module_name)
        for class_name, cls in classes.items():
            saved[cls] = (cls.__module__, cls.__qualname__)
            cls.__module__, cls.__qualname__ = module_name, class_name
            setattr(module, class_name, cls)
        sys.modules[module_name] = module
    try:
        yield
    finally:
        for module_name in modules:
            sys.modules.pop(module_name, None)
        for cls, (module_name, qualname) in saved.items():
            cls.__module__, cls.__qualname__ = module_name, qualname


def save(obj, path: Path, legacy: bool = False) -> Path:
    """Pickle `obj` as `torch.save` does for the published scripts (the legacy, pre-1.6
    layout if `legacy`), its classes under the original module paths."""
    modules = AWD_MODULES if _holds(obj, AwdLstmModel) else MODULES
    with published_modules(modules), warnings.catch_warnings():
        # The legacy layout stores each module's source, which a class made here lacks.
        warnings.filterwarnings("ignore", "Couldn't retrieve source code")
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def _holds(obj, cls) -> bool:
    return isinstance(obj, cls) or isinstance(obj, (list, tuple)) and any(
        isinstance(item, cls) for item in obj)


def as_saved_on_cuda(path: Path) -> Path:
    """Rewrite a zip checkpoint's storage locations from `cpu` to `cuda:0`, as a checkpoint
    saved on a GPU records them."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    pickle_name = next(name for name in members if name.endswith("data.pkl"))
    # Protocol 2's BINUNICODE: 'X', a 4-byte little-endian length, the UTF-8 text.
    members[pickle_name] = members[pickle_name].replace(b"X\x03\x00\x00\x00cpu",
                                                        b"X\x06\x00\x00\x00cuda:0")
    assert b"cuda:0" in members[pickle_name]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@torch.no_grad()
def original_logprobs(model: nn.Module, ids: list[int], window: int | None = None) -> torch.Tensor:
    """The natural-log probability of each id after the first under the original module's
    forward pass at batch 1 in eval mode, over (steps, batch) input, the state carried from
    window to window of `window` steps (the whole sequence at once if None)."""
    model.eval()
    stream = torch.tensor(ids)[:, None]
    window = window or len(ids)
    hidden, pieces = model.init_hidden(1), []
    for start in range(0, len(ids) - 1, window):
        inputs = stream[start:start + window]
        targets = stream[start + 1:start + 1 + window]
        logits, hidden = model(inputs[:len(targets)], hidden)
        pieces.append(torch.log_softmax(logits.double(), -1)[:, 0].gather(1, targets).squeeze(1))
    return torch.cat(pieces)


def stand_ins(folder: Path, model) -> None:
    """Checkpoints in the published layouts, holding the weights of `model` (a LanguageModel
    of one fused LSTM, embeddings as wide as its layers), under the published names: the
    English GRNN of colorlessgreenRNNs (`hidden650_batch128_dropout0.2_lr20.0.pt`, pickled in
    the pre-1.6 layout, and its `vocab.txt`) and an awd-lstm-lm `PTB.pt`; for the docs."""
    network, words = model.network, model.vocab.words
    layers, size = network.num_layers, network.hidden_size
    grnn = WordLanguageModel("LSTM", len(words), size, size, layers, 0.2)
    awd = AwdLstmModel(len(words), size, size, layers, wdrop=0.5, tie_weights=False)
    with torch.no_grad():
        for target in (grnn, awd):
            target.encoder.weight.copy_(network.embedding.weight)
            target.decoder.weight.copy_(network.decoder.weight)
            target.decoder.bias.copy_(network.decoder.bias)
        for index in range(layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                tensor = getattr(network.lstm, f"{name}_l{index}")
                getattr(grnn.rnn, f"{name}_l{index}").copy_(tensor)
                inner = awd.rnns[index].module
                raw = "_raw" if name == "weight_hh" else ""
                getattr(inner, f"{name}_l0{raw}").copy_(tensor)
    save(grnn, folder / "hidden650_batch128_dropout0.2_lr20.0.pt", legacy=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    save([awd, SplitCrossEntropyLoss(size, []), torch.optim.SGD(awd.parameters(), lr=30)],
         folder / "PTB.pt")
    (folder / "ptb.train.txt").write_text(" ".join(words) + "\n", encoding="utf-8")
