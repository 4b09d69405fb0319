"""The record files `leaim ingest` sends and `leaim sample-data` writes: JSON Lines or CSV, cut into API batches."""

from __future__ import annotations

import csv
import json
import math
import re
from typing import TYPE_CHECKING, Literal

from embedded.clients.exceptions import RecordFileError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from pathlib import Path

    from pydantic import JsonValue

RecordFormat = Literal["jsonl", "csv"]

# The ingest API's default body limit (`Settings.max_ingest_body_bytes`); batches are cut to stay under it.
MAX_BODY_BYTES = 5 * 1024 * 1024
# Room for the batch envelope around the records.
_ENVELOPE_BYTES = 1024
# A CSV cell that is a number: a whole number of at most 18 digits, or a decimal with a fraction or an exponent.
# Leading zeros keep a cell text, so codes such as "007" are not turned into 7.
_INTEGER = re.compile(r"[+-]?(0|[1-9][0-9]{0,17})")
_DECIMAL = re.compile(r"[+-]?(0|[1-9][0-9]*)(\.[0-9]+([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)")
# A CSV row with more cells than the header keeps the extra cells under this name, so the server reports them.
EXTRA_CELLS = "_extra_cells"


def batches(
    records: Iterable[JsonValue], max_records: int, max_bytes: int = MAX_BODY_BYTES
) -> Iterator[list[JsonValue]]:
    """`records` in batches of at most `max_records` whose request body stays under `max_bytes`.

    A record too large for any batch goes alone, and the API refuses it.
    """
    batch: list[JsonValue] = []
    size = _ENVELOPE_BYTES
    for record in records:
        record_size = len(json.dumps(record, separators=(",", ":")).encode()) + 1
        if batch and (len(batch) == max_records or size + record_size > max_bytes):
            yield batch
            batch, size = [], _ENVELOPE_BYTES
        batch.append(record)
        size += record_size
    if batch:
        yield batch


def record_format(path: Path) -> RecordFormat:
    """`jsonl` or `csv`, from the file's suffix."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise RecordFileError(f"{path}: expected a .jsonl or .csv file")


def count_records(path: Path) -> int:
    """How many records `read_records(path)` yields, counted without converting them."""
    if record_format(path) == "jsonl":
        with path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    try:
        with path.open(encoding="utf-8-sig", newline="") as text:
            return max(sum(1 for row in csv.reader(text) if row) - 1, 0)
    except UnicodeDecodeError as error:
        raise RecordFileError(f"{path}: not UTF-8 text ({error})") from error


def read_records(path: Path) -> Iterator[JsonValue]:
    """Stream the records of a `.jsonl` file (one JSON value a line) or a `.csv` file (a header row, then records).

    A JSON Lines line that is not JSON is yielded as its text, so the API quarantines it with a reason instead of
    the client dropping it; blank lines are skipped. CSV cells become numbers where the text is one,
    `true`/`false` become booleans, and an empty cell leaves its field out.
    """
    if record_format(path) == "jsonl":
        return _json_lines(path)
    return _csv_rows(path)


def _json_lines(path: Path) -> Iterator[JsonValue]:
    with path.open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                yield json.loads(line, parse_constant=_refuse_constant)
            except ValueError:
                yield line.decode("utf-8", "replace").strip()


def _refuse_constant(name: str) -> float:
    """NaN and Infinity are not JSON: a line holding them is sent as text like any other line that is not JSON."""
    raise ValueError(f"{name} is not JSON")


def _csv_rows(path: Path) -> Iterator[JsonValue]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as text:
            for row in csv.DictReader(text, restkey=EXTRA_CELLS):
                yield {name: _cell(value) for name, value in row.items() if value not in (None, "")}
    except UnicodeDecodeError as error:
        raise RecordFileError(f"{path}: not UTF-8 text ({error})") from error


def _cell(value: str | list[str]) -> JsonValue:
    if isinstance(value, list):
        return list(value)
    if _INTEGER.fullmatch(value):
        return int(value)
    if _DECIMAL.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def write_records(path: Path, records: Sequence[Mapping[str, JsonValue]], kind: RecordFormat) -> None:
    """Write records as JSON Lines or as CSV (columns in order of first appearance, booleans as true/false)."""
    if kind == "jsonl":
        with path.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(record) + "\n" for record in records)
        return
    columns = list(dict.fromkeys(name for record in records for name in record))
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, restval="")
        writer.writeheader()
        for record in records:
            writer.writerow({name: _csv_text(value) for name, value in record.items()})


def _csv_text(value: JsonValue) -> JsonValue:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
