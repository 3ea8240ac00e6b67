"""Normalisations: the pieces of each user token, and the default a model's config gives."""

import pytest

from lstmlm import LstmlmError
from lstmlm.config import apply_overrides
from lstmlm.normalization import (clean_line, clean_lines, model_normalization, normalize,
                                  normalize_tokens)
from lstmlm.presets import get_preset


@pytest.mark.parametrize("sentence, normalized", [
    ("The cat doesn't see Mary's 3 dogs.", "the cat does n't see mary 's N dogs"),
    ("Who did John see ?", "who did john see"),
    ("They'll pay 1,500.50 dollars!", "they 'll pay N dollars"),
    ('"The U.S. economy," he said -- (slowly) -- "grew."', "the u.s. economy he said slowly grew"),
    ("It costs $ 5 & more ...", "it costs $ N & more"),
    ("The king\u2019s men", "the king 's men"),
])
def test_ptb_normalization(sentence, normalized):
    assert " ".join(normalize(sentence, "ptb")) == normalized


def test_each_token_keeps_its_own_pieces():
    tokens = "The king , who doesn't die .".split()
    assert normalize_tokens(tokens, "ptb") == [
        ["the"], ["king"], [], ["who"], ["does", "n't"], ["die"], []]
    assert normalize_tokens(tokens, "clean") == [
        ["the"], ["king"], [], ["who"], ["doesn't"], ["die"], []]
    assert normalize_tokens(tokens, "none") == [[token] for token in tokens]


def test_an_unknown_normalization_is_refused():
    with pytest.raises(LstmlmError, match="normalization must be one of none, ptb, clean, wikipedia, got 'bert'"):
        normalize("a b", "bert")


@pytest.mark.parametrize("overrides, expected", [
    ({}, "ptb"),  # the small preset trains on PTB
    ({"data": "sample"}, "clean"),
    ({"data": "corpus.txt"}, "none"),
    ({"data": "corpus.txt", "clean_text": True}, "clean"),
    ({"normalization": "none"}, "none"),
])
def test_a_model_s_normalization_follows_its_config(overrides, expected):
    assert model_normalization(apply_overrides(get_preset("small"), overrides).data) == expected


def test_cleaning_keeps_apostrophes_and_hyphens_inside_words():
    assert clean_line("O’er the hill, o'er the DALE -- well-met!") == \
        "o'er the hill o'er the dale -- well-met"
    assert clean_lines(["", "  Hello, World!  ", "..."]) == ["hello world"]


@pytest.mark.parametrize("sentence, words", [
    ("The keys, (he said) don't work.",
     ["The", "keys", ",", "(", "he", "said", ")", "do", "n't", "work", "."]),
    ("U.S. troops ?? -- go!", ["U.S.", "troops", "??", "--", "go", "!"]),
    ("You\u2019re \"great\".", ["You", "'re", '"', "great", '"', "."]),
    ("In 1984 , 3.5 km", ["In", "1984", ",", "3.5", "km"]),
])
def test_wikipedia_keeps_case_and_numbers_and_splits_punctuation_and_clitics(sentence, words):
    assert normalize(sentence, "wikipedia") == words
