"""Published recurrent language models as lstmlm model folders.

Two checkpoint formats:
- `word-language-model`: pytorch/examples' `word_language_model`, whose checkpoints
  colorlessgreenRNNs (Gulordava et al. 2018) and neural-complexity share: a whole pickled
  `RNNModel` (`encoder` embedding, `rnn` an nn.LSTM, GRU or RNN, `decoder`), or its bare
  `state_dict` with the cell named by the caller.
- `awd-lstm`: salesforce/awd-lstm-lm's `[model, criterion, optimizer]` (or the model alone):
  a list of one-layer LSTMs, each possibly inside `WeightDrop` (`weight_hh_l0_raw`), the last
  layer as wide as the embedding, the decoder usually tied to it.

The checkpoint is read through `lstmlm.untrusted`, so none of its code runs. The vocabulary
comes from a word list in id order or is rebuilt from the training text as pytorch/examples'
`data.Dictionary` numbers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from . import untrusted
from .builders import build_network
from .checkpoint import load_model_tensors, model_tensors
from .config import Config, DataConfig, ModelConfig, RegularisationConfig
from .datasets import file_digest
from .errors import LstmlmError
from .export import check_new_folder, write_folder
from .model import RecurrentLanguageModel
from .normalization import check_normalization
from .plan import RunPlan
from .vocabulary import EOS, UNK, Vocabulary, words_of_lines

FORMATS = ("word-language-model", "awd-lstm")
CELL_OF_MODE = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
LAYER_TENSORS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
PRESET = "imported"  # the config's preset name for a model lstmlm did not train


@dataclass(frozen=True)
class PublishedWeights:
    """A published network in lstmlm's terms: per layer its four tensors (LAYER_TENSORS)."""

    cell: str
    embedding: torch.Tensor  # (vocabulary, embedding size)
    layers: tuple[dict[str, torch.Tensor], ...]
    decoder_weight: torch.Tensor
    decoder_bias: torch.Tensor
    tied: bool
    regularisation: RegularisationConfig = RegularisationConfig()

    @property
    def vocab_size(self) -> int:
        return self.embedding.size(0)

    def model_config(self) -> ModelConfig:
        shapes = [self.embedding, self.decoder_weight] + [layer[name] for layer in self.layers
                                                           for name in ("weight_ih", "weight_hh")]
        if any(tensor.dim() != 2 for tensor in shapes) or self.decoder_bias.dim() != 1:
            raise LstmlmError("the checkpoint's weights are not matrices (and its biases not "
                              "vectors) where an embedding, recurrent layers and a decoder have "
                              "them")
        embedding_size = self.embedding.size(1)
        hidden_size = self.layers[0]["weight_hh"].size(1)
        if self.layers[-1]["weight_hh"].size(1) != (embedding_size if self.tied else hidden_size):
            raise LstmlmError(f"the last layer has {self.layers[-1]['weight_hh'].size(1)} units; "
                              f"lstmlm's networks give it the embedding's size ({embedding_size}) "
                              f"when tied, else the other layers' ({hidden_size})")
        return ModelConfig(cell=self.cell, num_layers=len(self.layers), hidden_size=hidden_size,
                           embedding_size=None if embedding_size == hidden_size else embedding_size,
                           tie_weights=self.tied)

    def network(self, source: Path) -> RecurrentLanguageModel:
        """lstmlm's network holding these weights (in eval mode)."""
        network = build_network(self.model_config(), self.regularisation, self.vocab_size)
        state = {"embedding.weight": self.embedding}
        for index, layer in enumerate(self.layers):
            for name, tensor in layer.items():
                state[network.layer_key(index, name)] = tensor
        if not self.tied:
            state["decoder.weight"] = self.decoder_weight
        state["decoder.bias"] = self.decoder_bias
        load_model_tensors(network, {key: tensor.float() for key, tensor in state.items()},
                           source)
        return network.eval()


def _same_tensor(first: torch.Tensor, second: torch.Tensor) -> bool:
    return (first is second or first.shape == second.shape
            and first.untyped_storage().data_ptr() == second.untyped_storage().data_ptr()
            and first.storage_offset() == second.storage_offset())


def _layer(tensors: dict[str, torch.Tensor], suffix: str, where: str) -> dict[str, torch.Tensor]:
    """One layer's four tensors from `tensors` named `weight_ih{suffix}` and so on
    (`weight_hh{suffix}_raw` where WeightDrop holds it)."""
    layer = {}
    for name in LAYER_TENSORS:
        tensor = tensors.get(f"{name}{suffix}", tensors.get(f"{name}{suffix}_raw"))
        if tensor is None:
            raise LstmlmError(f"{where}: no {name}{suffix} (a layer without biases, or not a "
                              f"recurrent layer lstmlm reads)")
        layer[name] = tensor
    return layer


def _check_gates(layers: tuple[dict[str, torch.Tensor], ...], cell: str, where: str) -> None:
    rows, units = layers[0]["weight_hh"].shape
    if rows != GATES[cell] * units:
        raise LstmlmError(f"{where}: the recurrent weights have {rows} rows for {units} units, "
                          f"not the {GATES[cell] * units} of a {cell} cell")


# --- pytorch/examples' word_language_model -------------------------------------------------

def _word_language_model_accepts(name: str) -> bool:
    if name.endswith(".TransformerModel"):
        raise LstmlmError(f"the checkpoint holds {name}, pytorch/examples' Transformer: lstmlm "
                          f"imports its recurrent RNNModel")
    return name.endswith(".RNNModel") or name.startswith("torch.nn.modules.")


def read_word_language_model(path: Path, cell: str | None = None) -> PublishedWeights:
    """The weights of a word_language_model checkpoint: a whole `RNNModel`, or a state_dict
    whose cell (lstm, gru, rnn_tanh, rnn_relu) is `cell`."""
    loaded = untrusted.load(path, _word_language_model_accepts, "word-language-model")
    if isinstance(loaded, untrusted.Pickled):
        if not untrusted.source_of(loaded).endswith(".RNNModel"):
            raise LstmlmError(f"{path}: holds a {untrusted.source_of(loaded)}, not an RNNModel")
        rnn = untrusted.children(loaded).get("rnn")
        mode = untrusted.attribute(rnn, "mode") if isinstance(rnn, untrusted.Pickled) else None
        if mode not in CELL_OF_MODE:
            raise LstmlmError(f"{path}: its RNNModel has no nn.LSTM, GRU or RNN named rnn")
        if untrusted.attribute(rnn, "bidirectional") or untrusted.attribute(rnn, "proj_size"):
            raise LstmlmError(f"{path}: a bidirectional or projected recurrent layer cannot be "
                              f"a left-to-right language model lstmlm reads")
        found_cell = CELL_OF_MODE[mode]
        if cell is not None and cell != found_cell:
            raise LstmlmError(f"{path}: --cell {cell}, but the checkpoint's cell is {found_cell}")
        cell, tensors = found_cell, untrusted.tensors(loaded)
        layer_count = untrusted.attribute(rnn, "num_layers")
    elif isinstance(loaded, dict) and all(isinstance(value, torch.Tensor)
                                          for value in loaded.values()):
        if cell is None:
            raise LstmlmError(f"{path}: a bare state_dict does not say its cell: give --cell "
                              f"(lstm, gru, rnn_tanh or rnn_relu)")
        tensors = dict(loaded)
        layer_count = sum(name.startswith("rnn.weight_ih_l") for name in tensors)
    else:
        raise LstmlmError(f"{path}: neither a pickled RNNModel nor its state_dict "
                          f"(found {type(loaded).__name__})")
    for name in ("encoder.weight", "decoder.weight", "decoder.bias"):
        if name not in tensors:
            raise LstmlmError(f"{path}: no {name}: not a word_language_model checkpoint")
    if not layer_count:
        raise LstmlmError(f"{path}: no recurrent layer (rnn.weight_ih_l0)")
    recurrent = {name[len("rnn."):]: tensor for name, tensor in tensors.items()
                 if name.startswith("rnn.")}
    layers = tuple(_layer(recurrent, f"_l{index}", f"{path}: rnn")
                   for index in range(layer_count))
    _check_gates(layers, cell, str(path))
    return PublishedWeights(cell, tensors["encoder.weight"], layers, tensors["decoder.weight"],
                            tensors["decoder.bias"],
                            _same_tensor(tensors["encoder.weight"], tensors["decoder.weight"]))


# --- salesforce/awd-lstm-lm -----------------------------------------------------------------

def _awd_lstm_accepts(name: str) -> bool:
    if name.startswith("torchqrnn."):
        raise LstmlmError(f"the checkpoint holds {name}: AWD-LSTM's QRNN variant, which lstmlm "
                          f"does not import (its LSTM models it does)")
    return (name.rpartition(".")[2] in ("RNNModel", "WeightDrop", "LockedDropout",
                                        "SplitCrossEntropyLoss")
            or name.startswith(("torch.nn.modules.", "torch.optim.")))


def read_awd_lstm(path: Path) -> PublishedWeights:
    """The weights of an awd-lstm-lm checkpoint (`model_save`'s list, or the model alone)."""
    loaded = untrusted.load(path, _awd_lstm_accepts, "awd-lstm")
    parts = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
    model = parts[0]
    if not untrusted.source_of(model).endswith(".RNNModel"):
        raise LstmlmError(f"{path}: not awd-lstm-lm's [model, criterion, optimizer] nor its "
                          f"RNNModel (found {type(model).__name__})")
    rnn_type = untrusted.attribute(model, "rnn_type", "LSTM")
    if rnn_type != "LSTM":
        raise LstmlmError(f"{path}: an AWD-LSTM of {rnn_type} layers; lstmlm imports the LSTM "
                          f"ones")
    criterion = parts[1] if len(parts) > 1 else None
    splits = (list(untrusted.attribute(criterion, "splits") or [])
              if isinstance(criterion, untrusted.Pickled) else [])
    if len(splits) > 2:  # [0, ..., the end]: more than one cluster
        raise LstmlmError(
            f"{path}: its SplitCrossEntropyLoss splits the vocabulary at "
            f"{', '.join(map(str, splits[1:-1]))}: a two-level softmax whose tail clusters "
            f"score words with the decoder's own rows and biases, which lstmlm's adaptive "
            f"softmax (projected tails without biases) cannot hold; lstmlm imports AWD-LSTMs "
            f"trained with the full softmax (vocabularies up to 75,000 words in main.py)")
    rnns = untrusted.children(model).get("rnns")
    layer_modules = untrusted.children(rnns) if isinstance(rnns, untrusted.Pickled) else {}
    if not layer_modules:
        raise LstmlmError(f"{path}: its RNNModel has no rnns list")
    layers, weight_drop = [], 0.0
    for index in range(len(layer_modules)):
        layer = layer_modules.get(str(index))
        if untrusted.source_of(layer).endswith(".WeightDrop"):
            weight_drop = _probability(untrusted.attribute(layer, "dropout")) or 0.0
            layer = untrusted.children(layer).get("module")
        if not isinstance(layer, untrusted.Pickled) or untrusted.attribute(layer, "mode") != "LSTM":
            raise LstmlmError(f"{path}: layer {index} is a {untrusted.source_of(layer) or layer!r}, "
                              f"not an nn.LSTM")
        layers.append(_layer(untrusted.tensors(layer), "_l0", f"{path}: layer {index}"))
    tensors = untrusted.tensors(model)
    for name in ("encoder.weight", "decoder.weight", "decoder.bias"):
        if name not in tensors:
            raise LstmlmError(f"{path}: no {name}: not an awd-lstm-lm checkpoint")
    # Recorded so that the folder's config says how the model was regularised; evaluation
    # runs without dropout.
    regularisation = RegularisationConfig(
        dropout=_probability(untrusted.attribute(model, "dropout")) or 0.0,
        input_dropout=_probability(untrusted.attribute(model, "dropouti")),
        hidden_dropout=_probability(untrusted.attribute(model, "dropouth")),
        variational_dropout=True,
        embedding_dropout=_probability(untrusted.attribute(model, "dropoute")) or 0.0,
        weight_drop=weight_drop)
    return PublishedWeights("lstm", tensors["encoder.weight"], tuple(layers),
                            tensors["decoder.weight"], tensors["decoder.bias"],
                            _same_tensor(tensors["encoder.weight"], tensors["decoder.weight"]),
                            regularisation)


def _probability(value) -> float | None:
    """A dropout probability the file records, or None where it records none (or nonsense)."""
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
    return float(value) if valid else None


READERS = {"word-language-model": read_word_language_model, "awd-lstm": read_awd_lstm}


# --- the vocabulary -------------------------------------------------------------------------

def vocabulary_of(vocab: Path | None, corpus_train: Path | None) -> tuple[Vocabulary, Path]:
    """The vocabulary of a word list in id order (colorlessgreen's vocab.txt: words separated
    by whitespace) or of a training text numbered as `data.Dictionary` numbers it (words in
    order of first appearance, `<eos>` after each line); and the file it came from."""
    if (vocab is None) == (corpus_train is None):
        raise LstmlmError("give the vocabulary: --vocab FILE (one word per line, in id order) "
                          "or --corpus-train FILE (the training text)")
    source = Path(vocab or corpus_train)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LstmlmError(f"cannot read {source}: {getattr(error, 'strerror', None) or error}"
                          ) from None
    if vocab is not None:
        words = text.split()
    else:
        words = list(dict.fromkeys(words_of_lines(text.splitlines())))
    for needed in (EOS, UNK):
        if needed not in words:
            raise LstmlmError(f"{source}: the vocabulary lacks {needed} (lstmlm reads sentences "
                              f"after {EOS} and unknown words as {UNK})")
    if len(set(words)) != len(words):
        raise LstmlmError(f"{source}: the vocabulary lists a word twice")
    return Vocabulary(words), source


# --- the folder -----------------------------------------------------------------------------

def import_checkpoint(checkpoint_format: str, checkpoint: str | Path, out_dir: str | Path, *,
                      vocab: str | Path | None = None, corpus_train: str | Path | None = None,
                      normalization: str = "none", cell: str | None = None) -> Path:
    """Write the model folder of a published checkpoint to `out_dir` (new, or empty).

    `checkpoint_format` is one of FORMATS; the vocabulary comes from `vocab` (a word list in
    id order) or `corpus_train` (the training text); `normalization` names the text
    conventions the model was trained with, which `surprisal`, `pairs`, `syntaxgym` and
    `agreement` then apply by default; `cell` gives the cell of a bare state_dict. Every input
    is checked before anything is written.
    """
    if checkpoint_format not in FORMATS:
        raise LstmlmError(f"format must be one of {', '.join(FORMATS)}, got {checkpoint_format!r}")
    check_normalization(normalization)
    if cell is not None and cell not in GATES:
        raise LstmlmError(f"cell must be one of {', '.join(GATES)}, got {cell!r}")
    if cell is not None and checkpoint_format != "word-language-model":
        raise LstmlmError("--cell is for a word-language-model state_dict")
    out_dir, checkpoint = check_new_folder(out_dir), Path(checkpoint)
    if not checkpoint.is_file():
        raise LstmlmError(f"{checkpoint}: no such file")
    words, vocab_source = vocabulary_of(None if vocab is None else Path(vocab),
                                        None if corpus_train is None else Path(corpus_train))
    reader = READERS[checkpoint_format]
    weights = (reader(checkpoint, cell) if checkpoint_format == "word-language-model"
               else reader(checkpoint))
    if len(words) != weights.vocab_size:
        raise LstmlmError(f"{vocab_source} has {len(words):,} words but the checkpoint's "
                          f"embedding has {weights.vocab_size:,} rows")
    network = weights.network(checkpoint)
    config = Config(preset=PRESET, model=weights.model_config(),
                    regularisation=weights.regularisation,
                    data=DataConfig(corpus="", normalization=normalization))
    source = {"format": checkpoint_format, "checkpoint": checkpoint.name,
              "checkpoint_sha256": file_digest(checkpoint),
              "vocabulary": vocab_source.name, "vocabulary_sha256": file_digest(vocab_source),
              "vocabulary_from": "word list" if vocab is not None else "training text",
              "normalization": normalization}
    return write_folder(out_dir, config, RunPlan.of(config, device="cpu", precision="fp32"),
                        words, network, imported_card(source, config, network, out_dir),
                        source=source)


def imported_card(source: dict, config: Config, network: RecurrentLanguageModel,
                  folder: Path) -> str:
    """The README.md of an imported model's folder."""
    model = config.model
    parameters = sum(tensor.numel() for tensor in model_tensors(network).values())
    lines = [f"# lstmlm model imported from `{source['checkpoint']}`", "",
             f"A word-level {model.cell.upper()} language model trained outside lstmlm, read "
             f"from a `{source['format']}` checkpoint without running its code.", "",
             "| | |", "|---|---|",
             f"| checkpoint | `{source['checkpoint']}`, SHA-256 `{source['checkpoint_sha256']}` |",
             f"| vocabulary | `{source['vocabulary']}` ({source['vocabulary_from']}, "
             f"{network.vocab_size:,} words), SHA-256 `{source['vocabulary_sha256']}` |",
             f"| model | {model.num_layers} layers of {model.hidden_size} units, embeddings of "
             f"{model.embedding_size or model.hidden_size}, tied weights: "
             f"{'yes' if model.tie_weights else 'no'}; {parameters:,} parameters |",
             f"| text normalisation | `{source['normalization']}`: what `surprisal`, `pairs`, "
             f"`syntaxgym` and `agreement` apply by default |", "",
             "Use it:", "", "```bash", f"lstmlm surprisal {folder} stimuli.txt", "```", "",
             "```python", "import lstmlm", f"model = lstmlm.load({str(folder)!r})", "```", ""]
    return "\n".join(lines)

