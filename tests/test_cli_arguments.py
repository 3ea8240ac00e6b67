"""How the command line reads its arguments (parsed in this process; test_cli runs commands)."""

import argparse
from importlib import metadata

import pytest
import torch

from lstmlm import cli
from lstmlm.cli.main import RUNS

# Each command with its positionals and some options (a flag and an option with a value).
COMMANDS = [
    (["train"], [], ["--preset", "test", "--quiet"]),
    (["eval"], ["RUN"], ["--split", "valid", "--dynamic", "--weights", "last"]),
    (["download"], ["ptb"], []),
    (["generate"], ["RUN"], ["--words", "5", "--stop-at-eos"]),
    (["score"], ["RUN", "sentences.txt"], ["--per-word", "--format", "jsonl"]),
    (["rescore"], ["RUN", "nbest.tsv"], ["--best", "--lm-weight", "0.5"]),
    (["rescore"], ["RUN", "nbest.txt"], ["--format", "kaldi", "--ac-costs", "ac.txt", "--ref",
                                         "ref.txt", "--lm-weights", "0:2:0.5"]),
    (["export"], ["RUN", "OUT"], ["--onnx", "--weights", "last"]),
    (["plot"], ["RUN1", "RUN2"], ["--out", "curves.png"]),
    (["pairs"], ["RUN", "blimp.jsonl"], ["--normalize", "ptb", "--by-pair"]),
    (["surprisal"], ["RUN", "stimuli.csv"], ["--text-column", "sentence", "--keep", "item",
                                             "--unit", "nats", "--context", "carry"]),
    (["syntaxgym"], ["RUN", "a.json", "b.json"], ["--regions", "regions.tsv",
                                                  "--format", "jsonl"]),
    (["predict"], ["RUN", "stimuli.txt"], ["--top", "3", "--full", "p.h5"]),
    (["states"], ["RUN", "stimuli.txt"], ["--layers", "1,2", "--out", "s.h5", "--ablate",
                                          "1:3,4"]),
    (["agreement"], ["RUN", "a.tab", "b.tab"], ["--by-item", "--context", "carry"]),
    (["import"], ["word-language-model", "model.pt", "OUT"], ["--vocab", "vocab.txt",
                                                              "--normalize", "wikipedia"]),
    (["presets"], [], []),
    (["numpy-rnn", "train"], [], ["--data", "text.txt", "--epochs", "2"]),
    (["numpy-rnn", "generate"], ["model.npz"], ["--sentences", "2"]),
    (["numpy-rnn", "gradcheck"], [], ["--vocab", "5"]),
]


def orders(positionals: list[str], options: list[str]) -> list[list[str]]:
    """The options before, between (after the first positional) and after the positionals."""
    return [options + positionals, positionals[:1] + options + positionals[1:],
            positionals + options]


@pytest.mark.parametrize("words, positionals, options", COMMANDS,
                         ids=[" ".join(words + options[:2]) for words, _, options in COMMANDS])
def test_options_and_positionals_in_any_order(words, positionals, options):
    parsed = [cli.parse_args(words + order) for order in orders(positionals, options)]
    assert all(vars(namespace) == vars(parsed[0]) for namespace in parsed)
    assert parsed[0].command == words[0]


def test_every_command_is_covered():
    _, commands = cli.build_parser()
    assert set(commands) == {" ".join(words) for words, _, _ in COMMANDS} | {"numpy-rnn"}


def test_an_optional_positional_after_an_option_is_taken():
    args = cli.parse_args(["score", "RUN", "--per-word", "sentences.txt"])
    assert (args.run_dir, args.file, args.per_word) == ("RUN", "sentences.txt", True)
    assert cli.parse_args(["rescore", "RUN", "--best"]).nbest == "-"  # standard input


def test_bad_arguments_are_usage_errors(capsys):
    for argv in (["score"], ["score", "RUN", "a", "b"], ["--preset", "test", "train"],
                 ["evall", "RUN"], ["eval", "RUN", "--split", "dev"]):
        with pytest.raises(SystemExit) as exit_:
            cli.parse_args(argv)
        assert exit_.value.code == 2, argv
    assert "invalid choice: 'evall'" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parse_args(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"lstmlm {metadata.version('lstmlm')} (torch ")


def test_parse_args_returns_a_namespace_for_the_handlers():
    args = cli.parse_args(["numpy-rnn", "generate", "model.npz"])
    assert isinstance(args, argparse.Namespace)
    assert (args.command, args.numpy_command, args.model) == ("numpy-rnn", "generate", "model.npz")


def test_an_interrupted_run_names_the_folder_that_resumes_it(tmp_path, tiny_config, monkeypatch,
                                                             capsys):
    from lstmlm.training import trainer

    def interrupted(self, resuming, first_lines=()):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.Trainer, "run", interrupted)
    status = cli.main(["train", "--preset", "test", "--data", tiny_config.data.corpus,
                       "--runs-dir", str(tmp_path / "runs"), "--name", "stopped", "--quiet"])
    assert status == 130
    assert capsys.readouterr().err.strip() == (
        f"lstmlm: interrupted (the run continues with: lstmlm train --resume "
        f"{tmp_path / 'runs' / 'stopped'})")


@pytest.mark.parametrize("error, where", [(MemoryError(), "the CPU"),
                                          (torch.cuda.OutOfMemoryError("CUDA out of memory"),
                                           "the GPU")])
def test_running_out_of_memory_is_one_line(monkeypatch, capsys, error, where):
    def exhausts(args):
        raise error

    monkeypatch.setitem(RUNS, "presets", exhausts)
    assert cli.main(["presets"]) == 2
    message = capsys.readouterr().err
    assert message.startswith(f"lstmlm: error: out of memory on {where};")
    assert message.count("\n") == 1
