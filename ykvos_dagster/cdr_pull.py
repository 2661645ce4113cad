"""Pulling one instance-day of CDRs from a VOS3000 switch into ClickHouse, without Dagster.

The accounts pulled are those GetAllCustomers lists now plus those that already have rows stored
for that day, one GetCdr request per account. Replies are decoded account by account into a
JSONEachRow spool file on disk, so memory does not grow with the number of accounts. The
ClickHouse engine is opened only to read the stored counts and, after the last request, to load
the spool.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson

from ykvos_dagster.vos3000.cdr import CdrDecodeError, decode_cdr
from ykvos_dagster.vos3000.client import VosClient
from ykvos_dagster.vos3000.days import day_has_ended
from ykvos_dagster.vos3000.errors import VosDecodeError
from ykvos_dagster.warehouse.cdr_store import load_instance_day, stored_account_counts
from ykvos_dagster.warehouse.registry import VosInstance

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullResult:
    instance: str
    day: dt.date
    rows: int
    accounts_requested: int
    accounts_with_cdrs: int
    answered_calls: int
    total_fee: Decimal
    duplicates_dropped: int
    previous_rows: int
    requests: int
    api_seconds: float
    load_seconds: float


def check_partition_day(
    instance: VosInstance, day: dt.date, now: dt.datetime | None = None
) -> None:
    """Raise ValueError for a day that cannot be pulled yet or is before the instance's data."""
    if day < instance.first_day:
        raise ValueError(
            f"instance {instance.slug}: day {day} is before its first day with data "
            f"({instance.first_day}); change first_day with `ykvos instances add --update` "
            "if the switch keeps older CDRs"
        )
    if not day_has_ended(day, instance.zone, now):
        raise ValueError(
            f"instance {instance.slug}: day {day} has not ended yet in {instance.timezone}; "
            "a call day is pulled once it is over in the switch's own time zone"
        )


def pull_cdr_day(
    *,
    instance: VosInstance,
    day: dt.date,
    client: VosClient,
    open_clickhouse: Callable[[], AbstractContextManager],
    allow_shrink: bool = False,
    spool_dir: Path | None = None,
    log: logging.Logger | None = None,
    now: dt.datetime | None = None,
) -> PullResult:
    """Pull every account's CDRs of one server-local day and replace that instance-day.

    Raises:
        VosError: a request failed; the message names instance, account, day and retCode.
        CdrLoadError: the load would lose or double-count data.
        ValueError: the day cannot be pulled (not ended, before the first day).
    """
    log = log or logger
    check_partition_day(instance, day, now)
    zone = instance.zone

    listed = client.get_all_accounts()
    with open_clickhouse() as ch:
        stored = stored_account_counts(ch, instance.slug, day)
    accounts = sorted(set(listed) | set(stored))
    unlisted = len(set(stored) - set(listed))
    log.info(
        "instance %s day %s: pulling %d accounts (%d listed now, %d only in stored rows)",
        instance.slug,
        day,
        len(accounts),
        len(listed),
        unlisted,
    )

    fixed_columns = orjson.dumps(
        {
            "instance": instance.slug,
            "instance_uuid": str(instance.uuid),
            "call_day": day.isoformat(),
            "loaded_at": f"{time.time():.3f}",
        }
    )[1:-1]
    rows = 0
    accounts_with_cdrs = 0
    progress_step = max(1, len(accounts) // 10)
    with tempfile.NamedTemporaryFile(
        prefix=f"cdrs-{instance.slug}-{day:%Y%m%d}-", suffix=".jsonl", dir=spool_dir
    ) as spool:
        for index, account in enumerate(accounts, start=1):
            records = client.get_cdrs([account], day)
            if records:
                accounts_with_cdrs += 1
            for record in records:
                try:
                    row = decode_cdr(record, zone)
                except CdrDecodeError as error:
                    raise VosDecodeError(
                        f"invalid CDR: {error}",
                        instance=instance.slug,
                        interface="GetCdr",
                        account=account,
                        day=day,
                    ) from None
                spool.write(orjson.dumps(row)[:-1] + b"," + fixed_columns + b"}\n")
            rows += len(records)
            if index % progress_step == 0 or index == len(accounts):
                log.info(
                    "instance %s day %s: %d/%d accounts, %d CDRs, %.1f s in requests",
                    instance.slug,
                    day,
                    index,
                    len(accounts),
                    rows,
                    client.request_seconds,
                )
        spool.flush()

        started = time.monotonic()
        with open_clickhouse() as ch:
            result = load_instance_day(
                ch,
                instance=instance.slug,
                day=day,
                spool_path=Path(spool.name),
                expected_rows=rows,
                allow_shrink=allow_shrink,
            )
        load_seconds = time.monotonic() - started

    log.info(
        "instance %s day %s: loaded %d CDRs of %d accounts in %.1f s (previously %d rows)",
        instance.slug,
        day,
        result.rows,
        result.accounts,
        load_seconds,
        result.previous_rows,
    )
    return PullResult(
        instance=instance.slug,
        day=day,
        rows=result.rows,
        accounts_requested=len(accounts),
        accounts_with_cdrs=accounts_with_cdrs,
        answered_calls=result.answered_calls,
        total_fee=result.total_fee,
        duplicates_dropped=result.duplicates_dropped,
        previous_rows=result.previous_rows,
        requests=client.requests,
        api_seconds=client.request_seconds,
        load_seconds=load_seconds,
    )


def record_load(connection, result: PullResult, run_id: str | None) -> None:
    """Record a successful load in PostgreSQL `cdr_loads`."""
    connection.execute(
        "INSERT INTO cdr_loads (instance, call_day, rows, accounts, answered_calls, total_fee,"
        " run_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            result.instance,
            result.day,
            result.rows,
            result.accounts_with_cdrs,
            result.answered_calls,
            result.total_fee,
            run_id,
        ),
    )
