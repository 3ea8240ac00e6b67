import math

import numpy as np
import pytest
import torch

from lstmlm import LstmlmError
from lstmlm.model import RecurrentLanguageModel
from lstmlm.numpy_rnn import (SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, RNNNumpy, build_corpus,
                              gradient_check_report, load_sentence_corpus, read_documents, tokenize)


def test_tokenize_splits_sentences_and_words_lowercased():
    assert tokenize(["Hello there. It's a well-known fact!  Isn't it?"]) == [
        ["hello", "there", "."], ["it's", "a", "well-known", "fact", "!"], ["isn't", "it", "?"]]


def test_corpus_vocabulary_and_training_pairs():
    corpus = build_corpus([["a", "b", "a"], ["a", "c"]], vocabulary_size=4)
    # counts: a 3, START 2, END 2, b 1, c 1 -> keep 3 and add UNKNOWN_TOKEN
    assert corpus.index_to_word == ["a", SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN]
    index = corpus.word_to_index
    assert corpus.x_train[0].tolist() == [index[SENTENCE_START], index["a"], index[UNKNOWN_TOKEN],
                                          index["a"]]
    assert corpus.y_train[0].tolist() == [index["a"], index[UNKNOWN_TOKEN], index["a"],
                                          index[SENTENCE_END]]
    assert (corpus.sentences, corpus.unique_tokens) == (2, 5)
    assert corpus.least_frequent == (SENTENCE_START, 2)


def test_bad_corpus_inputs(tmp_path):
    with pytest.raises(LstmlmError, match="vocabulary size must be at least 3"):
        build_corpus([["a"]], vocabulary_size=2)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(LstmlmError, match="is empty"):
        load_sentence_corpus(tmp_path / "empty.txt")
    (tmp_path / "reviews.csv").write_text("id,text\n1,Good film. Bad end.\n2,Fine!\n")
    with pytest.raises(LstmlmError, match="has no column 'body' \\(columns: id, text\\)"):
        load_sentence_corpus(tmp_path / "reviews.csv", csv_column="body")
    corpus = load_sentence_corpus(tmp_path / "reviews.csv", csv_column="text")
    assert corpus.sentences == 3


def test_a_quoted_csv_cell_spanning_lines_keeps_its_words_apart(tmp_path):
    # Reddit comments span lines; the line break inside the quotes separates two words.
    (tmp_path / "comments.csv").write_bytes(
        b'id,body\r\n1,"this is\na comment.\r\nSecond line here."\r\n2,short one\r\n')
    assert read_documents(tmp_path / "comments.csv", "body") == [
        "this is\na comment.\r\nSecond line here.", "short one"]
    corpus = load_sentence_corpus(tmp_path / "comments.csv", csv_column="body")
    assert "isa" not in corpus.index_to_word and {"is", "a", "line"} <= set(corpus.index_to_word)
    assert corpus.sentences == 3


def test_max_sentences_keeps_the_vocabulary_of_the_whole_corpus():
    sentences = [["a", "b"], ["a", "c"], ["d", "e", "f"], ["d", "g"]]
    whole = build_corpus(sentences, vocabulary_size=100)
    first = build_corpus(sentences, vocabulary_size=100, max_sentences=2)
    assert first.index_to_word == whole.index_to_word and "g" in first.index_to_word
    assert len(first.x_train) == 2 and first.sentences == 4
    for left, right in zip(first.x_train, whole.x_train):
        np.testing.assert_array_equal(left, right)


def test_initialisation_ranges_and_untrained_loss_near_ln_vocabulary():
    model = RNNNumpy(word_dim=500, hidden_dim=20, seed=1)
    assert np.abs(model.U).max() <= 1 / math.sqrt(500)
    assert np.abs(model.V).max() <= 1 / math.sqrt(20) and np.abs(model.W).max() <= 1 / math.sqrt(20)
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 500, 12) for _ in range(20)]
    ys = [rng.integers(0, 500, 12) for _ in range(20)]
    assert model.calculate_loss(xs, ys) == pytest.approx(math.log(500), rel=0.01)


@pytest.mark.parametrize("truncate", [1, 3, 4, 100])
def test_vectorised_bptt_equals_the_loop(truncate):
    model = RNNNumpy(word_dim=40, hidden_dim=7, bptt_truncate=truncate, seed=2)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 40, 13), rng.integers(0, 40, 13)
    x[5] = x[2]  # a repeated word: its column of dU gathers two contributions
    for loop, fast in zip(model.bptt_loop(x, y), model.bptt(x, y)):
        np.testing.assert_allclose(fast, loop, rtol=1e-8, atol=1e-12)


def test_gradient_check_passes_for_both_implementations_and_catches_a_bug():
    report = gradient_check_report(vocabulary_size=30, hidden_dim=6)
    assert set(report) == {f"{impl} {name}" for impl in ("loop", "vectorised") for name in "UVW"}
    assert max(report.values()) < 1e-4
    model = RNNNumpy(word_dim=20, hidden_dim=5, bptt_truncate=100, seed=0)
    x, y = np.arange(6), np.arange(1, 7)

    def wrong(x, y):
        dU, dV, dW = model.bptt(x, y)
        return dU, dV, dW * 1.1

    with pytest.raises(LstmlmError, match="gradient check failed for W"):
        model.gradient_check(x, y, bptt=wrong)


def test_pytorch_rnn_tanh_cell_has_the_same_loss_and_gradients():
    """The main model's rnn_tanh path, given the NumPy weights, matches it to 1e-8 (float64)."""
    numpy_model = RNNNumpy(word_dim=25, hidden_dim=6, bptt_truncate=1000, seed=4)
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 25, 9), rng.integers(0, 25, 9)
    torch_model = RecurrentLanguageModel(vocab_size=25, hidden_size=6, num_layers=1, cell="rnn_tanh").double()
    with torch.no_grad():
        torch_model.embedding.weight.copy_(torch.from_numpy(numpy_model.U.T))
        torch_model.lstm.weight_ih_l0.copy_(torch.eye(6, dtype=torch.float64))
        torch_model.lstm.weight_hh_l0.copy_(torch.from_numpy(numpy_model.W))
        torch_model.lstm.bias_ih_l0.zero_()
        torch_model.lstm.bias_hh_l0.zero_()
        torch_model.decoder.weight.copy_(torch.from_numpy(numpy_model.V))
        torch_model.decoder.bias.zero_()
    logits, _ = torch_model(torch.from_numpy(x)[None], torch_model.init_state(1))
    loss = torch.nn.functional.cross_entropy(logits[0], torch.from_numpy(y), reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(numpy_model.calculate_total_loss([x], [y]), rel=1e-10)
    dU, dV, dW = numpy_model.bptt(x, y)
    np.testing.assert_allclose(torch_model.embedding.weight.grad.numpy().T, dU, atol=1e-8)
    np.testing.assert_allclose(torch_model.decoder.weight.grad.numpy(), dV, atol=1e-8)
    np.testing.assert_allclose(torch_model.lstm.weight_hh_l0.grad.numpy(), dW, atol=1e-8)


def test_training_lowers_the_loss_on_real_text_and_generation_rules(tmp_path, ptb_dir):
    corpus = load_sentence_corpus(ptb_dir / "ptb.train.txt", 300, max_sentences=300)
    model = RNNNumpy(len(corpus.index_to_word), hidden_dim=20, seed=0)
    logged = []
    losses = model.train_with_sgd(corpus.x_train, corpus.y_train, learning_rate=0.005, nepoch=4,
                                  evaluate_loss_after=1, log=logged.append)
    assert losses[0][1] == pytest.approx(math.log(300), rel=0.02)
    assert losses[-1][1] < losses[0][1] - 0.5
    assert len(logged) >= 4 and "loss after 0 examples" in logged[0]
    rng = np.random.default_rng(0)
    for _ in range(5):
        sentence = model.generate_sentence(corpus.index_to_word, min_length=4, rng=rng)
        assert len(sentence) >= 4 and UNKNOWN_TOKEN not in sentence and SENTENCE_END not in sentence
    model.save(tmp_path / "model.npz", corpus.index_to_word)
    loaded, words = RNNNumpy.load(tmp_path / "model.npz")
    assert words == corpus.index_to_word
    np.testing.assert_array_equal(loaded.W, model.W)
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(LstmlmError, match="cannot read NumPy RNN model"):
        RNNNumpy.load(tmp_path / "bad.npz")
