"""Rows of results as TSV, CSV or JSON Lines."""

import json

import pytest

from lstmlm.tables import TABLE_FORMATS, table_text

ROWS = [{"item": 1, "word": "the", "bits": 3.5}, {"item": 2, "word": "a,b", "note": None}]


def test_every_key_is_a_column_and_a_missing_value_an_empty_cell():
    assert table_text(ROWS, "tsv") == "item\tword\tbits\tnote\n1\tthe\t3.5\t\n2\ta,b\t\t\n"
    assert table_text(ROWS, "csv").splitlines()[2] == '2,"a,b",,'


def test_json_lines_keep_each_row_as_it_is():
    assert [json.loads(line) for line in table_text(ROWS, "jsonl").splitlines()] == ROWS


@pytest.mark.parametrize("table_format", TABLE_FORMATS)
def test_no_rows_is_an_empty_table(table_format):
    assert table_text([], table_format) in ("", "\n")
