"""Reconciliation of pulled CDRs against the switch's own daily account report, without Dagster.

For one instance and call day, the CDR count, total fee and billed seconds of each account in
ClickHouse `cdrs` are compared with GetReportCustomerFee's `cdrCount`, `totalFee` and
`totalTime`. Counts and seconds must be equal. Fees may differ by a rounding tolerance, because
the switch sums doubles while `cdrs` keeps exact decimals. An account present on one side only
is compared with zeros.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ykvos_dagster.vos3000.reports import CustomerFeeReport
from ykvos_dagster.warehouse.account_reports import AccountTotals

FEE_TOLERANCE_ENV = "YKVOS_RECONCILE_FEE_TOLERANCE"
DEFAULT_FEE_TOLERANCE = Decimal("0.01")
_ZERO = AccountTotals(0, Decimal(0), 0)


def fee_tolerance() -> Decimal:
    """Return the largest fee difference per account and day that still counts as equal."""
    raw = os.environ.get(FEE_TOLERANCE_ENV)
    if not raw:
        return DEFAULT_FEE_TOLERANCE
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{FEE_TOLERANCE_ENV}={raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{FEE_TOLERANCE_ENV} must be a number >= 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class AccountDifference:
    account: str
    cdrs: AccountTotals
    report: AccountTotals

    @property
    def fee_difference(self) -> Decimal:
        return self.cdrs.fee - self.report.fee


@dataclass(frozen=True)
class Reconciliation:
    accounts_compared: int
    differences: list[AccountDifference]
    cdr_totals: AccountTotals
    report_totals: AccountTotals

    @property
    def passed(self) -> bool:
        return not self.differences


def _sum(totals: Iterable[AccountTotals]) -> AccountTotals:
    count, fee, seconds = 0, Decimal(0), 0
    for item in totals:
        count += item.cdr_count
        fee += item.fee
        seconds += item.billed_seconds
    return AccountTotals(count, fee, seconds)


def report_totals(reports: Iterable[CustomerFeeReport]) -> dict[str, AccountTotals]:
    return {
        report.account: AccountTotals(report.cdr_count, report.total_fee, report.total_time)
        for report in reports
    }


def cdr_totals_by_account(client, instance: str, day: dt.date) -> dict[str, AccountTotals]:
    """Return count(), sum(fee) and sum(fee_time) per account of one instance-day in `cdrs`."""
    result = client.query(
        "SELECT account, count(), sum(fee), sum(fee_time) FROM cdrs"
        " WHERE instance = {instance:String} AND call_day = {day:Date} GROUP BY account",
        parameters={"instance": instance, "day": day},
    )
    return {
        account: AccountTotals(int(count), Decimal(fee), int(seconds))
        for account, count, fee, seconds in result.result_rows
    }


def reconcile(
    cdrs: Mapping[str, AccountTotals],
    report: Mapping[str, AccountTotals],
    tolerance: Decimal = DEFAULT_FEE_TOLERANCE,
) -> Reconciliation:
    """Compare per-account totals. Accounts with zero calls on both sides are equal."""
    differences = []
    accounts = sorted(set(cdrs) | set(report))
    for account in accounts:
        ours = cdrs.get(account, _ZERO)
        theirs = report.get(account, _ZERO)
        if (
            ours.cdr_count != theirs.cdr_count
            or ours.billed_seconds != theirs.billed_seconds
            or abs(ours.fee - theirs.fee) > tolerance
        ):
            differences.append(AccountDifference(account, ours, theirs))
    return Reconciliation(
        accounts_compared=len(accounts),
        differences=differences,
        cdr_totals=_sum(cdrs.values()),
        report_totals=_sum(report.values()),
    )


def differences_markdown(differences: list[AccountDifference], limit: int = 50) -> str:
    """Return a Markdown table of the first `limit` differing accounts."""
    lines = [
        "| account | CDRs | report CDRs | fee | report fee | billed s | report billed s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for difference in differences[:limit]:
        ours, theirs = difference.cdrs, difference.report
        account = difference.account.replace("|", "\\|")
        lines.append(
            f"| {account} | {ours.cdr_count} | {theirs.cdr_count} | {ours.fee} | {theirs.fee}"
            f" | {ours.billed_seconds} | {theirs.billed_seconds} |"
        )
    if len(differences) > limit:
        lines.append(f"\n{len(differences) - limit} more accounts differ.")
    return "\n".join(lines)
