import pytest
import torch

from lstmlm import RecurrentLanguageModel
from lstmlm.model import detach_state, dropout_scale, evaluating


def make_model(dropout: float = 0.0, **kwargs) -> RecurrentLanguageModel:
    """A small seeded model; `dropout` sets the three dropouts, as in Zaremba."""
    torch.manual_seed(0)
    options = dict(vocab_size=30, hidden_size=6, num_layers=2, init_scale=0.1,
                   input_dropout=dropout, hidden_dropout=dropout, output_dropout=dropout)
    options.update(kwargs)
    return RecurrentLanguageModel(**options)


def test_weights_uniform_in_init_scale_and_lstm_biases_zero():
    model = make_model(init_scale=0.05)
    for name, parameter in model.named_parameters():
        if name.startswith("lstm.bias"):
            assert torch.count_nonzero(parameter) == 0, name
        else:
            assert parameter.abs().max() <= 0.05 and parameter.std() > 0.01, name


def test_two_half_windows_equal_one_full_window():
    model = make_model().eval()
    inputs = torch.randint(0, 30, (3, 8))
    full, full_state = model(inputs, model.init_state(3))
    first, state = model(inputs[:, :4], model.init_state(3))
    second, half_state = model(inputs[:, 4:], detach_state(state))
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    for carried, direct in zip(half_state, full_state):
        torch.testing.assert_close(carried, direct)


def test_dropout_only_in_training_mode():
    model = make_model(dropout=0.5)
    inputs = torch.randint(0, 30, (2, 5))
    model.eval()
    first, _ = model(inputs, model.init_state(2))
    second, _ = model(inputs, model.init_state(2))
    torch.testing.assert_close(first, second)
    model.train()
    third, _ = model(inputs, model.init_state(2))
    assert not torch.allclose(first, third)


def test_dropout_rates_are_as_given_and_not_recurrent():
    model = make_model(dropout=0.65)
    assert model.input_dropout.p == model.output_dropout.p == 0.65 and model.lstm.dropout == 0.65
    single = make_model(num_layers=1, dropout=0.5)
    assert single.lstm.dropout == 0.0  # no layer to drop between
    # Nothing drops the recurrent h -> h path: without the input and output dropout, training
    # mode computes exactly what evaluation mode does.
    single.input_dropout.p = single.output_dropout.p = 0.0
    inputs = torch.randint(0, 30, (2, 9))
    torch.testing.assert_close(single.train()(inputs, single.init_state(2))[0],
                               single.eval()(inputs, single.init_state(2))[0], rtol=0, atol=0)


def test_logits_shape():
    model = make_model()
    logits, (hidden, cell) = model(torch.zeros(4, 7, dtype=torch.long), model.init_state(4))
    assert logits.shape == (4, 7, 30) and hidden.shape == cell.shape == (2, 4, 6)


def test_tied_weights_share_storage():
    tied = make_model(tie_weights=True)
    assert tied.decoder.weight is tied.embedding.weight and tied.layers is None
    assert tied.decoder.weight.data_ptr() == tied.embedding.weight.data_ptr()
    untied_count = sum(p.numel() for p in make_model().parameters())
    assert sum(p.numel() for p in tied.parameters()) == untied_count - 30 * 6


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_tied_last_layer_has_the_embedding_size(cell):
    # As in AWD-LSTM: 3 layers of 6, 6 and 4 units, the last one feeding the tied decoder.
    model = make_model(tie_weights=True, embedding_size=4, num_layers=3, cell=cell).eval()
    assert [layer.hidden_size for layer in model.layers] == [6, 6, 4]
    assert [layer.input_size for layer in model.layers] == [4, 6, 6]
    assert not any("projection" in name for name, _ in model.named_parameters())
    state = model.init_state(2)
    per_layer = 2 if cell == "lstm" else 1
    assert [tensor.shape[-1] for tensor in state] == [size for size in (6, 6, 4)
                                                      for _ in range(per_layer)]
    inputs = torch.randint(0, 30, (2, 6))
    full, full_state = model(inputs, state)
    first, middle = model(inputs[:, :4], state)
    second, last = model(inputs[:, 4:], detach_state(middle))
    assert full.shape == (2, 6, 30)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    for carried, expected in zip(last, full_state):
        torch.testing.assert_close(carried, expected)
    features, _, _ = model.train().outputs(inputs, state)
    assert features.abs().max() <= 1  # the decoder's input is a cell output, bounded by tanh


@pytest.mark.parametrize("cell, state_count", [("lstm", 2), ("gru", 1), ("rnn_tanh", 1),
                                              ("rnn_relu", 1)])
def test_every_cell_carries_its_state(cell, state_count):
    model = make_model(cell=cell).eval()
    inputs = torch.randint(0, 30, (2, 6))
    full, _ = model(inputs, model.init_state(2))
    first, state = model(inputs[:, :3], model.init_state(2))
    second, _ = model(inputs[:, 3:], detach_state(state))
    assert len(state) == state_count
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)


def test_variational_dropout_mask_is_constant_across_time():
    model = make_model(dropout=0.5, variational_dropout=True).train()
    ones = torch.ones(3, 8, 6)
    dropped = model.input_dropout(ones)
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # same mask at every step
    assert set(dropped.unique().tolist()) == {0.0, 2.0}
    assert not torch.equal(dropped[0], dropped[1])  # one mask per sequence, not per batch
    assert torch.equal(model.eval().input_dropout(ones), ones)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.65])
def test_dropout_scale_drops_each_element_with_probability_p_and_keeps_the_mean(p):
    torch.manual_seed(0)
    mask = dropout_scale(torch.empty(0, dtype=torch.bfloat16), (4096, 257), p)
    assert mask.shape == (4096, 257) and mask.dtype == torch.bfloat16
    dropped = (mask == 0).float().flatten()
    # Four elements share each 64-bit draw: every one of the four positions is dropped at p.
    for position in range(4):
        assert dropped[position::4].mean().item() == pytest.approx(p, abs=0.005)
    values = mask.float().unique().tolist()
    assert values == [0.0, pytest.approx(1 / (1 - p), rel=0.01)]  # bf16 holds the scale to 1%
    assert mask.float().mean().item() == pytest.approx(1.0, abs=0.01)


def test_dropout_scale_keeps_everything_at_zero_and_repeats_with_the_seed():
    assert torch.equal(dropout_scale(torch.empty(0), (3, 5), 0.0), torch.ones(3, 5))
    torch.manual_seed(1)
    first = dropout_scale(torch.empty(0), (7, 1), 0.5)
    torch.manual_seed(1)
    assert torch.equal(first, dropout_scale(torch.empty(0), (7, 1), 0.5))


def test_embedding_dropout_drops_whole_words_in_training_only():
    model = make_model(embedding_dropout=0.5)
    model.input_dropout.p = 0.0
    inputs = torch.tensor([[4, 4, 7, 4, 7, 7, 9, 9]])
    torch.manual_seed(3)
    model.train()
    embedded = model.embedding.weight
    seen = {}
    features_input = []
    original = model.lstm.forward

    def capture(inputs_, state):
        features_input.append(inputs_)
        return original(inputs_, state)

    model.lstm.forward = capture
    model(inputs, model.init_state(1))
    rows = features_input[0][0]
    for position, word in enumerate(inputs[0].tolist()):
        kept = not torch.all(rows[position] == 0)
        seen.setdefault(word, kept)
        assert seen[word] == kept  # every occurrence of a word is dropped or kept together
        if kept:
            torch.testing.assert_close(rows[position], embedded[word] * 2)
    features_input.clear()
    model.eval()(inputs, model.init_state(1))
    torch.testing.assert_close(features_input[0][0], embedded[inputs[0]])


def layer_inputs(model: RecurrentLanguageModel, inputs: torch.Tensor) -> list[torch.Tensor]:
    """What each recurrent layer of a per-layer model received in one forward pass."""
    seen = []
    hooks = [layer.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
             for layer in model.layers]
    model(inputs, model.init_state(inputs.size(0)))
    for hook in hooks:
        hook.remove()
    return seen


def test_variational_masks_are_constant_across_time_at_every_site():
    model = make_model(hidden_size=32, variational_dropout=True, input_dropout=0.5,
                       hidden_dropout=0.5, output_dropout=0.5).train()
    assert (model.input_dropout.p, model.hidden_dropout.p, model.output_dropout.p) == (0.5,) * 3
    inputs = torch.randint(0, 30, (3, 9))
    for received in layer_inputs(model, inputs):
        dropped = received == 0  # an undropped unit is never exactly 0 here
        assert dropped.any() and not dropped.all()
        assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # one mask per sequence
        assert not torch.equal(dropped[0], dropped[1])
    features, output, _ = model.outputs(inputs, model.init_state(3))
    dropped = output == 0
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped)) and dropped.any()
    model.eval()
    assert all(not (received == 0).any() for received in layer_inputs(model, inputs))


def test_weight_drop_only_in_training_keeps_parameters_and_the_fused_kernel():
    options = dict(hidden_size=16, variational_dropout=True, dropout=0.0)
    model, plain = make_model(weight_drop=0.5, **options), make_model(**options)
    inputs = torch.randint(0, 30, (2, 6))
    model.eval()
    torch.testing.assert_close(model(inputs, model.init_state(2))[0],
                               plain.eval()(inputs, plain.init_state(2))[0])
    model.train()
    original = [layer.weight_hh_l0.detach().clone() for layer in model.layers]
    first, _ = model(inputs, model.init_state(2))
    second, _ = model(inputs, model.init_state(2))
    assert not torch.allclose(first, second)  # a new DropConnect mask per forward pass
    for layer, weight in zip(model.layers, original):
        assert torch.equal(layer.weight_hh_l0, weight)  # the parameter itself is untouched
        layer.flatten_parameters()
    # Back in evaluation mode, the undropped weights are used again.
    model.eval()
    torch.testing.assert_close(model(inputs, model.init_state(2))[0],
                               plain(inputs, plain.init_state(2))[0])
    for layer in model.layers:
        assert all(flat is getattr(layer, name)
                   for flat, name in zip(layer._flat_weights, layer._flat_weights_names))
    model.train()
    with torch.profiler.profile() as profile:
        logits, _ = model(inputs, model.init_state(2))
        logits.sum().backward()
    names = {event.key for event in profile.key_averages()}
    assert "aten::lstm" in names and "aten::lstm_cell" not in names  # one fused call per layer
    zero_fraction = (model.layers[0].weight_hh_l0.grad == 0).float().mean().item()
    assert 0.35 < zero_fraction < 0.65  # dropped weights get no gradient from this window
    assert (model.layers[0].weight_ih_l0.grad == 0).float().mean().item() < 0.05


def test_awd_initialisation():
    model = make_model(hidden_size=16, embedding_size=4, tie_weights=True, init_method="awd",
                       init_scale=0.05, variational_dropout=True)
    assert model.embedding.weight.abs().max() <= 0.05
    assert torch.count_nonzero(model.decoder.bias) == 0
    for index, size in enumerate((16, 4)):  # PyTorch's bound, 1/sqrt(size), per layer
        for name, parameter in model.layers[index].named_parameters():
            assert 0.9 * size ** -0.5 < parameter.abs().max() <= size ** -0.5, name


def test_evaluating_switches_to_eval_mode_and_restores_the_mode_on_an_error():
    model = make_model(dropout=0.5).train()
    with pytest.raises(RuntimeError):
        with evaluating(model):
            assert not model.training and not model.input_dropout.training
            raise RuntimeError("inside")
    assert model.training and model.input_dropout.training
    with evaluating(model.eval()):
        pass
    assert not model.training


def test_adaptive_softmax_logits_are_log_probabilities_and_its_loss_reads_only_the_targets():
    torch.manual_seed(0)
    model = RecurrentLanguageModel(vocab_size=40, hidden_size=12, num_layers=2,
                              adaptive_cutoffs=(10, 25), adaptive_div_value=2.0).eval()
    inputs, targets = torch.randint(0, 40, (3, 7)), torch.randint(0, 40, (3, 7))
    logits, _ = model(inputs, model.init_state(3))
    assert logits.shape == (3, 7, 40)
    torch.testing.assert_close(torch.logsumexp(logits, -1), torch.zeros(3, 7), atol=1e-5, rtol=0)
    nll, _ = model.window_nll(inputs, targets, model.init_state(3))
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 40), targets.reshape(-1),
                                                 reduction="sum")
    torch.testing.assert_close(nll, expected)
    assert "adaptive.head.weight" in model.state_dict() and model.decoder is None


@pytest.mark.parametrize("embedding_size", [0, 8])
def test_tied_adaptive_softmax_scores_the_head_words_with_the_embedding(embedding_size):
    torch.manual_seed(0)
    model = RecurrentLanguageModel(vocab_size=40, hidden_size=12, num_layers=2, tie_weights=True,
                              embedding_size=embedding_size, adaptive_cutoffs=(10, 25),
                              adaptive_div_value=2.0).eval()
    head = model.adaptive.head
    assert head.words is model.embedding.weight and head.cluster_weight.shape == (2, embedding_size or 12)
    inputs, targets = torch.randint(0, 40, (3, 7)), torch.randint(0, 40, (3, 7))
    logits, _ = model(inputs, model.init_state(3))
    torch.testing.assert_close(torch.logsumexp(logits, -1), torch.zeros(3, 7), atol=1e-5, rtol=0)
    # A head word's log-probability moves with its embedding row, a tail word's does not.
    features, _ = model.features(inputs, model.init_state(3))
    with torch.no_grad():
        before = model.logits(features)
        model.embedding.weight[3] += 1.0
        after = model.logits(features)
    assert not torch.allclose(before[..., 3], after[..., 3])
    unchanged = after - before
    assert torch.allclose(unchanged[..., 12] - unchanged[..., 20], torch.zeros(3, 7), atol=1e-6)
    nll, _ = model.window_nll(inputs, targets, model.init_state(3))
    nll.backward()
    assert model.embedding.weight.grad[:10].abs().sum() > 0
    assert sum(parameter.numel() for parameter in model.parameters()) < sum(
        tensor.numel() for tensor in model.state_dict().values())  # the shared rows count once


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("tied", [False, True])
def test_one_word_at_a_time_equals_the_whole_window(cell, tied):
    # A one-word window takes other kernels (no oneDNN's RNN layer).
    model = make_model(cell=cell, tie_weights=tied)
    inputs = torch.randint(0, 30, (1, 7))
    with torch.no_grad(), evaluating(model):
        full, full_state = model(inputs, model.init_state(1))
        state, steps = model.init_state(1), []
        for position in range(inputs.size(1)):
            logits, state = model(inputs[:, position:position + 1], state)
            steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full)
    for stepped, direct in zip(state, full_state):
        torch.testing.assert_close(stepped, direct)
    assert torch.backends.mkldnn.enabled


@pytest.mark.parametrize("shape", [(1, 1, 6), (2, 3, 6)])
def test_inference_logits_follow_a_changed_decoder_weight(shape):
    # CPU inference multiplies by a transposed copy of the decoder's weight.
    model = make_model().eval()
    features = torch.randn(*shape)
    with torch.no_grad():
        before = model.logits(features)
        model.decoder.weight.mul_(2)  # in place, as an optimizer step
        after = model.logits(features)
        torch.testing.assert_close(after, model.decoder(features))
        assert not torch.allclose(before, after)
        model.decoder.weight = torch.nn.Parameter(torch.randn(30, 6))  # replaced
        torch.testing.assert_close(model.logits(features), model.decoder(features))


def test_sampled_softmax_trains_on_the_sampled_rows_and_evaluates_on_all():
    inputs, targets = torch.randint(0, 30, (2, 3)), torch.randint(0, 30, (2, 3))
    full, sampled = make_model(), make_model(softmax_samples=5)
    for model in (full, sampled):
        model.eval()
    evaluated = [model.window_nll(inputs, targets, model.init_state(2))[0]
                 for model in (full, sampled)]
    torch.testing.assert_close(evaluated[0], evaluated[1])
    sampled.train()
    loss, _ = sampled.window_nll(inputs, targets, sampled.init_state(2))
    loss.backward()
    rows = sampled.decoder.bias.grad.nonzero().numel()
    assert 0 < rows <= targets.unique().numel() + 5


def test_sampled_softmax_gradient_estimates_the_full_softmax_gradient():
    model = make_model(vocab_size=50, softmax_samples=25).train()
    features = torch.randn(40, 6)
    targets = torch.randint(0, 10, (40,))  # mostly frequent words, as in text
    draws = 400
    for _ in range(draws):
        model.summed_nll(features, targets).backward()
    estimate = model.decoder.weight.grad / draws
    model.decoder.weight.grad = None
    model.eval()
    model.summed_nll(features, targets).backward()
    exact = model.decoder.weight.grad.flatten()
    # Without the correction by expected counts it is about 0.98.
    assert torch.nn.functional.cosine_similarity(estimate.flatten(), exact, dim=0) > 0.995


def test_a_sampled_word_that_is_the_target_is_left_out():
    # Two words, one draw: where the draw is the target, nothing is left to compare it with.
    model = make_model(vocab_size=2, softmax_samples=1).train()
    features, targets = torch.randn(1, 6), torch.zeros(1, dtype=torch.long)
    losses = {round(model.summed_nll(features, targets).item(), 6) for _ in range(50)}
    assert 0.0 in losses and len(losses) == 2


@pytest.mark.parametrize("options", [dict(softmax_samples=30),
                                     dict(softmax_samples=5, adaptive_cutoffs=(10,))])
def test_sampled_softmax_needs_fewer_samples_than_words_and_the_full_softmax(options):
    with pytest.raises(ValueError, match="softmax_samples must be between 0 and the vocabulary"):
        make_model(**options)


def test_the_name_of_earlier_versions_is_still_importable():
    from lstmlm import LSTMLanguageModel

    assert LSTMLanguageModel is RecurrentLanguageModel
