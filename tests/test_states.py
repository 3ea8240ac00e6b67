"""Hidden states after each token, and unit ablation: what the step-by-step layers compute
against PyTorch's fused ones, the file's layout, and the bad requests."""

import copy

import numpy as np
import pytest
import torch

import lstmlm
from lstmlm import LstmlmError
from lstmlm.cli import main
from lstmlm.importing import import_checkpoint
from lstmlm.model import RecurrentLanguageModel
from lstmlm.states import check_request, write_states
from lstmlm.surprisal import compute, read_stimuli

from . import published

h5py = pytest.importorskip("h5py")

SENTENCES = ["the cat sees mary", "john likes the fish", "a dog"]


@pytest.fixture(scope="module")
def two_layers(tmp_path_factory) -> lstmlm.LanguageModel:
    """A model folder of two LSTM layers of 16 units (a published-style checkpoint, imported)."""
    folder = tmp_path_factory.mktemp("two-layers")
    words = ["<unk>", "<eos>"] + sorted({word for line in SENTENCES for word in line.split()})
    torch.manual_seed(5)
    original = published.WordLanguageModel("LSTM", len(words), 12, 16, 2, 0.0)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    return lstmlm.load(import_checkpoint(
        "word-language-model", published.save(original, folder / "model.pt"),
        folder / "imported", vocab=folder / "vocab.txt"))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("separate_layers", [False, True])
def test_the_step_by_step_layers_compute_what_the_fused_ones_do(cell, separate_layers):
    torch.manual_seed(0)
    network = RecurrentLanguageModel(vocab_size=20, hidden_size=7, num_layers=2, cell=cell,
                                     tie_weights=separate_layers,
                                     embedding_size=5 if separate_layers else None).eval()
    ids, state = torch.randint(0, 20, (3, 6)), network.init_state(3)
    with torch.no_grad():
        logits, fused_state = network(ids, state)
        output, stepped_state, _ = network.stepwise(network.embedding(ids), state)
        assert torch.allclose(network.logits(output), logits, atol=1e-5)
        for fused, stepped in zip(fused_state, stepped_state):
            assert torch.allclose(fused, stepped, atol=1e-5)


def test_the_file_holds_each_token_s_state_after_it(two_layers, tmp_path):
    stimuli = read_stimuli("\n".join(SENTENCES), "s.txt")
    path = write_states(two_layers, stimuli, tmp_path / "s.h5", what=("h", "c", "gates"),
                        normalization="none")
    network, vocab = two_layers.network, two_layers.vocab
    with h5py.File(path) as file:
        assert file["sentence_id"][:].tolist() == [1] * 5 + [2] * 5 + [3] * 3
        assert file["token_id"][:].tolist() == [1, 2, 3, 4, 5] * 2 + [1, 2, 3]
        assert file["token"][4].decode() == "</s>"
        assert sorted(file["layer_1/gates"]) == ["f", "g", "i", "o"]
        first_row = 0
        for sentence in SENTENCES:
            ids = vocab.encode(["<eos>"] + sentence.split() + ["<eos>"])[None, :]
            with torch.no_grad():
                features, final = network.features(ids, network.init_state(1))
            rows = slice(first_row, first_row + len(sentence.split()) + 1)
            # The last layer's h after each token is what the decoder reads there.
            assert np.allclose(file["layer_2/h"][rows], features[0, 1:].numpy(), atol=1e-5)
            for layer in (1, 2):  # after the closing <eos>: the state the stream ends with
                assert np.allclose(file[f"layer_{layer}/h"][rows][-1],
                                   final[0][layer - 1, 0].numpy(), atol=1e-5)
                assert np.allclose(file[f"layer_{layer}/c"][rows][-1],
                                   final[1][layer - 1, 0].numpy(), atol=1e-5)
            first_row = rows.stop


def test_an_ablated_unit_is_zero_and_equals_an_lstm_without_its_cell_input(two_layers,
                                                                            tmp_path):
    ablated = lstmlm.load(two_layers.path, ablate={1: [2, 5], 2: [0]})
    stimuli = read_stimuli("\n".join(SENTENCES), "s.txt")
    path = write_states(ablated, stimuli, tmp_path / "a.h5", what=("h", "c"),
                        normalization="none")
    with h5py.File(path) as file:
        assert not file["layer_1/h"][:, [2, 5]].any() and not file["layer_1/c"][:, [2, 5]].any()
        assert not file["layer_2/h"][:, 0].any() and file["layer_2/h"][:, 1].any()
        assert file.attrs["ablation"] == "1:2,5 2:0"
    # An LSTM unit whose candidate g is always 0 keeps c = 0 and so h = 0: the same network.
    reference = copy.deepcopy(two_layers.network)
    units = reference.hidden_size
    with torch.no_grad():
        for layer, unit_ids in ((0, [2, 5]), (1, [0])):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference.lstm, f"{name}_l{layer}")[[2 * units + u for u in unit_ids]] = 0
    expected = lstmlm.LanguageModel(reference, two_layers.vocab, two_layers.config)
    got = compute(ablated, stimuli, "none")
    want = compute(expected, stimuli, "none")
    assert [row.surprisal for row in got.tokens] == pytest.approx(
        [row.surprisal for row in want.tokens], abs=1e-4)
    plain = compute(two_layers, stimuli, "none")
    assert [row.surprisal for row in got.tokens] != pytest.approx(
        [row.surprisal for row in plain.tokens], abs=1e-3)
    text = "\n".join(SENTENCES)
    assert ablated.perplexity(text) == pytest.approx(expected.perplexity(text), rel=1e-5)
    assert ablated.perplexity(text) != pytest.approx(two_layers.perplexity(text), rel=1e-3)


@pytest.mark.parametrize("cell, layers, what, message", [
    ("gru", None, ("h", "c"), "a gru cell has no cell state c"),
    ("rnn_tanh", None, ("gates",), "a rnn_tanh cell has no gates"),
    ("lstm", [3], ("h",), "layer 3 is outside the model's 2 layers"),
    ("lstm", [0], ("h",), "layer 0 is outside"),
    ("lstm", None, ("x",), "what must name some of h, c, gates"),
])
def test_bad_requests_are_one_line_errors(cell, layers, what, message):
    with pytest.raises(LstmlmError, match=message):
        check_request(cell, 2, layers, what)


@pytest.mark.parametrize("arguments, message", [
    (["--ablate", "3:0"], "ablate: layer 3 is outside the 2 layers"),
    (["--ablate", "1:99"], "ablate: unit 99 is outside layer 1's 16 units"),
    (["--ablate", "1"], "--ablate 1: expected LAYER:UNIT"),
    (["--ablate", "1:0", "--quantize", "int8"], "cannot be combined with int8"),
])
def test_an_ablation_outside_the_model_is_one_line_and_exit_2(two_layers, tmp_path, capsys,
                                                              arguments, message):
    stimuli = tmp_path / "s.txt"
    stimuli.write_text("the cat\n")
    assert main(["states", str(two_layers.path), str(stimuli), "--out", str(tmp_path / "s.h5"),
                 *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstmlm: error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s.h5").exists()


def test_cli_states_writes_the_file(two_layers, tmp_path, capsys):
    stimuli = tmp_path / "s.txt"
    stimuli.write_text("\n".join(SENTENCES) + "\n")
    out = tmp_path / "s.h5"
    assert main(["states", str(two_layers.path), str(stimuli), "--layers", "2", "--what", "h,c",
                 "--out", str(out), "--ablate", "2:1"]) == 0
    with h5py.File(out) as file:
        assert sorted(file) == ["layer_2", "sentence_id", "token", "token_id"]
        assert file["layer_2/c"].shape == (13, 16)
