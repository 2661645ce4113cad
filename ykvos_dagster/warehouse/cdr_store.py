"""Loading one instance-day of CDRs into ClickHouse atomically.

The rows go into a staging table first and replace the instance-day partition of `cdrs` with
`ALTER TABLE ... REPLACE PARTITION` (or `DROP PARTITION` for a day without calls). Both are atomic
in ClickHouse, so readers see the old rows or the new rows, never a mix, even if the process dies
in between. The next load of that instance-day drops a staging table left behind that way.

On a ClickHouse cluster (`YKVOS_CLICKHOUSE_CLUSTER`) every statement here works on the local
replicated table `cdrs_local` of the connected server, and its replicas copy the new partition.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ykvos_dagster.warehouse.cluster import local_table, staging_table_ddl
from ykvos_dagster.warehouse.registry import validate_slug

logger = logging.getLogger(__name__)

STAGING_PREFIX = "_staging_cdrs_"
_SAMPLE_LIMIT = 10


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
        f"SELECT account, count() FROM {local_table('cdrs')} WHERE instance = {{instance:String}}"
        " AND call_day = {day:Date} GROUP BY account",
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
    target = local_table("cdrs")
    client.command(staging_table_ddl(client, staging, target))
    try:
        if expected_rows:
            with spool_path.open("rb") as spool:
                client.raw_insert(staging, insert_block=spool, fmt="JSONEachRow")
        staged = client.command(f"SELECT count() FROM `{staging}`")
        if int(staged) != expected_rows:
            raise CdrLoadError(
                f"instance {instance} day {day}: staged {staged} rows, expected {expected_rows}"
            )

        duplicates = _drop_identical_duplicates(client, staging, instance, day)
        _check_flow_numbers_unique(client, staging, instance, day)
        previous_rows = sum(stored_account_counts(client, instance, day).values())
        _check_no_shrink(client, staging, instance, day, allow_shrink)

        summary = client.query(
            f"SELECT count(), uniqExact(account), countIf(hold_time > 0), sum(fee) FROM `{staging}`"
        ).result_rows[0]
        rows, accounts, answered, total_fee = summary
        partition = _partition_literal(instance, day)
        if rows:
            client.command(f"ALTER TABLE {target} REPLACE PARTITION {partition} FROM `{staging}`")
        else:
            client.command(f"ALTER TABLE {target} DROP PARTITION {partition}")
        return LoadResult(
            rows=int(rows),
            accounts=int(accounts),
            answered_calls=int(answered),
            total_fee=Decimal(total_fee),
            duplicates_dropped=duplicates,
            previous_rows=previous_rows,
        )
    finally:
        client.command(f"DROP TABLE IF EXISTS `{staging}`")


def _drop_identical_duplicates(client, staging: str, instance: str, day: dt.date) -> int:
    conflicting = client.query(
        f"SELECT flow_no FROM `{staging}` GROUP BY flow_no HAVING uniqExact(raw) > 1"
        f" ORDER BY flow_no LIMIT {_SAMPLE_LIMIT}"
    ).result_rows
    if conflicting:
        numbers = ", ".join(str(row[0]) for row in conflicting)
        raise CdrLoadError(
            f"instance {instance} day {day}: the switch sent different CDRs with the same "
            f"flowNo ({numbers}); nothing was loaded"
        )
    duplicates = int(client.command(f"SELECT count() - uniqExact(flow_no) FROM `{staging}`") or 0)
    if duplicates:
        logger.warning(
            "instance %s day %s: dropping %d repeated copies of identical CDRs",
            instance,
            day,
            duplicates,
        )
        deduplicated = f"{staging}_dedup"
        client.command(staging_table_ddl(client, deduplicated, local_table("cdrs")))
        try:
            client.command(
                f"INSERT INTO `{deduplicated}` SELECT * FROM `{staging}` LIMIT 1 BY flow_no"
            )
            client.command(f"TRUNCATE TABLE `{staging}`")
            client.command(f"INSERT INTO `{staging}` SELECT * FROM `{deduplicated}`")
        finally:
            client.command(f"DROP TABLE IF EXISTS `{deduplicated}`")
    return duplicates


def _check_flow_numbers_unique(client, staging: str, instance: str, day: dt.date) -> None:
    clashes = client.query(
        f"SELECT flow_no, call_day FROM {local_table('cdrs')} WHERE instance = {{instance:String}}"
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
        f" (SELECT account, count() AS n FROM {local_table('cdrs')}"
        f"  WHERE instance = {{instance:String}}"
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
