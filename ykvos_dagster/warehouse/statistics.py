"""Call statistics per instance for a period of call days, at the `vos`, `account` and `gateway`
levels, computed in ClickHouse in one pass and written to PostgreSQL `cdr_statistics`.

Formulas, per level and period: total calls = count(); connected calls = countIf(hold_time > 0);
total duration = sumIf(hold_time, hold_time > 0); billed seconds = sum(fee_time); total fee =
sum(fee) over all calls; connection rate = connected / total x 100 rounded half up to 2 places,
0 without calls. Periods are half-open windows of call days [start, end). Rows with an empty
account or routing gateway are left out of the `account` and `gateway` levels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ykvos_dagster.vos3000.days import local_today
from ykvos_dagster.warehouse.registry import VosInstance

PERIOD_TYPES = ("day", "month", "quarter", "year")
STATISTIC_TYPES = ("vos", "account", "gateway")


def period_start_for(period_type: str, day: dt.date) -> dt.date:
    """Return the first day of the period of type `period_type` that contains `day`."""
    if period_type == "day":
        return day
    if period_type == "month":
        return day.replace(day=1)
    if period_type == "quarter":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if period_type == "year":
        return dt.date(day.year, 1, 1)
    raise ValueError(f"unknown period type {period_type!r}; expected one of {PERIOD_TYPES}")


def period_window(period_type: str, start: dt.date) -> tuple[dt.date, dt.date]:
    """Return the half-open window [start, end) of the period that begins on `start`."""
    if period_start_for(period_type, start) != start:
        raise ValueError(f"{start} is not the first day of a {period_type}")
    if period_type == "day":
        return start, start + dt.timedelta(days=1)
    months = {"month": 1, "quarter": 3, "year": 12}[period_type]
    month_index = start.month - 1 + months
    end = dt.date(start.year + month_index // 12, month_index % 12 + 1, 1)
    return start, end


@dataclass(frozen=True)
class StatisticRow:
    statistic_type: str
    dimension_value: str
    dimension_name: str
    total_calls: int
    connected_calls: int
    total_duration: int
    total_billed_seconds: int
    total_fee: Decimal

    @property
    def connection_rate(self) -> Decimal:
        return connection_rate(self.connected_calls, self.total_calls)


def connection_rate(connected: int, total: int) -> Decimal:
    """Return connected / total x 100, rounded half up to 2 places; 0 when there are no calls."""
    if total == 0:
        return Decimal("0.00")
    return (Decimal(connected) * 100 / Decimal(total)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


# One scan of the period's rows yields all three levels through GROUPING SETS; grouping(x) is 0
# when x belongs to the row's grouping set.
_STATISTICS_QUERY = """
SELECT
    multiIf(grouping(account) = 0, 'account', grouping(callee_gateway) = 0, 'gateway', 'vos')
        AS statistic_type,
    multiIf(grouping(account) = 0, account, grouping(callee_gateway) = 0, callee_gateway, '')
        AS dimension_value,
    if(grouping(account) = 0, argMax(account_name, start), '') AS dimension_name,
    count() AS total_calls,
    countIf(hold_time > 0) AS connected_calls,
    sumIf(hold_time, hold_time > 0) AS total_duration,
    sum(fee_time) AS total_billed_seconds,
    sum(fee) AS total_fee
FROM cdrs
WHERE instance = {instance:String} AND call_day >= {start:Date} AND call_day < {end:Date}
GROUP BY GROUPING SETS ((), (account), (callee_gateway))
"""


def compute_statistics(client, instance: str, start: dt.date, end: dt.date) -> list[StatisticRow]:
    """Compute the statistics of the call days [start, end) of one instance."""
    result = client.query(
        _STATISTICS_QUERY, parameters={"instance": instance, "start": start, "end": end}
    )
    rows = []
    has_vos_row = False
    for values in result.result_rows:
        row = StatisticRow(
            statistic_type=values[0],
            dimension_value=values[1],
            dimension_name=values[2],
            total_calls=int(values[3]),
            connected_calls=int(values[4]),
            total_duration=int(values[5]),
            total_billed_seconds=int(values[6]),
            total_fee=Decimal(values[7]),
        )
        if row.statistic_type == "vos":
            has_vos_row = True
        elif row.dimension_value == "":
            continue
        rows.append(row)
    if not has_vos_row:
        # Without GROUP BY keys ClickHouse still returns the () set, but not from an empty table.
        rows.append(StatisticRow("vos", "", "", 0, 0, 0, 0, Decimal(0)))
    order = {name: index for index, name in enumerate(STATISTIC_TYPES)}
    rows.sort(key=lambda row: (order[row.statistic_type], row.dimension_value))
    return rows


@dataclass(frozen=True)
class Coverage:
    days_in_period: int
    days_elapsed: int
    days_loaded: int

    @property
    def is_complete(self) -> bool:
        return self.days_loaded >= self.days_elapsed


def load_coverage(
    connection, instance: VosInstance, start: dt.date, end: dt.date, now: dt.datetime | None = None
) -> Coverage:
    """Count the days of [start, end) that have ended in the instance's zone and those loaded."""
    today = local_today(instance.zone, now)
    elapsed_end = min(end, max(today, start))
    row = connection.execute(
        "SELECT count(DISTINCT call_day) FROM cdr_loads WHERE instance = %s"
        " AND call_day >= %s AND call_day < %s",
        (instance.slug, start, elapsed_end),
    ).fetchone()
    return Coverage(
        days_in_period=(end - start).days,
        days_elapsed=(elapsed_end - start).days,
        days_loaded=int(row[0]),
    )


def write_statistics(
    connection,
    *,
    instance: VosInstance,
    period_type: str,
    start: dt.date,
    end: dt.date,
    rows: list[StatisticRow],
    coverage: Coverage,
) -> None:
    """Replace all rows of one instance and period in one transaction, in batches."""
    values = [
        (
            instance.slug,
            instance.uuid,
            row.statistic_type,
            row.dimension_value,
            row.dimension_name,
            period_type,
            start,
            end,
            row.total_calls,
            row.connected_calls,
            row.total_duration,
            row.total_billed_seconds,
            row.total_fee,
            instance.currency,
            row.connection_rate,
            coverage.days_in_period,
            coverage.days_elapsed,
            coverage.days_loaded,
            coverage.is_complete,
        )
        for row in rows
    ]
    with connection.transaction():
        connection.execute(
            "DELETE FROM cdr_statistics WHERE instance = %s AND period_type = %s"
            " AND period_start = %s",
            (instance.slug, period_type, start),
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO cdr_statistics (instance, instance_uuid, statistic_type,"
                " dimension_value, dimension_name, period_type, period_start, period_end,"
                " total_calls, connected_calls, total_duration, total_billed_seconds, total_fee,"
                " currency, connection_rate, days_in_period, days_elapsed, days_loaded,"
                " is_complete) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s)",
                values,
            )
