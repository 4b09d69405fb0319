"""The pure-Python Parquet codec, checked against pyarrow as the reference implementation."""

from __future__ import annotations

import io
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leaim.data.parquet import ColumnSpec, ParquetError, decode, encode

COMPRESSIONS = ["gzip", "none"]
COLUMNS = (
    ColumnSpec("merchant", "string"),
    ColumnSpec("amount", "double", required=True),
    ColumnSpec("risk", "double"),
    ColumnSpec("txn_count", "int64"),
    ColumnSpec("card_present", "boolean"),
    ColumnSpec("seen_at", "timestamp", required=True),
    ColumnSpec("reviewed_at", "timestamp"),
)
DATA: dict[str, list[Any]] = {
    "merchant": ["grocery", None, "café ☕", "", "旅行 ✈️"],
    "amount": [12.5, 0.0, -3.25, 1e300, 7.0],
    "risk": [None, 0.5, None, None, 0.125],
    "txn_count": [3, -(2**63), None, 2**63 - 1, 0],
    "card_present": [True, False, None, True, False],
    "seen_at": [
        datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ],
    "reviewed_at": [None, datetime(2025, 3, 2, tzinfo=UTC), None, None, None],
}
METADATA = {"dataset": "card_fraud", "schema_version": "3", "note": "ünïcode"}
ARROW_TYPES = {
    "string": pa.string(),
    "double": pa.float64(),
    "int64": pa.int64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def write_with_pyarrow(table: pa.Table, **options: Any) -> bytes:
    """The simplest Parquet pyarrow writes: no dictionary, no statistics, DataPage V1."""
    settings = {
        "compression": "none",
        "use_dictionary": False,
        "write_statistics": False,
        "data_page_version": "1.0",
        **options,
    }
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **settings)
    return buffer.getvalue()


def arrow_table(columns: tuple[ColumnSpec, ...], data: dict[str, list[Any]]) -> pa.Table:
    schema = pa.schema([pa.field(c.name, ARROW_TYPES[c.kind], nullable=not c.required) for c in columns])
    return pa.table({c.name: data[c.name] for c in columns}, schema=schema)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_kind_round_trips_with_nulls_and_metadata(compression: Any) -> None:
    table = decode(encode(COLUMNS, DATA, metadata=METADATA, compression=compression))

    assert table.columns == COLUMNS
    assert table.data == DATA
    assert table.metadata == METADATA
    assert table.num_rows == 5
    assert table.rows()[2] == {
        "merchant": "café ☕",
        "amount": -3.25,
        "risk": None,
        "txn_count": None,
        "card_present": None,
        "seen_at": datetime(1, 1, 1, tzinfo=UTC),
        "reviewed_at": None,
    }
    assert list(table.rows()[0]) == [column.name for column in COLUMNS]


def test_values_come_back_with_their_python_types() -> None:
    columns = (ColumnSpec("score", "double"), ColumnSpec("at", "timestamp"), ColumnSpec("flag", "boolean"))
    paris = timezone(timedelta(hours=2))
    data: dict[str, list[Any]] = {
        "score": [3, None, -1],
        "at": [datetime(2025, 6, 1, 14, 0, 0, 1, tzinfo=paris), None, datetime(2025, 6, 1, tzinfo=UTC)],
        "flag": [True, None, False],
    }

    table = decode(encode(columns, data))

    assert table.data["score"] == [3.0, None, -1.0]
    assert all(type(value) is float for value in table.data["score"] if value is not None)
    at = table.data["at"][0]
    assert isinstance(at, datetime)
    assert at == data["at"][0]
    assert at.utcoffset() == timedelta(0)
    assert (at.hour, at.microsecond) == (12, 1)
    assert all(type(value) is bool for value in table.data["flag"] if value is not None)


def test_long_columns_with_scattered_nulls_round_trip() -> None:
    rng = random.Random(7)
    columns = tuple(ColumnSpec(f"{kind}_column", kind) for kind in ARROW_TYPES)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    values = {
        "string": lambda: rng.choice(["a", "ß" * 300, "card_" + str(rng.randrange(10**9))]),
        "double": lambda: rng.uniform(-1e6, 1e6),
        "int64": lambda: rng.randrange(-(2**63), 2**63),
        "boolean": lambda: rng.random() < 0.5,
        "timestamp": lambda: start + timedelta(microseconds=rng.randrange(10**15)),
    }
    # Null rates from none to all, so definition levels take every form the writer has.
    data = {
        column.name: [None if rng.random() < rate else values[column.kind]() for _ in range(3_001)]
        for column, rate in zip(columns, [0.0, 0.03, 0.5, 0.97, 1.0], strict=True)
    }

    for compression in COMPRESSIONS:
        assert decode(encode(columns, data, compression=compression)).data == data


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_zero_rows_keep_the_columns(compression: Any) -> None:
    empty: dict[str, list[Any]] = {column.name: [] for column in COLUMNS}
    blob = encode(COLUMNS, empty, compression=compression)

    table = decode(blob)
    assert table.columns == COLUMNS
    assert table.num_rows == 0
    assert table.rows() == []
    read_by_pyarrow = pq.read_table(io.BytesIO(blob))
    assert read_by_pyarrow.num_rows == 0
    assert read_by_pyarrow.schema.equals(arrow_table(COLUMNS, empty).schema)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_pyarrow_reads_our_files(compression: Any) -> None:
    blob = encode(COLUMNS, DATA, metadata=METADATA, compression=compression)

    table = pq.read_table(io.BytesIO(blob))

    assert [(field.name, field.type, field.nullable) for field in table.schema] == [
        ("merchant", pa.string(), True),
        ("amount", pa.float64(), False),
        ("risk", pa.float64(), True),
        ("txn_count", pa.int64(), True),
        ("card_present", pa.bool_(), True),
        ("seen_at", pa.timestamp("us", tz="UTC"), False),
        ("reviewed_at", pa.timestamp("us", tz="UTC"), True),
    ]
    assert table.to_pydict() == DATA
    assert table.schema.metadata == {key.encode(): value.encode() for key, value in METADATA.items()}
    codec = pq.ParquetFile(io.BytesIO(blob)).metadata.row_group(0).column(0).compression
    assert codec == {"gzip": "GZIP", "none": "UNCOMPRESSED"}[compression]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_we_read_pyarrow_files(compression: Any) -> None:
    source = arrow_table(COLUMNS, DATA).replace_schema_metadata({"dataset": "card_fraud"})

    table = decode(write_with_pyarrow(source, compression=compression))

    assert table.columns == COLUMNS
    assert table.data == DATA
    assert table.metadata["dataset"] == "card_fraud"


def test_we_read_pyarrow_files_with_several_row_groups_and_pages() -> None:
    rng = random.Random(3)
    # Nulls in long runs and scattered singly, so pyarrow writes both RLE and bit-packed definition levels.
    data: dict[str, list[Any]] = {
        "risk": [None if (row // 40) % 2 or rng.random() < 0.2 else rng.random() for row in range(1_000)],
        "merchant": [None if row % 3 == 0 else f"m{row}" for row in range(1_000)],
        "row": list(range(1_000)),
    }
    columns = (ColumnSpec("risk", "double"), ColumnSpec("merchant", "string"), ColumnSpec("row", "int64", True))
    # Small pages and write batches make pyarrow start a new data page every few dozen values.
    blob = write_with_pyarrow(
        arrow_table(columns, data), compression="gzip", row_group_size=300, data_page_size=100, write_batch_size=10
    )
    assert pq.ParquetFile(io.BytesIO(blob)).metadata.num_row_groups == 4

    table = decode(blob)

    assert table.columns == columns
    assert table.data == data


@pytest.mark.parametrize(
    ("table", "options", "message"),
    [
        pytest.param(pa.table({"x": [1.0]}), {"compression": "snappy"}, "compressed with SNAPPY", id="snappy"),
        pytest.param(pa.table({"x": ["a"]}), {"use_dictionary": True}, "RLE_DICTIONARY-encoded", id="dictionary"),
        pytest.param(pa.table({"x": [1.0]}), {"data_page_version": "2.0"}, "DATA_PAGE_V2 pages", id="page-v2"),
        pytest.param(
            pa.table({"x": pa.array([1], pa.int32())}), {}, "column 'x' has unsupported type INT32", id="int32"
        ),
        pytest.param(
            pa.table({"x": pa.array([1], pa.timestamp("ns", tz="UTC"))}), {}, "TIMESTAMP(NANOS, UTC)", id="nanos"
        ),
        pytest.param(pa.table({"x": pa.array([1], pa.timestamp("us"))}), {}, "TIMESTAMP(MICROS, local)", id="naive"),
        pytest.param(pa.table({"x": [[1, 2]]}), {}, "column 'x' is nested", id="list"),
    ],
)
def test_parquet_we_cannot_read_is_refused_by_name(table: pa.Table, options: dict[str, Any], message: str) -> None:
    blob = write_with_pyarrow(table, **options)

    with pytest.raises(ParquetError, match=re.escape(message)):
        decode(blob)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_the_same_table_always_encodes_to_the_same_bytes(compression: Any) -> None:
    copy = {name: list(values) for name, values in DATA.items()}

    first = encode(COLUMNS, DATA, metadata=METADATA, compression=compression)

    assert encode(COLUMNS, copy, metadata=dict(METADATA), compression=compression) == first


def test_gzip_makes_repetitive_data_smaller() -> None:
    columns = (ColumnSpec("merchant", "string"),)
    data: dict[str, list[Any]] = {"merchant": ["grocery", "fuel", "travel"] * 2_000}

    assert len(encode(columns, data, compression="gzip")) * 10 < len(encode(columns, data, compression="none"))


@pytest.mark.parametrize(
    ("columns", "data", "message"),
    [
        (
            (ColumnSpec("amount", "double"),),
            {"amount": [1.0, "2.0"]},
            "column 'amount', row 1: expected float, got str",
        ),
        ((ColumnSpec("amount", "double"),), {"amount": [True]}, "column 'amount', row 0: expected float, got bool"),
        ((ColumnSpec("count", "int64"),), {"count": [1, None, 2.5]}, "column 'count', row 2: expected int, got float"),
        ((ColumnSpec("count", "int64"),), {"count": [False]}, "column 'count', row 0: expected int, got bool"),
        ((ColumnSpec("count", "int64"),), {"count": [2**63]}, "column 'count', row 0: int outside the int64 range"),
        ((ColumnSpec("name", "string"),), {"name": ["a", b"b"]}, "column 'name', row 1: expected str, got bytes"),
        ((ColumnSpec("name", "string"),), {"name": ["\ud800"]}, "column 'name', row 0: str cannot be encoded as UTF-8"),
        ((ColumnSpec("flag", "boolean"),), {"flag": [True, 1]}, "column 'flag', row 1: expected bool, got int"),
        (
            (ColumnSpec("at", "timestamp"),),
            {"at": [datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1)]},
            "column 'at', row 1: naive datetime",
        ),
        ((ColumnSpec("at", "timestamp"),), {"at": ["2025-01-01"]}, "column 'at', row 0: expected datetime, got str"),
        ((ColumnSpec("amount", "double", required=True),), {"amount": [1.0, None]}, "column 'amount', row 1: None"),
        ((ColumnSpec("a", "double"), ColumnSpec("b", "double")), {"a": [1.0]}, "column 'b' is missing"),
        (
            (ColumnSpec("a", "double"), ColumnSpec("b", "double")),
            {"a": [1.0, 2.0], "b": [1.0]},
            "column 'b' has 1 values but 'a' has 2",
        ),
        ((ColumnSpec("a", "double"), ColumnSpec("a", "string")), {"a": [1.0]}, "duplicate column names: 'a'"),
        ((), {}, "at least one column"),
    ],
)
def test_data_that_does_not_fit_is_refused_by_column_and_row(
    columns: tuple[ColumnSpec, ...], data: dict[str, list[Any]], message: str
) -> None:
    with pytest.raises(ParquetError, match=re.escape(message)):
        encode(columns, data)


def test_blobs_that_are_not_whole_parquet_files_are_refused() -> None:
    blob = encode(COLUMNS, DATA)

    with pytest.raises(ParquetError, match="does not start with PAR1"):
        decode(b"PK\x03\x04" + blob[4:])
    with pytest.raises(ParquetError, match="too short"):
        decode(b"")
    for cut in (len(blob) - 1, len(blob) // 2, 20):
        with pytest.raises(ParquetError, match="truncated"):
            decode(blob[:cut])
    with pytest.raises(ParquetError, match="truncated"):
        decode(blob[:4] + b"\xff\xff\xff\x7f" + blob[-4:])


def test_a_damaged_page_is_refused_naming_its_column() -> None:
    blob = encode(COLUMNS, DATA, compression="none")
    damaged = blob[:4] + bytes(40) + blob[44:]

    with pytest.raises(ParquetError, match="column 'merchant'"):
        decode(damaged)
