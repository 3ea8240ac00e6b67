"""What a run tells: samples in the log and sample.txt."""

import itertools

import pytest

import lstmlm
from lstmlm import apply_overrides, train
from lstmlm.generation import text_of


def test_samples_in_the_log_and_sample_file_at_the_end(tmp_path, tiny_config):
    config = apply_overrides(tiny_config, {"sample_every": 40, "sample_primes": "the cat|john",
                                           "sample_words": 25})
    lines = []
    result = train(config, runs_dir=tmp_path, echo=lines.append)
    samples = [line for line in lines if " sample [" in line]
    assert len(samples) == 2 * (3 * 82 // 40)
    assert samples[0].startswith("step 40 sample [the cat]")
    text = (result.run_dir / "sample.txt").read_text()
    assert len(text.split()) + text.count("\n") - 1 == 25  # words plus <eos> line breaks
    # Sampling uses its own generator: the training numbers are those of a run without it.
    plain = train(tiny_config, runs_dir=tmp_path / "plain", echo=None)
    assert [entry.train_ppl for entry in result.history] == \
        [entry.train_ppl for entry in plain.history]


@pytest.mark.filterwarnings("ignore:prime words not in the vocabulary")
def test_greedy_samples_are_repeatable_and_end_at_the_unknown_word(tmp_path, tiny_config):
    # A vocabulary of 5 reads most words as <unk>, so some continuation reaches it.
    primes = ["the cat", "sees", "a", "my", "john", "some", "eats"]
    config = apply_overrides(tiny_config, {"sample_every": 246, "sample_primes": "|".join(primes),
                                           "sample_strategy": "greedy", "vocab_size": 5})
    logs = []
    for attempt in range(2):
        lines = []
        train(config, runs_dir=tmp_path / str(attempt), echo=lines.append)
        logs.append([line for line in lines if " sample [" in line])
    assert logs[0] == logs[1] and len(logs[0]) == len(primes)
    # Step 246 is the last: the samples come from the weights training ended with.
    model = lstmlm.load(next((tmp_path / "0").iterdir()), weights="last")
    for prime, line in zip(primes, logs[0]):
        greedy = list(itertools.islice(model.generate_words(prime, strategy="greedy",
                                                            allow_unk=True), 10))
        expected = list(itertools.takewhile(lambda word: word != "<unk>", greedy))
        shown = text_of(expected + ["<unk>"] if len(expected) < 10 else expected)
        assert line == f"step 246 sample [{prime}] " + shown.replace("\n", " / ")
    assert any(line.endswith(" <unk>") for line in logs[0])


def test_sample_file_from_a_random_word_may_hold_unk(tmp_path, tiny_config):
    config = apply_overrides(tiny_config, {"sample_words": 300, "sample_start": "random",
                                           "sample_allow_unk": True, "vocab_size": 12})
    first = train(config, runs_dir=tmp_path / "first", echo=None)
    second = train(config, runs_dir=tmp_path / "second", echo=None)
    text = (first.run_dir / "sample.txt").read_text()
    assert text == (second.run_dir / "sample.txt").read_text()
    assert "<unk>" in text.split()
    masked = train(apply_overrides(config, {"sample_allow_unk": False}), runs_dir=tmp_path / "m",
                   echo=None)
    assert "<unk>" not in (masked.run_dir / "sample.txt").read_text().split()
