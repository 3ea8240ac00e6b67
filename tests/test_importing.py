"""Importing published checkpoints: fidelity to the original forward pass, safety, bad input."""

import json
import math
import os
from pathlib import Path

import pytest
import torch

import lstmlm
from lstmlm import LstmlmError, surprisal
from lstmlm.cli import main
from lstmlm.datasets import file_digest
from lstmlm.importing import import_checkpoint, vocabulary_of

from . import published

WORDS = ["<unk>", "<eos>", "the", "keys", "key", "to", "cabinet", "are", "is", "on", "table",
         "dogs", "bark", "."]
SENTENCES = ["the keys to the cabinet are on the table .", "dogs bark", "the key is on ."]
BITS = 1 / math.log(2)


def vocab_file(folder: Path, words=WORDS) -> Path:
    path = folder / "vocab.txt"
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    return path


def ids_of(sentences: list[str]) -> list[int]:
    """An `<eos>`, then each sentence and its `<eos>`: lstmlm's reading of a story."""
    ids = [WORDS.index("<eos>")]
    for sentence in sentences:
        ids += [WORDS.index(word) for word in sentence.split()] + [WORDS.index("<eos>")]
    return ids


def assert_same_surprisal(folder: Path, original: torch.nn.Module) -> None:
    """Each sentence read from a fresh state after `<eos>`, and all of them carried as one
    stream, give the original module's surprisals to 1e-4 bits."""
    model = lstmlm.load(folder)
    stimuli = surprisal.read_stimuli("\n".join(SENTENCES), "stimuli")
    independent = surprisal.compute(model, stimuli, context="independent")
    expected = torch.cat([-published.original_logprobs(original, ids_of([sentence])) * BITS
                          for sentence in SENTENCES])
    got = torch.tensor([row.surprisal for row in independent.tokens], dtype=torch.float64)
    assert torch.allclose(got, expected, atol=1e-4, rtol=0), (got - expected).abs().max()
    carried = surprisal.compute(model, stimuli, context="carry")
    # The original evaluation streams the file at batch 1 in windows, the state carried.
    expected = -published.original_logprobs(original, ids_of(SENTENCES), window=4) * BITS
    got = torch.tensor([row.surprisal for row in carried.tokens], dtype=torch.float64)
    assert torch.allclose(got, expected, atol=1e-4, rtol=0), (got - expected).abs().max()


@pytest.mark.parametrize("rnn_type, ninp, nhid, tied, legacy", [
    ("LSTM", 6, 10, False, False),  # embeddings narrower than the layers, untied
    ("GRU", 8, 8, True, True),  # tied, in the pre-1.6 layout Gulordava's files have
    ("RNN_RELU", 5, 7, False, False),
    ("RNN_TANH", 7, 7, False, True),
])
def test_a_whole_word_language_model_gives_the_original_surprisals(tmp_path, rnn_type, ninp,
                                                                     nhid, tied, legacy):
    torch.manual_seed(0)
    original = published.WordLanguageModel(rnn_type, len(WORDS), ninp, nhid, 2, 0.3, tied)
    checkpoint = published.save(original, tmp_path / "model.pt", legacy)
    folder = import_checkpoint("word-language-model", checkpoint, tmp_path / "imported",
                               vocab=vocab_file(tmp_path))
    assert_same_surprisal(folder, original)
    config = json.loads((folder / "config.json").read_text())
    assert config["model"]["tie_weights"] is tied
    assert config["model"]["cell"] == rnn_type.lower()
    assert config["source"]["checkpoint_sha256"] == file_digest(checkpoint)


def test_a_state_dict_takes_its_cell_from_the_caller(tmp_path):
    torch.manual_seed(1)
    original = published.WordLanguageModel("RNN_RELU", len(WORDS), 6, 6, 1, 0.0)
    checkpoint = tmp_path / "weights.pt"
    torch.save(original.state_dict(), checkpoint)
    with pytest.raises(LstmlmError, match="give --cell"):
        import_checkpoint("word-language-model", checkpoint, tmp_path / "a",
                          vocab=vocab_file(tmp_path))
    with pytest.raises(LstmlmError, match="not the 24 of a lstm cell"):
        import_checkpoint("word-language-model", checkpoint, tmp_path / "b",
                          vocab=vocab_file(tmp_path), cell="lstm")
    folder = import_checkpoint("word-language-model", checkpoint, tmp_path / "c",
                               vocab=vocab_file(tmp_path), cell="rnn_relu")
    assert_same_surprisal(folder, original)


def test_a_checkpoint_saved_on_a_gpu_loads_on_the_cpu(tmp_path):
    torch.manual_seed(2)
    original = published.WordLanguageModel("LSTM", len(WORDS), 6, 6, 2, 0.2)
    checkpoint = published.as_saved_on_cuda(published.save(original, tmp_path / "gpu.pt"))
    folder = import_checkpoint("word-language-model", checkpoint, tmp_path / "imported",
                               vocab=vocab_file(tmp_path))
    assert_same_surprisal(folder, original)


@pytest.mark.parametrize("wdrop, tied, with_training_state", [(0.5, True, True),
                                                               (0.0, False, False)])
def test_an_awd_lstm_gives_the_original_surprisals(tmp_path, wdrop, tied, with_training_state):
    torch.manual_seed(3)
    nhid = 9 if tied else 8
    original = published.AwdLstmModel(len(WORDS), 8, nhid, 3, wdrop, tied)
    saved = original
    if with_training_state:  # main.py's model_save: [model, criterion, optimizer]
        saved = [original, published.SplitCrossEntropyLoss(8, []),
                 torch.optim.SGD(original.parameters(), lr=30)]
    checkpoint = published.save(saved, tmp_path / "awd.pt")
    folder = import_checkpoint("awd-lstm", checkpoint, tmp_path / "imported",
                               vocab=vocab_file(tmp_path))
    assert_same_surprisal(folder, original)
    config = json.loads((folder / "config.json").read_text())
    assert config["regularisation"]["weight_drop"] == wdrop
    assert config["model"]["embedding_size"] == (8 if tied else None)


def test_an_awd_lstm_with_a_split_softmax_is_refused_naming_what_is_missing(tmp_path):
    original = published.AwdLstmModel(len(WORDS), 8, 8, 2)
    checkpoint = published.save([original, published.SplitCrossEntropyLoss(8, [4, 9]),
                                 torch.optim.SGD(original.parameters(), lr=30)],
                                tmp_path / "awd.pt")
    with pytest.raises(LstmlmError, match="splits the vocabulary at 4, 9"):
        import_checkpoint("awd-lstm", checkpoint, tmp_path / "out", vocab=vocab_file(tmp_path))
    assert not (tmp_path / "out").exists()


def test_the_transformer_of_pytorch_examples_is_named_and_refused(tmp_path):
    checkpoint = published.save(published.TransformerModel(len(WORDS), 8), tmp_path / "t.pt")
    with pytest.raises(LstmlmError, match="TransformerModel, pytorch/examples' Transformer"):
        import_checkpoint("word-language-model", checkpoint, tmp_path / "out",
                          vocab=vocab_file(tmp_path))


class RunsCode:
    """An object whose unpickling calls `function(argument)`."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


@pytest.mark.parametrize("function, named", [(os.system, "system"), (eval, "builtins.eval"),
                                             ("subprocess", "subprocess.Popen")])
def test_a_checkpoint_that_would_run_code_is_refused_and_runs_none(tmp_path, function, named):
    marker = tmp_path / "ran"
    if function == "subprocess":
        import subprocess

        payload = RunsCode(subprocess.Popen, ["touch", str(marker)])
    elif function is eval:
        payload = RunsCode(eval, f"open({str(marker)!r}, 'w')")
    else:
        payload = RunsCode(os.system, f"touch {marker}")
    checkpoint = tmp_path / "evil.pt"
    original = published.WordLanguageModel("LSTM", len(WORDS), 4, 4, 1, 0.0)
    with published.published_modules(published.MODULES):
        torch.save({"model": original, "payload": payload}, checkpoint)
    for checkpoint_format in ("word-language-model", "awd-lstm"):
        with pytest.raises(LstmlmError, match=f"names .*{named}.*could run code"):
            import_checkpoint(checkpoint_format, checkpoint, tmp_path / "out",
                              vocab=vocab_file(tmp_path))
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_corpus_train_numbers_words_as_data_dictionary_does(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("the keys <unk>\nthe dogs bark\n", encoding="utf-8")
    vocab, source = vocabulary_of(None, train)
    assert vocab.words == ["the", "keys", "<unk>", "<eos>", "dogs", "bark"]
    assert source == train


def test_cli_import_then_every_command_reads_the_folder(tmp_path, capsys):
    torch.manual_seed(4)
    original = published.WordLanguageModel("LSTM", len(WORDS), 6, 6, 2, 0.2)
    checkpoint = published.save(original, tmp_path / "model.pt", legacy=True)
    out = tmp_path / "grnn"
    assert main(["import", "word-language-model", str(checkpoint), str(out), "--vocab",
                 str(vocab_file(tmp_path)), "--normalize", "wikipedia"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    stimuli = tmp_path / "stimuli.txt"
    stimuli.write_text("The keys to the cabinet are on the table.\n", encoding="utf-8")
    assert main(["surprisal", str(out), str(stimuli)]) == 0
    captured = capsys.readouterr()
    assert "normalization: wikipedia" in captured.err
    rows = [line.split("\t") for line in captured.out.splitlines()[1:]]
    assert [row[2] for row in rows] == ["The", "keys", "to", "the", "cabinet", "are", "on",
                                       "the", "table.", "</s>"]
    assert rows[8][4] == "table ."  # the full stop is a token of its own
    card = (out / "README.md").read_text()
    assert file_digest(checkpoint) in card
    # An imported model has no corpus: a split needs data, and a text from standard input reads.
    assert main(["eval", str(out)]) == 2
    assert "it has no corpus of its own" in capsys.readouterr().err


@pytest.mark.parametrize("problem, message", [
    ("truncated", "not a PyTorch checkpoint|cannot read it"),
    ("text", "not a PyTorch checkpoint"),
    ("vocabulary", "has 3 words but the checkpoint's embedding has 14 rows"),
    ("exists", "already exists and is not an empty folder"),
    ("no vocabulary", "give the vocabulary"),
])
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(tmp_path, capsys, problem,
                                                                 message):
    original = published.WordLanguageModel("LSTM", len(WORDS), 4, 4, 1, 0.0)
    checkpoint = published.save(original, tmp_path / "model.pt", legacy=problem == "truncated")
    vocab = vocab_file(tmp_path)
    out = tmp_path / "out"
    arguments = ["import", "word-language-model", str(checkpoint), str(out), "--vocab",
                 str(vocab)]
    if problem == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    elif problem == "text":
        checkpoint.write_text("not a checkpoint\n")
    elif problem == "vocabulary":
        vocab_file(tmp_path, WORDS[:3])
    elif problem == "exists":
        out.mkdir()
        (out / "something").write_text("")
    else:
        arguments = arguments[:-2]
    if problem == "no vocabulary":
        with pytest.raises(SystemExit) as exit_status:
            main(arguments)
        assert exit_status.value.code == 2
        return
    assert main(arguments) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert __import__("re").search(message, err), err
    assert not out.exists() or problem == "exists"
    assert not list(tmp_path.glob(".out-*"))


def test_a_flipped_bit_in_the_weights_is_one_line_and_exit_2(tmp_path, capsys):
    original = published.WordLanguageModel("LSTM", len(WORDS), 4, 4, 1, 0.0)
    checkpoint = published.save(original, tmp_path / "model.pt")
    folder = import_checkpoint("word-language-model", checkpoint, tmp_path / "imported",
                               vocab=vocab_file(tmp_path))
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[-3] ^= 0x10
    (folder / "model.safetensors").write_bytes(bytes(weights))
    assert main(["eval", str(folder), "--data", str(vocab_file(tmp_path))]) == 2
    assert "does not match the SHA-256" in capsys.readouterr().err
