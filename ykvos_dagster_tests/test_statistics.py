"""Statistics formulas on hand-made CDRs with known answers, on real chDB and PostgreSQL."""

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from ykvos_dagster.vos3000.cdr import decode_cdr
from ykvos_dagster.warehouse.cdr_store import load_instance_day
from ykvos_dagster.warehouse.statistics import (
    compute_statistics,
    connection_rate,
    load_coverage,
    period_start_for,
    period_window,
    write_statistics,
)
from ykvos_dagster_tests.cdr_samples import SHANGHAI, make_cdr


def load_day(ch, instance, day, records, allow_shrink=False):
    """Load `records` as the CDRs of one call day through the production load path."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as spool:
        for record in records:
            row = decode_cdr(record, SHANGHAI)
            row.update(
                instance=instance.slug,
                instance_uuid=str(instance.uuid),
                call_day=day.isoformat(),
                loaded_at="1700000000.000",
            )
            spool.write(orjson.dumps(row) + b"\n")
        spool.flush()
        return load_instance_day(
            ch,
            instance=instance.slug,
            day=day,
            spool_path=Path(spool.name),
            expected_rows=len(records),
            allow_shrink=allow_shrink,
        )


def by_key(rows):
    return {(row.statistic_type, row.dimension_value): row for row in rows}


@pytest.mark.parametrize(
    ("period", "day", "start", "end"),
    [
        ("day", dt.date(2024, 2, 29), dt.date(2024, 2, 29), dt.date(2024, 3, 1)),
        ("month", dt.date(2024, 2, 29), dt.date(2024, 2, 1), dt.date(2024, 3, 1)),
        ("month", dt.date(2024, 12, 31), dt.date(2024, 12, 1), dt.date(2025, 1, 1)),
        ("quarter", dt.date(2024, 3, 31), dt.date(2024, 1, 1), dt.date(2024, 4, 1)),
        ("quarter", dt.date(2024, 4, 1), dt.date(2024, 4, 1), dt.date(2024, 7, 1)),
        ("quarter", dt.date(2024, 12, 31), dt.date(2024, 10, 1), dt.date(2025, 1, 1)),
        ("year", dt.date(2024, 12, 31), dt.date(2024, 1, 1), dt.date(2025, 1, 1)),
    ],
)
def test_period_windows(period, day, start, end):
    assert period_window(period, period_start_for(period, day)) == (start, end)


def test_period_window_rejects_mid_period_start():
    with pytest.raises(ValueError):
        period_window("month", dt.date(2024, 2, 2))


@pytest.mark.parametrize(
    ("connected", "total", "expected"),
    [
        (0, 0, "0.00"),
        (0, 5, "0.00"),
        (1, 3, "33.33"),
        (2, 3, "66.67"),
        (1, 8, "12.50"),
        (5, 5, "100.00"),
    ],
)
def test_connection_rate(connected, total, expected):
    assert connection_rate(connected, total) == Decimal(expected)


def test_no_calls(ch, register, unique_slug):
    instance = register(unique_slug)
    day = dt.date(2024, 5, 10)
    load_day(ch, instance, day, [])
    rows = compute_statistics(ch, instance.slug, day, day + dt.timedelta(days=1))
    assert [(row.statistic_type, row.total_calls) for row in rows] == [("vos", 0)]
    assert rows[0].connection_rate == Decimal("0.00")
    assert rows[0].total_fee == Decimal(0)


def test_no_answered_calls(ch, register, unique_slug):
    instance = register(unique_slug)
    day = dt.date(2024, 5, 10)
    load_day(ch, instance, day, [make_cdr(1, hold_time=0), make_cdr(2, hold_time=0)])
    vos = by_key(compute_statistics(ch, instance.slug, day, day + dt.timedelta(days=1)))[
        ("vos", "")
    ]
    assert vos.total_calls == 2
    assert vos.connected_calls == 0
    assert vos.total_duration == 0
    assert vos.connection_rate == Decimal("0.00")


def test_three_levels_known_answer(ch, register, unique_slug):
    instance = register(unique_slug)
    day = dt.date(2024, 5, 10)
    records = [
        make_cdr(
            1,
            account="a",
            account_name="old name",
            hold_time=30,
            fee="0.1",
            start=dt.datetime(2024, 5, 10, 8, 0),
        ),
        make_cdr(
            2,
            account="a",
            account_name="new name",
            hold_time=0,
            start=dt.datetime(2024, 5, 10, 9, 0),
        ),
        make_cdr(
            3, account="b", callee_gateway="gw-2", hold_time=90, fee_time=120, fee="0.3333335"
        ),
        make_cdr(4, account="", callee_gateway="", hold_time=10, fee="0.05"),
    ]
    load_day(ch, instance, day, records)
    rows = by_key(compute_statistics(ch, instance.slug, day, day + dt.timedelta(days=1)))

    assert set(rows) == {
        ("vos", ""),
        ("account", "a"),
        ("account", "b"),
        ("gateway", "gw-1"),
        ("gateway", "gw-2"),
    }
    vos = rows[("vos", "")]
    assert (vos.total_calls, vos.connected_calls, vos.total_duration) == (4, 3, 130)
    assert vos.total_billed_seconds == 30 + 0 + 120 + 10
    assert vos.total_fee == Decimal("0.483334")
    assert vos.connection_rate == Decimal("75.00")
    account_a = rows[("account", "a")]
    assert (account_a.total_calls, account_a.connected_calls) == (2, 1)
    assert account_a.dimension_name == "new name"
    assert rows[("gateway", "gw-1")].total_calls == 2
    assert rows[("gateway", "gw-2")].total_fee == Decimal("0.333334")


@pytest.mark.timezone
def test_call_day_decides_around_midnight(ch, register, unique_slug):
    instance = register(unique_slug)
    day = dt.date(2024, 5, 10)
    next_day = dt.date(2024, 5, 11)
    # Returned by the pull of the 10th: one call 1 ms before local midnight, and one written
    # into the 10th's table although it started 1 ms after midnight.
    load_day(
        ch,
        instance,
        day,
        [
            make_cdr(1, start=dt.datetime(2024, 5, 10, 23, 59, 59, 999000), hold_time=0),
            make_cdr(2, start=dt.datetime(2024, 5, 11, 0, 0, 0, 1000), hold_time=0),
        ],
    )
    load_day(
        ch,
        instance,
        next_day,
        [make_cdr(3, start=dt.datetime(2024, 5, 11, 0, 0, 0, 1000), hold_time=0)],
    )

    first = by_key(compute_statistics(ch, instance.slug, day, next_day))[("vos", "")]
    second = by_key(compute_statistics(ch, instance.slug, next_day, dt.date(2024, 5, 12)))[
        ("vos", "")
    ]
    assert first.total_calls == 2
    assert second.total_calls == 1
    start_days = ch.query(
        "SELECT flow_no, start_day FROM cdrs WHERE instance = {i:String} ORDER BY flow_no",
        parameters={"i": instance.slug},
    ).result_rows
    assert start_days == [
        (1, dt.date(2024, 5, 10)),
        (2, dt.date(2024, 5, 11)),
        (3, dt.date(2024, 5, 11)),
    ]


def test_quarter_and_year_boundaries(ch, register, unique_slug):
    instance = register(unique_slug)
    days = [dt.date(2024, 3, 31), dt.date(2024, 4, 1), dt.date(2024, 12, 31), dt.date(2025, 1, 1)]
    for flow_no, day in enumerate(days, start=1):
        load_day(
            ch, instance, day, [make_cdr(flow_no, start=dt.datetime.combine(day, dt.time(12)))]
        )

    def calls(period, day):
        start, end = period_window(period, period_start_for(period, day))
        return by_key(compute_statistics(ch, instance.slug, start, end))[("vos", "")].total_calls

    assert calls("quarter", dt.date(2024, 3, 31)) == 1
    assert calls("quarter", dt.date(2024, 4, 1)) == 1
    assert calls("quarter", dt.date(2024, 12, 31)) == 1
    assert calls("year", dt.date(2024, 6, 1)) == 3
    assert calls("year", dt.date(2025, 1, 1)) == 1


def test_leap_day_in_february(ch, register, unique_slug):
    instance = register(unique_slug)
    load_day(ch, instance, dt.date(2024, 2, 29), [make_cdr(1, start=dt.datetime(2024, 2, 29, 12))])
    load_day(ch, instance, dt.date(2024, 3, 1), [make_cdr(2, start=dt.datetime(2024, 3, 1, 12))])
    start, end = period_window("month", dt.date(2024, 2, 1))
    assert (end - start).days == 29
    february = by_key(compute_statistics(ch, instance.slug, start, end))[("vos", "")]
    assert february.total_calls == 1


def test_write_replaces_period_rows(pg, ch, register, unique_slug):
    instance = register(unique_slug)
    day = dt.date(2024, 5, 10)
    end = day + dt.timedelta(days=1)
    load_day(ch, instance, day, [make_cdr(1, account="gone"), make_cdr(2, account="stays")])
    coverage = load_coverage(pg, instance, day, end)
    write_statistics(
        pg,
        instance=instance,
        period_type="day",
        start=day,
        end=end,
        rows=compute_statistics(ch, instance.slug, day, end),
        coverage=coverage,
    )
    load_day(ch, instance, day, [make_cdr(2, account="stays")], allow_shrink=True)
    write_statistics(
        pg,
        instance=instance,
        period_type="day",
        start=day,
        end=end,
        rows=compute_statistics(ch, instance.slug, day, end),
        coverage=coverage,
    )
    pg.commit()
    accounts = pg.execute(
        "SELECT dimension_value FROM cdr_statistics"
        " WHERE instance = %s AND statistic_type = 'account'",
        (instance.slug,),
    ).fetchall()
    assert accounts == [("stays",)]


def test_coverage_counts_loaded_days(pg, register, unique_slug):
    instance = register(unique_slug)
    for day in (dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 2)):
        pg.execute(
            "INSERT INTO cdr_loads (instance, call_day, rows, accounts, answered_calls, total_fee)"
            " VALUES (%s, %s, 0, 0, 0, 0)",
            (instance.slug, day),
        )
    now = dt.datetime(2024, 5, 4, 12, tzinfo=dt.UTC)  # May 4th 20:00 in Shanghai
    coverage = load_coverage(pg, instance, dt.date(2024, 5, 1), dt.date(2024, 6, 1), now)
    assert coverage.days_in_period == 31
    assert coverage.days_elapsed == 3
    assert coverage.days_loaded == 2
    assert not coverage.is_complete
