"""The reference's batching: an id stream cut into `batch_size` contiguous rows, read in
windows of `num_steps` (or of lengths drawn around it) with targets shifted by one."""

from __future__ import annotations

import random
from typing import Iterator

import torch


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut the stream into `batch_size` contiguous rows, dropping the remainder (as the reference)."""
    batch_len = len(ids) // batch_size
    return ids[: batch_size * batch_len].view(batch_size, batch_len)


def epoch_size(num_ids: int, batch_size: int, num_steps: int) -> int:
    """Number of full training windows per epoch: `(len // batch_size - 1) // num_steps`."""
    return (num_ids // batch_size - 1) // num_steps


def window_lengths(num_ids: int, batch_size: int, num_steps: int, variable: bool = False,
                   seed: int = 0) -> list[int]:
    """The training windows' lengths for one epoch (only full windows, as the reference).

    Fixed: `epoch_size` windows of `num_steps`. Variable (AWD-LSTM): each window's mean is
    `num_steps`, or half of it with probability 0.05, and its length is drawn from a normal
    with standard deviation 5, at least 5. The draw is seeded so that a resumed epoch sees the
    same windows.
    """
    if not variable:
        return [num_steps] * epoch_size(num_ids, batch_size, num_steps)
    generator = random.Random(seed)
    remaining, lengths = num_ids // batch_size - 1, []
    while True:
        mean = num_steps if generator.random() < 0.95 else num_steps / 2
        length = max(5, int(generator.gauss(mean, 5)))
        if length > remaining:
            return lengths
        lengths.append(length)
        remaining -= length


def windows_of_lengths(rows: torch.Tensor, lengths: list[int],
                       start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) windows of the given lengths, from the `start`-th window on."""
    begin = sum(lengths[:start])
    for length in lengths[start:]:
        yield rows[:, begin:begin + length], rows[:, begin + 1:begin + length + 1]
        begin += length


def windows(rows: torch.Tensor, num_steps: int, *, include_partial: bool = False,
            start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) windows of `num_steps` over batched rows, targets shifted by one.

    Full windows only by default, as the reference trains; evaluation passes `include_partial`
    so that every one of the `len - 1` targets is scored. `start` skips the first windows.
    """
    usable = rows.size(1) - 1
    lengths = [num_steps] * (usable // num_steps)
    if include_partial and usable % num_steps:
        lengths.append(usable % num_steps)
    return windows_of_lengths(rows, lengths, start)
