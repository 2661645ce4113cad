"""Loading one instance-day of CDRs into ClickHouse atomically.

The rows go into a staging table first and replace the instance-day partition of `cdrs` with
`ALTER TABLE ... REPLACE PARTITION` (or `DROP PARTITION` for a day without calls). Both are atomic
in ClickHouse, so readers see the old rows or the new rows, never a mix, even if the process dies
in between. The next load of that instance-day drops a staging table left behind that way.

`load_cdr_spool` loads the raw InfoCdr records of a spool (see `vos3000.cdr_stream`). The typed
decoder in C (`vos3000.cdr_native`, when it is built) decodes the common records into a Native
file, and ClickHouse decodes the others (`vos3000.cdr_sql`). When the typed decoder decoded every
record, its file fills the staging table. Otherwise its rows and the fast SQL decoding of the
others go into a copy of `cdrs` with a `reason` column. When every record decoded there, dropping
that column turns it into the staging table. Otherwise the other records are decoded exactly, the
rejects go to a staging copy of `cdrs_quarantine`, and the decoded rows of both passes are copied
into the staging table. The quarantine partition of the instance-day is replaced just before the
`cdrs` one.

On a ClickHouse cluster (`YKVOS_CLICKHOUSE_CLUSTER`) the staging tables and the partition swaps
work on the local replicated tables (`cdrs_local`, `cdrs_quarantine_local`) of the connected
server, and its replicas copy the new partitions.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from clickhouse_connect.driver.binding import format_query_value
from clickhouse_connect.driver.exceptions import DatabaseError

from ykvos_dagster.vos3000 import cdr_native
from ykvos_dagster.vos3000.cdr_sql import (
    DECODE_SETTINGS,
    FAST_DECODE_SETTINGS,
    decode_select,
    fast_decode_select,
    typed_select,
)
from ykvos_dagster.warehouse.cluster import local_table, staging_table_ddl
from ykvos_dagster.warehouse.registry import validate_slug

logger = logging.getLogger(__name__)

STAGING_PREFIX = "_staging_cdrs_"
_SAMPLE_LIMIT = 10
# Settings of the decoding INSERTs. file() maps the spool into memory by default, which counts the
# whole file in the process's resident memory (1 GB for a 1M-CDR spool), so pread reads it in
# blocks. ClickHouse squashes up to a million rows or 256 MB into one block by default. With the
# raw record and the parsed texts of each row, that took 1.6 GB for a 1M-CDR spool (chDB 4.4,
# measured with bench/cdr_bench.py), so the blocks here are smaller.
_INSERT_SETTINGS = {
    "storage_file_read_method": "pread",
    "max_block_size": 32768,
    "min_insert_block_size_rows": 65536,
    "min_insert_block_size_bytes": 32 * 1024 * 1024,
}


# Settings of the INSERT of the typed decoder's Native file, whose rows carry `raw` only for a few
# records. Parts of up to 262,144 rows or 64 MB took less CPU than the blocks above. ClickHouse's
# default of a million rows or 256 MB took the pull over 1 GB of memory (chDB 4.4, 1M simulator
# records, one thread).
_NATIVE_INSERT_SETTINGS = {
    "storage_file_read_method": "pread",
    "min_insert_block_size_rows": 262144,
    "min_insert_block_size_bytes": 64 * 1024 * 1024,
}


class CdrLoadError(RuntimeError):
    """A load refused because it would lose or double-count data. Stored rows stay as they were."""


@dataclass(frozen=True)
class LoadResult:
    rows: int
    accounts: int
    answered_calls: int
    total_fee: Decimal
    duplicates_dropped: int
    previous_rows: int
    quarantined: int = 0
    # Up to _SAMPLE_LIMIT reasons of quarantined records, for logs and metadata.
    quarantine_sample: list[str] = field(default_factory=list)


def _partition_literal(instance: str, day: dt.date) -> str:
    # ClickHouse takes no query parameters in a PARTITION clause. Both values are validated
    # (slug pattern, date), so the literal cannot carry quotes.
    validate_slug(instance)
    return f"tuple('{instance}', toDate('{day.isoformat()}'))"


def _staging_prefix(instance: str, day: dt.date) -> str:
    return f"{STAGING_PREFIX}{instance.replace('-', '_')}_{day:%Y%m%d}_"


def stored_account_counts(client, instance: str, day: dt.date) -> dict[str, int]:
    """Return the number of stored CDRs per account for one instance-day."""
    result = client.query(
        "SELECT account, count() FROM cdrs WHERE instance = {instance:String}"
        " AND call_day = {day:Date} GROUP BY account",
        parameters={"instance": instance, "day": day},
    )
    return {account: count for account, count in result.result_rows}


def stored_or_quarantined_accounts(client, instance: str, day: dt.date) -> dict[str, int]:
    """Return the CDRs stored or quarantined per account for one instance-day."""
    result = client.query(
        "SELECT account, count() FROM (SELECT account FROM cdrs WHERE instance = {instance:String}"
        " AND call_day = {day:Date} UNION ALL SELECT account FROM cdrs_quarantine"
        " WHERE instance = {instance:String} AND call_day = {day:Date}) GROUP BY account",
        parameters={"instance": instance, "day": day},
    )
    return {account: count for account, count in result.result_rows}


def drop_stale_staging(client, instance: str, day: dt.date) -> None:
    prefix = _staging_prefix(instance, day)
    names = client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase()"
        " AND startsWith(name, {prefix:String})",
        parameters={"prefix": prefix},
    ).result_rows
    for (name,) in names:
        logger.info("Dropping staging table %s left by an interrupted load", name)
        client.command(f"DROP TABLE IF EXISTS `{name}`")


@dataclass(frozen=True)
class LoadContext:
    """Values of a load that come from the pull rather than from the records."""

    instance: str
    instance_uuid: uuid.UUID
    timezone: str
    day: dt.date
    loaded_at: dt.datetime

    def parameters(self) -> dict[str, object]:
        return {
            "instance": self.instance,
            "instance_uuid": str(self.instance_uuid),
            "call_day": self.day,
            "loaded_at": self.loaded_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            "zone": self.timezone,
        }


def load_cdr_spool(
    client,
    *,
    context: LoadContext,
    spool_path: Path,
    allow_shrink: bool = False,
    settings: dict[str, object] | None = None,
    typed_decoder: bool = True,
    other_rows: int | None = None,
) -> LoadResult:
    """Replace the CDRs of one instance-day with the records of a spool.

    `spool_path` is a JSON spool (`cdr_stream.CdrSpool`) or, with the suffix
    `cdr_native.NATIVE_SUFFIX`, a Native spool (`cdr_native.NativeSpool`), whose `other_rows`
    may be passed to skip looking for rows left to the SQL decoding when it is 0. A JSON spool
    goes through the typed decoder first, unless `typed_decoder` is False or the C extension is
    not built; then ClickHouse decodes every record. Records that cannot be decoded go to
    `cdrs_quarantine` with their reason. `settings` are added to the SQL decoding INSERTs.

    Raises:
        CdrLoadError: the spool is not a JSON array of objects, a flowNo appears with different
            content, a flowNo is already stored under another call day, or an account would lose
            stored CDRs while `allow_shrink` is False. Nothing changes in `cdrs` then.
    """
    instance, day = context.instance, context.day
    settings = {**_INSERT_SETTINGS, **(settings or {})}
    drop_stale_staging(client, instance, day)
    staging = f"{_staging_prefix(instance, day)}{uuid.uuid4().hex[:12]}"
    tables = _StagingTables(
        decoded=f"{staging}_decoded",
        exact=f"{staging}_exact",
        quarantine=f"{staging}_quarantine",
        native=f"{staging}_native",
        staging=staging,
    )
    converted = spool_path.with_name(f"{spool_path.name}{cdr_native.NATIVE_SUFFIX}")
    try:
        native_path = None
        if spool_path.suffix == cdr_native.NATIVE_SUFFIX:
            native_path = spool_path
        elif typed_decoder and cdr_native.available():
            decoding = _decode_json_spool(spool_path, converted, context)
            if decoding is not None:
                native_path, other_rows = converted, decoding.other_rows
        client.command(staging_table_ddl(client, tables.quarantine, local_table("cdrs_quarantine")))
        if native_path is None:
            _stage_with_sql(client, tables, _JsonSpool(spool_path), None, context, settings)
        else:
            _stage_native(client, tables, native_path, other_rows, context, settings)

        result = _check_staging(client, staging, instance, day, allow_shrink)
        quarantined = int(client.command(f"SELECT count() FROM `{tables.quarantine}`") or 0)
        sample = [
            row[0]
            for row in client.query(
                f"SELECT reason FROM `{tables.quarantine}` ORDER BY account LIMIT {_SAMPLE_LIMIT}"
            ).result_rows
        ]
        partition = _partition_literal(instance, day)
        if quarantined:
            client.command(
                f"ALTER TABLE {local_table('cdrs_quarantine')} REPLACE PARTITION {partition}"
                f" FROM `{tables.quarantine}`"
            )
        else:
            client.command(
                f"ALTER TABLE {local_table('cdrs_quarantine')} DROP PARTITION {partition}"
            )
        _replace_partition(client, staging, partition, result.rows)
        return LoadResult(
            **{**result.__dict__, "quarantined": quarantined, "quarantine_sample": sample}
        )
    finally:
        for name in tables.names():
            client.command(f"DROP TABLE IF EXISTS `{name}`")
        converted.unlink(missing_ok=True)


@dataclass(frozen=True)
class _StagingTables:
    """Names of the tables of one load, all dropped when it ends."""

    decoded: str
    exact: str
    quarantine: str
    native: str
    staging: str

    def names(self) -> tuple[str, ...]:
        return (self.decoded, self.exact, self.quarantine, self.native, self.staging)


@dataclass(frozen=True)
class _JsonSpool:
    """Records for the SQL decoding in a JSON spool file."""

    path: Path


@dataclass(frozen=True)
class _JsonColumn:
    """Records for the SQL decoding in the `json` column of a table expression."""

    source: str


def _decode_json_spool(
    spool_path: Path, native_path: Path, context: LoadContext
) -> cdr_native.NativeDecoding | None:
    """Run the typed decoder over a JSON spool; None when it cannot read the spool."""
    try:
        decoding = cdr_native.decode_json_spool(spool_path, native_path)
    except cdr_native.SpoolFormatError as error:
        # ClickHouse's JSON reader then words the error for the whole spool, or accepts what the
        # stricter typed decoder rejected.
        logger.warning(
            "instance %s day %s: the typed decoder cannot read the spool (%s); ClickHouse decodes "
            "every record",
            context.instance,
            context.day,
            error,
        )
        return None
    logger.info(
        "instance %s day %s: the typed decoder decoded %d records and left %d to ClickHouse",
        context.instance,
        context.day,
        decoding.typed_rows,
        decoding.other_rows,
    )
    return decoding


def _stage_native(
    client,
    tables: _StagingTables,
    native_path: Path,
    other_rows: int | None,
    context: LoadContext,
    settings: dict[str, object],
) -> None:
    """Fill the staging table from a Native spool: its typed rows as they are, and the others
    through the SQL decoding."""
    if native_path.stat().st_size == 0:
        client.command(staging_table_ddl(client, tables.staging, local_table("cdrs")))
        return
    source = _native_source(client, native_path, tables.native)
    if other_rows is None:
        other_rows = int(client.command(f"SELECT count() FROM {source} WHERE NOT typed") or 0)
    if other_rows == 0:
        # The typed decoder decoded every record, so its rows are the staging table's.
        _create_unmerged_staging(client, tables.staging, local_table("cdrs"))
        _insert_typed(client, tables.staging, source, context, with_reason=False)
        return
    records = _JsonColumn(f"(SELECT raw AS json FROM {source} WHERE NOT typed)")
    _stage_with_sql(client, tables, records, source, context, settings)


def _native_source(client, native_path: Path, table: str) -> str:
    """Return a table expression of the Native spool's rows: file() on chDB, which reads the file
    in place, and on a server a table that the file is sent to first."""
    structure = cdr_native.structure()
    if _is_embedded(client):
        path = format_query_value(str(native_path), dt.UTC)
        return f"file({path}, 'Native', {format_query_value(structure, dt.UTC)})"

    # NOTE: this path (a ClickHouse server over HTTP) is not covered by the test suite, which
    # runs on chDB only.
    client.command(f"CREATE TABLE `{table}` ({structure}) ENGINE = MergeTree ORDER BY tuple()")
    with native_path.open("rb") as native:
        client.raw_insert(table, insert_block=native, fmt="Native")
    return f"`{table}`"


def _create_unmerged_staging(client, staging: str, source: str) -> None:
    """Create a staging table for `source` whose parts are not merged.

    The parts move into `source` as they are and are merged there in the background. Merging them
    in the staging table while it filled took a third of the load time of a 2M-CDR day on one core
    (bench/cdr_bench.py, chDB 4.4). A server that rejects SYSTEM STOP MERGES, for a user without
    that grant, merges them.
    """
    client.command(staging_table_ddl(client, staging, source))
    try:
        client.command(f"SYSTEM STOP MERGES `{staging}`")
    except DatabaseError as error:
        logger.info(
            "staging table %s merges its parts because SYSTEM STOP MERGES failed: %s",
            staging,
            error,
        )


def _insert_typed(client, table: str, source: str, context: LoadContext, with_reason: bool) -> None:
    """Insert the typed rows of a Native spool's table expression into `table`, with an empty
    `reason` column if `with_reason`."""
    select = typed_select(f"(SELECT * FROM {source} WHERE typed)", with_reason)
    client.command(
        f"INSERT INTO `{table}` {select}",
        parameters=context.parameters(),
        settings=_NATIVE_INSERT_SETTINGS,
    )


def _stage_with_sql(
    client,
    tables: _StagingTables,
    records: _JsonSpool | _JsonColumn,
    typed_source: str | None,
    context: LoadContext,
    settings: dict[str, object],
) -> None:
    """Fill the staging table with the `records` decoded by ClickHouse, plus the typed rows of
    the Native spool `typed_source` if given, and the quarantine table with the rejects."""
    decoded, exact, staging = tables.decoded, tables.exact, tables.staging
    # The fast SQL decoding writes every record, with its reason, into a copy of cdrs that has a
    # reason column; ClickHouse cannot send one INSERT to two tables more cheaply.
    client.command(staging_table_ddl(client, decoded, local_table("cdrs")))
    client.command(f"ALTER TABLE `{decoded}` ADD COLUMN reason String")
    if typed_source is not None:
        _insert_typed(client, decoded, typed_source, context, with_reason=True)
    _insert_records(client, decoded, records, context, settings)

    others = int(client.command(f"SELECT count() FROM `{decoded}` WHERE reason != ''") or 0)
    if others:
        _decode_exactly(client, decoded, exact, tables.quarantine, context, settings)
        _create_unmerged_staging(client, staging, local_table("cdrs"))
        for source in (decoded, exact):
            client.command(
                f"INSERT INTO `{staging}` SELECT * EXCEPT reason FROM `{source}` WHERE reason = ''",
                settings=settings,
            )
    else:
        # Every record decoded on the fast path: the table becomes the staging table.
        client.command(
            f"ALTER TABLE `{decoded}` DROP COLUMN reason", settings={"mutations_sync": 2}
        )
        client.command(f"RENAME TABLE `{decoded}` TO `{staging}`")


def _decode_exactly(
    client,
    decoded: str,
    exact: str,
    quarantine: str,
    context: LoadContext,
    settings: dict[str, object],
) -> None:
    """Decode the records the fast path passed on with every rule, and quarantine the rejects."""
    client.command(f"CREATE TABLE `{exact}` AS `{decoded}`")
    source = f"(SELECT raw AS json FROM `{decoded}` WHERE reason != '')"
    client.command(
        f"INSERT INTO `{exact}` {decode_select(source)}",
        parameters=context.parameters(),
        settings={**settings, **DECODE_SETTINGS},
    )
    client.command(
        f"INSERT INTO `{quarantine}` SELECT instance, call_day, account, reason, raw, loaded_at"
        f" FROM `{exact}` WHERE reason != ''"
    )


def _insert_records(
    client,
    table: str,
    records: _JsonSpool | _JsonColumn,
    context: LoadContext,
    settings: dict[str, object],
) -> None:
    """Decode records into `table` with the fast SQL decoding. A JSON spool is read by the file()
    table function on chDB, which reads the file in place, and sent as the body of an HTTP
    INSERT to a server."""
    parameters = context.parameters()
    settings = {**settings, **FAST_DECODE_SETTINGS}
    if isinstance(records, _JsonColumn):
        try:
            client.command(
                f"INSERT INTO `{table}` {fast_decode_select(records.source)}",
                parameters=parameters,
                settings=settings,
            )
        except Exception as error:
            raise _spool_error(context, error) from error
        return

    if _is_embedded(client):
        select = fast_decode_select("file({spool_path:String}, 'JSONAsString', 'json String')")
        try:
            client.command(
                f"INSERT INTO `{table}` {select}",
                parameters={**parameters, "spool_path": str(records.path)},
                settings=settings,
            )
        except Exception as error:
            raise _spool_error(context, error) from error
        return

    # NOTE: this path (a ClickHouse server over HTTP) is not covered by the test suite, which
    # runs on chDB only.
    select = _inline_parameters(
        fast_decode_select("input('json String')"), parameters, server_tz=dt.UTC
    )
    query = f"INSERT INTO `{table}` {select} FORMAT JSONAsString\n".encode()

    def body() -> Iterator[bytes]:
        yield query
        with records.path.open("rb") as spool:
            while chunk := spool.read(1024 * 1024):
                yield chunk

    try:
        client.raw_insert(None, insert_block=body(), settings=settings)
    except Exception as error:
        raise _spool_error(context, error) from error


def _spool_error(context: LoadContext, error: Exception) -> CdrLoadError:
    return CdrLoadError(
        f"instance {context.instance} day {context.day}: ClickHouse could not read the GetCdr "
        f"replies as JSON arrays of objects ({str(error)[:500]}); nothing was loaded"
    )


def _is_embedded(client) -> bool:
    return type(client).__module__.endswith("_chdbclient")


_PLACEHOLDER = re.compile(r"\{(\w+):([^{}]+)\}")


def _inline_parameters(query: str, parameters: dict[str, object], server_tz) -> str:
    """Replace `{name:Type}` placeholders with literals escaped by clickhouse-connect, cast to
    the placeholder's type as a bound parameter would be."""

    def literal(match: re.Match) -> str:
        value = format_query_value(parameters[match.group(1)], server_tz)
        return f"CAST({value} AS {match.group(2)})"

    return _PLACEHOLDER.sub(literal, query)


def load_instance_day(
    client,
    *,
    instance: str,
    day: dt.date,
    spool_path: Path,
    expected_rows: int,
    allow_shrink: bool = False,
) -> LoadResult:
    """Replace the CDRs of one instance-day with the JSONEachRow rows in `spool_path`.

    Identical records sent twice (same flowNo, same content) are stored once.

    Raises:
        CdrLoadError: a flowNo appears with different content, a flowNo is already stored under
            another call day, or an account would lose stored CDRs while `allow_shrink` is
            False. Nothing changes in `cdrs` then.
    """
    drop_stale_staging(client, instance, day)
    staging = f"{_staging_prefix(instance, day)}{uuid.uuid4().hex[:12]}"
    client.command(staging_table_ddl(client, staging, local_table("cdrs")))
    try:
        if expected_rows:
            with spool_path.open("rb") as spool:
                client.raw_insert(staging, insert_block=spool, fmt="JSONEachRow")
        staged = client.command(f"SELECT count() FROM `{staging}`")
        if int(staged) != expected_rows:
            raise CdrLoadError(
                f"instance {instance} day {day}: staged {staged} rows, expected {expected_rows}"
            )
        result = _check_staging(client, staging, instance, day, allow_shrink)
        partition = _partition_literal(instance, day)
        client.command(f"ALTER TABLE {local_table('cdrs_quarantine')} DROP PARTITION {partition}")
        _replace_partition(client, staging, partition, result.rows)
        return result
    finally:
        client.command(f"DROP TABLE IF EXISTS `{staging}`")


def _check_staging(
    client, staging: str, instance: str, day: dt.date, allow_shrink: bool
) -> LoadResult:
    """Run the checks that guard a replacement and summarise the staged rows."""
    summary = _summarise(client, staging)
    duplicates = 0
    repeated = summary[0] - summary[1]
    if repeated:
        _drop_identical_duplicates(client, staging, instance, day, repeated)
        duplicates = repeated
        summary = _summarise(client, staging)
    rows, _, accounts, answered, total_fee = summary
    _check_flow_numbers_unique(client, staging, instance, day)
    previous_rows = sum(stored_account_counts(client, instance, day).values())
    _check_no_shrink(client, staging, instance, day, allow_shrink)
    return LoadResult(
        rows=int(rows),
        accounts=int(accounts),
        answered_calls=int(answered),
        total_fee=Decimal(total_fee),
        duplicates_dropped=duplicates,
        previous_rows=previous_rows,
    )


def _replace_partition(client, staging: str, partition: str, rows: int) -> None:
    target = local_table("cdrs")
    if rows:
        client.command(f"ALTER TABLE {target} REPLACE PARTITION {partition} FROM `{staging}`")
    else:
        client.command(f"ALTER TABLE {target} DROP PARTITION {partition}")


def _summarise(client, staging: str) -> tuple[int, int, int, int, Decimal]:
    """Return rows, distinct flowNo values, accounts, answered calls and the fee sum of the
    staging table, in one scan."""
    rows, flows, accounts, answered, total_fee = client.query(
        f"SELECT count(), uniqExact(flow_no), uniqExact(account), countIf(hold_time > 0),"
        f" sum(fee) FROM `{staging}`"
    ).result_rows[0]
    return int(rows), int(flows), int(accounts), int(answered), Decimal(total_fee)


def _drop_identical_duplicates(
    client, staging: str, instance: str, day: dt.date, repeated: int
) -> None:
    """Drop the `repeated` extra rows of flowNo values whose rows are identical copies, keeping
    one row per flowNo. Raise CdrLoadError when rows of one flowNo differ."""
    # Rows of one record are equal in every column but loaded_at. The typed decoder stores `raw`
    # only for some records, so all columns are compared.
    conflicting = client.query(
        f"SELECT flow_no FROM `{staging}` GROUP BY flow_no"
        f" HAVING uniqExact(tuple(* EXCEPT (loaded_at))) > 1"
        f" ORDER BY flow_no LIMIT {_SAMPLE_LIMIT}"
    ).result_rows
    if conflicting:
        numbers = ", ".join(str(row[0]) for row in conflicting)
        raise CdrLoadError(
            f"instance {instance} day {day}: the switch sent different CDRs with the same "
            f"flowNo ({numbers}); nothing was loaded"
        )
    logger.warning(
        "instance %s day %s: dropping %d repeated copies of identical CDRs", instance, day, repeated
    )
    deduplicated = f"{staging}_dedup"
    client.command(staging_table_ddl(client, deduplicated, local_table("cdrs")))
    try:
        client.command(f"INSERT INTO `{deduplicated}` SELECT * FROM `{staging}` LIMIT 1 BY flow_no")
        client.command(f"TRUNCATE TABLE `{staging}`")
        client.command(f"INSERT INTO `{staging}` SELECT * FROM `{deduplicated}`")
    finally:
        client.command(f"DROP TABLE IF EXISTS `{deduplicated}`")


def _check_flow_numbers_unique(client, staging: str, instance: str, day: dt.date) -> None:
    clashes = client.query(
        f"SELECT flow_no, call_day FROM cdrs WHERE instance = {{instance:String}}"
        f" AND call_day != {{day:Date}} AND flow_no IN (SELECT flow_no FROM `{staging}`)"
        f" ORDER BY flow_no LIMIT {_SAMPLE_LIMIT}",
        parameters={"instance": instance, "day": day},
    ).result_rows
    if clashes:
        listed = ", ".join(f"{flow_no} (call day {other})" for flow_no, other in clashes)
        raise CdrLoadError(
            f"instance {instance} day {day}: flowNo already stored under another call day: "
            f"{listed}; a flowNo belongs to one call day, so nothing was loaded"
        )


def _check_no_shrink(client, staging: str, instance: str, day: dt.date, allow_shrink: bool) -> None:
    shrunk = client.query(
        f"SELECT stored.account, stored.n, pulled.n FROM"
        f" (SELECT account, count() AS n FROM cdrs WHERE instance = {{instance:String}}"
        f"  AND call_day = {{day:Date}} GROUP BY account) AS stored"
        f" LEFT JOIN (SELECT account, count() AS n FROM `{staging}` GROUP BY account) AS pulled"
        f" ON stored.account = pulled.account"
        f" WHERE pulled.n < stored.n ORDER BY stored.account",
        parameters={"instance": instance, "day": day},
    ).result_rows
    if not shrunk:
        return
    listed = ", ".join(f"{account!r} {pulled} < {stored}" for account, stored, pulled in shrunk)
    if allow_shrink:
        logger.warning(
            "instance %s day %s: re-pull has fewer CDRs than stored for %d accounts (allowed): %s",
            instance,
            day,
            len(shrunk),
            listed[:2000],
        )
        return
    total_pulled = int(client.command(f"SELECT count() FROM `{staging}`") or 0)
    purged = (
        " The switch returned no CDRs at all, so it has probably purged this day."
        if (total_pulled == 0)
        else ""
    )
    raise CdrLoadError(
        f"instance {instance} day {day}: the re-pull returned fewer CDRs than are stored for "
        f"{len(shrunk)} accounts (account pulled < stored: {listed[:2000]}).{purged} The stored "
        "rows were kept; rerun with the tag ykvos/allow-shrink=true to accept the smaller pull."
    )
