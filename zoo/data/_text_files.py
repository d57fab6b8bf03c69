"""Texts with labels from a ``.csv`` file or a JSON-lines (``.jsonl`` / ``.json``) file.

A CSV file has a header row; a JSON-lines file has one object per line (a ``.json`` file
holding one JSON array of objects is read too). The text and label columns are options
(``text_column``, ``label_column``); labels are class names (strings, sorted into class
indices) or class indices (integers, also when written as strings in a CSV).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError, did_you_mean

if TYPE_CHECKING:
    from zoo.data._sources import Resolved

#: A label written as a class index.
INTEGER = re.compile(r"\s*-?\d+\s*")


def read_rows(src: Resolved) -> list[tuple[str, Any]]:
    """``(text, label)`` per row of a CSV / JSON-lines file.

    Raises:
        ZooError: an unknown column (listing the columns found), a row without a value, a
            text that is not a string, or a file without rows.
    """
    assert src.path is not None
    text_col, label_col = str(src.options["text_column"]), str(src.options["label_column"])
    records = _csv_records(src.path) if src.kind == "csv" else _json_records(src.path)
    if not records:
        raise ZooError(
            f"{src.path}: no rows; expected a header and one {text_col!r}, {label_col!r} row "
            "per example."
            if src.kind == "csv"
            else f"{src.path}: no JSON objects; expected "
            f"one object per line with keys {text_col!r} and {label_col!r}."
        )
    rows = []
    for line, record in records:
        for col, opt in ((text_col, "text_column"), (label_col, "label_column")):
            if col not in record:
                found = sorted(record)
                raise ZooError(
                    f"{src.path}: line {line}: no column {col!r} ({opt}); the columns found are "
                    f"{found}. Pass {opt}=<one of them>.{did_you_mean(col, found)}"
                )
        text, label = record[text_col], record[label_col]
        if not isinstance(text, str):
            raise ZooError(
                f"{src.path}: line {line}: {text_col!r} is {text!r}; expected a string of text."
            )
        if label is None or label == "" or isinstance(label, (bool, float, list, dict)):
            raise ZooError(
                f"{src.path}: line {line}: {label_col!r} is {label!r}; expected a class name "
                "(string) or a class index (integer >= 0)."
            )
        rows.append((text, label))
    return rows


def _csv_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [(i, dict(row)) for i, row in enumerate(reader, start=2) if any(row.values())]


def _json_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):  # a JSON array of objects, also accepted
        items = list(enumerate(_parse_json(text, path, 1), start=1))
    else:
        lines = [(i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
        items = [(i, _parse_json(ln, path, i)) for i, ln in lines]
    for i, item in items:
        if not isinstance(item, dict):
            raise ZooError(f"{path}: line {i}: {str(item)[:60]!r}; expected a JSON object.")
    return items


def _parse_json(text: str, path: Path, line: int) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ZooError(
            f"{path}: line {line}: not JSON ({exc}); expected one JSON object per line, e.g. "
            '{"text": "great film", "label": "positive"}.'
        ) from None


def label_indices(src: Resolved, values: list[Any]) -> tuple[tuple[str, ...], list[int]]:
    """Class names and int labels of a text file's label column.

    Integers (or strings that all spell integers) are class indices, named ``"0"`` …;
    otherwise the strings are class names, sorted.
    """
    if all(isinstance(v, int) or (isinstance(v, str) and INTEGER.fullmatch(v)) for v in values):
        ints = [int(v) for v in values]
        if min(ints) < 0:
            raise ZooError(
                f"{src.path}: column {src.options['label_column']!r} holds the class index "
                f"{min(ints)}; expected indices >= 0 (or class names as strings)."
            )
        return tuple(str(i) for i in range(max(ints) + 1)), ints
    if any(isinstance(v, int) for v in values):
        raise ZooError(
            f"{src.path}: column {src.options['label_column']!r} mixes integers and strings; "
            "expected all class names (strings) or all class indices (integers)."
        )
    names = tuple(sorted({str(v) for v in values}))
    return names, [names.index(str(v)) for v in values]
