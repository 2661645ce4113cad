"""Typed decoding of GetCdr records in C, into ClickHouse's Native format.

The C extension `_cdr_native` turns InfoCdr records into rows of a Native file: the record's
fields typed as the `cdrs` columns, then `raw` and `typed`. `typed` is 1 for a record it decoded.
It decodes a record only when the rules of `cdr.decode_cdr` give every value without judgement:
plain strings, plain integers inside the column's range, money as a plain number (rounded half to
even at the sixth decimal), every required field present and `stop` not before `start`. Every other
record, including each that would be rejected, gets `typed` 0 and its text in `raw`, and the SQL
decoding of `cdr_sql` decodes it with all rules and reasons. A typed row keeps its text in `raw`
only when the columns do not contain the whole record: a member without a column, or money with
non-zero decimals after the sixth.

- `NativeSpool` decodes replies while they arrive. It has the interface of `cdr_stream.CdrSpool`,
  so `ReplyScanner` and the pull use either, and the JSON text is never written to disk.
- `decode_json_spool` converts a JSON-array spool into a Native file.

The extension is built when the package is installed. Without a C compiler `available()` is False
and pulls spool JSON for the SQL decoding alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ykvos_dagster.vos3000.cdr import (
    _INT_LIMITS,
    _MAX_EPOCH_MS,
    _MIN_EPOCH_MS,
    _UINT_MAX,
    CDR_FIELDS,
    CdrField,
)
from ykvos_dagster.vos3000.cdr_stream import ReplyFormatError, SpoolMark

try:
    from ykvos_dagster.vos3000 import _cdr_native
except ImportError:  # built without a C compiler
    _cdr_native = None

# File name suffix of Native spools; `cdr_store.load_cdr_spool` reads such files as Native.
NATIVE_SUFFIX = ".native"
# Rows per Native block, which is also the size of the parts ClickHouse writes from the file
# (see `cdr_store._NATIVE_INSERT_SETTINGS`), so that it does not squash small blocks first. A
# block of simulator records takes about 90 MB while it is built.
BLOCK_ROWS = 262144
_READ_SIZE = 4 * 1024 * 1024

_KIND_STR, _KIND_INT, _KIND_MONEY = 0, 1, 2
_INT_TYPES = {"flow_no": ("Int64", 8), "end_reason": ("Int32", 4)}


class SpoolFormatError(ValueError):
    """A JSON spool whose text is not a JSON array of objects."""


@dataclass(frozen=True)
class NativeDecoding:
    """Rows written by one `decode_json_spool` call."""

    typed_rows: int
    other_rows: int


def available() -> bool:
    """Return True when the C extension is built."""
    return _cdr_native is not None


def _column(field: CdrField) -> tuple[str, int, int, int, int]:
    """(ClickHouse type, kind, width in bytes, minimum, maximum) of a record field's column."""
    if field.kind == "str":
        return "String", _KIND_STR, 0, 0, 0
    if field.kind == "money":
        return "Decimal(18, 6)", _KIND_MONEY, 8, 0, 0
    if field.kind == "time":
        return "DateTime64(3, 'UTC')", _KIND_INT, 8, _MIN_EPOCH_MS, _MAX_EPOCH_MS
    if field.kind == "uint":
        return "UInt32", _KIND_INT, 4, 0, _UINT_MAX
    name, width = _INT_TYPES.get(field.column, ("Int16", 2))
    low, high = _INT_LIMITS[field.column]
    return name, _KIND_INT, width, low, high


def _field_specs() -> list[tuple]:
    specs = []
    for field in CDR_FIELDS:
        type_name, kind, width, low, high = _column(field)
        if field.nullable:
            type_name = f"Nullable({type_name})"
        specs.append(
            (field.api_name, field.column, type_name, kind, width, field.nullable, low, high)
        )
    return specs


_SPECS = _field_specs()
_INDEX = {field.column: index for index, field in enumerate(CDR_FIELDS)}


def structure() -> str:
    """Return the columns of a Native spool as a ClickHouse structure string."""
    columns = [f"`{column}` {type_name}" for _, column, type_name, *_ in _SPECS]
    return ", ".join([*columns, "`raw` String", "`typed` UInt8"])


def _decoder(path: Path, *, whole_array: bool, append: bool):
    if _cdr_native is None:
        raise RuntimeError("the C extension ykvos_dagster.vos3000._cdr_native is not built")
    return _cdr_native.Decoder(
        str(path), _SPECS, _INDEX["start"], _INDEX["stop"], BLOCK_ROWS, whole_array, append
    )


class NativeSpool:
    """GetCdr records of many replies, decoded as they arrive into the Native file `path`.

    `other_rows` counts the rows left to the SQL decoding, at least as many as the file holds. It
    is None after `resume`, because the rows written before are not counted again.
    """

    def __init__(self, path: Path, *, _append: bool = False) -> None:
        self.path = path
        self._decoder = _decoder(path, whole_array=False, append=_append)
        self._resumed = _append
        self.has_records = False
        self.bytes_written = 0

    @classmethod
    def resume(cls, path: Path, mark: SpoolMark) -> NativeSpool:
        """Reopen a spool that an earlier attempt left, keeping what it wrote up to `mark`."""
        os.truncate(path, mark.offset)
        spool = cls(path, _append=True)
        spool.has_records = mark.has_records
        return spool

    @property
    def typed_rows(self) -> int:
        return self._decoder.typed_rows

    @property
    def other_rows(self) -> int | None:
        return None if self._resumed else self._decoder.other_rows

    def mark(self) -> SpoolMark:
        return SpoolMark(self._decoder.flush(), self.has_records)

    def flush(self) -> None:
        """Write what is decoded to the file and fsync it, so that a recorded mark survives a
        crash."""
        self._decoder.flush(sync=True)

    def rollback(self, mark: SpoolMark) -> None:
        """Drop what a failed reply wrote after `mark`."""
        self._decoder.truncate(mark.offset)
        self.has_records = mark.has_records

    def write_records(self, data: bytes | memoryview, first_of_reply: bool) -> None:
        """Decode array content (records and the commas between them) of one reply."""
        if not len(data):
            return
        try:
            self._decoder.feed(data, first_of_reply)
        except ValueError as error:
            raise ReplyFormatError(f"infoCdrs array: {error}") from None
        self.has_records = True
        self.bytes_written += len(data)

    def end_reply(self) -> None:
        """Check that the reply's records ended with a complete record."""
        try:
            self._decoder.end_input()
        except ValueError as error:
            raise ReplyFormatError(f"infoCdrs array: {error}") from None

    def close(self) -> None:
        self._decoder.close()


def decode_json_spool(spool_path: Path, native_path: Path) -> NativeDecoding:
    """Decode a JSON-array spool (see `cdr_stream.CdrSpool`) into the Native file `native_path`.

    Raises:
        SpoolFormatError: the spool is not a JSON array of objects.
        OSError: a file cannot be read or written.
    """
    decoder = _decoder(native_path, whole_array=True, append=False)
    try:
        with spool_path.open("rb") as spool:
            while chunk := spool.read(_READ_SIZE):
                decoder.feed(chunk)
        decoder.end_input()
    except ValueError as error:
        raise SpoolFormatError(f"{spool_path.name}: {error}") from None
    finally:
        decoder.close()
    return NativeDecoding(typed_rows=decoder.typed_rows, other_rows=decoder.other_rows)
