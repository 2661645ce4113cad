"""`account_detail_reports`: the switch's GetReportCustomerFee rows per instance and day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import psycopg

from ykvos_dagster.vos3000.reports import CALL_LEVEL_PREFIXES, CustomerFeeReport
from ykvos_dagster.warehouse.inventory_store import copy_rows

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_COLUMNS = (
    "instance",
    "report_day",
    "account",
    "account_name",
    "begin_time",
    "end_time",
    "cdr_count",
    "total_fee",
    "total_time",
    "total_suite_fee",
    "total_suite_fee_time",
    *(f"{prefix}_{part}" for prefix in CALL_LEVEL_PREFIXES for part in ("fee", "time", "count")),
    "fetched_at",
)


@dataclass(frozen=True)
class AccountTotals:
    """Calls, fee and billed seconds of one account on one day."""

    cdr_count: int
    fee: Decimal
    billed_seconds: int


def _instant(epoch_ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=epoch_ms)


def replace_report_day(
    connection: psycopg.Connection,
    instance: str,
    day: dt.date,
    reports: Sequence[CustomerFeeReport],
    accounts_requested: int,
    fetched_at: dt.datetime,
) -> int:
    """Replace the report rows of one instance-day and record the load, in the caller's
    transaction, and return the number of rows written.

    Raises:
        ValueError: an account has more than one row, which a one-day report should not have.
    """
    seen: set[str] = set()
    rows = []
    for report in reports:
        if report.account in seen:
            raise ValueError(
                f"instance {instance} day {day}: account {report.account!r} has more than one "
                "GetReportCustomerFee row for one day"
            )
        seen.add(report.account)
        per_level = [
            value for prefix in CALL_LEVEL_PREFIXES for value in report.by_call_level[prefix]
        ]
        rows.append(
            (
                instance,
                day,
                report.account,
                report.account_name,
                _instant(report.begin_ms),
                _instant(report.end_ms),
                report.cdr_count,
                report.total_fee,
                report.total_time,
                report.total_suite_fee,
                report.total_suite_fee_time,
                *per_level,
                fetched_at,
            )
        )
    connection.execute(
        "DELETE FROM account_detail_reports WHERE instance = %s AND report_day = %s",
        (instance, day),
    )
    written = copy_rows(connection, "account_detail_reports", _COLUMNS, rows)
    connection.execute(
        "INSERT INTO account_detail_report_loads (instance, report_day, accounts_requested,"
        " rows, loaded_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (instance, report_day)"
        " DO UPDATE SET accounts_requested = EXCLUDED.accounts_requested,"
        " rows = EXCLUDED.rows, loaded_at = EXCLUDED.loaded_at",
        (instance, day, accounts_requested, written, fetched_at),
    )
    return written


def stored_report_totals(
    connection: psycopg.Connection, instance: str, day: dt.date
) -> dict[str, AccountTotals] | None:
    """Return the stored report of one instance-day per account, or None if it was never
    pulled."""
    loaded = connection.execute(
        "SELECT 1 FROM account_detail_report_loads WHERE instance = %s AND report_day = %s",
        (instance, day),
    ).fetchone()
    if loaded is None:
        return None
    rows = connection.execute(
        "SELECT account, cdr_count, total_fee, total_time FROM account_detail_reports"
        " WHERE instance = %s AND report_day = %s",
        (instance, day),
    ).fetchall()
    return {
        account: AccountTotals(int(count), Decimal(fee), int(seconds))
        for account, count, fee, seconds in rows
    }
