"""A process's block of a run's rows."""

import math

import pytest
import torch

from lstmlm.distributed import World
from lstmlm.evaluation import stream_perplexity
from lstmlm.model import RecurrentLanguageModel
from lstmlm.training.sharding import Shard


def test_a_single_process_holds_every_row_and_measures_the_plain_perplexity():
    shard = Shard(World(), torch.device("cpu"))
    rows = torch.arange(12).view(4, 3)
    assert shard.rows(4) == 4 and torch.equal(shard.own_rows(rows, 4), rows)
    torch.manual_seed(0)
    network = RecurrentLanguageModel(vocab_size=10, hidden_size=4, num_layers=1).eval()
    ids = torch.randint(0, 10, (200,))
    assert shard.perplexity(network, ids, 2, 7) == pytest.approx(
        stream_perplexity(network, ids, 2, 7), rel=1e-6)
    assert math.isfinite(shard.perplexity(network, ids, 1, 50))


def test_each_process_takes_its_own_block():
    world = World(rank=1, size=2)
    shard = Shard(world, torch.device("cpu"))
    rows = torch.arange(16).view(4, 4)
    assert shard.rows(2) == 4
    assert torch.equal(shard.own_rows(rows, 2), rows[2:])
    assert torch.equal(shard.own_rows(rows, 2, dim=1), rows[:, 2:])
