"""The `lstmlm` command line: the parser of every command, and `main`, which runs one and
turns every error into one line and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from importlib import metadata

import torch

from ..errors import LstmlmError, RunInterrupted
from . import (agreement, download, evaluate, export, generate, importing, numpy_rnn, pairs, plot,
               predict, presets, rescore, score, states, surprisal, syntaxgym, train)

# The commands in the order `lstmlm --help` lists them.
COMMANDS = (train, evaluate, download, generate, score, rescore, pairs, surprisal, predict,
            states, syntaxgym, agreement, export, importing, plot, presets, numpy_rnn)
RUNS = {command.NAME: command.run for command in COMMANDS}


def version_text() -> str:
    return f"lstmlm {metadata.version('lstmlm')} (torch {torch.__version__})"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `lstmlm` parser, and the parser of each command by its words ("numpy-rnn train")."""
    parser = argparse.ArgumentParser(
        prog="lstmlm", description="Train, evaluate and use word-level recurrent language models.")
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True)
    by_words: dict[str, argparse.ArgumentParser] = {}
    for command in COMMANDS:
        by_words.update(command.add_parser(commands))
    return parser, by_words


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments of a command line, with options and positionals in any order.

    argparse cannot intermix them through subcommands, and a positional with a default
    (`score RUN [FILE]`) stops taking words at the first option. So the command is found first,
    then its own words are parsed with `parse_intermixed_args`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, commands = build_parser()
    found, _ = parser.parse_known_args(argv)  # the command; -h and --version exit here
    words = [found.command] + ([found.numpy_command] if found.command == numpy_rnn.NAME else [])
    if words != argv[:len(words)]:
        parser.error(f"the command ({' '.join(words)}) must come first")
    return commands[" ".join(words)].parse_intermixed_args(
        argv[len(words):], namespace=argparse.Namespace(command=found.command,
                                                        numpy_command=getattr(
                                                            found, "numpy_command", None)))


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"lstmlm: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            # PyTorch marks the int8 kernels --quantize uses as deprecated; repeating that on
            # every run of the command helps no one.
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions")
            RUNS[args.command](args)
    except LstmlmError as error:
        print(f"lstmlm: error: {error}", file=sys.stderr)
        return 2
    except RunInterrupted as interrupt:
        print(f"lstmlm: interrupted (the run continues with: lstmlm train --resume "
              f"{interrupt.run_dir})", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("lstmlm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`lstmlm presets | head`); quiet the interpreter's final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (MemoryError, torch.cuda.OutOfMemoryError) as error:
        # What a checkpoint holds stays on disk; the command needs a smaller batch or model.
        where = "the GPU" if isinstance(error, torch.cuda.OutOfMemoryError) else "the CPU"
        print(f"lstmlm: error: out of memory on {where}; a smaller batch_size, eval_batch_size "
              f"or model fits in less (a training run continues with --resume)", file=sys.stderr)
        return 2
    except OSError as error:
        # The world failed (a full disk, a file that cannot be read or written) where the
        # library did not say more: the file and the cause, on one line.
        print(f"lstmlm: error: {error.filename or ''}{': ' if error.filename else ''}"
              f"{error.strerror or error}", file=sys.stderr)
        return 2
    return 0
