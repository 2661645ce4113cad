"""GetReportCustomerFee: per-account usage totals of server-local days.

The switch computes the report from the same daily CDR tables that GetCdr reads, so its `cdrCount`
of an account-day is the number of CDRs a GetCdr request for that account and day returns. The CDR
pull uses it to skip idle accounts and to size GetCdr requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ykvos_dagster.vos3000.cdr import CdrDecodeError, parse_int, parse_money
from ykvos_dagster.vos3000.client import VosClient, format_day
from ykvos_dagster.vos3000.errors import VosDecodeError, VosError

INTERFACE = "GetReportCustomerFee"
# Accounts per report request; yk-vos sends 50, and the manual documents no maximum.
DEFAULT_BATCH_SIZE = 50
PERIOD_DAILY = 1

# Totals per callLevel: prefix of the report fields and the callLevel they sum.
CALL_LEVEL_PREFIXES = {"net": 1, "local": 2, "domestic": 4, "international": 5}


@dataclass(frozen=True)
class CustomerFeeReport:
    """One InfoReportCustomerFee row: an account's totals over one report bucket.

    Times are billed seconds (the sum of the CDRs' feeTime); money is Decimal(18, 6).
    """

    account: str
    account_name: str
    begin_ms: int
    end_ms: int
    cdr_count: int
    total_fee: Decimal
    total_time: int
    total_suite_fee: Decimal
    total_suite_fee_time: int
    # Per callLevel prefix ("net", "local", "domestic", "international"): (fee, time, count).
    by_call_level: dict[str, tuple[Decimal, int, int]]


def get_customer_fee_reports(
    client: VosClient,
    accounts: list[str],
    day: dt.date,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[CustomerFeeReport]:
    """Yield the daily report rows of `accounts` for one server-local day, `batch_size` accounts
    per request. Accounts without CDRs that day may have no row.

    Raises:
        VosError: a request failed; the message names the instance, the batch's accounts, the
            day and the retCode.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    for start in range(0, len(accounts), batch_size):
        batch = accounts[start : start + batch_size]
        payload = {
            "accounts": batch,
            "period": PERIOD_DAILY,
            "beginTime": format_day(day),
            "endTime": format_day(day),
        }
        try:
            reply = client.call(INTERFACE, payload)
        except VosError as error:
            raise error.with_context(account=",".join(batch), day=day) from error
        rows = reply.get("infoReportCustomerFees")
        if not isinstance(rows, list):
            raise VosDecodeError(
                "GetReportCustomerFee reply has no infoReportCustomerFees list",
                instance=client.endpoint.instance,
                interface=INTERFACE,
                account=",".join(batch),
                day=day,
            )
        for row in rows:
            try:
                yield parse_report_row(row)
            except CdrDecodeError as error:
                raise VosDecodeError(
                    f"invalid report row: {error}",
                    instance=client.endpoint.instance,
                    interface=INTERFACE,
                    account=",".join(batch),
                    day=day,
                ) from None


def cdr_counts(
    client: VosClient, accounts: list[str], day: dt.date, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[str, int]:
    """Return the report's CDR count per account for one day; accounts without a row count 0."""
    counts = dict.fromkeys(accounts, 0)
    for report in get_customer_fee_reports(client, accounts, day, batch_size):
        if report.account in counts:
            counts[report.account] += report.cdr_count
    return counts


def parse_report_row(row: Any) -> CustomerFeeReport:
    """Parse one InfoReportCustomerFee object; numbers may arrive as numeric strings.

    Raises:
        CdrDecodeError: a field is missing or has the wrong type.
    """
    if not isinstance(row, dict):
        raise CdrDecodeError(f"report row is a JSON {type(row).__name__}, not an object")

    def required(name: str) -> Any:
        value = row.get(name)
        if value is None:
            raise CdrDecodeError(f"report row of account {row.get('account')!r}: {name} is missing")
        return value

    def count(name: str) -> int:
        value = parse_int(required(name))
        if value < 0:
            raise CdrDecodeError(f"{name} {value} is negative")
        return value

    account = required("account")
    if not isinstance(account, str):
        raise CdrDecodeError(f"report row account {account!r} is not a string")
    by_level = {
        prefix: (
            parse_money(row.get(f"{prefix}Fee", 0)),
            count(f"{prefix}Time") if f"{prefix}Time" in row else 0,
            count(f"{prefix}Count") if f"{prefix}Count" in row else 0,
        )
        for prefix in CALL_LEVEL_PREFIXES
    }
    return CustomerFeeReport(
        account=account,
        account_name=str(row.get("accountName") or ""),
        begin_ms=parse_int(required("beginTime")),
        end_ms=parse_int(required("endTime")),
        cdr_count=count("cdrCount"),
        total_fee=parse_money(required("totalFee")),
        total_time=count("totalTime"),
        total_suite_fee=parse_money(row.get("totalSuiteFee", 0)),
        total_suite_fee_time=count("totalSuiteFeeTime") if "totalSuiteFeeTime" in row else 0,
        by_call_level=by_level,
    )
