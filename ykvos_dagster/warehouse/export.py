"""Exporting CDRs of a range of call days to Parquet or CSV in bounded memory.

ClickHouse sends the rows as a CSV stream, which both the HTTP client and the embedded chDB
engine deliver block by block (chDB materializes Arrow and Parquet results whole, so neither is
requested). pyarrow parses the stream into record batches with the table's exact types, and a
Parquet or CSV writer appends them to a temporary file next to the output, renamed into place once
the export is complete. This side therefore holds at most one Parquet row group plus the
parser's blocks, whatever the range. The engine's share depends on its threads: `ykvos export`
runs the query with max_threads = 1, because chDB otherwise queues blocks that it reads faster
than they are written.

NOTE: with one thread, chDB's peak RSS still rose from 417 MB to 560 MB when draining 7 call
days (189 MB of CSV) instead of 1 (27 MB). One 3M-row partition (1.9 GB of CSV) stayed at
436 MB. The cause on the engine side, per-partition buffers or allocator caches, is unknown.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ykvos_dagster.warehouse.registry import validate_slug

logger = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")
PARQUET_ROW_GROUP_ROWS = 100_000
# A row group is also closed at this many bytes of Arrow data, because with `raw` a row takes
# about 1.4 KB (simulator data) and 100,000 rows would hold some 140 MB.
PARQUET_ROW_GROUP_BYTES = 32 * 1024 * 1024
_CSV_BLOCK_BYTES = 1 << 20
_NULL = "\\N"

_DECIMAL = re.compile(r"^Decimal\((\d+), (\d+)\)$")
_DATETIME64 = re.compile(r"^DateTime64\((\d)(?:, '([^']+)')?\)$")
_SIMPLE_TYPES = {
    "String": pa.string(),
    "UUID": pa.string(),
    "Date": pa.date32(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
}
_TIME_UNITS = {0: "s", 3: "ms", 6: "us", 9: "ns"}


@dataclass(frozen=True)
class ExportResult:
    rows: int
    path: Path
    seconds: float


@dataclass(frozen=True)
class _Column:
    name: str
    parse_type: pa.DataType
    output_type: pa.DataType
    nullable: bool


def arrow_types(clickhouse_type: str) -> tuple[pa.DataType, pa.DataType, bool]:
    """Return the Arrow type to parse a column's CSV text as, the Arrow type to write, and
    whether the column is nullable.

    A DateTime64 column is parsed as a timestamp without zone, because ClickHouse writes it in the
    column's zone without an offset, and then written with that zone.
    """
    nullable = False
    inner = clickhouse_type
    if inner.startswith("LowCardinality(") and inner.endswith(")"):
        inner = inner[len("LowCardinality(") : -1]
    if inner.startswith("Nullable(") and inner.endswith(")"):
        inner = inner[len("Nullable(") : -1]
        nullable = True
    if inner in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[inner], _SIMPLE_TYPES[inner], nullable
    decimal = _DECIMAL.match(inner)
    if decimal:
        arrow_type = pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
        return arrow_type, arrow_type, nullable
    datetime64 = _DATETIME64.match(inner)
    if datetime64 and int(datetime64.group(1)) in _TIME_UNITS:
        unit = _TIME_UNITS[int(datetime64.group(1))]
        zone = datetime64.group(2)
        return pa.timestamp(unit), pa.timestamp(unit, tz=zone), nullable
    raise ValueError(f"cannot export ClickHouse type {clickhouse_type!r}")


def format_for(output: Path, requested: str | None) -> str:
    """Return the export format: `requested`, or the one named by the output file's suffix."""
    if requested is not None:
        if requested not in FORMATS:
            raise ValueError(f"unknown export format {requested!r}; use one of {FORMATS}")
        return requested
    suffix = output.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise ValueError(
        f"cannot tell the format of {output} from its suffix; pass --format parquet or csv"
    )


def _check_request(
    start: dt.date, end: dt.date, instance: str | None, output: Path, overwrite: bool
) -> None:
    if start > end:
        raise ValueError(
            f"the first call day {start} is after the last call day {end}; both are included, "
            "so a single day has the same first and last day"
        )
    if instance is not None:
        validate_slug(instance)
    if not output.parent.is_dir():
        raise ValueError(f"output folder {output.parent} does not exist; create it first")
    if output.is_dir():
        raise ValueError(f"output {output} is a folder; give a file name")
    if output.exists() and not overwrite:
        raise ValueError(f"output file {output} already exists; pass --overwrite to replace it")


def _columns(client, include_raw: bool) -> list[_Column]:
    described = client.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase()"
        " AND table = 'cdrs' ORDER BY position"
    ).result_rows
    columns = []
    for name, clickhouse_type in described:
        if name == "raw" and not include_raw:
            continue
        parse_type, output_type, nullable = arrow_types(clickhouse_type)
        columns.append(_Column(name, parse_type, output_type, nullable))
    return columns


def _check_instance_known(client, instance: str) -> None:
    stored = client.command(
        "SELECT count() FROM cdrs WHERE instance = {instance:String}",
        parameters={"instance": instance},
    )
    if int(stored):
        return
    known = [
        row[0]
        for row in client.query(
            "SELECT DISTINCT instance FROM cdrs ORDER BY instance LIMIT 20"
        ).result_rows
    ]
    listed = ", ".join(known) or "none"
    raise LookupError(
        f"instance {instance!r} has no CDRs in ClickHouse; instances with CDRs include: {listed}"
    )


def count_rows(client, start: dt.date, end: dt.date, instance: str | None) -> int:
    """Return the number of CDRs of the call days [start, end], both included."""
    where, parameters = _where(start, end, instance)
    return int(client.command(f"SELECT count() FROM cdrs WHERE {where}", parameters=parameters))


def _where(start: dt.date, end: dt.date, instance: str | None) -> tuple[str, dict]:
    where = "call_day >= {start:Date} AND call_day <= {end:Date}"
    parameters = {"start": start, "end": end}
    if instance is not None:
        where += " AND instance = {instance:String}"
        parameters["instance"] = instance
    return where, parameters


class _ParquetSink:
    def __init__(self, path: Path, schema: pa.Schema):
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pending_bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self._pending_bytes += batch.nbytes
        if (
            self._pending_rows >= PARQUET_ROW_GROUP_ROWS
            or self._pending_bytes >= PARQUET_ROW_GROUP_BYTES
        ):
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(
                pa.Table.from_batches(self._pending), row_group_size=PARQUET_ROW_GROUP_ROWS
            )
        self._pending = []
        self._pending_rows = 0
        self._pending_bytes = 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


class _CsvSink:
    def __init__(self, path: Path, schema: pa.Schema):
        self._writer = pa_csv.CSVWriter(path, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()


def _copy_rows(client, query, parameters, columns, schema, sink, on_rows) -> int:
    rows = 0
    stream = client.raw_stream(query, parameters=parameters, fmt="CSV")
    try:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(
                column_names=[column.name for column in columns],
                block_size=_CSV_BLOCK_BYTES,
                # Reading ahead on other threads would buffer blocks faster than they are written.
                use_threads=False,
            ),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={column.name: column.parse_type for column in columns},
                null_values=[_NULL],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            converted = pa.RecordBatch.from_arrays(
                [
                    array.cast(column.output_type)
                    for array, column in zip(batch.columns, columns, strict=True)
                ],
                schema=schema,
            )
            sink.write(converted)
            rows += converted.num_rows
            if on_rows is not None:
                on_rows(converted.num_rows)
    finally:
        stream.close()
    return rows


def export_cdrs(
    client,
    *,
    start: dt.date,
    end: dt.date,
    output: Path,
    export_format: str,
    instance: str | None = None,
    include_raw: bool = False,
    overwrite: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write the CDRs of the call days [start, end], both included, to `output`.

    Rows come in `cdrs` order (instance, call day, account, flow_no). For a progress bar,
    `on_start` gets the number of rows to export and `on_rows` the rows of each batch written.

    Raises:
        ValueError: invalid range, format, instance slug or output path.
        LookupError: `instance` has no CDRs at all.
    """
    started = time.monotonic()
    export_format = format_for(output, export_format)
    _check_request(start, end, instance, output, overwrite)
    if instance is not None:
        _check_instance_known(client, instance)

    columns = _columns(client, include_raw)
    schema = pa.schema(
        [pa.field(column.name, column.output_type, nullable=column.nullable) for column in columns]
    )
    expected = count_rows(client, start, end, instance)
    if on_start is not None:
        on_start(expected)
    where, parameters = _where(start, end, instance)
    selected = ", ".join(f"`{column.name}`" for column in columns)
    query = (
        f"SELECT {selected} FROM cdrs WHERE {where} ORDER BY instance, call_day, account, flow_no"
    )

    descriptor, temporary_name = tempfile.mkstemp(
        dir=output.parent, prefix=f".{output.name}.", suffix=".partial"
    )
    os.close(descriptor)
    temporary = Path(temporary_name)
    rows = 0
    try:
        sink = (_ParquetSink if export_format == "parquet" else _CsvSink)(temporary, schema)
        try:
            # pyarrow's CSV reader rejects an empty stream, so a range without rows is not read.
            if expected:
                rows = _copy_rows(client, query, parameters, columns, schema, sink, on_rows)
        finally:
            sink.close()
        # mkstemp creates the file for the owner only; give it the usual umask permissions.
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(0o666 & ~umask)
        temporary.replace(output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

    seconds = time.monotonic() - started
    logger.info(
        "Exported %d CDRs of call days %s to %s%s to %s in %.1f s",
        rows,
        start,
        end,
        f" of instance {instance}" if instance else "",
        output,
        seconds,
    )
    return ExportResult(rows=rows, path=output, seconds=seconds)
