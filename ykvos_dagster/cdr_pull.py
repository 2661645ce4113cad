"""Pulling one instance-day of CDRs from a VOS3000 switch into ClickHouse, without Dagster.

The accounts pulled are those GetAllCustomers lists now plus those that already have rows stored
(or quarantined) for that day. Before the GetCdr requests, GetReportCustomerFee gives each
account's CDR count of the day, 50 accounts per request. With that count the pull

- skips an account that the switch reports without CDRs and that has nothing stored, and
- puts several small accounts into one GetCdr request, up to a row budget; an account at or above
  the budget is requested alone.

Both can be turned off per instance (`skip_idle_accounts`, `batch_accounts`); with both off, the
pull sends one GetCdr per account and no report request. Replies stream to a spool file on disk
(`vos3000.cdr_stream`), so memory does not grow with the number of accounts or the size of a
reply. ClickHouse decodes the spool after the last request; the embedded engine is opened only to
read the stored counts and to load.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ykvos_dagster.vos3000 import cdr_native, reports
from ykvos_dagster.vos3000.cdr_stream import CdrSpool
from ykvos_dagster.vos3000.client import VosClient
from ykvos_dagster.vos3000.days import day_has_ended
from ykvos_dagster.warehouse.cdr_store import (
    LoadContext,
    load_cdr_spool,
    stored_or_quarantined_accounts,
)
from ykvos_dagster.warehouse.pull_progress import SPOOL_NAME, PullProgress, request_key
from ykvos_dagster.warehouse.registry import VosInstance

logger = logging.getLogger(__name__)

QUARANTINE_SHARE_ENV = "YKVOS_QUARANTINE_MAX_SHARE"
DEFAULT_QUARANTINE_MAX_SHARE = 0.001
# GetCdr documents no maximum number of accounts; this keeps request bodies small.
MAX_ACCOUNTS_PER_REQUEST = 50


def quarantine_max_share() -> float:
    """Return the share of an instance-day's records that may be quarantined before its
    partition fails: `YKVOS_QUARANTINE_MAX_SHARE`, default 0.001 (0.1%)."""
    raw = os.environ.get(QUARANTINE_SHARE_ENV)
    if not raw:
        return DEFAULT_QUARANTINE_MAX_SHARE
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"{QUARANTINE_SHARE_ENV}={raw!r} is not a number; use a share such as 0.001"
        ) from None
    if not 0 <= value <= 1:
        raise ValueError(f"{QUARANTINE_SHARE_ENV} must be between 0 and 1, got {raw!r}")
    return value


@dataclass(frozen=True)
class PullOptions:
    """Options that plan an instance's GetCdr requests (see the module docstring)."""

    skip_idle_accounts: bool = True
    batch_accounts: bool = True
    batch_max_rows: int = 5000
    report_batch_size: int = reports.DEFAULT_BATCH_SIZE
    max_accounts_per_request: int = MAX_ACCOUNTS_PER_REQUEST

    @classmethod
    def for_instance(cls, instance: VosInstance) -> PullOptions:
        return cls(
            skip_idle_accounts=instance.skip_idle_accounts,
            batch_accounts=instance.batch_accounts,
            batch_max_rows=instance.batch_max_rows,
        )

    @property
    def needs_report(self) -> bool:
        return self.skip_idle_accounts or self.batch_accounts


def plan_requests(
    accounts: list[str],
    reported: dict[str, int] | None,
    stored: dict[str, int],
    options: PullOptions,
) -> list[list[str]]:
    """Group `accounts` into the account lists of GetCdr requests.

    `reported` is the report's CDR count per account (None without a report) and `stored` the
    rows stored or quarantined per account. An account is skipped only if it is reported with 0
    CDRs and has nothing stored. Accounts are packed in order while the sum of their expected
    rows (the larger of reported and stored) stays within the row budget.
    """
    if reported is None or not options.needs_report:
        return [[account] for account in accounts]

    def idle(account: str) -> bool:
        return reported.get(account, 0) == 0 and not stored.get(account)

    pulled = [a for a in accounts if not (options.skip_idle_accounts and idle(a))]
    if not options.batch_accounts:
        return [[account] for account in pulled]

    requests: list[list[str]] = []
    current: list[str] = []
    current_rows = 0
    for account in pulled:
        rows = max(reported.get(account, 0), stored.get(account, 0))
        if rows >= options.batch_max_rows:
            requests.append([account])
            continue
        if current and (
            current_rows + rows > options.batch_max_rows
            or len(current) >= options.max_accounts_per_request
        ):
            requests.append(current)
            current, current_rows = [], 0
        current.append(account)
        current_rows += rows
    if current:
        requests.append(current)
    return requests


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
    accounts_listed: int = 0
    accounts_skipped: int = 0
    cdr_requests: int = 0
    report_requests: int = 0
    quarantined: int = 0
    quarantine_sample: list[str] = field(default_factory=list)
    reply_bytes: int = 0
    requests_resumed: int = 0

    @property
    def requests_one_per_account(self) -> int:
        """Requests the same pull needs with one GetCdr per account and no report."""
        return self.requests - self.cdr_requests - self.report_requests + self.accounts_listed

    @property
    def quarantine_share(self) -> float:
        total = self.rows + self.quarantined
        return self.quarantined / total if total else 0.0


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
    options: PullOptions | None = None,
    clickhouse_settings: dict[str, object] | None = None,
    progress: PullProgress | None = None,
    full_repull: bool = False,
    run_id: str | None = None,
) -> PullResult:
    """Pull every account's CDRs of one server-local day and replace that instance-day.

    `options` defaults to the instance's own; `clickhouse_settings` go to the decoding INSERT.
    With `progress`, the spool is kept and every finished request recorded, so that a retry after
    a failure skips the requests already done, unless `full_repull` is set.

    Raises:
        VosError: a request failed; the message names instance, account(s), day and retCode.
        CdrLoadError: the load would lose or double-count data.
        ValueError: the day cannot be pulled (not ended, before the first day).
    """
    log = log or logger
    check_partition_day(instance, day, now)
    options = options or PullOptions.for_instance(instance)

    listed = client.get_all_accounts()
    with open_clickhouse() as ch:
        stored = stored_or_quarantined_accounts(ch, instance.slug, day)
    accounts = sorted(set(listed) | set(stored))
    reported = None
    if options.needs_report and accounts:
        reported = reports.cdr_counts(client, accounts, day, options.report_batch_size)
    requests = plan_requests(accounts, reported, stored, options)
    requested = sum(len(batch) for batch in requests)
    log.info(
        "instance %s day %s: %d accounts (%d listed now, %d only in stored rows), %d to pull in "
        "%d GetCdr requests, %d skipped as idle",
        instance.slug,
        day,
        len(accounts),
        len(listed),
        len(set(stored) - set(listed)),
        requested,
        len(requests),
        len(accounts) - requested,
    )

    with _spool_folder(progress, instance, day, spool_dir) as folder:
        spool, done = _open_spool(progress, folder, full_repull)
        if done:
            log.info(
                "instance %s day %s: resuming after %d GetCdr requests of an earlier attempt",
                instance.slug,
                day,
                len(done),
            )
        reply_bytes = 0
        progress_step = max(1, len(requests) // 10)
        resumed = 0
        try:
            for index, batch in enumerate(requests, start=1):
                if request_key(batch) in done:
                    resumed += 1
                    continue
                reply_bytes += client.stream_cdrs(batch, day, spool)
                if progress is not None:
                    spool.flush()
                    progress.record(batch, spool.mark(), run_id)
                if index % progress_step == 0 or index == len(requests):
                    log.info(
                        "instance %s day %s: %d/%d GetCdr requests, %.1f MB of replies, "
                        "%.1f s in requests",
                        instance.slug,
                        day,
                        index,
                        len(requests),
                        reply_bytes / 1e6,
                        client.request_seconds,
                    )
        finally:
            spool.close()

        started = time.monotonic()
        context = LoadContext(
            instance=instance.slug,
            instance_uuid=instance.uuid,
            timezone=instance.timezone,
            day=day,
            loaded_at=dt.datetime.now(dt.UTC),
        )
        with open_clickhouse() as ch:
            result = load_cdr_spool(
                ch,
                context=context,
                spool_path=spool.path,
                allow_shrink=allow_shrink,
                settings=clickhouse_settings,
                other_rows=getattr(spool, "other_rows", None),
            )
        load_seconds = time.monotonic() - started
        if progress is not None:
            progress.clear()

    log.info(
        "instance %s day %s: loaded %d CDRs of %d accounts in %.1f s (previously %d rows), "
        "%d quarantined",
        instance.slug,
        day,
        result.rows,
        result.accounts,
        load_seconds,
        result.previous_rows,
        result.quarantined,
    )
    if result.quarantined:
        log.warning(
            "instance %s day %s: %d records quarantined in cdrs_quarantine, for example: %s",
            instance.slug,
            day,
            result.quarantined,
            "; ".join(result.quarantine_sample[:3]),
        )
    return PullResult(
        instance=instance.slug,
        day=day,
        rows=result.rows,
        accounts_requested=requested,
        accounts_with_cdrs=result.accounts,
        answered_calls=result.answered_calls,
        total_fee=result.total_fee,
        duplicates_dropped=result.duplicates_dropped,
        previous_rows=result.previous_rows,
        requests=client.requests,
        api_seconds=client.request_seconds,
        load_seconds=load_seconds,
        accounts_listed=len(accounts),
        accounts_skipped=len(accounts) - requested,
        cdr_requests=client.requests_by_interface["GetCdr"],
        report_requests=client.requests_by_interface[reports.INTERFACE],
        quarantined=result.quarantined,
        quarantine_sample=result.quarantine_sample,
        reply_bytes=reply_bytes,
        requests_resumed=resumed,
    )


def record_load(connection, result: PullResult, run_id: str | None) -> None:
    """Record a successful load in PostgreSQL `cdr_loads`."""
    connection.execute(
        "INSERT INTO cdr_loads (instance, call_day, rows, accounts, answered_calls, total_fee,"
        " run_id, quarantined) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            result.instance,
            result.day,
            result.rows,
            result.accounts_with_cdrs,
            result.answered_calls,
            result.total_fee,
            run_id,
            result.quarantined,
        ),
    )


@contextmanager
def _spool_folder(
    progress: PullProgress | None, instance: VosInstance, day: dt.date, spool_dir: Path | None
) -> Iterator[Path]:
    """Yield the folder of the spool: the pull's own folder when progress is recorded (it stays
    after a failure), otherwise a temporary one."""
    if progress is not None:
        progress.folder.mkdir(parents=True, exist_ok=True)
        yield progress.folder
        return
    with tempfile.TemporaryDirectory(
        prefix=f"cdrs-{instance.slug}-{day:%Y%m%d}-", dir=spool_dir
    ) as folder:
        yield Path(folder)


def _open_spool(
    progress: PullProgress | None, folder: Path, full_repull: bool
) -> tuple[CdrSpool | cdr_native.NativeSpool, frozenset[str]]:
    """Open the spool: Native where the typed decoder is built, so that replies are decoded as
    they arrive, and JSON for the SQL decoding otherwise."""
    spool_class = cdr_native.NativeSpool if cdr_native.available() else CdrSpool
    if progress is None:
        return spool_class(folder / SPOOL_NAME), frozenset()
    point = None if full_repull else progress.resume_point()
    if point is None:
        progress.start()
        return spool_class(progress.spool_path), frozenset()
    return spool_class.resume(progress.spool_path, point.mark), point.done
