"""The Zaremba et al. (2014) LSTM language model (and its GRU and vanilla-RNN variants)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .config import Cell

# The recurrent state, a flat tuple of tensors whose layout only the model reads: (h, c) of
# shape (layers, batch, hidden) for the fused multi-layer module, or each layer's (h, c) in turn,
# of shape (1, batch, that layer's size), when the layers are separate modules. A GRU or vanilla
# RNN has h only.
State = tuple[torch.Tensor, ...]

RECURRENT = {"lstm": nn.LSTM, "gru": nn.GRU,
             "rnn_tanh": lambda *args, **kwargs: nn.RNN(*args, nonlinearity="tanh", **kwargs),
             "rnn_relu": lambda *args, **kwargs: nn.RNN(*args, nonlinearity="relu", **kwargs)}


class RecurrentLanguageModel(nn.Module):
    """Embedding -> dropout -> stacked LSTM -> dropout -> linear softmax over the vocabulary.

    Dropout is applied to non-recurrent connections: the embedding output (probability
    `input_dropout`), between recurrent layers (`hidden_dropout`) and before the softmax
    (`output_dropout`). `cell` swaps the LSTM for a GRU or a vanilla RNN with the
    same interface. The AWD-LSTM options (variational dropout, embedding dropout, weight
    dropout, tied weights) are off by default. With `adaptive_cutoffs` the full softmax is
    replaced by an adaptive softmax (Grave et al. 2017, `nn.AdaptiveLogSoftmaxWithLoss`): the
    most frequent words (ids below the first cutoff, since the vocabulary is ordered by count)
    are scored by a small head and the rarer ones through clusters of lower dimension, which
    makes training over a large vocabulary several times cheaper; tied weights share the
    head's word rows with the embedding (TiedHead). With `softmax_samples` the full softmax
    trains on the window's targets and that many words sampled for the window (a sampled
    softmax, Jean et al. 2015), and scores the whole vocabulary in evaluation. Every option
    is a keyword; `builders.build_network` gives the network a config describes.
    """

    def __init__(self, *, vocab_size: int, hidden_size: int, num_layers: int,
                 embedding_size: int | None = None, cell: Cell = "lstm",
                 tie_weights: bool = False, variational_dropout: bool = False,
                 input_dropout: float = 0.0, hidden_dropout: float = 0.0,
                 output_dropout: float = 0.0,
                 embedding_dropout: float = 0.0, weight_drop: float = 0.0,
                 adaptive_cutoffs: tuple[int, ...] = (), adaptive_div_value: float = 4.0,
                 softmax_samples: int = 0, init_scale: float = 0.1,
                 init_method: str = "uniform"):
        super().__init__()
        if softmax_samples and (adaptive_cutoffs or not 0 < softmax_samples < vocab_size):
            raise ValueError(f"softmax_samples must be between 0 and the vocabulary size "
                             f"({vocab_size}) with the full softmax, got {softmax_samples}")
        self.vocab_size = vocab_size
        self.softmax_samples = softmax_samples
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        embedding_size = embedding_size or hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.embedding_dropout = embedding_dropout
        self.weight_drop = weight_drop
        # Zaremba drops units independently at every step; variational (locked) dropout keeps
        # one mask per sequence (Gal & Ghahramani 2016).
        dropout = LockedDropout if variational_dropout else nn.Dropout
        self.input_dropout = dropout(input_dropout)
        self.output_dropout = dropout(output_dropout)
        between_layers = hidden_dropout if num_layers > 1 else 0.0
        recurrent = RECURRENT[cell]
        # Tied weights (Press & Wolf 2017; Inan et al. 2017): the decoder is the embedding matrix,
        # so the last layer has the embedding size, as in AWD-LSTM; its output stays bounded by
        # the cell's tanh, which an unbounded linear projection would not be.
        output_size = embedding_size if tie_weights else hidden_size
        self.layer_sizes = [hidden_size] * (num_layers - 1) + [output_size]
        if variational_dropout or weight_drop or output_size != hidden_size:
            # One module per layer, so that locked dropout can sit between layers, each layer's
            # hidden-to-hidden matrix can be dropped and the last layer can have its own size;
            # every layer still runs one fused kernel over the whole window.
            self.lstm = None
            self.layers = nn.ModuleList(
                recurrent(input_size, size, 1, batch_first=True)
                for input_size, size in zip([embedding_size] + self.layer_sizes, self.layer_sizes))
            self.hidden_dropout = dropout(between_layers)
        else:
            # The attribute keeps the name `lstm` so that saved LSTM weights keep their keys.
            self.lstm = recurrent(embedding_size, hidden_size, num_layers, batch_first=True,
                                  dropout=between_layers)
            self.layers = None
        if adaptive_cutoffs:
            self.decoder = None
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(output_size, vocab_size,
                                                          list(adaptive_cutoffs),
                                                          div_value=adaptive_div_value)
            if tie_weights:
                self.adaptive.head = TiedHead(self.embedding.weight, adaptive_cutoffs[0],
                                              len(adaptive_cutoffs))
        else:
            self.adaptive = None
            self.decoder = nn.Linear(output_size, vocab_size)
            if tie_weights:
                self.decoder.weight = self.embedding.weight
        self._decoder_columns: tuple[tuple[int, int], torch.Tensor] | None = None
        # Layer (from 0) -> the units whose output and cell state are zero at every step.
        self.ablation: dict[int, torch.Tensor] = {}
        self.reset_parameters(init_scale, init_method)

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (read from the embedding, which int8 quantisation of
        the recurrent layers and the decoder leaves as it is)."""
        return self.embedding.weight.device

    def reset_parameters(self, init_scale: float, method: str = "uniform") -> None:
        """"uniform" (Zaremba): every weight uniform in [-init_scale, init_scale], recurrent
        biases zero. The reference's BasicLSTMCell initialises its bias to zero and adds
        forget_bias=0.0; PyTorch has two bias vectors per layer whose sum plays that role, so
        both are zeroed. "awd" (Merity et al. 2017): the embedding and decoder weights uniform
        in [-init_scale, init_scale], the decoder bias zero, and each recurrent layer's weights
        and biases uniform in [-1/sqrt(size), 1/sqrt(size)] for that layer's size (PyTorch's
        own initialisation, which AWD-LSTM keeps).
        """
        for name, parameter in self.named_parameters():
            module_name, _, parameter_name = name.rpartition(".")
            module = self.get_submodule(module_name)
            if isinstance(module, nn.RNNBase) and method == "awd":
                bound = module.hidden_size ** -0.5
                nn.init.uniform_(parameter, -bound, bound)
            elif isinstance(module, nn.RNNBase) and parameter_name.startswith("bias_"):
                nn.init.zeros_(parameter)
            elif name in ("decoder.bias", "adaptive.head.bias") and method == "awd":
                nn.init.zeros_(parameter)
            else:
                nn.init.uniform_(parameter, -init_scale, init_scale)

    def init_state(self, batch_size: int) -> State:
        """The zero state for `batch_size` sequences, laid out as `State` describes."""
        weight = self.embedding.weight
        per_layer = 2 if self.cell == "lstm" else 1
        if self.layers is None:
            shapes = [(self.num_layers, batch_size, self.hidden_size)] * per_layer
        else:
            shapes = [(1, batch_size, size) for size in self.layer_sizes for _ in range(per_layer)]
        return tuple(weight.new_zeros(shape) for shape in shapes)

    def forward(self, input_ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Logits of shape (batch, steps, vocab) for ids of shape (batch, steps), and the new state.

        With the adaptive softmax the logits are the log-probabilities themselves, which a
        softmax maps to the same distribution, so every consumer of logits works unchanged.
        """
        features, state = self.features(input_ids, state)
        return self.logits(self.output_dropout(features)), state

    def outputs(self, input_ids: torch.Tensor, state: State):
        """The last layer's outputs before and after the output dropout (AR/TAR read both; the
        dropped ones feed the softmax), and the state."""
        features, state = self.features(input_ids, state)
        return features, self.output_dropout(features), state

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """The softmax layer's logits over the vocabulary for last-layer outputs (..., size)."""
        if self.adaptive is None:
            return self.decoder_logits(features)
        flat = self.adaptive.log_prob(features.reshape(-1, features.size(-1)))
        return flat.view(*features.shape[:-1], self.vocab_size)

    def decoder_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The full softmax layer's logits. CPU inference with a float decoder (not an int8
        one), outside any tracing, multiplies by `decoder_columns`: the products of up to a few
        hundred rows run 1.1-2.5x faster in that layout (one row: generation, the cache;
        100: batch-1 evaluation), and never slower for more."""
        if (features.device.type == "cpu" and isinstance(self.decoder, nn.Linear)
                and not torch.is_grad_enabled() and not torch.jit.is_tracing()):
            flat = torch.addmm(self.decoder.bias, features.reshape(-1, features.size(-1)),
                               self.decoder_columns())
            return flat.view(*features.shape[:-1], self.vocab_size)
        return self.decoder(features)

    def decoder_columns(self) -> torch.Tensor:
        """The decoder's weight transposed to a contiguous (size, vocab) copy, kept until the
        weight changes."""
        weight = self.decoder.weight
        key = (weight.data_ptr(), weight._version)  # in-place updates bump _version
        if self._decoder_columns is None or self._decoder_columns[0] != key:
            self._decoder_columns = key, weight.detach().t().contiguous()
        return self._decoder_columns[1]

    def summed_nll(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The negative log-likelihood of (batch, steps) targets given the last layer's outputs,
        summed, in float32. The adaptive softmax scores only the targets' clusters, never the
        whole vocabulary; in training, with softmax_samples, it is sampled_nll's estimate."""
        flat_targets = targets.reshape(-1)
        if self.softmax_samples and self.training:
            return self.sampled_nll(features.reshape(-1, features.size(-1)), flat_targets)
        if self.adaptive is None:
            logits = self.decoder_logits(features).float()
            return F.cross_entropy(logits.reshape(-1, logits.size(-1)), flat_targets,
                                   reduction="sum")
        flat_features = features.reshape(-1, features.size(-1))
        if flat_features.is_cuda:
            # CUDA's autocast computes log_softmax in float32, and AdaptiveLogSoftmaxWithLoss
            # then copies it into a tensor of its input's 16-bit dtype, which PyTorch refuses:
            # on a GPU the head runs in float32, where its cost is small.
            with torch.autocast("cuda", enabled=False):
                target_log_probs = self.adaptive(flat_features.float(), flat_targets).output
        else:
            target_log_probs = self.adaptive(flat_features, flat_targets).output
        return -target_log_probs.float().sum()

    def sampled_nll(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The sampled softmax's summed negative log-likelihood of (n,) targets given (n, size)
        outputs: each target against softmax_samples words drawn for the whole window from the
        log-uniform (Zipfian) distribution over the ids, which the vocabulary orders by count.
        Each logit is corrected by the log of its word's expected count among the draws, so that
        the gradient estimates the full softmax's (TensorFlow's sampled_softmax_loss); a draw
        that is the target itself is left out of that target's sum."""
        log_range = math.log(self.vocab_size + 1)
        sampled = (torch.rand(self.softmax_samples, device=features.device) * log_range).exp()
        sampled = (sampled.long() - 1).clamp_(0, self.vocab_size - 1)

        def log_expected_count(ids: torch.Tensor) -> torch.Tensor:
            ids = ids.float()
            probability = ((ids + 2) / (ids + 1)).log() / log_range
            return (probability * self.softmax_samples).log()

        weight, bias = self.decoder.weight, self.decoder.bias
        true_logits = ((features * weight[targets]).sum(-1) + bias[targets]).float()
        true_logits = true_logits - log_expected_count(targets)
        sampled_logits = (features @ weight[sampled].t() + bias[sampled]).float()
        sampled_logits = sampled_logits - log_expected_count(sampled)
        sampled_logits = sampled_logits.masked_fill(targets[:, None] == sampled[None, :],
                                                    float("-inf"))
        logits = torch.cat([true_logits[:, None], sampled_logits], dim=1)
        return (torch.logsumexp(logits, dim=1) - true_logits).sum()

    def window_nll(self, input_ids: torch.Tensor, targets: torch.Tensor,
                   state: State) -> tuple[torch.Tensor, State]:
        """Summed negative log-likelihood of a window's targets, and the state after it."""
        _, dropped, state = self.outputs(input_ids, state)
        return self.summed_nll(dropped, targets), state

    @property
    def output_size(self) -> int:
        """The size of the last layer's outputs, the softmax layer's input."""
        return self.layer_sizes[-1]

    def features(self, input_ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The last layer's outputs, the decoder's input, and the state."""
        embedded = self.embedding(input_ids)
        if self.training and self.embedding_dropout:
            # Embedding dropout drops whole words: the same rows for every occurrence. Scaling
            # the window's looked-up rows equals looking up rows of the scaled matrix, and
            # passes over the window, not over the whole vocabulary, forward and backward.
            weight = self.embedding.weight
            scale = dropout_scale(weight, (weight.size(0), 1), self.embedding_dropout)
            embedded = embedded * F.embedding(input_ids, scale)
        embedded = self.input_dropout(embedded)
        if self.ablation:
            output, state, _ = self.stepwise(embedded, state)
        elif self.layers is None:
            output, state = self.run_recurrent(self.lstm, embedded, state)
        else:
            per_layer = len(state) // self.num_layers
            output, new_state = embedded, []
            for index, layer in enumerate(self.layers):
                if index > 0:
                    output = self.hidden_dropout(output)
                output, layer_state = self.run_recurrent(
                    layer, output, state[index * per_layer:(index + 1) * per_layer])
                new_state.extend(layer_state)
            state = tuple(new_state)
        return output, state

    def run_recurrent(self, module: nn.RNNBase, inputs: torch.Tensor,
                      state: State) -> tuple[torch.Tensor, State]:
        """Run one recurrent module over a window, with DropConnect on its hidden-to-hidden
        weights while training.

        Weight dropout (Wan et al. 2013; Merity et al. 2017) passes a dropped copy of
        `weight_hh_l0` for this call only (torch.func.functional_call), so the module keeps its
        own parameter, its fused kernel and `flatten_parameters`; nothing is re-registered.
        """
        module_state = state if self.cell == "lstm" else state[0]
        if self.training and self.weight_drop:
            weight = module.weight_hh_l0
            dropped = weight * dropout_scale(weight, weight.shape, self.weight_drop)
            output, module_state = functional_call(module, {"weight_hh_l0": dropped},
                                                   (inputs, module_state))
        else:
            with single_step_kernels(inputs):
                output, module_state = module(inputs, module_state)
        return output, module_state if self.cell == "lstm" else (module_state,)


    def ablate(self, units_by_layer: dict[int, list[int]]) -> None:
        """From now on, zero the output and the cell state of these units (layers and units
        numbered from 0) at every step, as Lakretz et al. (2019) ablated units; the network
        then runs one step at a time, in evaluation only. An empty dict ends the ablation."""
        for layer, units in units_by_layer.items():
            if not 0 <= layer < self.num_layers:
                raise ValueError(f"layer {layer + 1} is outside the {self.num_layers} layers")
            bad = [unit for unit in units if not 0 <= unit < self.layer_sizes[layer]]
            if bad:
                raise ValueError(f"unit {bad[0]} is outside layer {layer + 1}'s "
                                 f"{self.layer_sizes[layer]} units (numbered from 0)")
        self.ablation = {layer: torch.tensor(sorted(set(units)), dtype=torch.long)
                         for layer, units in units_by_layer.items() if units}

    def layer_key(self, index: int, name: str) -> str:
        """The state_dict key of layer `index`'s (from 0) `name` (weight_ih, weight_hh,
        bias_ih, bias_hh): the fused module names layers by suffix, separate ones by module."""
        return f"lstm.{name}_l{index}" if self.layers is None else f"layers.{index}.{name}_l0"

    def layer_weights(self, index: int) -> tuple[torch.Tensor, ...]:
        """Layer `index`'s (from 0) weight_ih, weight_hh, bias_ih and bias_hh."""
        return tuple(self.get_parameter(self.layer_key(index, name))
                     for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def layer_state(self, state: State, index: int) -> list[torch.Tensor]:
        """Layer `index`'s h (and c), each (batch, size), from a State."""
        per_layer = 2 if self.cell == "lstm" else 1
        if self.layers is None:
            return [tensor[index] for tensor in state]
        return [tensor[0] for tensor in state[index * per_layer:(index + 1) * per_layer]]

    def joined_state(self, layer_states: list[list[torch.Tensor]]) -> State:
        """The State of each layer's h (and c), the inverse of `layer_state`."""
        if self.layers is None:
            return tuple(torch.stack(parts) for parts in zip(*layer_states))
        return tuple(tensor[None] for parts in layer_states for tensor in parts)

    def stepwise(self, embedded: torch.Tensor, state: State, record: frozenset[str] = frozenset()
                 ) -> tuple[torch.Tensor, State, list[dict[str, torch.Tensor]]]:
        """The recurrent layers over embedded (batch, steps, size) input one step at a time,
        with the ablation applied, and for each layer the `record`ed values of every step,
        each (batch, steps, size): "h", "c" (LSTM), "gates" (a dict: i, f, g, o of an LSTM; r,
        z, n of a GRU). The same arithmetic as PyTorch's fused layers (in evaluation: no
        dropout between layers)."""
        if self.training:
            raise RuntimeError("the step-by-step layers (ablation, recorded states) run in "
                               "evaluation only")
        output, new_state, records = embedded, [], []
        for index in range(self.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(index)
            ablated = self.ablation.get(index)
            if ablated is not None:
                ablated = ablated.to(output.device)
            inputs = F.linear(output, weight_ih, bias_ih)  # the whole window at once
            carried = self.layer_state(state, index)
            # Each step writes into tensors made before the loop: no per-step tensor outlives
            # its step, so a long input leaves the allocator nothing to fragment.
            output = inputs.new_empty(*inputs.shape[:2], self.layer_sizes[index])
            recorded = {"h": output} if "h" in record else {}
            if "c" in record:
                recorded["c"] = torch.empty_like(output)
            if "gates" in record:
                recorded["gates"] = {name: torch.empty_like(output)
                                     for name in GATE_NAMES.get(self.cell, ())}
            for step in range(inputs.size(1)):
                carried, gates = _cell_step(self.cell, inputs[:, step], carried, weight_hh,
                                            bias_hh)
                if ablated is not None:
                    carried = [tensor.index_fill(1, ablated, 0.0) for tensor in carried]
                output[:, step] = carried[0]
                if "c" in record:
                    recorded["c"][:, step] = carried[1]
                for name, value in gates.items() if "gates" in record else ():
                    recorded["gates"][name][:, step] = value
            new_state.append(carried)
            records.append(recorded)
        return output, self.joined_state(new_state), records


GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def _cell_step(cell: Cell, inputs: torch.Tensor, state: list[torch.Tensor],
               weight_hh: torch.Tensor, bias_hh: torch.Tensor
               ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """One step of a cell from its input projection (x W_ih^T + b_ih) and its state [h] or
    [h, c], as PyTorch's LSTM, GRU and RNN compute it; the new state and the gates."""
    recurrent = F.linear(state[0], weight_hh, bias_hh)
    if cell == "lstm":
        i, f, g, o = (inputs + recurrent).chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * state[1] + i * g
        return [o * c.tanh(), c], {"i": i, "f": f, "g": g, "o": o}
    if cell == "gru":
        input_r, input_z, input_n = inputs.chunk(3, dim=-1)
        hidden_r, hidden_z, hidden_n = recurrent.chunk(3, dim=-1)
        r, z = (input_r + hidden_r).sigmoid(), (input_z + hidden_z).sigmoid()
        n = (input_n + r * hidden_n).tanh()
        return [(1 - z) * n + z * state[0]], {"r": r, "z": z, "n": n}
    total = inputs + recurrent
    return [total.tanh() if cell == "rnn_tanh" else total.relu()], {}


@contextmanager
def single_step_kernels(inputs: torch.Tensor) -> Iterator[None]:
    """Run a one-word window on the CPU without oneDNN: its RNN kernel lays the weights out
    anew on every call, which costs 3-5x the step itself (generation's case; the windows of
    training and evaluation amortise it and run faster with it)."""
    if inputs.size(1) != 1 or inputs.device.type != "cpu" or not torch.backends.mkldnn.enabled:
        yield
        return
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = True


class TiedHead(nn.Module):
    """The adaptive softmax's head with tied weights: its rows for the `shortlist` most
    frequent words are the embedding's first rows, and only the rows that score each of the
    `clusters` tail clusters, and the bias, are its own. It replaces the head's nn.Linear, so
    nn.AdaptiveLogSoftmaxWithLoss is otherwise unchanged."""

    def __init__(self, embedding_weight: nn.Parameter, shortlist: int, clusters: int):
        super().__init__()
        self.shortlist = shortlist
        self.words = embedding_weight  # the same Parameter, as a tied decoder's weight
        self.cluster_weight = nn.Parameter(embedding_weight.new_empty(clusters,
                                                                      embedding_weight.size(1)))
        self.bias = nn.Parameter(embedding_weight.new_zeros(shortlist + clusters))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weight = torch.cat([self.words[:self.shortlist], self.cluster_weight])
        return F.linear(features, weight, self.bias)


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared by all time steps of a (batch, steps, dim) input."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return inputs
        return inputs * dropout_scale(inputs, (inputs.size(0), 1, inputs.size(2)), self.p)


def dropout_scale(like: torch.Tensor, shape: Sequence[int], p: float) -> torch.Tensor:
    """A dropout mask of `shape` in `like`'s dtype and device that carries its scale: each
    element 0 with probability `p` (to 1/65,536), else 1 / the probability of keeping it, so that
    forward and backward multiply once.

    The CPU's generator draws one number at a time, on one thread: each 64-bit draw here gives
    four 16-bit uniform integers, a quarter of the draws of a float per element (a 2,048 x 512
    weight-drop mask in under half the time; Bernoulli sampling takes 8x as long)."""
    count = math.prod(shape)
    draws = torch.empty((count + 3) // 4, dtype=torch.int64, device=like.device)
    uniform = draws.random_(-2**63, None).view(torch.int16)[:count].view(shape)  # full 64-bit range
    dropped = min(round(p * 65536), 65535)
    return uniform.ge(dropped - 32768).to(like.dtype).mul_(65536 / (65536 - dropped))


def detach_state(state: State) -> State:
    """Cut the graph at a window boundary (truncated backpropagation through time)."""
    return tuple(tensor.detach() for tensor in state)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block the model is in eval mode (no dropout); its mode is restored on the
    way out, on an error too."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


# The name of earlier versions, from when the class held only the LSTM.
LSTMLanguageModel = RecurrentLanguageModel
