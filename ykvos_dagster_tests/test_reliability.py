"""Purged history, late CDRs, bad configuration and hostile strings, end to end."""

import datetime as dt
from decimal import Decimal

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.statistics import statistics_assets
from ykvos_dagster.automation import cdr_statistics_sensor
from ykvos_dagster.definitions import build_resources
from ykvos_dagster.partitions import instance_partitions, partition_key
from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
from ykvos_dagster.simulator.faults import FaultPlan
from ykvos_dagster.simulator.server import SimulatorServer
from ykvos_dagster.warehouse.clickhouse import open_client
from ykvos_dagster.warehouse.statistics import compute_statistics, load_coverage, write_statistics
from ykvos_dagster_tests.cdr_samples import make_cdr
from ykvos_dagster_tests.test_statistics import load_day

DAY = dt.date(2025, 5, 20)
ASSETS = {"day": "2025-05-20", "month": "2025-05-01", "quarter": "2025-04-01", "year": "2025"}


@pytest.fixture
def dagster_instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def server():
    switch = SimulatedSwitch(SimulatorConfig(seed=41, accounts=10, daily_cdrs=900))
    with SimulatorServer(switch) as running:
        yield running


def materialize_cdrs(dagster_instance, slug, day=DAY, raise_on_error=True):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])
    return materialize(
        [cdrs],
        partition_key=partition_key(day.isoformat(), slug),
        instance=dagster_instance,
        resources=build_resources(),
        raise_on_error=raise_on_error,
    )


def failure_text(result):
    return result.get_step_failure_events()[0].event_specific_data.error.to_string()


def stored_count(slug, day=DAY):
    with open_client() as client:
        return client.command(
            "SELECT count() FROM cdrs WHERE instance = {i:String} AND call_day = {d:Date}",
            parameters={"i": slug, "d": day},
        )


def vos_statistics(pg, slug, period):
    row = pg.execute(
        "SELECT total_calls, total_fee FROM cdr_statistics WHERE instance = %s"
        " AND period_type = %s AND statistic_type = 'vos'",
        (slug, period),
    ).fetchone()
    pg.commit()
    return row


def test_purged_day_fails_and_keeps_rows(dagster_instance, register, server, unique_slug, pg):
    register(unique_slug, server)
    materialize_cdrs(dagster_instance, unique_slug)
    materialize(
        [cdrs, statistics_assets["day"]],
        selection=[statistics_assets["day"]],
        partition_key=partition_key(DAY.isoformat(), unique_slug),
        instance=dagster_instance,
        resources=build_resources(),
    )
    before_rows = stored_count(unique_slug)
    before_statistics = vos_statistics(pg, unique_slug, "day")

    server.faults = FaultPlan.parse("purged")
    result = materialize_cdrs(dagster_instance, unique_slug, raise_on_error=False)
    assert not result.success
    assert "purged" in failure_text(result)
    assert stored_count(unique_slug) == before_rows
    assert vos_statistics(pg, unique_slug, "day") == before_statistics


def test_late_cdrs_refresh_every_period(dagster_instance, register, server, unique_slug, pg):
    register(unique_slug, server)
    server.faults = FaultPlan.parse("late_cdrs=2,times=1,interfaces=GetCdr")
    first = materialize_cdrs(dagster_instance, unique_slug)
    cursor = None
    sensor_result = cdr_statistics_sensor(build_sensor_context(instance=dagster_instance))
    cursor = sensor_result.cursor
    for request in sensor_result.run_requests:
        period = request.job_name.removeprefix("cdr_statistics_").removesuffix("_job")
        _materialize_period(dagster_instance, request, period)
    early = {period: vos_statistics(pg, unique_slug, period) for period in ASSETS}

    # The look-back pull of the same day gets the CDRs the first pull missed.
    materialize_cdrs(dagster_instance, unique_slug)
    sensor_result = cdr_statistics_sensor(
        build_sensor_context(instance=dagster_instance, cursor=cursor)
    )
    assert len(sensor_result.run_requests) == 4
    for request in sensor_result.run_requests:
        period = request.job_name.removeprefix("cdr_statistics_").removesuffix("_job")
        _materialize_period(dagster_instance, request, period)

    expected = server.switch.day_totals(DAY)
    metadata = first.asset_materializations_for_node("cdrs")[0].metadata
    assert metadata["rows"].value < expected["calls"]
    for period in ASSETS:
        assert vos_statistics(pg, unique_slug, period) == (expected["calls"], expected["fee"])
        assert early[period][0] < expected["calls"]


_PERIOD_NAMES = {"daily": "day", "monthly": "month", "quarterly": "quarter", "yearly": "year"}


def _materialize_period(dagster_instance, request, period_name):
    period = _PERIOD_NAMES[period_name]
    materialize(
        [cdrs, statistics_assets[period]],
        selection=[statistics_assets[period]],
        partition_key=request.partition_key,
        instance=dagster_instance,
        resources=build_resources(),
    )


def test_unknown_instance_fails_clearly(dagster_instance, postgres_dsn):
    result = materialize_cdrs(dagster_instance, "never-registered", raise_on_error=False)
    assert not result.success
    assert "'never-registered' is not registered" in failure_text(result)


def test_unreachable_base_url_fails_clearly(dagster_instance, register, unique_slug):
    register(unique_slug)  # http://127.0.0.1:9: nothing listens there
    result = materialize_cdrs(dagster_instance, unique_slug, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert f"instance={unique_slug}" in text
    assert "request failed" in text


def test_invalid_time_zone_in_registry_fails_clearly(
    dagster_instance, register, server, unique_slug, pg
):
    register(unique_slug, server)
    pg.execute(
        "UPDATE vos_instances SET timezone = 'Asia/Atlantis' WHERE slug = %s", (unique_slug,)
    )
    pg.commit()
    result = materialize_cdrs(dagster_instance, unique_slug, raise_on_error=False)
    pg.execute("UPDATE vos_instances SET enabled = false WHERE slug = %s", (unique_slug,))
    pg.commit()
    assert not result.success
    assert "unknown time zone 'Asia/Atlantis'" in failure_text(result)


def test_partition_before_first_day_fails_clearly(dagster_instance, register, server, unique_slug):
    register(unique_slug, server, first_day=dt.date(2025, 6, 1))
    result = materialize_cdrs(dagster_instance, unique_slug, raise_on_error=False)
    assert not result.success
    assert "before its first day with data (2025-06-01)" in failure_text(result)


HOSTILE_NAMES = [
    'O\'Brien "quoted" account',
    "back\\slash\\\\double",
    "x'); DROP TABLE cdrs; --",
    "'; DELETE FROM cdr_statistics WHERE '1'='1",
    "emoji 📞☎️🇨🇳 account",
    "华信数科" * 60,
    "tab\tnew\nline",
    "{curly} and %s and {instance:String}",
]


def test_hostile_strings_round_trip(ch, pg, register, unique_slug):
    instance = register(unique_slug)
    records = [
        make_cdr(index + 1, account=name, account_name=name, callee_gateway=name[::-1])
        for index, name in enumerate(HOSTILE_NAMES)
    ]
    load_day(ch, instance, DAY, records)
    stored = ch.query(
        "SELECT account, account_name, callee_gateway FROM cdrs WHERE instance = {i:String}"
        " ORDER BY flow_no",
        parameters={"i": unique_slug},
    ).result_rows
    assert stored == [(name, name, name[::-1]) for name in HOSTILE_NAMES]

    end = DAY + dt.timedelta(days=1)
    rows = compute_statistics(ch, unique_slug, DAY, end)
    write_statistics(
        pg,
        instance=instance,
        period_type="day",
        start=DAY,
        end=end,
        rows=rows,
        coverage=load_coverage(pg, instance, DAY, end),
    )
    pg.commit()
    accounts = pg.execute(
        "SELECT dimension_value, dimension_name FROM cdr_statistics WHERE instance = %s"
        " AND statistic_type = 'account' ORDER BY dimension_value",
        (unique_slug,),
    ).fetchall()
    gateways = pg.execute(
        "SELECT dimension_value FROM cdr_statistics WHERE instance = %s"
        " AND statistic_type = 'gateway' ORDER BY dimension_value",
        (unique_slug,),
    ).fetchall()
    assert sorted(accounts) == sorted((name, name) for name in HOSTILE_NAMES)
    assert sorted(row[0] for row in gateways) == sorted(name[::-1] for name in HOSTILE_NAMES)
    assert ch.command(
        "SELECT count() FROM cdrs WHERE instance = {i:String}", parameters={"i": unique_slug}
    ) == len(HOSTILE_NAMES)


def test_hostile_strings_through_sql_command(ch, register, unique_slug, capsys):
    from ykvos_dagster.cli import main

    instance = register(unique_slug)
    load_day(ch, instance, DAY, [make_cdr(1, account=HOSTILE_NAMES[2], fee="1.25")])
    del ch
    assert (
        main(
            [
                "sql",
                "--format",
                "json",
                f"SELECT account, fee FROM cdrs WHERE instance = '{unique_slug}'",
            ]
        )
        == 0
    )
    import json

    assert json.loads(capsys.readouterr().out) == {"account": HOSTILE_NAMES[2], "fee": "1.250000"}
    assert Decimal("1.25")


def test_retry_skips_requests_already_fetched(dagster_instance, register, unique_slug, pg):
    switch = SimulatedSwitch(SimulatorConfig(seed=43, accounts=12, daily_cdrs=1_200))
    with SimulatorServer(switch) as server:
        # One GetCdr per account, so that the request count is easy to follow.
        register(unique_slug, server, skip_idle_accounts=False, batch_accounts=False)
        server.faults = FaultPlan.parse("http_status=404,after=5,interfaces=GetCdr")
        failed = materialize_cdrs(dagster_instance, unique_slug, raise_on_error=False)
        assert not failed.success
        first_attempt = server.request_counts["GetCdr"]
        recorded = pg.execute(
            "SELECT count(*) FROM cdr_pull_progress WHERE instance = %s", (unique_slug,)
        ).fetchone()[0]
        pg.commit()

        server.faults = FaultPlan()
        result = materialize_cdrs(dagster_instance, unique_slug)
        retry_requests = server.request_counts["GetCdr"] - first_attempt

    accounts = len(switch.accounts())
    assert recorded == 5
    assert retry_requests == accounts - 5
    metadata = result.asset_materializations_for_node("cdrs")[0].metadata
    assert metadata["requests_resumed"].value == 5
    assert stored_count(unique_slug) == switch.day_totals(DAY)["calls"]
    left = pg.execute(
        "SELECT count(*) FROM cdr_pull_progress WHERE instance = %s", (unique_slug,)
    ).fetchone()[0]
    pg.commit()
    assert left == 0


def test_full_repull_tag_fetches_everything(dagster_instance, register, unique_slug, pg):
    switch = SimulatedSwitch(SimulatorConfig(seed=44, accounts=8, daily_cdrs=800))
    with SimulatorServer(switch) as server:
        register(unique_slug, server, skip_idle_accounts=False, batch_accounts=False)
        server.faults = FaultPlan.parse("http_status=404,after=3,interfaces=GetCdr")
        assert not materialize_cdrs(dagster_instance, unique_slug, raise_on_error=False).success
        first_attempt = server.request_counts["GetCdr"]

        server.faults = FaultPlan()
        dagster_instance.add_dynamic_partitions(instance_partitions.name, [unique_slug])
        materialize(
            [cdrs],
            partition_key=partition_key(DAY.isoformat(), unique_slug),
            instance=dagster_instance,
            resources=build_resources(),
            tags={"ykvos/full-repull": "true"},
        )
        retry_requests = server.request_counts["GetCdr"] - first_attempt
    assert retry_requests == len(switch.accounts())
    assert stored_count(unique_slug) == switch.day_totals(DAY)["calls"]
