"""The Zaremba et al. (2014) LSTM language model (and its GRU and vanilla-RNN variants)."""

from __future__ import annotations

import torch
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
                 tie_weights: bool = False):
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        embedding_size = embedding_size or hidden_size
        dropout = 1.0 - keep_prob
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.dropout = nn.Dropout(dropout)
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
        features, state = self.features(input_ids, state)
        return self.decoder(self.dropout(features)), state

    def features(self, input_ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The last layer's outputs (projected when tied), the decoder's input, and the state."""
        embedded = self.dropout(self.embedding(input_ids))
        if self.cell == "lstm":
            output, state = self.lstm(embedded, state)
        else:
            output, hidden = self.lstm(embedded, state[0])
            state = (hidden,)
        if self.projection is not None:
            output = self.projection(output)
        return output, state


def detach_state(state: State) -> State:
    """Cut the graph at a window boundary (truncated backpropagation through time)."""
    return tuple(tensor.detach() for tensor in state)
