"""A process's share of a run's rows: in a distributed run each process trains and evaluates
its own block of rows, and the totals are summed over all of them."""

from __future__ import annotations

import math

import torch

from ..distributed import World
from ..evaluation import stream_nll, stream_rows


class Shard:
    """This process's block of the rows all of `world`'s processes share, on `device`."""

    def __init__(self, world: World, device: torch.device):
        self.world = world
        self.device = device

    def rows(self, batch_size: int) -> int:
        """Rows of all processes together, `batch_size` each."""
        return batch_size * self.world.size

    def own_rows(self, rows: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
        """This process's block of `batch_size` rows (along `dim`) of all processes' rows."""
        start = self.world.rank * batch_size
        return rows.narrow(dim, start, batch_size).to(self.device)

    def perplexity(self, network: torch.nn.Module, ids: torch.Tensor, batch_size: int,
                   num_steps: int) -> float:
        """Perplexity of a split streamed in `batch_size` rows per process, from the summed
        losses and counts of all processes."""
        rows = self.own_rows(stream_rows(ids, self.rows(batch_size), "cpu"), batch_size)
        total_loss, total_targets = stream_nll(network, rows, num_steps)
        totals = self.world.sum(torch.stack([total_loss, total_loss.new_tensor(total_targets)]))
        return math.exp((totals[0] / totals[1]).item())
