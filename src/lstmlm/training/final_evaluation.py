"""The end of training: the best-on-valid weights measured on valid and test (and the last
weights on test where they differ), and the request's evaluation-time adaptation."""

from __future__ import annotations

import dataclasses
from typing import Callable

from .. import checkpoint
from ..config import FinalEval
from ..corpus import Corpus
from ..evaluation import tune_adaptation
from ..model import RecurrentLanguageModel
from ..rundir import EpochMetrics, RunDir
from .progress import best_epoch
from .sharding import Shard


def final_evaluation(network: RecurrentLanguageModel, run_dir: RunDir, history: list[EpochMetrics],
                     perplexity: Callable[[str], float], shard: Shard, corpus: Corpus,
                     final_eval: FinalEval, log: Callable[[str], None]) -> dict:
    """Load the best weights into `network` and measure them (`perplexity(split)` streams a
    split over every process); returns results.json's numbers."""
    best = best_epoch(history)
    results: dict = {}
    if best != history[-1].epoch:
        results["last_test_ppl"] = perplexity("test")
    if shard.world.is_main:
        checkpoint.load_weights(run_dir / RunDir.BEST, network)
    shard.world.broadcast_module(network)
    valid_ppl, test_ppl = perplexity("valid"), perplexity("test")
    log(f"Valid Perplexity: {valid_ppl:.3f}")
    log(f"Test Perplexity: {test_ppl:.3f}")
    if "last_test_ppl" in results:
        log(f"Test Perplexity of the last weights (epoch {history[-1].epoch}; the best are from "
            f"epoch {best}): {results['last_test_ppl']:.3f}")
    results = {"valid_ppl": valid_ppl, "test_ppl": test_ppl, "best_epoch": best, **results}
    if shard.world.distributed:
        results["processes"] = shard.world.size
    if final_eval != "static":
        results["adapted"] = adapt(network, corpus, final_eval, log)
    return results


def adapt(network: RecurrentLanguageModel, corpus: Corpus, final_eval: FinalEval,
          log: Callable[[str], None]) -> dict:
    """The best weights' test perplexity with the evaluation-time adaptation, its options
    tuned on the start of the valid split; logged beside the static one."""
    adaptation = tune_adaptation(network, corpus.valid, final_eval)
    test_ppl = adaptation.perplexity(network, corpus.test)
    log(f"Test Perplexity with {adaptation.describe()} (tuned on the first "
        f"{adaptation.tuning_words:,} words of valid: {adaptation.tuning_perplexity:.3f}): "
        f"{test_ppl:.3f}")
    return {"method": adaptation.method, "options": dataclasses.asdict(adaptation.options),
            "tuning_words": adaptation.tuning_words, "tuning_ppl": adaptation.tuning_perplexity,
            "test_ppl": test_ppl}
