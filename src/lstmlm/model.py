"""The Zaremba et al. (2014) LSTM language model (and its GRU and vanilla-RNN variants)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The recurrent state: (h, c) for an LSTM, (h,) for a GRU or vanilla RNN.
State = tuple[torch.Tensor, ...]

CELLS = ("lstm", "gru", "rnn_tanh")


class LSTMLanguageModel(nn.Module):
    """Embedding -> dropout -> stacked LSTM -> dropout -> linear softmax over the vocabulary.

    Dropout (probability `1 - keep_prob`) is applied to non-recurrent connections only: the
    embedding output, between recurrent layers, and before the softmax. `cell` swaps the LSTM
    for a GRU or a tanh RNN with the same interface.
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int, keep_prob: float = 1.0,
                 init_scale: float = 0.1, embedding_size: int | None = None, cell: str = "lstm",
                 tie_weights: bool = False, variational: bool = False,
                 embedding_dropout: float = 0.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        embedding_size = embedding_size or hidden_size
        dropout = 1.0 - keep_prob
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.embedding_dropout = embedding_dropout
        # Zaremba drops units independently at every step; variational (locked) dropout keeps
        # one mask per sequence (Gal & Ghahramani 2016), on the embeddings and the outputs.
        self.dropout = LockedDropout(dropout) if variational else nn.Dropout(dropout)
        recurrent = {"lstm": nn.LSTM, "gru": nn.GRU,
                     "rnn_tanh": lambda *args, **kwargs: nn.RNN(*args, nonlinearity="tanh", **kwargs)}
        # The attribute keeps the name `lstm` so that saved LSTM weights keep their keys.
        self.lstm = recurrent[cell](embedding_size, hidden_size, num_layers, batch_first=True,
                                    dropout=dropout if num_layers > 1 else 0.0)
        # Tied weights (Press & Wolf 2017; Inan et al. 2017): the decoder is the embedding matrix,
        # so the recurrent output is projected to the embedding size when the two differ.
        self.projection = None
        if tie_weights and embedding_size != hidden_size:
            self.projection = nn.Linear(hidden_size, embedding_size, bias=False)
        self.decoder = nn.Linear(embedding_size if tie_weights else hidden_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight
        self.reset_parameters(init_scale)

    def reset_parameters(self, init_scale: float) -> None:
        """Every weight uniform in [-init_scale, init_scale]; recurrent biases zero.

        The reference's BasicLSTMCell initialises its bias to zero and adds forget_bias=0.0;
        PyTorch has two bias vectors per layer whose sum plays that role, so both are zeroed.
        """
        for name, parameter in self.named_parameters():
            if name.startswith("lstm.bias"):
                nn.init.zeros_(parameter)
            else:
                nn.init.uniform_(parameter, -init_scale, init_scale)

    def init_state(self, batch_size: int) -> State:
        weight = self.decoder.weight
        shape = (self.num_layers, batch_size, self.hidden_size)
        return tuple(weight.new_zeros(shape) for _ in range(2 if self.cell == "lstm" else 1))

    def forward(self, input_ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Logits of shape (batch, steps, vocab) for ids of shape (batch, steps), and the new state."""
        logits, _, _, state = self.outputs(input_ids, state)
        return logits, state

    def outputs(self, input_ids: torch.Tensor, state: State):
        """Logits, the last layer's outputs before and after dropout (for AR/TAR), and the state."""
        features, state = self.features(input_ids, state)
        dropped = self.dropout(features)
        return self.decoder(dropped), features, dropped, state

    def features(self, input_ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The last layer's outputs (projected when tied), the decoder's input, and the state."""
        if self.training and self.embedding_dropout:
            # Embedding dropout drops whole words: the same rows for every occurrence.
            weight = self.embedding.weight
            keep = weight.new_empty(weight.size(0), 1).bernoulli_(1 - self.embedding_dropout)
            embedded = F.embedding(input_ids, weight * keep / (1 - self.embedding_dropout))
        else:
            embedded = self.embedding(input_ids)
        embedded = self.dropout(embedded)
        if self.cell == "lstm":
            output, state = self.lstm(embedded, state)
        else:
            output, hidden = self.lstm(embedded, state[0])
            state = (hidden,)
        if self.projection is not None:
            output = self.projection(output)
        return output, state


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared by all time steps of a (batch, steps, dim) input."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return inputs
        mask = inputs.new_empty(inputs.size(0), 1, inputs.size(2)).bernoulli_(1 - self.p)
        return inputs * mask / (1 - self.p)


def detach_state(state: State) -> State:
    """Cut the graph at a window boundary (truncated backpropagation through time)."""
    return tuple(tensor.detach() for tensor in state)
