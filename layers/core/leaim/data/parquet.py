"""Apache Parquet files in pure Python: flat tables of strings, doubles, int64s, booleans and UTC timestamps.

LEAIM's Lambda layer cannot hold pyarrow (the layer size limit), so it writes and reads the subset of Parquet
it needs itself. Files written here hold one row group with one DataPage V1 per column, PLAIN values and
gzip or no compression. The reader accepts that subset from any writer (several row groups and data pages
per column included) and refuses everything else (dictionary pages, other encodings or codecs, nested
schemas, other types) with a ParquetError.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from itertools import chain, compress, repeat
from operator import is_not
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

ColumnKind = Literal["string", "double", "int64", "boolean", "timestamp"]

_MAGIC = b"PAR1"
_CREATED_BY = "leaim parquet"
# zlib's default: gzip -6 compresses a feature table about as well as -9 at a fraction of the time.
_GZIP_LEVEL = 6
_U32 = struct.Struct("<I")
_I32_MAX = 2**31 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# A footer nests a handful of structs; anything deeper is a corrupt or hostile file.
_MAX_NESTING = 32
# Bit i of byte b (least significant first) as bytes of 0/1, to unpack bit-packed runs a byte at a time.
_BITS = [bytes((byte >> bit) & 1 for bit in range(8)) for byte in range(256)]
_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
_RUNS = re.compile(rb"\x01+|\x00+")


class ParquetError(ValueError):
    """A blob that is not a Parquet file this module can read, or data that does not fit its columns."""


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One flat column: its name, what its values are, and whether it may hold None (nulls)."""

    name: str
    kind: ColumnKind
    required: bool = False


@dataclass(frozen=True)
class ParquetTable:
    """The content of a Parquet file: its columns, their values by column name, and its footer metadata."""

    columns: tuple[ColumnSpec, ...]
    data: dict[str, list[object | None]]
    metadata: dict[str, str]

    @property
    def num_rows(self) -> int:
        """How many rows the table holds."""
        return len(self.data[self.columns[0].name]) if self.columns else 0

    def rows(self) -> list[dict[str, object | None]]:
        """The rows as dicts from column name to value, keys in column order."""
        names = [column.name for column in self.columns]
        return [dict(zip(names, row, strict=True)) for row in zip(*(self.data[name] for name in names), strict=True)]


class _Compact(IntEnum):
    """Thrift compact protocol type codes."""

    TRUE = 1
    FALSE = 2
    BYTE = 3
    I16 = 4
    I32 = 5
    I64 = 6
    DOUBLE = 7
    BINARY = 8
    LIST = 9
    SET = 10
    MAP = 11
    STRUCT = 12


class _Physical(IntEnum):
    BOOLEAN = 0
    INT32 = 1
    INT64 = 2
    INT96 = 3
    FLOAT = 4
    DOUBLE = 5
    BYTE_ARRAY = 6
    FIXED_LEN_BYTE_ARRAY = 7


class _Encoding(IntEnum):
    PLAIN = 0
    PLAIN_DICTIONARY = 2
    RLE = 3
    BIT_PACKED = 4
    DELTA_BINARY_PACKED = 5
    DELTA_LENGTH_BYTE_ARRAY = 6
    DELTA_BYTE_ARRAY = 7
    RLE_DICTIONARY = 8
    BYTE_STREAM_SPLIT = 9


class _Codec(IntEnum):
    UNCOMPRESSED = 0
    SNAPPY = 1
    GZIP = 2
    LZO = 3
    BROTLI = 4
    LZ4 = 5
    ZSTD = 6
    LZ4_RAW = 7


class _PageType(IntEnum):
    DATA_PAGE = 0
    INDEX_PAGE = 1
    DICTIONARY_PAGE = 2
    DATA_PAGE_V2 = 3


class _Repetition(IntEnum):
    REQUIRED = 0
    OPTIONAL = 1
    REPEATED = 2


class _Converted(IntEnum):
    UTF8 = 0
    TIMESTAMP_MICROS = 10
    INT_64 = 18


class _TimeUnit(IntEnum):
    MILLIS = 1
    MICROS = 2
    NANOS = 3


def _label(enum: type[IntEnum], value: int) -> str:
    """The Parquet name of an enum value, or the bare number for one this module does not know."""
    try:
        return enum(value).name
    except ValueError:
        return str(value)


# Thrift compact protocol, writing. A field is (id, type, encoded value); structs compute the header deltas.
_Field = tuple[int, int, bytes]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _zigzag(value: int) -> bytes:
    return _varint((value << 1) ^ (value >> 63))


def _binary_value(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return _varint(len(raw)) + raw


def _struct(*fields: _Field | None) -> bytes:
    """A struct from its fields in ascending id order; None stands for an optional field left out."""
    out = bytearray()
    last_id = 0
    for field in fields:
        if field is None:
            continue
        field_id, compact_type, value = field
        delta = field_id - last_id
        if 0 < delta <= 15:
            out.append(delta << 4 | compact_type)
        else:
            out.append(compact_type)
            out += _zigzag(field_id)
        out += value
        last_id = field_id
    out.append(0)
    return bytes(out)


def _i32(field_id: int, value: int) -> _Field:
    return (field_id, _Compact.I32, _zigzag(value))


def _i64(field_id: int, value: int) -> _Field:
    return (field_id, _Compact.I64, _zigzag(value))


def _binary(field_id: int, value: str | bytes) -> _Field:
    return (field_id, _Compact.BINARY, _binary_value(value))


def _bool(field_id: int, value: bool) -> _Field:
    # Compact protocol folds a bool field's value into its type code.
    return (field_id, _Compact.TRUE if value else _Compact.FALSE, b"")


def _struct_field(field_id: int, *fields: _Field | None) -> _Field:
    return (field_id, _Compact.STRUCT, _struct(*fields))


def _list_field(field_id: int, element_type: int, elements: Sequence[bytes]) -> _Field:
    size = len(elements)
    header = bytes([size << 4 | element_type]) if size < 15 else bytes([0xF0 | element_type]) + _varint(size)
    return (field_id, _Compact.LIST, header + b"".join(elements))


# Thrift compact protocol, reading: every field is kept by id, so fields this module does not use are skipped.
_Fields = dict[int, object]
_T = TypeVar("_T")


class _Reader:
    """Reads blob[pos:end]: bytes, varints and compact-protocol structs, whatever fields they hold."""

    def __init__(self, blob: bytes, pos: int, end: int, what: str) -> None:
        self.blob = blob
        self.pos = pos
        self.end = end
        self.what = what

    def read_struct(self, depth: int = 0) -> _Fields:
        if depth > _MAX_NESTING:
            raise ParquetError("Thrift structs nest too deeply")
        fields: _Fields = {}
        last_id = 0
        while (header := self.byte()) != 0:
            compact_type, delta = header & 0x0F, header >> 4
            field_id = last_id + delta if delta else self.signed()
            if compact_type in (_Compact.TRUE, _Compact.FALSE):
                fields[field_id] = compact_type == _Compact.TRUE
            else:
                fields[field_id] = self._value(compact_type, depth)
            last_id = field_id
        return fields

    def _value(self, compact_type: int, depth: int) -> object:
        if compact_type in (_Compact.TRUE, _Compact.FALSE):
            # Inside a collection a bool is a whole byte.
            return self.byte() == _Compact.TRUE
        if compact_type == _Compact.BYTE:
            return self.byte()
        if compact_type in (_Compact.I16, _Compact.I32, _Compact.I64):
            return self.signed()
        if compact_type == _Compact.DOUBLE:
            return struct.unpack("<d", self.take(8))[0]
        if compact_type == _Compact.BINARY:
            return self.take(self.varint())
        if compact_type in (_Compact.LIST, _Compact.SET):
            header = self.byte()
            size = header >> 4 if header >> 4 != 15 else self.varint()
            return [self._value(header & 0x0F, depth + 1) for _ in range(size)]
        if compact_type == _Compact.MAP:
            size = self.varint()
            types = self.byte() if size else 0
            return [(self._value(types >> 4, depth + 1), self._value(types & 0x0F, depth + 1)) for _ in range(size)]
        if compact_type == _Compact.STRUCT:
            return self.read_struct(depth + 1)
        raise ParquetError(f"unknown Thrift type {compact_type}")

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ParquetError(f"{self.what} ends early")
        self.pos += 1
        return self.blob[self.pos - 1]

    def take(self, size: int) -> bytes:
        if self.pos + size > self.end:
            raise ParquetError(f"{self.what} ends early")
        self.pos += size
        return self.blob[self.pos - size : self.pos]

    def varint(self) -> int:
        value = shift = 0
        while (byte := self.byte()) & 0x80:
            value |= (byte & 0x7F) << shift
            shift += 7
        return value | byte << shift

    def signed(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)


def _get(fields: _Fields, field_id: int, expected: type[_T], what: str) -> _T:
    value = fields.get(field_id)
    if not isinstance(value, expected):
        raise ParquetError(f"{what} is missing or malformed")
    return value


def _size(fields: _Fields, field_id: int, what: str) -> int:
    """A count, size or offset: a negative one would index from the end of the blob."""
    value = _get(fields, field_id, int, what)
    if value < 0:
        raise ParquetError(f"{what} is negative")
    return value


def _text(fields: _Fields, field_id: int, what: str) -> str:
    try:
        return _get(fields, field_id, bytes, what).decode()
    except UnicodeDecodeError:
        raise ParquetError(f"{what} is not UTF-8") from None


def _optional(fields: _Fields, field_id: int, expected: type[_T], what: str) -> _T | None:
    return None if fields.get(field_id) is None else _get(fields, field_id, expected, what)


def _structs(fields: _Fields, field_id: int, what: str) -> list[_Fields]:
    elements = _get(fields, field_id, list, what)
    if not all(isinstance(element, dict) for element in elements):
        raise ParquetError(f"{what} is malformed")
    return elements


# Column kinds: their Parquet types and PLAIN value codecs. Encoders take the non-null values and raise
# TypeError, ValueError, OverflowError or struct.error when one does not fit; encode then finds which.
def _require(values: list[Any], allowed: type | tuple[type, ...], *, bools: bool = False) -> None:
    """Raise TypeError unless every value is an `allowed` instance; bool (an int) only counts when asked."""
    for value_type in set(map(type, values)):
        if not issubclass(value_type, allowed) or (value_type is bool and not bools):
            raise TypeError(value_type.__name__)


def _pack_bits(bits: bytes) -> bytes:
    """Bytes of 0/1 as a bit field, least significant bit first, padded to whole bytes."""
    if not bits:
        return b""
    return int(bits.translate(_DIGITS)[::-1], 2).to_bytes((len(bits) + 7) // 8, "little")


def _unpack_bits(data: bytes, pos: int, count: int) -> bytes:
    """`count` bits from data[pos:], least significant bit first, as bytes of 0/1."""
    end = pos + (count + 7) // 8
    if end > len(data):
        raise ParquetError("bit-packed data ends early")
    return b"".join(map(_BITS.__getitem__, data[pos:end]))[:count]


def _encode_strings(values: list[Any]) -> bytes:
    _require(values, str)
    encoded = list(map(str.encode, values))
    return b"".join(chain.from_iterable(zip(map(_U32.pack, map(len, encoded)), encoded, strict=True)))


def _decode_strings(data: bytes, pos: int, count: int) -> list[Any]:
    values: list[Any] = []
    append, unpack = values.append, _U32.unpack_from
    for _ in range(count):
        (size,) = unpack(data, pos)
        pos += 4
        append(data[pos : pos + size].decode())
        pos += size
    # Slicing past the end shortens silently; the lengths adding up past it shows a truncated page.
    if pos > len(data):
        raise ParquetError("string values run past the end of the page")
    return values


def _encode_doubles(values: list[Any]) -> bytes:
    _require(values, (float, int))
    return struct.pack(f"<{len(values)}d", *values)


def _decode_doubles(data: bytes, pos: int, count: int) -> list[Any]:
    return list(struct.unpack_from(f"<{count}d", data, pos))


def _encode_int64s(values: list[Any]) -> bytes:
    _require(values, int)
    return struct.pack(f"<{len(values)}q", *values)


def _decode_int64s(data: bytes, pos: int, count: int) -> list[Any]:
    return list(struct.unpack_from(f"<{count}q", data, pos))


def _encode_booleans(values: list[Any]) -> bytes:
    _require(values, bool, bools=True)
    return _pack_bits(bytes(values))


def _decode_booleans(data: bytes, pos: int, count: int) -> list[Any]:
    return list(map(bool, _unpack_bits(data, pos, count)))


def _encode_timestamps(values: list[Any]) -> bytes:
    _require(values, datetime)
    # Subtracting the aware epoch raises TypeError for a naive datetime.
    micros = [(value - _EPOCH) // _MICROSECOND for value in values]
    return struct.pack(f"<{len(micros)}q", *micros)


def _decode_timestamps(data: bytes, pos: int, count: int) -> list[Any]:
    return [_EPOCH + timedelta(microseconds=micros) for micros in struct.unpack_from(f"<{count}q", data, pos)]


def _string_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"expected str, got {type(value).__name__}"
    try:
        value.encode()
    except UnicodeEncodeError:
        return "str cannot be encoded as UTF-8"
    return None


def _double_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, float | int):
        return f"expected float, got {type(value).__name__}"
    try:
        float(value)
    except OverflowError:
        return "int too large for a double"
    return None


def _int64_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected int, got {type(value).__name__}"
    if not -(2**63) <= value < 2**63:
        return "int outside the int64 range"
    return None


def _boolean_problem(value: object) -> str | None:
    return None if isinstance(value, bool) else f"expected bool, got {type(value).__name__}"


def _timestamp_problem(value: object) -> str | None:
    if not isinstance(value, datetime):
        return f"expected datetime, got {type(value).__name__}"
    if value.utcoffset() is None:
        return "naive datetime; give it a time zone such as UTC"
    return None


@dataclass(frozen=True, slots=True)
class _Kind:
    physical: _Physical
    converted: _Converted | None
    logical: bytes | None
    encode: Callable[[list[Any]], bytes]
    decode: Callable[[bytes, int, int], list[Any]]
    problem: Callable[[object], str | None]


_STRING_LOGICAL = _struct(_struct_field(1))
_TIMESTAMP_LOGICAL = _struct(_struct_field(8, _bool(1, True), _struct_field(2, _struct_field(_TimeUnit.MICROS))))
_KINDS: dict[str, _Kind] = {
    "string": _Kind(
        _Physical.BYTE_ARRAY, _Converted.UTF8, _STRING_LOGICAL, _encode_strings, _decode_strings, _string_problem
    ),
    "double": _Kind(_Physical.DOUBLE, None, None, _encode_doubles, _decode_doubles, _double_problem),
    "int64": _Kind(_Physical.INT64, None, None, _encode_int64s, _decode_int64s, _int64_problem),
    "boolean": _Kind(_Physical.BOOLEAN, None, None, _encode_booleans, _decode_booleans, _boolean_problem),
    "timestamp": _Kind(
        _Physical.INT64,
        _Converted.TIMESTAMP_MICROS,
        _TIMESTAMP_LOGICAL,
        _encode_timestamps,
        _decode_timestamps,
        _timestamp_problem,
    ),
}
# How the reader recognises each kind: physical type and annotation, from the logical or converted type.
_KIND_OF: dict[tuple[int, str | None], ColumnKind] = {
    (_Physical.BYTE_ARRAY, "STRING"): "string",
    (_Physical.DOUBLE, None): "double",
    (_Physical.INT64, None): "int64",
    (_Physical.INT64, "INTEGER(64, signed)"): "int64",
    (_Physical.BOOLEAN, None): "boolean",
    (_Physical.INT64, "TIMESTAMP(MICROS, UTC)"): "timestamp",
}
_CONVERTED_ANNOTATIONS: dict[int, str] = {
    _Converted.UTF8: "STRING",
    _Converted.TIMESTAMP_MICROS: "TIMESTAMP(MICROS, UTC)",
    _Converted.INT_64: "INTEGER(64, signed)",
}


def encode(
    columns: Sequence[ColumnSpec],
    data: Mapping[str, Sequence[object | None]],
    *,
    metadata: Mapping[str, str] | None = None,
    compression: Literal["gzip", "none"] = "gzip",
) -> bytes:
    """A Parquet file holding `data` (values by column name) in the given columns, in that order.

    Keys of `data` that name no column are left out. The same input always gives the same bytes. Raises
    ParquetError naming the column (and row) when data is missing, ragged or does not fit its column.
    """
    if not columns:
        raise ParquetError("a Parquet file needs at least one column")
    names = [column.name for column in columns]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise ParquetError(f"duplicate column names: {', '.join(map(repr, duplicates))}")
    if compression not in ("gzip", "none"):
        raise ParquetError(f"unknown compression {compression!r}; use 'gzip' or 'none'")
    codec = _Codec.GZIP if compression == "gzip" else _Codec.UNCOMPRESSED
    for column in columns:
        if column.kind not in _KINDS:
            raise ParquetError(f"column {column.name!r}: unknown kind {column.kind!r}")
        if column.name not in data:
            raise ParquetError(f"column {column.name!r} is missing from data")
    num_rows = len(data[names[0]])
    for name in names:
        if len(data[name]) != num_rows:
            raise ParquetError(f"column {name!r} has {len(data[name])} values but {names[0]!r} has {num_rows}")

    out = bytearray(_MAGIC)
    chunks = []
    total_uncompressed_size = 0
    for column in columns:
        offset = len(out)
        page, uncompressed_size = _encode_page(column, list(data[column.name]), codec)
        out += page
        total_uncompressed_size += uncompressed_size
        chunks.append(_column_chunk(column, codec, num_rows, offset, uncompressed_size, len(page)))
    footer = _struct(
        _i32(1, 2),
        _list_field(2, _Compact.STRUCT, _schema(columns)),
        _i64(3, num_rows),
        _list_field(
            4,
            _Compact.STRUCT,
            [_struct(_list_field(1, _Compact.STRUCT, chunks), _i64(2, total_uncompressed_size), _i64(3, num_rows))],
        ),
        _list_field(5, _Compact.STRUCT, [_struct(_binary(1, k), _binary(2, v)) for k, v in (metadata or {}).items()]),
        _binary(6, _CREATED_BY),
    )
    out += footer
    out += _U32.pack(len(footer))
    out += _MAGIC
    return bytes(out)


def _schema(columns: Sequence[ColumnSpec]) -> list[bytes]:
    root = _struct(_binary(4, "schema"), _i32(5, len(columns)))
    leaves = []
    for column in columns:
        kind = _KINDS[column.kind]
        leaves.append(
            _struct(
                _i32(1, kind.physical),
                _i32(3, _Repetition.REQUIRED if column.required else _Repetition.OPTIONAL),
                _binary(4, column.name),
                None if kind.converted is None else _i32(6, kind.converted),
                None if kind.logical is None else (10, _Compact.STRUCT, kind.logical),
            )
        )
    return [root, *leaves]


def _encode_page(column: ColumnSpec, values: list[object | None], codec: _Codec) -> tuple[bytes, int]:
    """A DataPage V1 (header and data) for one column, and its size before compression."""
    present_flags = bytes(map(is_not, values, repeat(None)))
    nulls = present_flags.count(0)
    if nulls and column.required:
        raise ParquetError(f"column {column.name!r}, row {present_flags.index(0)}: None in a required column")
    kind = _KINDS[column.kind]
    try:
        plain = kind.encode(list(compress(values, present_flags)) if nulls else values)
    except (TypeError, ValueError, OverflowError, struct.error):
        raise _misfit(column, kind, values) from None
    raw = plain if column.required else _definition_levels(present_flags, nulls) + plain
    if len(raw) > _I32_MAX:
        raise ParquetError(f"column {column.name!r}: {len(raw)} bytes exceed the 2 GiB limit of a Parquet page")
    body = _gzip(raw) if codec == _Codec.GZIP else raw
    header = _struct(
        _i32(1, _PageType.DATA_PAGE),
        _i32(2, len(raw)),
        _i32(3, len(body)),
        _struct_field(
            5, _i32(1, len(values)), _i32(2, _Encoding.PLAIN), _i32(3, _Encoding.RLE), _i32(4, _Encoding.RLE)
        ),
    )
    return header + body, len(header) + len(raw)


def _misfit(column: ColumnSpec, kind: _Kind, values: list[object | None]) -> ParquetError:
    """The error for the first value that does not fit the column."""
    for row, value in enumerate(values):
        if value is not None and (problem := kind.problem(value)) is not None:
            return ParquetError(f"column {column.name!r}, row {row}: {problem}")
    return ParquetError(f"column {column.name!r}: values do not fit {column.kind}")


def _definition_levels(present_flags: bytes, nulls: int) -> bytes:
    """Levels at bit width 1 in the RLE/bit-packing hybrid, prefixed by their length as DataPage V1 wants."""
    count = len(present_flags)
    if not count:
        runs = b""
    elif nulls in (0, count):
        runs = _varint(count << 1) + (b"\x00" if nulls else b"\x01")
    else:
        runs = _varint((count + 7) // 8 << 1 | 1) + _pack_bits(present_flags)
    return _U32.pack(len(runs)) + runs


def _gzip(raw: bytes) -> bytes:
    # wbits=31 is the gzip wrapper that Parquet's GZIP codec means; zlib writes mtime 0, keeping output stable.
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(raw) + compressor.flush()


def _column_chunk(
    column: ColumnSpec, codec: _Codec, num_rows: int, offset: int, uncompressed_size: int, compressed_size: int
) -> bytes:
    encodings = [_Encoding.PLAIN] if column.required else [_Encoding.PLAIN, _Encoding.RLE]
    meta_data = _struct_field(
        3,
        _i32(1, _KINDS[column.kind].physical),
        _list_field(2, _Compact.I32, [_zigzag(encoding) for encoding in encodings]),
        _list_field(3, _Compact.BINARY, [_binary_value(column.name)]),
        _i32(4, codec),
        _i64(5, num_rows),
        _i64(6, uncompressed_size),
        _i64(7, compressed_size),
        _i64(9, offset),
    )
    return _struct(_i64(2, offset), meta_data)


def decode(blob: bytes) -> ParquetTable:
    """The table in a Parquet file: flat columns of the kinds encode writes, PLAIN-encoded, gzip or uncompressed.

    Reads every row group and data page. Raises ParquetError for anything else, or a damaged file.
    """
    footer = _footer(blob)
    columns = _columns(footer)
    data: dict[str, list[object | None]] = {column.name: [] for column in columns}
    for group in _structs(footer, 4, "FileMetaData.row_groups"):
        chunks = _structs(group, 1, "RowGroup.columns")
        num_rows = _size(group, 3, "RowGroup.num_rows")
        if len(chunks) != len(columns):
            raise ParquetError(f"a row group holds {len(chunks)} columns but the schema has {len(columns)}")
        for column, chunk in zip(columns, chunks, strict=True):
            values = _read_chunk(blob, column, chunk)
            if len(values) != num_rows:
                raise ParquetError(f"column {column.name!r} holds {len(values)} values in a row group of {num_rows}")
            data[column.name] += values
    metadata = {}
    for pair in _structs(footer, 5, "FileMetaData.key_value_metadata") if 5 in footer else []:
        # A key without a value is legal Parquet; the empty string stands for it.
        metadata[_text(pair, 1, "KeyValue.key")] = _text(pair, 2, "KeyValue.value") if 2 in pair else ""
    return ParquetTable(columns, data, metadata)


def _footer(blob: bytes) -> _Fields:
    if len(blob) < 2 * len(_MAGIC) + 4:
        raise ParquetError(f"not a Parquet file: {len(blob)} bytes is too short")
    if blob[: len(_MAGIC)] != _MAGIC:
        raise ParquetError("not a Parquet file: it does not start with PAR1")
    if blob[-len(_MAGIC) :] != _MAGIC:
        raise ParquetError("truncated or not a Parquet file: it does not end with PAR1")
    end = len(blob) - len(_MAGIC) - 4
    (size,) = _U32.unpack_from(blob, end)
    if size > end - len(_MAGIC):
        raise ParquetError(f"truncated Parquet file: its footer of {size} bytes does not fit")
    try:
        return _Reader(blob, end - size, end, "Thrift data").read_struct()
    except ParquetError as error:
        raise ParquetError(f"damaged Parquet footer: {error}") from None


def _columns(footer: _Fields) -> tuple[ColumnSpec, ...]:
    schema = _structs(footer, 2, "FileMetaData.schema")
    leaves = schema[1:]
    columns = []
    for leaf in leaves:
        name = _text(leaf, 4, "SchemaElement.name")
        if _optional(leaf, 5, int, "SchemaElement.num_children") or 1 not in leaf:
            raise ParquetError(f"column {name!r} is nested; only flat schemas are supported")
        repetition = _get(leaf, 3, int, "SchemaElement.repetition_type")
        if repetition not in (_Repetition.REQUIRED, _Repetition.OPTIONAL):
            raise ParquetError(f"column {name!r} is {_label(_Repetition, repetition)}; only flat columns are supported")
        physical = _get(leaf, 1, int, "SchemaElement.type")
        annotation = _annotation(leaf)
        kind = _KIND_OF.get((physical, annotation))
        if kind is None:
            described = _label(_Physical, physical) + ("" if annotation is None else f" {annotation}")
            raise ParquetError(f"column {name!r} has unsupported type {described}")
        columns.append(ColumnSpec(name, kind, required=repetition == _Repetition.REQUIRED))
    if not leaves or _optional(schema[0], 5, int, "the schema root's num_children") != len(leaves):
        raise ParquetError("the schema is not a root holding one or more flat columns")
    if len({column.name for column in columns}) != len(columns):
        raise ParquetError("the schema repeats a column name")
    return tuple(columns)


def _annotation(leaf: _Fields) -> str | None:
    """A column's logical type as a name, from LogicalType when present (it supersedes ConvertedType)."""
    logical = _optional(leaf, 10, dict, "SchemaElement.logicalType")
    if logical is None:
        converted = _optional(leaf, 6, int, "SchemaElement.converted_type")
        if converted is None:
            return None
        return _CONVERTED_ANNOTATIONS.get(converted, f"converted type {converted}")
    if 1 in logical:
        return "STRING"
    if 8 in logical:
        timestamp = _get(logical, 8, dict, "TimestampType")
        unit = _get(timestamp, 2, dict, "TimestampType.unit")
        zone = "UTC" if timestamp.get(1) is True else "local"
        return f"TIMESTAMP({'/'.join(_label(_TimeUnit, field) for field in unit)}, {zone})"
    if 10 in logical:
        integer = _get(logical, 10, dict, "IntType")
        signed = "signed" if integer.get(2) is True else "unsigned"
        return f"INTEGER({integer.get(1)}, {signed})"
    return f"logical type {'/'.join(map(str, logical))}"


def _read_chunk(blob: bytes, column: ColumnSpec, chunk: _Fields) -> list[object | None]:
    meta = _get(chunk, 3, dict, "ColumnChunk.meta_data")
    if chunk.get(1) is not None:
        raise ParquetError(f"column {column.name!r} lives in another file; only single files are supported")
    if _get(meta, 3, list, "ColumnMetaData.path_in_schema") != [column.name.encode()]:
        raise ParquetError(f"column {column.name!r}: its chunk belongs to another column")
    if _get(meta, 1, int, "ColumnMetaData.type") != _KINDS[column.kind].physical:
        raise ParquetError(f"column {column.name!r}: its chunk's type differs from the schema's")
    codec = _get(meta, 4, int, "ColumnMetaData.codec")
    if codec not in (_Codec.UNCOMPRESSED, _Codec.GZIP):
        raise ParquetError(
            f"column {column.name!r} is compressed with {_label(_Codec, codec)}; only gzip or none are supported"
        )
    try:
        return _read_pages(
            blob,
            column,
            codec,
            _size(meta, 9, "ColumnMetaData.data_page_offset"),
            _size(meta, 5, "ColumnMetaData.num_values"),
        )
    except (ParquetError, struct.error, zlib.error, UnicodeDecodeError, OverflowError) as error:
        raise ParquetError(f"column {column.name!r}: {error}") from None


def _read_pages(blob: bytes, column: ColumnSpec, codec: int, pos: int, num_values: int) -> list[object | None]:
    kind = _KINDS[column.kind]
    values: list[object | None] = []
    while len(values) < num_values:
        reader = _Reader(blob, pos, len(blob), "a page header")
        header = reader.read_struct()
        page_type = _get(header, 1, int, "PageHeader.type")
        if page_type != _PageType.DATA_PAGE:
            raise ParquetError(f"{_label(_PageType, page_type)} pages are not supported; write DataPage V1 only")
        size = _size(header, 3, "PageHeader.compressed_page_size")
        if reader.pos + size > len(blob):
            raise ParquetError("a page runs past the end of the file")
        page = blob[reader.pos : reader.pos + size]
        pos = reader.pos + size
        expected_size = _size(header, 2, "PageHeader.uncompressed_page_size")
        if codec == _Codec.GZIP:
            # Inflating no further than the header's size keeps a corrupt page from exhausting memory.
            page = zlib.decompressobj(31).decompress(page, expected_size + 1)
        if len(page) != expected_size:
            raise ParquetError("a page's size differs from its header")
        page_header = _get(header, 5, dict, "PageHeader.data_page_header")
        encoding = _get(page_header, 2, int, "DataPageHeader.encoding")
        if encoding != _Encoding.PLAIN:
            raise ParquetError(
                f"values are {_label(_Encoding, encoding)}-encoded; only PLAIN is supported (no dictionary)"
            )
        count = _size(page_header, 1, "DataPageHeader.num_values")
        if column.required:
            values += kind.decode(page, 0, count)
            continue
        if _get(page_header, 3, int, "DataPageHeader.definition_level_encoding") != _Encoding.RLE:
            raise ParquetError("definition levels are not RLE-encoded")
        levels, start = _read_levels(page, count)
        values += _with_nulls(levels, kind.decode(page, start, levels.count(1)))
    if len(values) != num_values:
        raise ParquetError(f"pages hold {len(values)} values but the chunk declares {num_values}")
    return values


def _read_levels(page: bytes, count: int) -> tuple[bytes, int]:
    """A page's definition levels for `count` values (bytes of 0/1), and where its values start.

    The levels are a length-prefixed RLE/bit-packing hybrid at bit width 1, with runs of either form.
    """
    (size,) = _U32.unpack_from(page, 0)
    end = 4 + size
    if end > len(page):
        raise ParquetError("definition levels run past the end of the page")
    reader = _Reader(page, 4, end, "definition levels")
    runs = []
    decoded = 0
    while decoded < count:
        header = reader.varint()
        if header & 1:
            # A bit-packed run: header >> 1 groups of 8 levels, one byte each at bit width 1.
            run = _unpack_bits(reader.take(header >> 1), 0, (header >> 1) * 8)
        else:
            level = reader.byte()
            if level > 1:
                raise ParquetError(f"definition level {level} in a flat column")
            # Capped at what is still wanted, so a corrupt run length cannot exhaust memory.
            run = bytes([level]) * min(header >> 1, count - decoded)
        runs.append(run)
        decoded += len(run)
    return b"".join(runs)[:count], end


def _with_nulls(levels: bytes, present: list[Any]) -> list[object | None]:
    """The present values with None put back where the definition level is 0."""
    if len(present) == len(levels):
        return present
    values: list[object | None] = []
    taken = 0
    for run in _RUNS.finditer(levels):
        start, end = run.span()
        if levels[start]:
            values += present[taken : taken + end - start]
            taken += end - start
        else:
            values += [None] * (end - start)
    return values
