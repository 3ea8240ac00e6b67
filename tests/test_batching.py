"""The reference's batching: rows, windows and their lengths."""

import torch

from lstmlm.batching import batchify, epoch_size, window_lengths, windows


def test_producer_matches_reference_semantics():
    # The reference test: raw_data = [4, 3, 2, 1, 0, 5, 6, 1, 1, 1, 1, 0, 3, 4, 1],
    # batch_size 3, num_steps 2 gives x0 = [[4, 3], [5, 6], [1, 0]], y0 = [[3, 2], [6, 1], [0, 3]]
    # and x1 = [[2, 1], [1, 1], [3, 4]], y1 = [[1, 0], [1, 1], [4, 1]].
    raw = torch.tensor([4, 3, 2, 1, 0, 5, 6, 1, 1, 1, 1, 0, 3, 4, 1])
    rows = batchify(raw, 3)
    produced = list(windows(rows, 2))
    assert epoch_size(len(raw), 3, 2) == len(produced) == 2
    (x0, y0), (x1, y1) = produced
    assert x0.tolist() == [[4, 3], [5, 6], [1, 0]] and y0.tolist() == [[3, 2], [6, 1], [0, 3]]
    assert x1.tolist() == [[2, 1], [1, 1], [3, 4]] and y1.tolist() == [[1, 0], [1, 1], [4, 1]]


def test_partial_windows_score_every_target_once():
    ids = torch.arange(23)
    rows = batchify(ids, 1)
    targets = torch.cat([y.flatten() for _, y in windows(rows, 5, include_partial=True)])
    assert targets.tolist() == list(range(1, 23))
    assert [x.size(1) for x, _ in windows(rows, 5, include_partial=True)] == [5, 5, 5, 5, 2]


def test_windows_start_skips_done_windows():
    rows = batchify(torch.arange(40), 2)
    assert [x.tolist() for x, _ in windows(rows, 3, start=4)] == \
        [x.tolist() for x, _ in list(windows(rows, 3))[4:]]


def test_fixed_and_variable_window_lengths():
    assert window_lengths(10_000, 20, 35) == [35] * epoch_size(10_000, 20, 35)
    lengths = window_lengths(100_000, 20, 35, variable=True, seed=3)
    assert lengths == window_lengths(100_000, 20, 35, variable=True, seed=3)
    assert lengths != window_lengths(100_000, 20, 35, variable=True, seed=4)
    assert sum(lengths) <= 100_000 // 20 - 1 and min(lengths) >= 5
    assert 30 < sum(lengths) / len(lengths) < 36
    assert any(length < 27 for length in lengths)  # some windows are drawn around 35 / 2
