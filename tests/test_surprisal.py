"""Surprisal of stimuli: reading tables and text, pieces summed per token, `</s>`, units,
carried context, regions, batch independence, and the bad inputs."""

import math

import pytest

from lstmlm import LstmlmError
from lstmlm.scoring import surprisals, token_logprobs
from lstmlm.surprisal import (EOS_TOKEN, Region, compute, has_regions, read_stimuli, region_rows,
                              token_rows)

TABLE = ("item,condition,sentence\n"
         "1,a,\"The cat doesn't see Mary.\"\n"
         "1,b,The cat don't see Mary.\n")


def test_a_table_keeps_its_columns_and_a_text_file_is_one_sentence_a_line():
    stimuli = read_stimuli(TABLE, "stimuli.csv", "sentence", ("item", "condition"))
    assert [stimulus.text for stimulus in stimuli] == ["The cat doesn't see Mary.",
                                                       "The cat don't see Mary."]
    assert stimuli[1].kept == (("item", "1"), ("condition", "b"))
    assert stimuli[1].source == "stimuli.csv:3"
    tsv = read_stimuli(TABLE.replace(",", "\t").replace('"', ""), "-", "sentence")
    assert [stimulus.text for stimulus in tsv] == [stimulus.text for stimulus in stimuli]
    plain = read_stimuli("the cat sees mary\n\njohn eats\n", "s.txt")
    assert [stimulus.source for stimulus in plain] == ["s.txt:1", "s.txt:3"]
    assert not has_regions(plain)


def test_regions_from_bars_or_from_a_region_column():
    (barred,) = read_stimuli("the cat | sees | mary\n", "s.txt")
    assert barred.regions == (Region(1, "1", "the cat"), Region(2, "2", "sees"),
                              Region(3, "3", "mary"))
    table = ("item,condition,region,text\n1,a,subject,the cat\n1,a,verb,sees\n"
             "1,b,subject,a dog\n1,b,verb,likes\n2,a,subject,john\n")
    long = read_stimuli(table, "long.csv", "text", ("item", "condition"), "region")
    assert [stimulus.text for stimulus in long] == ["the cat sees", "a dog likes", "john"]
    assert long[1].regions == (Region(1, "subject", "a dog"), Region(2, "verb", "likes"))
    assert has_regions(long)


@pytest.mark.parametrize("text, arguments, message", [
    (TABLE, ("sentence", ("item", "cond")), "stimuli.csv: no column 'cond' (its columns: item, "
                                            "condition, sentence)"),
    (TABLE + "2,a,\n", ("sentence", ()), "stimuli.csv:4: the 'sentence' column is empty"),
    (TABLE, ("sentence", (), "condition"), "--region-column needs --keep"),
    ("a b\n", (None, ("item",)), "--keep and --region-column need a table"),
    ("\n \n", (), "stimuli.csv: no sentences"),
    ("x,y\n1, | \n", ("y", ()), "stimuli.csv:2: the sentence has no words"),
])
def test_bad_stimuli_are_one_line_errors(text, arguments, message):
    with pytest.raises(LstmlmError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_stimuli(text, "stimuli.csv", *arguments)


def test_each_user_token_sums_its_pieces_and_the_sentence_sums_to_its_probability(toy_model):
    stimuli = read_stimuli("The cat doesn't see Mary.\n", "s.txt")
    table = compute(toy_model, stimuli, normalization="ptb")
    words = "the cat does n't see mary".split()
    (expected,) = surprisals(toy_model.network, toy_model.vocab, [words])
    rows = table.tokens
    assert [row.token for row in rows] == ["The", "cat", "doesn't", "see", "Mary.", EOS_TOKEN]
    assert [row.scored for row in rows] == ["the", "cat", "<unk> <unk>", "<unk>", "mary",
                                            "<eos>"]
    assert [row.oov for row in rows] == [False, False, True, True, False, False]
    assert [row.eos for row in rows] == [False] * 5 + [True]
    assert rows[2].surprisal == pytest.approx(expected[2].bits + expected[3].bits, rel=1e-9)
    assert [row.surprisal for row in rows[3:]] == pytest.approx(
        [word.bits for word in expected[4:]], rel=1e-9)
    score = toy_model.score([" ".join(words)])[0]
    assert math.fsum(row.surprisal for row in rows) == pytest.approx(
        -score.logprob / math.log(2), rel=1e-6)
    nats = compute(toy_model, stimuli, normalization="ptb", unit="nats").tokens
    assert [row.surprisal for row in nats] == pytest.approx(
        [row.surprisal * math.log(2) for row in rows], rel=1e-9)
    assert table.normalization == "ptb" and table.unit == "bits"


def test_scores_do_not_depend_on_the_batch(toy_model):
    stimuli = read_stimuli("the cat sees mary\njohn eats\na dog likes some bread\n", "s.txt")
    together = compute(toy_model, stimuli, batch_size=64).tokens
    alone = compute(toy_model, stimuli, batch_size=1).tokens
    assert [row.surprisal for row in alone] == pytest.approx(
        [row.surprisal for row in together], rel=1e-5)


def test_carried_context_reads_the_sentences_as_one_stream(toy_model):
    stimuli = read_stimuli("the cat sees mary\njohn eats\n", "s.txt")
    carried = compute(toy_model, stimuli, context="carry").tokens
    independent = compute(toy_model, stimuli).tokens
    assert [row.surprisal for row in carried[:5]] == pytest.approx(
        [row.surprisal for row in independent[:5]], rel=1e-5)
    (stream,) = token_logprobs(toy_model.network, toy_model.vocab,
                               ["the cat sees mary <eos> john eats".split()])
    assert [row.surprisal for row in carried[5:]] == pytest.approx(
        [-value / math.log(2) for value in stream[5:].tolist()], rel=1e-5)
    assert carried[5].surprisal != pytest.approx(independent[5].surprisal, rel=1e-3)


def test_regions_sum_their_tokens_and_rows_carry_the_kept_columns(toy_model):
    table_text = ("item,condition,region,text\n1,a,subject,the cat\n1,a,verb,sees mary\n"
                  "1,b,subject,a dog\n1,b,verb,\n")
    stimuli = read_stimuli(table_text, "long.csv", "text", ("item", "condition"), "region")
    table = compute(toy_model, stimuli)
    by_region = {}
    for row in table.tokens:
        if not row.eos:
            by_region.setdefault((row.sentence_id, row.region), []).append(row.surprisal)
    for region in table.regions:
        assert region.surprisal == pytest.approx(
            math.fsum(by_region.get((region.sentence_id, region.region), [])), rel=1e-12)
    assert [(region.name, region.content, region.tokens) for region in table.regions] == [
        ("subject", "the cat", 2), ("verb", "sees mary", 2), ("subject", "a dog", 2),
        ("verb", "", 0)]
    row = token_rows(table)[0]
    assert list(row)[:6] == ["sentence_id", "token_id", "token", "surprisal", "item",
                             "condition"]
    assert row["region"] == 1 and token_rows(table)[4]["region"] == ""  # </s> is in no region
    assert region_rows(table)[3] == {"sentence_id": 2, "item": "1", "condition": "b",
                                     "region": 2, "name": "verb", "content": "",
                                     "surprisal": 0.0, "tokens": 0, "oov": 0}


def test_bad_units_contexts_and_normalizations_are_refused(toy_model):
    stimuli = read_stimuli("the cat\n", "s.txt")
    for options, message in (({"unit": "bans"}, "unit must be one of bits, nats"),
                             ({"context": "story"}, "context must be one of independent, carry"),
                             ({"normalization": "bert"}, "normalization must be one of")):
        with pytest.raises(LstmlmError, match=message):
            compute(toy_model, stimuli, **options)


def brute_force(model, sentence: str) -> list[list[float]]:
    """Each position's whole distribution (probabilities, float64) from one forward pass over
    `<eos>` and the sentence's words, the closing `<eos>` and one more."""
    import torch

    words = sentence.split()
    ids = model.vocab.encode(["<eos>"] + words + ["<eos>", "<eos>"])[None, :]
    with torch.no_grad():
        logits, _ = model.network(ids[:, :-1], model.network.init_state(1))
    return torch.softmax(logits[0].double(), -1).tolist()


@pytest.mark.parametrize("model_name", ["toy_model", "adaptive_model"])
def test_measures_equal_a_brute_force_over_the_whole_distribution(model_name, request):
    model = request.getfixturevalue(model_name)
    sentences = ["the cat sees mary", "a dog eats some bread"]
    stimuli = read_stimuli("\n".join(sentences), "s.txt")
    table = compute(model, stimuli, "none", measures=(
        "surprisal", "entropy", "entropy_reduction", "rank", "topk"), top=3)
    for sentence_id, sentence in enumerate(sentences, start=1):
        distributions = brute_force(model, sentence)
        entropies = [-math.fsum(p * math.log2(p) for p in row if p > 0) for row in distributions]
        targets = model.vocab.encode(sentence.split() + ["<eos>"]).tolist()
        rows = [row for row in table.tokens if row.sentence_id == sentence_id]
        assert len(rows) == len(targets)
        for position, (row, target) in enumerate(zip(rows, targets)):
            probabilities = distributions[position]
            assert row.surprisal == pytest.approx(-math.log2(probabilities[target]), abs=1e-5)
            assert row.entropy == pytest.approx(entropies[position], abs=1e-5)
            assert row.entropy_reduction == pytest.approx(
                max(0.0, entropies[position] - entropies[position + 1]), abs=1e-5)
            assert row.rank == 1 + sum(p > probabilities[target] for p in probabilities)
            best = sorted(range(len(probabilities)), key=lambda index: -probabilities[index])[:3]
            assert [word for word, _ in row.topk] == model.vocab.decode(best)
            assert [p for _, p in row.topk] == pytest.approx([probabilities[i] for i in best],
                                                             abs=1e-6)


def test_a_token_of_several_pieces_and_a_region_take_the_measures_as_documented(toy_model):
    stimuli = read_stimuli("The cat | doesn't see | Mary.\n", "s.txt")
    table = compute(toy_model, stimuli, "ptb", measures=("surprisal", "entropy",
                                                         "entropy_reduction", "rank"))
    entropies = [-math.fsum(p * math.log2(p) for p in row if p > 0)
                 for row in brute_force(toy_model, "the cat does n't see mary")]
    doesnt = table.tokens[2]
    assert doesnt.token == "doesn't" and doesnt.scored == "<unk> <unk>"  # two pieces
    assert doesnt.entropy == pytest.approx(entropies[2], abs=1e-5)  # before "does"
    assert doesnt.entropy_reduction == pytest.approx(max(0.0, entropies[2] - entropies[4]),
                                                     abs=1e-5)  # after "n't"
    middle = table.regions[1]
    assert middle.entropy == pytest.approx(doesnt.entropy)
    assert middle.entropy_reduction == pytest.approx(
        doesnt.entropy_reduction + table.tokens[3].entropy_reduction)
    rows = token_rows(table)
    assert list(rows[0])[:7] == ["sentence_id", "token_id", "token", "surprisal", "entropy",
                                 "entropy_reduction", "rank"]
    assert "entropy" in region_rows(table)[0] and "rank" not in region_rows(table)[0]


def test_measures_do_not_depend_on_the_batch_or_the_context_reading(toy_model):
    stimuli = read_stimuli("the cat sees mary\njohn likes the fish\na dog\n", "s.txt")
    measures = ("surprisal", "entropy", "entropy_reduction", "rank")
    one = compute(toy_model, stimuli, "none", measures=measures, batch_size=1)
    many = compute(toy_model, stimuli, "none", measures=measures, batch_size=64)
    # float32 products of another shape round differently: 1e-5 bits is far below a bug.
    assert [row.entropy for row in one.tokens] == pytest.approx(
        [row.entropy for row in many.tokens], abs=1e-5)
    carried = compute(toy_model, stimuli[:1], "none", measures=measures, context="carry")
    assert [row.entropy_reduction for row in carried.tokens] == pytest.approx(
        [row.entropy_reduction for row in one.tokens[:5]], abs=1e-5)


@pytest.mark.parametrize("text, message", [
    ("surprisal,perplexity", "unknown measure 'perplexity'"),
    ("topk", "topk takes a count"), ("rank=3", "topk takes a count"), ("topk=0", "count"),
    (" , ", "no measures named"),
])
def test_bad_measures_are_one_line_errors(text, message):
    from lstmlm.surprisal import parse_measures

    with pytest.raises(LstmlmError, match=message):
        parse_measures(text)


def test_measures_are_parsed_with_topk_s_count():
    from lstmlm.surprisal import parse_measures

    assert parse_measures("surprisal,entropy,topk=5") == (("surprisal", "entropy", "topk"), 5)
