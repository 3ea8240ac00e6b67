"""Command line: parses arguments and calls the library; every error is one line, exit 2."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from . import api, datasets, numpy_rnn, pairs, rescoring
from .budget import plural
from .config import PRESETS, Config, apply_overrides, format_value, get_preset
from .corpus import read_lines
from .errors import LstmlmError
from .evaluation import DynamicEvaluation, NeuralCache
from .export import WEIGHT_CHOICES, export
from .files import atomic_write_text
from .scoring import corpus_score

DYNAMIC, CACHE = DynamicEvaluation(), NeuralCache()
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
                                help="utterance-id<TAB>score<TAB>text per line (default: stdin)")
    rescore_parser.add_argument("--lm-weight", type=float, default=1.0,
                                help="combined = score + W * lm_logprob + P * words (default 1)")
    rescore_parser.add_argument("--word-penalty", type=float, default=0.0, help="P (default 0)")
    rescore_parser.add_argument("--log10", action="store_true",
                                help="LM log-probabilities in base 10 (default: natural log)")
    rescore_parser.add_argument("--best", action="store_true",
                                help="print only the best hypothesis of each utterance")
    rescore_parser.add_argument("--device")
    add_weights_option(rescore_parser)
    add_quantize_option(rescore_parser)

    pairs_parser = commands.add_parser("pairs", help="minimal-pair accuracy (BLiMP JSONL, or "
                                                     "good<TAB>bad lines)")
    pairs_parser.add_argument("run_dir", help=MODEL_HELP)
    pairs_parser.add_argument("files", nargs="+", help="BLiMP .jsonl files or TSV of "
                                                       "good<TAB>bad (- for standard input)")
    pairs_parser.add_argument("--normalize", default="none", choices=pairs.NORMALIZATIONS,
                              help="ptb: lower case, no final punctuation, clitics split "
                                   "(do n't), numbers as N; recorded in the output")
    pairs_parser.add_argument("--format", default="text", choices=["text", "jsonl", "tsv"])
    pairs_parser.add_argument("--by-pair", action="store_true",
                              help="also print each pair's two log-probabilities")
    pairs_parser.add_argument("--device")
    add_weights_option(pairs_parser)
    add_quantize_option(pairs_parser)

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
        if args.overrides or args.data or args.seed is not None or args.device \
                or args.time_budget or args.name:
            raise LstmlmError("--resume continues a run with its saved config; "
                              "drop --set/--data/--seed/--device/--time-budget/--name")
        result = train(resume=args.resume, echo=None if args.quiet else print)
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


def run_eval(args) -> None:
    model = api.load(args.run_dir, device=args.device, weights=args.weights,
                     quantize=args.quantize)
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
    model = api.load(args.run_dir, device=args.device, weights=args.weights,
                     quantize=args.quantize)
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
    model = api.load(args.run_dir, device=args.device, weights=args.weights,
                     quantize=args.quantize)
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
    # Read before the model is loaded, so bad input fails fast.
    hypotheses = rescoring.read_nbest(read_input(args.nbest))
    model = api.load(args.run_dir, device=args.device, weights=args.weights,
                     quantize=args.quantize)
    rescored = rescoring.rescore(model, hypotheses, lm_weight=args.lm_weight,
                                 word_penalty=args.word_penalty, log10=args.log10)
    if args.best:
        rescored = rescoring.best_per_utterance(rescored)
    for entry in rescored:
        hypothesis = entry.hypothesis
        print(f"{hypothesis.utterance}\t{hypothesis.score:.4f}\t{entry.lm_logprob:.4f}\t"
              f"{entry.words}\t{entry.combined:.4f}\t{hypothesis.text}")


def run_pairs(args) -> None:
    # Read before the model is loaded, so bad input fails fast.
    minimal_pairs = [pair for name in args.files
                     for pair in pairs.read_pairs(read_input(name),
                                                  "standard input" if name == "-" else name)]
    model = api.load(args.run_dir, device=args.device, weights=args.weights,
                     quantize=args.quantize)
    report = pairs.evaluate(model, minimal_pairs, args.normalize)
    pair_rows = [pairs.pair_row(score) for score in report.scores] if args.by_pair else []
    summary_rows = pairs.report_rows(report)
    if args.format == "jsonl":
        for row in pair_rows + summary_rows:
            print(json.dumps(row))
        return
    if args.format == "tsv":
        # The pairs' table (with --by-pair), a blank line, then the summary's, each with a header.
        for index, table in enumerate([pair_rows, summary_rows] if pair_rows else [summary_rows]):
            columns = list(dict.fromkeys(key for row in table for key in row))
            print(("\n" if index else "") + "\t".join(columns))
            for row in table:
                print("\t".join("" if row.get(key) is None else str(row[key]) for key in columns))
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
    keys = [field.name for field in dataclasses.fields(Config) if field.name != "preset"]
    shown = [key for key in keys if any(key in values for values in PRESETS.values())]
    configs = [get_preset(name) for name in PRESETS]
    cells = {key: [table_value(key, getattr(config, key)) for config in configs] for key in shown}
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
                "pairs": run_pairs,
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
