"""A model's predictions for stimuli: the most probable words before each token (JSON Lines),
and every next-word distribution in the HDF5 layout of lm-zoo's `get_predictions.hdf5`.

Each sentence is read from a fresh state after `<eos>`, as `surprisal` reads it by default.
Stimuli are read in chunks, so memory is bounded by a chunk, not by the file; to keep it so,
these functions have glibc's malloc give freed blocks back to the system
(`hardware.give_back_freed_memory`, for the whole process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import LstmlmError
from .hardware import give_back_freed_memory
from .hdf5 import writing_hdf5
from .normalization import check_normalization
from .scoring import LOGIT_BUDGET, sentence_predictions
from .surprisal import Stimulus, compute, placed_pieces
from .vocabulary import EOS

CHUNK_SENTENCES = 512  # sentences whose rows are held at once by `prediction_rows`


def prediction_rows(model, stimuli: list[Stimulus], top: int,
                    normalization: str | None = None, batch_size: int = 64) -> Iterator[dict]:
    """One row per token (the closing `</s>` included): its ids, surprisal and the entropy of
    the distribution before it in bits, its rank, and the `top` most probable words there
    with their probabilities."""
    if top < 1:
        raise LstmlmError(f"top must be at least 1, got {top}")
    give_back_freed_memory()
    for first in range(0, len(stimuli), CHUNK_SENTENCES):
        chunk = stimuli[first:first + CHUNK_SENTENCES]
        table = compute(model, chunk, normalization, measures=("surprisal", "entropy", "rank",
                                                               "topk"),
                        top=top, batch_size=batch_size)
        for token in table.tokens:
            yield {"sentence_id": first + token.sentence_id, "token_id": token.token_id,
                   "token": token.token, "scored": token.scored,
                   "surprisal": token.surprisal, "entropy": token.entropy, "rank": token.rank,
                   "predictions": [{"word": word, "probability": probability}
                                   for word, probability in token.topk or ()]}


def write_distributions(model, stimuli: list[Stimulus], path: str | Path,
                        normalization: str | None = None) -> Path:
    """Write every next-word distribution of `stimuli` to the HDF5 file `path`, as lm-zoo's
    `get_predictions.hdf5` lays it out: `/sentence/<i>/predictions` (one row per word the
    model reads, the closing `<eos>` included: natural-log probabilities over the
    vocabulary), `/sentence/<i>/tokens` (those words' ids) and `/vocabulary` (UTF-8 bytes),
    `i` from 0. Sentences are read and written a chunk at a time."""
    normalization = check_normalization(normalization or model.normalization)
    give_back_freed_memory()
    vocab = model.vocab
    words = [[piece for _, _, pieces in sentence for piece in pieces]
             for sentence in placed_pieces(stimuli, normalization)]
    with writing_hdf5(path) as file:
        file.attrs["normalization"] = normalization
        file.attrs["context"] = "each sentence from a fresh state after <eos>"
        file.create_dataset("vocabulary", data=np.array([word.encode("utf-8")
                                                         for word in vocab.words]))
        first = 0
        while first < len(words):
            # As many sentences as keep their distributions within the logit budget.
            count, longest = 0, 0
            while first + count < len(words):
                longest = max(longest, len(words[first + count]) + 2)
                if count and (count + 1) * longest * len(vocab) > LOGIT_BUDGET:
                    break
                count += 1
            chunk = words[first:first + count]
            for index, (sentence, predicted) in enumerate(zip(chunk, sentence_predictions(
                    model.network, vocab, chunk, count, full=True)), start=first):
                group = file.create_group(f"sentence/{index}")
                group.create_dataset("predictions", data=predicted.full.numpy())
                group.create_dataset("tokens", data=vocab.encode(sentence + [EOS]).numpy())
            first += count
    return Path(path)
