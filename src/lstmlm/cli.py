"""Command line: parses arguments and calls the library; every error is one line, exit 2."""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import os
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from . import api, datasets, numpy_rnn, pairs, rescoring, surprisal, syntaxgym
from .budget import plural
from .config import NORMALIZATIONS, PRESETS, Config, apply_overrides, format_value, get_preset
from .errors import LstmlmError
from .evaluation import DynamicEvaluation, NeuralCache
from .export import WEIGHT_CHOICES, export
from .files import atomic_lines, atomic_write_text
from .scoring import corpus_score
from .textfiles import file_lines, read_lines, read_text

DYNAMIC, CACHE = DynamicEvaluation(), NeuralCache()
TABLE_FORMATS = ("tsv", "csv", "jsonl")
MODEL_HELP = "a run directory, or a model folder written by lstmlm export"


def version_text() -> str:
    return f"lstmlm {metadata.version('lstmlm')} (torch {torch.__version__})"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `lstmlm` parser, and the parser of each command by its words ("numpy-rnn train")."""
    parser = argparse.ArgumentParser(
        prog="lstmlm", description="Train, evaluate and use word-level recurrent language models.")
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True)

    train_parser = commands.add_parser("train", help="train a model (or --resume a run)")
    train_parser.add_argument("--preset", default="small", help=f"one of {', '.join(PRESETS)}")
    train_parser.add_argument("--data", help=f"{', '.join(datasets.DATASETS)} (downloaded and "
                                             f"cached), {datasets.SAMPLE} (shipped with lstmlm), "
                                             f"a folder with train/valid/test.txt, or one text "
                                             f"file split 90/5/5 by lines (default: the "
                                             f"preset's)")
    train_parser.add_argument("--seed", type=int)
    train_parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    train_parser.add_argument("--time-budget", metavar="DURATION",
                              help="end the whole run within this time (e.g. 90s, 45m, 2h, "
                                   "1h30m): epochs are planned from the measured speed")
    train_parser.add_argument("--set", dest="overrides", action="append", default=[],
                              metavar="KEY=VALUE", help="override a config field (repeatable)")
    train_parser.add_argument("--runs-dir", default="runs", help="where new runs go (default runs/)")
    train_parser.add_argument("--name", help="the new run's folder in --runs-dir (default: "
                                             "PRESET-DATE-TIME)")
    train_parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    train_parser.add_argument("--quiet", action="store_true", help="print nothing but the result")

    eval_parser = commands.add_parser("eval", help="perplexity of a trained run")
    eval_parser.add_argument("run_dir", help=MODEL_HELP)
    eval_parser.add_argument("--split", default="test", choices=["train", "valid", "test"])
    eval_parser.add_argument("--data", help="evaluate on other data with the run's vocabulary: "
                                            "a dataset, folder or file as train --data takes, "
                                            "or - for the text of standard input")
    eval_parser.add_argument("--device")
    add_weights_option(eval_parser)
    add_quantize_option(eval_parser)
    eval_parser.add_argument("--dynamic", action="store_true",
                             help="dynamic evaluation: adapt the weights to the text as it is read")
    eval_parser.add_argument("--dynamic-lr", type=float, default=DYNAMIC.learning_rate)
    eval_parser.add_argument("--dynamic-decay", type=float, default=DYNAMIC.decay)
    eval_parser.add_argument("--dynamic-method", default=DYNAMIC.method, choices=["sgd", "rms"])
    eval_parser.add_argument("--dynamic-steps", type=int, default=DYNAMIC.num_steps,
                             help="words per update")
    eval_parser.add_argument("--cache", action="store_true",
                             help="mix in a neural cache of recent hidden states")
    eval_parser.add_argument("--cache-window", type=int, default=CACHE.window)
    eval_parser.add_argument("--cache-theta", type=float, default=CACHE.theta)
    eval_parser.add_argument("--cache-lambda", type=float, default=CACHE.lambda_)

    download_parser = commands.add_parser("download", help="fetch and verify a dataset")
    download_parser.add_argument("name", nargs="?", default="ptb", choices=sorted(datasets.DATASETS))

    generate_parser = commands.add_parser("generate", help="generate text from a trained run")
    generate_parser.add_argument("run_dir", help=MODEL_HELP)
    generate_parser.add_argument("--prime", default="", help="text to continue (default: a "
                                                             "sentence start)")
    generate_parser.add_argument("--words", type=int, default=50)
    generate_parser.add_argument("--strategy", default="sample", choices=["greedy", "sample"])
    generate_parser.add_argument("--temperature", type=float, default=1.0)
    generate_parser.add_argument("--top-k", type=int, default=0, help="0: no limit")
    generate_parser.add_argument("--top-p", type=float, default=1.0)
    generate_parser.add_argument("--seed", type=int)
    generate_parser.add_argument("--allow-unk", action="store_true",
                                 help="let <unk> be generated (masked out by default)")
    generate_parser.add_argument("--stop-at-eos", action="store_true")
    generate_parser.add_argument("--sentences", type=int,
                                 help="generate this many sentences instead of --words words")
    generate_parser.add_argument("--min-length", type=int, default=1,
                                 help="with --sentences: regenerate sentences shorter than this")
    generate_parser.add_argument("--out", help="write the text to this file too")
    generate_parser.add_argument("--device")
    add_weights_option(generate_parser)
    add_quantize_option(generate_parser)

    score_parser = commands.add_parser("score", help="log-probability of each line's sentence")
    score_parser.add_argument("run_dir", help=MODEL_HELP)
    score_parser.add_argument("file", nargs="?", default="-", help="sentences, one per line "
                                                                  "(default: standard input)")
    score_parser.add_argument("--format", default="text", choices=["text", "jsonl"])
    score_parser.add_argument("--per-word", action="store_true",
                              help="one line per word: sentence, position, word, OOV (0/1) and "
                                   "surprisal in bits, the closing <eos> included")
    score_parser.add_argument("--device")
    add_weights_option(score_parser)
    add_quantize_option(score_parser)

    rescore_parser = commands.add_parser("rescore", help="rescore an n-best list with the model")
    rescore_parser.add_argument("run_dir", help=MODEL_HELP)
    rescore_parser.add_argument("nbest", nargs="?", default="-",
                                help="the n-best list (default: standard input): "
                                     "utterance-id<TAB>score<TAB>text lines, or Kaldi's "
                                     "utt-N word... lines with --format kaldi")
    rescore_parser.add_argument("--format", default="tsv", choices=["tsv", "kaldi"])
    rescore_parser.add_argument("--lm-weight", type=float, default=1.0,
                                help="tsv: combined = score + W * lm_logprob + P * words; "
                                     "kaldi: cost = ac_cost + W * lm_cost + P * words "
                                     "(default 1)")
    rescore_parser.add_argument("--word-penalty", type=float, default=0.0, help="P (default 0)")
    rescore_parser.add_argument("--log10", action="store_true",
                                help="tsv: LM log-probabilities in base 10 (default: natural "
                                     "log)")
    rescore_parser.add_argument("--best", action="store_true",
                                help="tsv: print only the best hypothesis of each utterance")
    rescore_parser.add_argument("--ac-costs", metavar="FILE",
                                help="kaldi: the acoustic costs, utt-N cost lines (needed)")
    rescore_parser.add_argument("--lm-costs", metavar="FILE",
                                help="kaldi: the existing LM's costs, mixed in with --interpolate")
    rescore_parser.add_argument("--interpolate", type=float, metavar="L",
                                help="kaldi: LM probability = L * this model's + (1 - L) * the "
                                     "existing LM's (from --lm-costs)")
    rescore_parser.add_argument("--write-lm-costs", metavar="FILE",
                                help="kaldi: write the LM costs used, as utt-N cost lines")
    rescore_parser.add_argument("--ref", metavar="FILE",
                                help="kaldi: reference transcripts (utt text lines); print the "
                                     "WER at each --lm-weights weight and the best weight")
    rescore_parser.add_argument("--lm-weights", metavar="SWEEP",
                                help="kaldi, with --ref: start:stop:step (e.g. 0:2:0.1) or a "
                                     "comma-separated list (default: --lm-weight)")
    add_model_options(rescore_parser)

    pairs_parser = commands.add_parser("pairs", help="minimal-pair accuracy (BLiMP JSONL, or "
                                                     "good<TAB>bad lines)")
    pairs_parser.add_argument("run_dir", help=MODEL_HELP)
    pairs_parser.add_argument("files", nargs="+", help="BLiMP .jsonl files or TSV of "
                                                       "good<TAB>bad (- for standard input)")
    add_normalize_option(pairs_parser)
    pairs_parser.add_argument("--format", default="text", choices=["text", "jsonl", "tsv"])
    pairs_parser.add_argument("--by-pair", action="store_true",
                              help="also print each pair's two log-probabilities")
    add_model_options(pairs_parser)

    surprisal_parser = commands.add_parser(
        "surprisal", help="surprisal of each word of experimental stimuli (and of regions)")
    surprisal_parser.add_argument("run_dir", help=MODEL_HELP)
    surprisal_parser.add_argument("stimuli", nargs="?", default="-",
                                  help="sentences one per line, or a CSV/TSV table with "
                                       "--text-column (default: standard input)")
    surprisal_parser.add_argument("--text-column", help="the table's column of sentences")
    surprisal_parser.add_argument("--keep", default="", metavar="COLUMNS",
                                  help="comma-separated columns to carry into the output")
    surprisal_parser.add_argument("--region-column",
                                  help="each row is one region named by this column; "
                                       "consecutive rows with the same --keep values make a "
                                       "sentence (without it, | in the text separates regions)")
    add_normalize_option(surprisal_parser)
    surprisal_parser.add_argument("--unit", default="bits", choices=surprisal.UNITS,
                                  help="bits: -log2 p (default); nats: -ln p")
    surprisal_parser.add_argument("--context", default="independent", choices=surprisal.CONTEXTS,
                                  help="independent: each sentence from the start state "
                                       "(default); carry: the sentences read in order as one "
                                       "stream")
    surprisal_parser.add_argument("--format", default="tsv", choices=TABLE_FORMATS)
    surprisal_parser.add_argument("--regions", metavar="FILE",
                                  help="write the region table (summed surprisal) to FILE")
    add_model_options(surprisal_parser)

    syntaxgym_parser = commands.add_parser(
        "syntaxgym", help="region surprisals and prediction accuracy of SyntaxGym suites")
    syntaxgym_parser.add_argument("run_dir", help=MODEL_HELP)
    syntaxgym_parser.add_argument("suites", nargs="+", help="SyntaxGym test suite JSON files "
                                                            "(- for standard input)")
    add_normalize_option(syntaxgym_parser)
    syntaxgym_parser.add_argument("--format", default="text", choices=["text", *TABLE_FORMATS])
    syntaxgym_parser.add_argument("--regions", metavar="FILE",
                                  help="write the region table (suite, item, condition, region, "
                                       "content, surprisal in bits) to FILE")
    add_model_options(syntaxgym_parser)

    export_parser = commands.add_parser("export", help="write a run's model folder (config, "
                                                       "vocabulary, weights, model card)")
    export_parser.add_argument("run_dir")
    export_parser.add_argument("out_dir", help="a new (or empty) folder")
    add_weights_option(export_parser)
    export_parser.add_argument("--onnx", action="store_true",
                               help="also write model.onnx (needs: pip install -e \".[onnx]\")")

    plot_parser = commands.add_parser("plot", help="loss and perplexity curves of runs")
    plot_parser.add_argument("run_dirs", nargs="+")
    plot_parser.add_argument("--out", default="curves.png")

    commands.add_parser("presets", help="list the presets and their values")

    numpy_parser = commands.add_parser("numpy-rnn", help="the from-scratch NumPy RNN tutorial model")
    numpy_commands = numpy_parser.add_subparsers(dest="numpy_command", required=True)
    numpy_train = numpy_commands.add_parser("train", help="train on a text or CSV file")
    numpy_train.add_argument("--data", required=True, help="text file, or CSV with --csv-column")
    numpy_train.add_argument("--csv-column")
    numpy_train.add_argument("--hidden", type=int, default=100)
    numpy_train.add_argument("--vocab", type=int, default=8000)
    numpy_train.add_argument("--epochs", type=int, default=10)
    numpy_train.add_argument("--learning-rate", type=float, default=0.005)
    numpy_train.add_argument("--bptt-truncate", type=int, default=4)
    numpy_train.add_argument("--evaluate-loss-after", type=int, default=1)
    numpy_train.add_argument("--max-sentences", type=int, help="use only the first N sentences")
    numpy_train.add_argument("--seed", type=int, default=0)
    numpy_train.add_argument("--out", default="numpy-rnn.npz")
    numpy_generate = numpy_commands.add_parser("generate", help="sample sentences from a model")
    numpy_generate.add_argument("model")
    numpy_generate.add_argument("--sentences", type=int, default=10)
    numpy_generate.add_argument("--min-length", type=int, default=7)
    numpy_generate.add_argument("--seed", type=int)
    numpy_gradcheck = numpy_commands.add_parser("gradcheck", help="check BPTT against "
                                                                   "numerical gradients")
    numpy_gradcheck.add_argument("--vocab", type=int, default=100)
    numpy_gradcheck.add_argument("--hidden", type=int, default=10)
    by_words = {name: command for name, command in commands.choices.items()}
    by_words.update({f"numpy-rnn {name}": command
                     for name, command in numpy_commands.choices.items()})
    return parser, by_words


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments of a command line, with options and positionals in any order.

    argparse cannot intermix them through subcommands, and a positional with a default
    (`score RUN [FILE]`) stops taking words at the first option. So the command is found first,
    then its own words are parsed with `parse_intermixed_args`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, commands = build_parser()
    found, _ = parser.parse_known_args(argv)  # the command; -h and --version exit here
    words = [found.command] + ([found.numpy_command] if found.command == "numpy-rnn" else [])
    if words != argv[:len(words)]:
        parser.error(f"the command ({' '.join(words)}) must come first")
    return commands[" ".join(words)].parse_intermixed_args(
        argv[len(words):], namespace=argparse.Namespace(command=found.command,
                                                        numpy_command=getattr(
                                                            found, "numpy_command", None)))


def add_normalize_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--normalize", choices=NORMALIZATIONS,
                        help="bring the text to the model's conventions: ptb (lower case, "
                             "punctuation dropped, clitics split as do n't, numbers as N), "
                             "clean (clean_text's), none; default: the model's own (its "
                             "config's normalization); the output names the one used")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device")
    add_weights_option(parser)
    add_quantize_option(parser)


def add_weights_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default="best", choices=WEIGHT_CHOICES,
                        help="best: the best-on-valid weights (default); last: those training "
                             "ended with, which the reference implementations report")


def add_quantize_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quantize", choices=api.QUANTIZATIONS,
                        help="int8: dynamic int8 quantisation of the recurrent layers and the "
                             "decoder, for CPU inference")


def run_train(args) -> None:
    from .training import train  # the trainer is not needed by the other commands


    if args.resume:
        if args.data or args.seed is not None or args.device or args.time_budget or args.name:
            raise LstmlmError("--resume continues a run with its saved config; "
                              "drop --data/--seed/--device/--time-budget/--name")
        result = train(resume=args.resume, resume_changes=args.overrides,
                       echo=None if args.quiet else print)
    else:
        overrides = {key: value for key, value in (("data", args.data), ("seed", args.seed),
                                                   ("device", args.device),
                                                   ("time_budget", args.time_budget))
                     if value is not None}
        config = apply_overrides(get_preset(args.preset), args.overrides)
        config = apply_overrides(config, overrides)
        result = train(config, runs_dir=args.runs_dir, name=args.name,
                       echo=None if args.quiet else print)
    if not result.main_process:
        return  # rank 0 of a distributed run reports for all of them
    print(f"run: {result.run_dir}")
    print(f"valid perplexity: {result.valid_perplexity:.3f}")
    print(f"test perplexity: {result.test_perplexity:.3f}")
    if result.last_test_perplexity is not None:
        print(f"test perplexity of the last weights: {result.last_test_perplexity:.3f}")
    if result.adapted_test_perplexity is not None:
        print(f"test perplexity adapted at evaluation time: "
              f"{result.adapted_test_perplexity:.3f}")


def run_eval(args) -> None:
    model = load_model(args)
    dynamic = DynamicEvaluation(num_steps=args.dynamic_steps, learning_rate=args.dynamic_lr,
                                decay=args.dynamic_decay,
                                method=args.dynamic_method) if args.dynamic else None
    cache = NeuralCache(window=args.cache_window, theta=args.cache_theta,
                        lambda_=args.cache_lambda) if args.cache else None
    how = " (dynamic evaluation)" if args.dynamic else " (neural cache)" if args.cache else ""
    if args.data == "-":
        perplexity = model.perplexity(sys.stdin.read(), dynamic=dynamic, cache=cache)
        print(f"standard input perplexity{how}: {perplexity:.3f}")
        return
    perplexity = model.evaluate(args.split, data=args.data, dynamic=dynamic, cache=cache)
    print(f"{args.split} perplexity{how}: {perplexity:.3f}")


def run_generate(args) -> None:
    model = load_model(args)
    options = dict(strategy=args.strategy, temperature=args.temperature, top_k=args.top_k,
                   top_p=args.top_p, seed=args.seed, allow_unk=args.allow_unk)
    if args.sentences is not None:
        text = "\n".join(model.generate_sentences(args.sentences, args.min_length, args.prime,
                                                  **options))
    else:
        text = model.generate(args.prime, args.words, stop_at_eos=args.stop_at_eos, **options)
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text + "\n")


def read_input(name: str) -> list[str]:
    """The lines of file `name`, or of standard input for `-`."""
    return sys.stdin.read().splitlines() if name == "-" else read_lines(Path(name))


def run_score(args) -> None:
    model = load_model(args)
    sentences = [line for line in read_input(args.file) if line.strip()]
    if args.per_word:
        for number, words in enumerate(model.surprisals(sentences), start=1):
            for position, word in enumerate(words, start=1):
                if args.format == "jsonl":
                    print(json.dumps({"sentence": number, "position": position,
                                      **word.to_dict()}))
                else:
                    print(f"{number}\t{position}\t{word.word}\t{int(word.oov)}\t{word.bits:.4f}")
        return
    scores = model.score(sentences)
    total = corpus_score(scores)
    for score in scores:
        if args.format == "jsonl":
            print(json.dumps(score.to_dict()))
        else:
            print(f"{score.logprob:.4f}\t{score.log10prob:.4f}\t{score.words}\t{score.oov}\t"
                  f"{score.perplexity:.3f}\t{score.sentence}")
    if args.format == "jsonl":
        print(json.dumps({"corpus": dataclasses.asdict(total)}))
    else:
        print(f"corpus: {total.sentences} sentences, {total.words} words, {total.oov} OOV, "
              f"logprob {total.logprob:.4f}, perplexity {total.perplexity:.3f}")


def run_rescore(args) -> None:
    if args.format == "kaldi":
        run_rescore_kaldi(args)
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


def input_lines(name: str) -> Iterator[str]:
    """The lines of file `name` (or of standard input for `-`), read one at a time."""
    return (line.rstrip("\r\n") for line in sys.stdin) if name == "-" else file_lines(Path(name))


def run_rescore_kaldi(args) -> None:
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


def run_pairs(args) -> None:
    # Read before the model is loaded, so bad input fails fast.
    minimal_pairs = [pair for name in args.files
                     for pair in pairs.read_pairs(read_input(name), input_name(name))]
    model = load_model(args)
    report = pairs.evaluate(model, minimal_pairs, args.normalize)
    pair_rows = [pairs.pair_row(score) for score in report.scores] if args.by_pair else []
    summary_rows = pairs.report_rows(report)
    if args.format == "jsonl":
        print(table_text(pair_rows + summary_rows, "jsonl"), end="")
        return
    if args.format == "tsv":
        # The pairs' table (with --by-pair), a blank line, then the summary's, each with a header.
        print(table_text(pair_rows, "tsv") + "\n" if pair_rows else "", end="")
        print(table_text(summary_rows, "tsv"), end="")
        return
    for score in report.scores if args.by_pair else ():
        print(f"{score.pair.uid}\t{score.good_logprob:.4f}\t{score.bad_logprob:.4f}\t"
              f"{int(score.correct)}\t{score.pair.good}\t{score.pair.bad}")
    for row in summary_rows[:-1]:  # the last, overall, row is the closing lines
        count = f"\t{plural(row['pairs'], 'pair')}" if "pairs" in row else ""
        print(f"{row['level']}\t{row['name']}{count}\t{100 * row['accuracy']:.1f}%")
    without = report.accuracy_without_oov
    print(f"normalization: {report.normalization}; {100 * report.oov_share:.1f}% of pairs have "
          f"an out-of-vocabulary word; accuracy without them: "
          + (f"{100 * without:.1f}%" if without is not None else "no such pair"))
    print(f"overall accuracy: {100 * report.overall:.1f}% (mean over "
          f"{len(report.phenomena)} phenomena, {len(report.scores)} pairs)")


def table_text(rows: list[dict], table_format: str) -> str:
    """Rows as JSON lines, or as a CSV or TSV table with a header of every key seen (a
    missing or None value as an empty cell)."""
    if table_format == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, delimiter="\t" if table_format == "tsv" else ",",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if row.get(key) is None else row[key] for key in columns}
                     for row in rows)
    return out.getvalue()


def input_text(name: str) -> str:
    """The whole text of file `name`, or of standard input for `-`."""
    return sys.stdin.read() if name == "-" else read_text(Path(name))


def input_name(name: str) -> str:
    return "standard input" if name == "-" else name


def load_model(args) -> api.LanguageModel:
    return api.load(args.run_dir, device=args.device, weights=args.weights,
                    quantize=args.quantize)


def run_surprisal(args) -> None:
    # Read before the model is loaded, so bad input fails fast.
    stimuli = surprisal.read_stimuli(
        input_text(args.stimuli), input_name(args.stimuli), args.text_column,
        tuple(column.strip() for column in args.keep.split(",") if column.strip()),
        args.region_column)
    if args.regions and not surprisal.has_regions(stimuli):
        raise LstmlmError(f"--regions: {input_name(args.stimuli)} has no regions (separate them "
                          f"with | in the text, or name a --region-column)")
    table = surprisal.compute(load_model(args), stimuli, args.normalize, args.unit,
                              args.context)
    print(f"lstmlm: surprisal in {table.unit}; normalization: {table.normalization}; "
          f"context: {table.context}", file=sys.stderr)
    if args.regions:
        atomic_write_text(Path(args.regions),
                          table_text(surprisal.region_rows(table), args.format))
    print(table_text(surprisal.token_rows(table), args.format), end="")


def run_syntaxgym(args) -> None:
    suites = [syntaxgym.read_suite(input_text(name), input_name(name)) for name in args.suites]
    results = syntaxgym.evaluate(load_model(args), suites, args.normalize)
    if args.regions:
        atomic_write_text(Path(args.regions), table_text(
            syntaxgym.region_rows(results), "tsv" if args.format == "text" else args.format))
    rows = syntaxgym.summary_rows(results)
    if args.format != "text":
        print(table_text(rows, args.format), end="")
        return
    for row in rows:
        if row["level"] == "prediction":
            print(f"{row['suite']}\tprediction {row['prediction']}\t{row['formula']}\t"
                  f"{100 * row['accuracy']:.1f}% of {plural(row['items'], 'item')}")
        else:
            print(f"{row['suite']}\taccuracy\t{100 * row['accuracy']:.1f}% of "
                  f"{plural(row['items'], 'item')} (every prediction holds); normalization: "
                  f"{row['normalization']}")


def run_plot(args) -> None:
    from .plotting import plot_runs  # matplotlib is loaded only to draw

    print(plot_runs(args.run_dirs, args.out))


def run_numpy_rnn(args) -> None:
    if args.numpy_command == "train":
        corpus = numpy_rnn.load_sentence_corpus(Path(args.data), args.vocab, args.csv_column,
                                                args.max_sentences)
        word, count = corpus.least_frequent
        print(f"Parsed {corpus.sentences} sentences.")
        print(f"Found {corpus.unique_tokens} unique words tokens.")
        print(f"Using vocabulary size {len(corpus.index_to_word)}.")
        print(f"The least frequent word in our vocabulary is '{word}' and appeared {count} times.")
        model = numpy_rnn.RNNNumpy(len(corpus.index_to_word), args.hidden, args.bptt_truncate,
                                   args.seed)
        model.train_with_sgd(corpus.x_train, corpus.y_train, args.learning_rate, args.epochs,
                             args.evaluate_loss_after)
        print(f"final loss: {model.calculate_loss(corpus.x_train, corpus.y_train):.6f}")
        model.save(Path(args.out), corpus.index_to_word)
        print(f"saved {args.out}")
    elif args.numpy_command == "generate":
        model, index_to_word = numpy_rnn.RNNNumpy.load(Path(args.model))
        rng = np.random.default_rng(args.seed)
        for _ in range(args.sentences):
            print(" ".join(model.generate_sentence(index_to_word, args.min_length, rng)))
    else:
        for name, error in numpy_rnn.gradient_check_report(args.vocab, args.hidden).items():
            print(f"{name}: worst relative error {error:.3e}")
        print("gradient check passed")


def run_presets(args) -> None:
    """A table with a column per preset and a row per field that some preset sets."""
    keys = [name for name in Config().flat() if name != "preset"]
    shown = [key for key in keys if any(key in values for values in PRESETS.values())]
    configs = [get_preset(name).flat() for name in PRESETS]
    cells = {key: [table_value(key, config[key]) for config in configs] for key in shown}
    widths = [max(len(name), *(len(cells[key][column]) for key in shown)) + 2
              for column, name in enumerate(PRESETS)]
    print(f"{'':<20}" + "".join(f"{name:>{width}}" for name, width in zip(PRESETS, widths)))
    for key in shown:
        print(f"{key:<20}" + "".join(f"{cell:>{width}}" for cell, width in zip(cells[key], widths)))


def table_value(name: str, value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else format_value(name, value)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"lstmlm: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handlers = {"train": run_train, "eval": run_eval, "generate": run_generate,
                "score": run_score, "rescore": run_rescore, "plot": run_plot,
                "pairs": run_pairs, "surprisal": run_surprisal, "syntaxgym": run_syntaxgym,
                "export": lambda a: print(export(a.run_dir, a.out_dir, weights=a.weights,
                                                 onnx=a.onnx)),
                "presets": run_presets, "numpy-rnn": run_numpy_rnn,
                "download": lambda a: print(datasets.resolve(a.name))}
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            # PyTorch marks the int8 kernels --quantize uses as deprecated (the README says so);
            # repeating that on every run of the command helps no one.
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions")
            handlers[args.command](args)
    except LstmlmError as error:
        print(f"lstmlm: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lstmlm: interrupted (a run continues with: lstmlm train --resume RUN_DIR)",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`lstmlm presets | head`); quiet the interpreter's final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        # The world failed (a full disk, a file that cannot be read or written) where the
        # library did not say more: the file and the cause, on one line.
        print(f"lstmlm: error: {error.filename or ''}{': ' if error.filename else ''}"
              f"{error.strerror or error}", file=sys.stderr)
        return 2
    return 0
