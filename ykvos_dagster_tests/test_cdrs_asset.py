"""The `cdrs` and statistics assets through Dagster's `materialize()`, on real chDB and
PostgreSQL, with the simulator as the VOS3000 server over HTTP."""

import datetime as dt
from decimal import Decimal

import pytest
from dagster import DagsterInstance, materialize

from ykvos_dagster.assets.cdrs import ALLOW_SHRINK_TAG, cdrs
from ykvos_dagster.assets.statistics import statistics_assets
from ykvos_dagster.definitions import build_resources
from ykvos_dagster.partitions import instance_partitions, partition_key

DAY = dt.date(2025, 3, 14)


@pytest.fixture(scope="module")
def dagster_instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def run_cdrs(dagster_instance, slug, day=DAY, tags=None, raise_on_error=True):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])
    return materialize(
        [cdrs],
        partition_key=partition_key(day.isoformat(), slug),
        instance=dagster_instance,
        resources=build_resources(),
        tags=tags or {},
        raise_on_error=raise_on_error,
    )


def run_statistics(dagster_instance, slug, period, date_key):
    return materialize(
        [cdrs, statistics_assets[period]],
        selection=[statistics_assets[period]],
        partition_key=partition_key(date_key, slug),
        instance=dagster_instance,
        resources=build_resources(),
    )


def stored_totals(ch, slug, day=DAY):
    return ch.query(
        "SELECT count(), countIf(hold_time > 0), sum(fee), uniqExact(flow_no) FROM cdrs"
        " WHERE instance = {i:String} AND call_day = {d:Date}",
        parameters={"i": slug, "d": day},
    ).result_rows[0]


def day_statistics(pg, slug, day=DAY):
    return pg.execute(
        "SELECT statistic_type, dimension_value, total_calls, connected_calls, total_duration,"
        " total_billed_seconds, total_fee, connection_rate FROM cdr_statistics"
        " WHERE instance = %s AND period_type = 'day' AND period_start = %s"
        " ORDER BY statistic_type, dimension_value",
        (slug, day),
    ).fetchall()


def test_pull_matches_simulator(dagster_instance, register, simulator, unique_slug, ykvos_home):
    register(unique_slug, simulator)
    result = run_cdrs(dagster_instance, unique_slug)
    expected = simulator.switch.day_totals(DAY)

    from ykvos_dagster.warehouse.clickhouse import open_client

    with open_client() as ch:
        rows, answered, fee, unique = stored_totals(ch, unique_slug)
    assert rows == expected["calls"]
    assert unique == rows
    assert answered == expected["connected"]
    assert fee == expected["fee"]
    metadata = result.asset_materializations_for_node("cdrs")[0].metadata
    assert metadata["rows"].value == expected["calls"]
    assert metadata["answered_calls"].value == expected["connected"]


def test_three_materializations_identical(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    from ykvos_dagster.warehouse.clickhouse import open_client

    snapshots = []
    for _ in range(3):
        run_cdrs(dagster_instance, unique_slug)
        run_statistics(dagster_instance, unique_slug, "day", DAY.isoformat())
        run_statistics(dagster_instance, unique_slug, "month", DAY.replace(day=1).isoformat())
        with open_client() as ch:
            totals = stored_totals(ch, unique_slug)
        snapshots.append((totals, day_statistics(pg, unique_slug)))
        pg.commit()
    assert snapshots[0] == snapshots[1] == snapshots[2]
    assert snapshots[0][0][0] == simulator.switch.day_totals(DAY)["calls"]


def test_statistics_equal_simulator_totals(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    run_cdrs(dagster_instance, unique_slug)
    run_statistics(dagster_instance, unique_slug, "day", DAY.isoformat())
    expected = simulator.switch.day_totals(DAY)
    vos = [row for row in day_statistics(pg, unique_slug) if row[0] == "vos"][0]
    assert vos[2:7] == (
        expected["calls"],
        expected["connected"],
        expected["duration"],
        expected["billed_seconds"],
        expected["fee"],
    )
    per_account = simulator.switch.per_account(DAY)
    accounts = {row[1]: row[2] for row in day_statistics(pg, unique_slug) if row[0] == "account"}
    assert accounts == {a: t["calls"] for a, t in per_account.items() if t["calls"]}


def test_month_statistics_incomplete_until_all_days_loaded(
    dagster_instance, register, simulator, unique_slug, pg
):
    register(unique_slug, simulator)
    run_cdrs(dagster_instance, unique_slug)
    run_statistics(dagster_instance, unique_slug, "month", "2025-03-01")
    row = pg.execute(
        "SELECT days_in_period, days_elapsed, days_loaded, is_complete FROM cdr_statistics"
        " WHERE instance = %s AND period_type = 'month' AND statistic_type = 'vos'",
        (unique_slug,),
    ).fetchone()
    assert row == (31, 31, 1, False)


def test_shrinking_repull_fails_and_keeps_rows(
    dagster_instance, register, simulator, unique_slug, ykvos_home
):
    from ykvos_dagster.warehouse.clickhouse import open_client

    register(unique_slug, simulator)
    run_cdrs(dagster_instance, unique_slug)
    with open_client() as ch:
        before = stored_totals(ch, unique_slug)
        # An extra stored CDR for a real account makes the next pull look smaller.
        ch.command(
            "INSERT INTO cdrs SELECT * REPLACE (flow_no + 900000000000 AS flow_no) FROM cdrs"
            " WHERE instance = {i:String} AND call_day = {d:Date} LIMIT 1",
            parameters={"i": unique_slug, "d": DAY},
        )
        inflated = stored_totals(ch, unique_slug)

    result = run_cdrs(dagster_instance, unique_slug, raise_on_error=False)
    assert not result.success
    with open_client() as ch:
        assert stored_totals(ch, unique_slug) == inflated

    run_cdrs(dagster_instance, unique_slug, tags={ALLOW_SHRINK_TAG: "true"})
    with open_client() as ch:
        assert stored_totals(ch, unique_slug) == before


def test_vos_error_fails_partition_and_keeps_rows(
    dagster_instance, register, simulator, unique_slug, pg
):
    from ykvos_dagster.warehouse.clickhouse import open_client

    register(unique_slug, simulator)
    run_cdrs(dagster_instance, unique_slug)
    with open_client() as ch:
        before = stored_totals(ch, unique_slug)
    # A path prefix the switch does not serve: every request gets an HTTP 404 page.
    pg.execute(
        "UPDATE vos_instances SET path_prefix = '/missing/server' WHERE slug = %s", (unique_slug,)
    )
    pg.commit()
    result = run_cdrs(dagster_instance, unique_slug, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert unique_slug in failure
    assert "HTTP 404" in failure
    with open_client() as ch:
        assert stored_totals(ch, unique_slug) == before


def test_retcode_error_names_account_day_and_code(
    dagster_instance, register, unique_slug, ykvos_home
):
    from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
    from ykvos_dagster.simulator.faults import FaultPlan
    from ykvos_dagster.simulator.server import SimulatorServer
    from ykvos_dagster.warehouse.clickhouse import open_client

    switch = SimulatedSwitch(SimulatorConfig(seed=9, accounts=6, daily_cdrs=300))
    with SimulatorServer(switch) as server:
        register(unique_slug, server)
        run_cdrs(dagster_instance, unique_slug)
        with open_client() as ch:
            before = stored_totals(ch, unique_slug)
        server.faults = FaultPlan.parse("ret_code=-10007,interfaces=GetCdr")
        result = run_cdrs(dagster_instance, unique_slug, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert f"instance={unique_slug}" in failure
    # Accounts are pulled in sorted order (small ones batched into one GetCdr), so the first
    # request to fail names the first account.
    assert f"account='{sorted(switch.accounts())[0]}" in failure
    assert "day=2025-03-14" in failure
    assert "retCode=-10007" in failure
    with open_client() as ch:
        assert stored_totals(ch, unique_slug) == before


@pytest.mark.timezone
def test_unfinished_local_day_is_refused(dagster_instance, register, simulator, unique_slug):
    # The UTC date of now is a partition (end_offset=1) and is never over yet in Los Angeles.
    register(unique_slug, simulator, timezone="America/Los_Angeles")
    today = dt.datetime.now(dt.UTC).date()
    result = run_cdrs(dagster_instance, unique_slug, day=today, raise_on_error=False)
    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert "has not ended yet" in message


def test_disabled_instance_is_refused(dagster_instance, register, simulator, unique_slug, pg):
    from ykvos_dagster.warehouse.registry import set_enabled

    register(unique_slug, simulator)
    set_enabled(pg, unique_slug, False)
    pg.commit()
    result = run_cdrs(dagster_instance, unique_slug, raise_on_error=False)
    assert not result.success


def test_money_is_exact_decimal(dagster_instance, register, simulator, unique_slug):
    from ykvos_dagster.warehouse.clickhouse import open_client

    register(unique_slug, simulator)
    run_cdrs(dagster_instance, unique_slug)
    with open_client() as ch:
        column_type = ch.query(
            "SELECT toTypeName(fee) FROM cdrs WHERE instance = {i:String} LIMIT 1",
            parameters={"i": unique_slug},
        ).result_rows[0][0]
        fee = stored_totals(ch, unique_slug)[2]
    assert column_type == "Decimal(18, 6)"
    assert isinstance(fee, Decimal)
