"""`lstmlm rescore`: n-best lists rescored with a model, in lstmlm's TSV or Kaldi's n-best
text, with a sweep of the LM weight against reference transcripts."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from .. import rescoring
from ..errors import LstmlmError
from ..files import atomic_lines
from ..textfiles import input_lines, input_name, read_input
from .options import add_model_options, load_model

NAME = "rescore"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    parser = commands.add_parser(NAME, help="rescore an n-best list with the model")
    add_model_options(parser)
    parser.add_argument("nbest", nargs="?", default="-",
                        help="the n-best list (default: standard input): "
                             "utterance-id<TAB>score<TAB>text lines, or Kaldi's utt-N word... "
                             "lines with --format kaldi")
    parser.add_argument("--format", default="tsv", choices=["tsv", "kaldi"])
    parser.add_argument("--lm-weight", type=float, default=1.0,
                        help="tsv: combined = score + W * lm_logprob - P * words (highest wins); "
                             "kaldi: cost = ac_cost + W * lm_cost + P * words (lowest wins) "
                             "(default 1)")
    parser.add_argument("--word-penalty", type=float, default=0.0,
                        help="P: what each word costs; a positive P favours fewer words in both "
                             "layouts (default 0)")
    parser.add_argument("--log10", action="store_true",
                        help="tsv: LM log-probabilities in base 10 (default: natural log)")
    parser.add_argument("--best", action="store_true",
                        help="tsv: print only the best hypothesis of each utterance")
    parser.add_argument("--ac-costs", metavar="FILE",
                        help="kaldi: the acoustic costs, utt-N cost lines (needed)")
    parser.add_argument("--lm-costs", metavar="FILE",
                        help="kaldi: the existing LM's costs, mixed in with --interpolate")
    parser.add_argument("--interpolate", type=float, metavar="L",
                        help="kaldi: LM probability = L * this model's + (1 - L) * the existing "
                             "LM's (from --lm-costs)")
    parser.add_argument("--write-lm-costs", metavar="FILE",
                        help="kaldi: write the LM costs used, as utt-N cost lines")
    parser.add_argument("--ref", metavar="FILE",
                        help="kaldi: reference transcripts (utt text lines); print the WER at "
                             "each --lm-weights weight and the best weight")
    parser.add_argument("--lm-weights", metavar="SWEEP",
                        help="kaldi, with --ref: start:stop:step (e.g. 0:2:0.1) or a "
                             "comma-separated list (default: --lm-weight)")
    return {NAME: parser}


def run(args: argparse.Namespace) -> None:
    if args.format == "kaldi":
        run_kaldi(args)
        return
    kaldi_only = [option for option, value in (
        ("--ac-costs", args.ac_costs), ("--lm-costs", args.lm_costs),
        ("--interpolate", args.interpolate), ("--write-lm-costs", args.write_lm_costs),
        ("--ref", args.ref), ("--lm-weights", args.lm_weights)) if value is not None]
    if kaldi_only:
        raise LstmlmError(f"{', '.join(kaldi_only)}: for --format kaldi")
    # Read before the model is loaded, so bad input fails fast.
    hypotheses = rescoring.read_nbest(read_input(args.nbest))
    model = load_model(args)
    rescored = rescoring.rescore(model, hypotheses, lm_weight=args.lm_weight,
                                 word_penalty=args.word_penalty, log10=args.log10)
    if args.best:
        rescored = rescoring.best_per_utterance(rescored)
    for entry in rescored:
        hypothesis = entry.hypothesis
        print(f"{hypothesis.utterance}\t{hypothesis.score:.4f}\t{entry.lm_logprob:.4f}\t"
              f"{entry.words}\t{entry.combined:.4f}\t{hypothesis.text}")


def run_kaldi(args: argparse.Namespace) -> None:
    if args.log10 or args.best:
        raise LstmlmError("--log10 and --best are for --format tsv (Kaldi's costs are natural "
                          "logs, and the best hypotheses are what it prints)")
    if args.ac_costs is None:
        raise LstmlmError("--format kaldi needs --ac-costs FILE (utt-N cost lines)")
    if args.lm_weights is not None and args.ref is None:
        raise LstmlmError("--lm-weights sweeps the weight against --ref transcripts")
    weights = rescoring.parse_weights(args.lm_weights or str(args.lm_weight))
    for path in (args.nbest, args.ac_costs, args.lm_costs, args.ref):
        if path not in (None, "-") and not Path(path).is_file():
            raise LstmlmError(f"no such file: {path}")
    references = rescoring.read_references(read_input(args.ref), args.ref) if args.ref else None
    model = load_model(args)
    lm_costs = None if args.lm_costs is None else rescoring.CostLookup(
        rescoring.read_costs(input_lines(args.lm_costs), args.lm_costs), args.lm_costs)
    utterances = rescoring.rescore_kaldi(
        model, rescoring.read_kaldi_nbest(input_lines(args.nbest), input_name(args.nbest)),
        rescoring.CostLookup(rescoring.read_costs(input_lines(args.ac_costs), args.ac_costs),
                             args.ac_costs), lm_costs, args.interpolate)
    with contextlib.ExitStack() as stack:
        if args.write_lm_costs:
            written = stack.enter_context(atomic_lines(Path(args.write_lm_costs)))
            utterances = write_lm_costs(utterances, written)
        if references is None:
            for hypotheses in utterances:
                best = rescoring.best_kaldi(hypotheses, args.lm_weight, args.word_penalty)
                print(f"{best.utterance} {best.text}".rstrip())
            return
        sweep = rescoring.sweep_weights(utterances, references, weights, args.word_penalty,
                                        args.ref)
    for weight, rate in zip(sweep.weights, sweep.word_error_rates):
        print(f"{weight:g}\t{rate:.2f}")
    best = sweep.weights.index(sweep.best_weight)
    print(f"best lm-weight: {sweep.best_weight:g} (WER {sweep.word_error_rates[best]:.2f}%, "
          f"{sweep.errors[best]} errors in {sweep.reference_words} words)")


def write_lm_costs(utterances, handle):
    """Pass the utterances on, writing each hypothesis's LM cost as a utt-N cost line."""
    for hypotheses in utterances:
        handle.writelines(f"{hypothesis.key} {hypothesis.lm_cost:.6f}\n"
                          for hypothesis in hypotheses)
        yield hypotheses
