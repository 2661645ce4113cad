"""GetReportCustomerFee: the switch's own per-account usage totals of a server-local day.

The report counts the CDRs that the switch filed under the day, the fees charged and the billed
seconds (`totalTime`), per account, with a split by call level. It is the reference against
which the pulled CDRs are reconciled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from ykvos_dagster.vos3000 import fields
from ykvos_dagster.vos3000.client import format_day
from ykvos_dagster.vos3000.errors import VosDecodeError, VosError
from ykvos_dagster.vos3000.inventory import InventoryApi

# Accounts per request. The manual documents no maximum, and the older platform sent 50.
REPORT_BATCH_SIZE = 50
# `period` of the request: the bucket size in days.
DAILY_PERIOD = 1

_LEVELS = ("net", "local", "domestic", "international")


@dataclass(frozen=True)
class CustomerFeeReport:
    """One account's totals for one server-local day. Times are seconds, money is in the
    instance's currency."""

    account: str
    account_name: str | None
    begin_time: dt.datetime | None
    end_time: dt.datetime | None
    cdr_count: int
    total_fee: Decimal
    total_time: int
    total_suite_fee: Decimal | None
    total_suite_fee_time: int | None
    net_fee: Decimal | None
    net_time: int | None
    net_count: int | None
    local_fee: Decimal | None
    local_time: int | None
    local_count: int | None
    domestic_fee: Decimal | None
    domestic_time: int | None
    domestic_count: int | None
    international_fee: Decimal | None
    international_time: int | None
    international_count: int | None
    raw: dict = field(repr=False)


def _required(value, key: str, expected: str):
    if value is None:
        raise fields.FieldError(key, None, expected)
    return value


def decode_customer_fee_report(record: dict) -> CustomerFeeReport:
    per_level = {}
    for level in _LEVELS:
        per_level[f"{level}_fee"] = fields.decimal(record, f"{level}Fee")
        per_level[f"{level}_time"] = fields.integer(record, f"{level}Time")
        per_level[f"{level}_count"] = fields.integer(record, f"{level}Count")
    return CustomerFeeReport(
        account=fields.required_text(record, "account"),
        account_name=fields.text(record, "accountName"),
        begin_time=fields.instant(record, "beginTime"),
        end_time=fields.instant(record, "endTime"),
        cdr_count=_required(fields.integer(record, "cdrCount"), "cdrCount", "an integer"),
        total_fee=_required(fields.decimal(record, "totalFee"), "totalFee", "a number"),
        total_time=_required(fields.integer(record, "totalTime"), "totalTime", "an integer"),
        total_suite_fee=fields.decimal(record, "totalSuiteFee"),
        total_suite_fee_time=fields.integer(record, "totalSuiteFeeTime"),
        raw=record,
        **per_level,
    )


def customer_fee_reports(
    api: InventoryApi, accounts: list[str], day: dt.date, *, batch_size: int = REPORT_BATCH_SIZE
) -> list[CustomerFeeReport]:
    """Return the report rows of `accounts` for one server-local day, one per account.

    Raises:
        VosError: a request failed; the message names the instance, accounts and day.
        VosDecodeError: a row is invalid, or an account has more than one row for the day.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    reports: dict[str, CustomerFeeReport] = {}
    for start in range(0, len(accounts), batch_size):
        batch = accounts[start : start + batch_size]
        payload = {
            "accounts": batch,
            "period": DAILY_PERIOD,
            "beginTime": format_day(day),
            "endTime": format_day(day),
        }
        try:
            rows = api.decode(
                "GetReportCustomerFee",
                api.records("GetReportCustomerFee", payload, "infoReportCustomerFees"),
                decode_customer_fee_report,
            )
        except VosError as error:
            account = batch[0] if len(batch) == 1 else f"{batch[0]} .. {batch[-1]}"
            raise error.with_context(account=account, day=day) from error
        for row in rows:
            if row.account in reports:
                raise VosDecodeError(
                    "account has more than one report row for one day",
                    instance=api.instance,
                    interface="GetReportCustomerFee",
                    account=row.account,
                    day=day,
                )
            reports[row.account] = row
    return list(reports.values())
