"""Rows of results as text: tab- or comma-separated with a header, or JSON Lines."""

from __future__ import annotations

import csv
import io
import json

TABLE_FORMATS = ("tsv", "csv", "jsonl")


def table_text(rows: list[dict], table_format: str) -> str:
    """Rows as JSON lines, or as a CSV or TSV table with a header of every key seen (a
    missing or None value as an empty cell)."""
    if table_format == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, delimiter="\t" if table_format == "tsv" else ",",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if row.get(key) is None else row[key] for key in columns}
                     for row in rows)
    return out.getvalue()
