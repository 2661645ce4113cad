"""GetReportCustomerFee of the simulated switch: per-account totals of its own CDRs.

Request: `accounts` (string array), `period` (1 = one bucket per day, N > 1 = buckets of N days
from `beginTime`, -2 = calendar months), `beginTime` and `endTime` (`yyyyMMdd`, inclusive,
server-local days), all mandatory. A missing or invalid field gets retCode -10124, a range wider
than the switch's maximum span -10033, both with an empty `infoReportCustomerFees`.

Reply: one InfoReportCustomerFee row per account and bucket with CDRs, in request order. Its
`beginTime` and `endTime` are the bucket's bounds as UTC epoch milliseconds of server-local
midnights, end exclusive. The totals are sums over the CDRs that GetCdr returns for the account
and the bucket's days: `cdrCount`, `totalFee` (fee), `totalTime` (feeTime, billed seconds),
`totalSuiteFee`, `totalSuiteFeeTime`, and Fee/Time/Count per callLevel as `net` (1), `local` (2),
`domestic` (4) and `international` (5). Accounts that are unknown or have no CDRs in a bucket get
no row.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from decimal import Decimal

from ykvos_dagster.simulator.data import SimulatedSwitch

INTERFACE = "GetReportCustomerFee"
PERIOD_MONTH = -2
_LEVEL_PREFIXES = {1: "net", 2: "local", 4: "domestic", 5: "international"}
_ZERO = Decimal(0)

AccountDayTotals = dict[str, object]

# Totals per switch and (day, account). A switch's data never changes, so entries never go stale;
# they go with the switch.
_totals: weakref.WeakKeyDictionary[SimulatedSwitch, dict[tuple[dt.date, str], AccountDayTotals]]
_totals = weakref.WeakKeyDictionary()
_totals_lock = threading.Lock()


def account_day_totals(switch: SimulatedSwitch, day: dt.date, account: str) -> AccountDayTotals:
    """Return the report totals of one account-day, generating its CDRs once per switch."""
    with _totals_lock:
        cached = _totals.get(switch, {}).get((day, account))
    if cached is None:
        cached = sum_cdrs(switch.iter_cdrs(day, account))
        remember_totals(switch, day, account, cached)
    return cached


def remember_totals(
    switch: SimulatedSwitch, day: dt.date, account: str, totals: AccountDayTotals
) -> None:
    """Store the totals of an account-day computed elsewhere (for example while pre-generating)."""
    with _totals_lock:
        _totals.setdefault(switch, {})[(day, account)] = totals


def sum_cdrs(records) -> AccountDayTotals:
    """Sum InfoCdr records into the fields of an InfoReportCustomerFee row."""
    totals: dict[str, object] = {
        "accountName": "",
        "cdrCount": 0,
        "totalFee": _ZERO,
        "totalTime": 0,
        "totalSuiteFee": _ZERO,
        "totalSuiteFeeTime": 0,
    }
    for prefix in _LEVEL_PREFIXES.values():
        totals[f"{prefix}Fee"] = _ZERO
        totals[f"{prefix}Time"] = 0
        totals[f"{prefix}Count"] = 0
    for record in records:
        totals["accountName"] = record["accountName"]
        totals["cdrCount"] += 1
        totals["totalFee"] += record["fee"]
        totals["totalTime"] += record["feeTime"]
        totals["totalSuiteFee"] += record["suiteFee"]
        totals["totalSuiteFeeTime"] += record["suiteFeeTime"]
        prefix = _LEVEL_PREFIXES.get(record["callLevel"])
        if prefix is not None:
            totals[f"{prefix}Fee"] += record["fee"]
            totals[f"{prefix}Time"] += record["feeTime"]
            totals[f"{prefix}Count"] += 1
    return totals


def _add(into: dict[str, object], totals: AccountDayTotals) -> None:
    for key, value in totals.items():
        if key == "accountName":
            if value:
                into[key] = value
        else:
            into[key] = into.get(key, 0) + value


def _buckets(begin: dt.date, end: dt.date, period: int) -> list[tuple[dt.date, dt.date]]:
    """Return the inclusive (first, last) days of each bucket of [begin, end]."""
    buckets = []
    first = begin
    while first <= end:
        if period == PERIOD_MONTH:
            next_month = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            last = min(end, next_month - dt.timedelta(days=1))
        else:
            last = min(end, first + dt.timedelta(days=period - 1))
        buckets.append((first, last))
        first = last + dt.timedelta(days=1)
    return buckets


def report_customer_fee(
    switch: SimulatedSwitch,
    accounts: list[str],
    begin: dt.date,
    end: dt.date,
    period: int,
) -> list[dict]:
    """Return the InfoReportCustomerFee rows of `accounts` over [begin, end] (see module)."""
    known = set(switch.accounts())
    rows = []
    for first, last in _buckets(begin, end, period):
        begin_ms = switch.day_bounds_ms(first)[0]
        end_ms = switch.day_bounds_ms(last)[1]
        days = [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)]
        for account in dict.fromkeys(accounts):
            if account not in known:
                continue
            row: dict[str, object] = {}
            for day in days:
                _add(row, account_day_totals(switch, day, account))
            if not row.get("cdrCount"):
                continue
            rows.append(
                {
                    "beginTime": begin_ms,
                    "endTime": end_ms,
                    "account": account,
                    "accountName": row.pop("accountName", ""),
                    **row,
                }
            )
    return rows
