"""The inventory schedules and sensors, evaluated with Dagster's test contexts against the
simulator and the embedded PostgreSQL, and the rules behind them."""

import datetime as dt
import logging
import uuid
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetMaterialization,
    AssetObservation,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)
from dagster._core.test_utils import create_run_for_test, instance_for_test

from ykvos_dagster.definitions import build_resources, defs
from ykvos_dagster.inventory_automation import (
    SCHEDULE_TIMEZONE,
    account_reports_sensor,
    customers_job,
    customers_schedule,
    gateway_sync_schedule,
    inventory_schedules,
    inventory_sensors,
    inventory_sync_schedule,
    vos_cache_cleanup_job,
    vos_cache_cleanup_schedule,
    vos_health_sensor,
    vos_realtime_sensor,
)
from ykvos_dagster.inventory_scheduling import EXPIRY_SLACK, due_report_pulls, is_due
from ykvos_dagster.partitions import instance_partitions
from ykvos_dagster.warehouse.registry import VosInstance

TICK = dt.datetime(2025, 3, 14, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def dagster_instance():
    with instance_for_test() as instance:
        yield instance


def add_partition(dagster_instance, slug):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])


def schedule_requests(schedule, dagster_instance, slug):
    context = build_schedule_context(
        instance=dagster_instance, resources=build_resources(), scheduled_execution_time=TICK
    )
    result = schedule(context)
    if isinstance(result, SkipReason):
        return []
    return [request for request in result if request.partition_key == slug]


def sensor_events(sensor, dagster_instance, slug):
    result = sensor(build_sensor_context(instance=dagster_instance, resources=build_resources()))
    if isinstance(result, SkipReason):
        return []
    return [event for event in result.asset_events if event.partition == slug]


# Definitions.


def test_schedules_running_with_timezone():
    assert inventory_schedules
    for schedule in inventory_schedules:
        assert schedule.default_status == DefaultScheduleStatus.RUNNING
        assert schedule.execution_timezone == SCHEDULE_TIMEZONE


def test_sensors_running_by_default():
    for sensor in inventory_sensors:
        assert sensor.default_status == DefaultSensorStatus.RUNNING


def test_definitions_include_automation():
    names = {schedule.name for schedule in defs.schedules}
    assert {"customers_schedule", "vos_cache_cleanup_schedule"} <= names
    sensors = {sensor.name for sensor in defs.sensors}
    assert {"vos_realtime_sensor", "vos_health_sensor", "account_reports_sensor"} <= sensors


def test_cron_cadences():
    cadences = {schedule.name: schedule.cron_schedule for schedule in inventory_schedules}
    assert cadences == {
        "customers_schedule": "*/10 * * * *",
        "inventory_sync_schedule": "0 */4 * * *",
        "gateway_sync_schedule": "0 2-22/4 * * *",
        "vos_cache_cleanup_schedule": "0 2 * * *",
    }


# Schedules.


@pytest.mark.parametrize(
    ("schedule", "job_name"),
    [
        (customers_schedule, "customers_job"),
        (inventory_sync_schedule, "inventory_sync_job"),
        (gateway_sync_schedule, "gateways_job"),
    ],
)
def test_schedule_requests_enabled_instance(
    schedule, job_name, dagster_instance, register, unique_slug
):
    register(unique_slug)
    add_partition(dagster_instance, unique_slug)
    requests = schedule_requests(schedule, dagster_instance, unique_slug)
    assert len(requests) == 1
    assert requests[0].run_key.endswith(TICK.isoformat())
    assert schedule.job_name == job_name


def test_schedule_skips_disabled_instance(dagster_instance, register, unique_slug, pg):
    from ykvos_dagster.warehouse.registry import set_enabled

    register(unique_slug)
    add_partition(dagster_instance, unique_slug)
    set_enabled(pg, unique_slug, False)
    pg.commit()
    assert schedule_requests(customers_schedule, dagster_instance, unique_slug) == []


def test_schedule_skips_instance_without_partition(dagster_instance, register, unique_slug):
    register(unique_slug)
    assert schedule_requests(customers_schedule, dagster_instance, unique_slug) == []


def test_schedule_skips_instance_with_running_run(dagster_instance, register, unique_slug):
    register(unique_slug)
    add_partition(dagster_instance, unique_slug)
    create_run_for_test(
        dagster_instance,
        job_name=customers_job.name,
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": unique_slug},
    )
    assert schedule_requests(customers_schedule, dagster_instance, unique_slug) == []
    assert len(schedule_requests(inventory_sync_schedule, dagster_instance, unique_slug)) == 1


def test_cleanup_schedule_requests_run(dagster_instance):
    context = build_schedule_context(instance=dagster_instance, scheduled_execution_time=TICK)
    request = vos_cache_cleanup_schedule(context)
    assert request.run_key == f"cache-cleanup:{TICK.isoformat()}"
    assert vos_cache_cleanup_schedule.job_name == vos_cache_cleanup_job.name


def test_cleanup_job_deletes_expired(dagster_instance, register, unique_slug, pg):
    register(unique_slug)
    now = dt.datetime.now(dt.UTC)
    for interface, expires_at in (
        ("GetSuite", now - dt.timedelta(hours=1)),
        ("GetPerformance", now + dt.timedelta(hours=1)),
    ):
        pg.execute(
            "INSERT INTO vos_data_cache VALUES (%s, %s, %s, '{}', '{}', %s, %s)",
            (unique_slug, interface, "hash", now - dt.timedelta(hours=2), expires_at),
        )
    for age_days in (1, 400):
        pg.execute(
            "INSERT INTO vos_health_checks (instance, checked_at, interface, ok, latency_ms)"
            " VALUES (%s, %s, 'GetSoftSwitch', true, 1)",
            (unique_slug, now - dt.timedelta(days=age_days)),
        )
    pg.commit()
    result = vos_cache_cleanup_job.execute_in_process(
        instance=dagster_instance, resources=build_resources()
    )
    assert result.success
    cached = pg.execute(
        "SELECT interface FROM vos_data_cache WHERE instance = %s", (unique_slug,)
    ).fetchall()
    probes = pg.execute(
        "SELECT count(*) FROM vos_health_checks WHERE instance = %s", (unique_slug,)
    ).fetchone()[0]
    assert cached == [("GetPerformance",)]
    assert probes == 1


# The real-time sensor.


def test_realtime_sensor_first_tick_pulls_all(
    dagster_instance, register, simulator, unique_slug, pg
):
    register(unique_slug, simulator)
    add_partition(dagster_instance, unique_slug)
    events = sensor_events(vos_realtime_sensor, dagster_instance, unique_slug)
    kinds = {(type(event), event.asset_key.to_user_string()) for event in events}
    assert kinds == {
        (AssetMaterialization, "vos_performance"),
        (AssetMaterialization, "alarms_current"),
        (AssetMaterialization, "phones_online"),
        (AssetObservation, "gateways"),
    }
    performance = next(e for e in events if e.asset_key.to_user_string() == "vos_performance")
    assert "call_size" in performance.metadata
    stored = pg.execute(
        "SELECT count(*) FROM vos_performance WHERE instance = %s", (unique_slug,)
    ).fetchone()[0]
    assert stored == 1


def test_realtime_sensor_events_without_passwords(
    dagster_instance, register, simulator, unique_slug, pg, caplog
):
    from ykvos_dagster_tests.test_inventory_assets import simulator_secrets

    register(unique_slug, simulator)
    add_partition(dagster_instance, unique_slug)
    with caplog.at_level(logging.DEBUG):
        events = sensor_events(vos_realtime_sensor, dagster_instance, unique_slug)
    cached = pg.execute(
        "SELECT string_agg(reply::text, E'\\n') FROM vos_data_cache WHERE instance = %s",
        (unique_slug,),
    ).fetchone()[0]
    text = "\n".join([repr(events), cached, *(r.getMessage() for r in caplog.records)])
    assert len(events) == 4
    for secret in simulator_secrets(simulator.switch):
        assert secret not in text


def test_realtime_sensor_skips_fresh_cache(dagster_instance, register, simulator, unique_slug):
    register(unique_slug, simulator)
    add_partition(dagster_instance, unique_slug)
    assert len(sensor_events(vos_realtime_sensor, dagster_instance, unique_slug)) == 4
    assert sensor_events(vos_realtime_sensor, dagster_instance, unique_slug) == []


def test_realtime_sensor_pulls_expired_only(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    add_partition(dagster_instance, unique_slug)
    sensor_events(vos_realtime_sensor, dagster_instance, unique_slug)
    pg.execute(
        "UPDATE vos_data_cache SET expires_at = now() - interval '1 second'"
        " WHERE instance = %s AND interface = 'GetPerformance'",
        (unique_slug,),
    )
    pg.commit()
    events = sensor_events(vos_realtime_sensor, dagster_instance, unique_slug)
    assert [event.asset_key.to_user_string() for event in events] == ["vos_performance"]


def test_light_sensors_run_no_job():
    assert vos_realtime_sensor.targets == []
    assert vos_health_sensor.targets == []


def test_realtime_sensor_unreachable_instance(dagster_instance, register, unique_slug):
    register(unique_slug)  # a closed local port
    add_partition(dagster_instance, unique_slug)
    result = vos_realtime_sensor(
        build_sensor_context(instance=dagster_instance, resources=build_resources())
    )
    assert "failed" in result.skip_message


# The health sensor.


def test_health_sensor_reports_check(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    add_partition(dagster_instance, unique_slug)
    (evaluation,) = sensor_events(vos_health_sensor, dagster_instance, unique_slug)
    assert isinstance(evaluation, AssetCheckEvaluation)
    assert evaluation.check_name == "switch_reachable"
    assert evaluation.passed
    latency = pg.execute(
        "SELECT latency_ms FROM vos_health_checks WHERE instance = %s", (unique_slug,)
    ).fetchone()[0]
    assert latency > 0


def test_health_sensor_red_after_three_failures(dagster_instance, register, unique_slug):
    register(unique_slug)  # a closed local port
    add_partition(dagster_instance, unique_slug)
    severities = []
    for _ in range(4):
        (evaluation,) = sensor_events(vos_health_sensor, dagster_instance, unique_slug)
        assert not evaluation.passed
        severities.append(evaluation.severity)
    assert severities == [
        AssetCheckSeverity.WARN,
        AssetCheckSeverity.WARN,
        AssetCheckSeverity.ERROR,
        AssetCheckSeverity.ERROR,
    ]


def test_health_failure_threshold_configurable(
    dagster_instance, register, unique_slug, monkeypatch
):
    monkeypatch.setenv("YKVOS_HEALTH_FAILURES_BEFORE_ERROR", "1")
    register(unique_slug)
    add_partition(dagster_instance, unique_slug)
    (evaluation,) = sensor_events(vos_health_sensor, dagster_instance, unique_slug)
    assert evaluation.severity == AssetCheckSeverity.ERROR


# The report sensor.


def zone_past_report_time(now: dt.datetime) -> str:
    """Return a zone whose local time is past 03:00 now, so the sensor has days to request."""
    for zone in ("UTC", "Asia/Shanghai", "America/New_York", "Pacific/Kiritimati", "Asia/Tokyo"):
        if now.astimezone(ZoneInfo(zone)).time() >= dt.time(3, 5):
            return zone
    raise AssertionError("no candidate zone is past 03:05")


def test_report_sensor_requests_previous_days(dagster_instance, register, unique_slug):
    zone = zone_past_report_time(dt.datetime.now(dt.UTC))
    register(unique_slug, timezone=zone)
    add_partition(dagster_instance, unique_slug)
    result = account_reports_sensor(
        build_sensor_context(instance=dagster_instance, resources=build_resources())
    )
    requests = [r for r in result if r.partition_key.keys_by_dimension["instance"] == unique_slug]
    today = dt.datetime.now(ZoneInfo(zone)).date()
    days = sorted(request.partition_key.keys_by_dimension["date"] for request in requests)
    assert days == [
        (today - dt.timedelta(days=2)).isoformat(),
        (today - dt.timedelta(days=1)).isoformat(),
    ]
    assert account_reports_sensor.job_name == "account_reports_job"


# Rules.


def make_instance(slug, timezone, enabled=True, first_day=dt.date(2024, 1, 1)):
    return VosInstance(
        slug=slug,
        uuid=uuid.uuid4(),
        name=slug,
        base_url="http://127.0.0.1:9",
        path_prefix="/external/server",
        timezone=timezone,
        currency="CNY",
        first_day=first_day,
        enabled=enabled,
        pause_seconds=0,
        timeout_seconds=30,
    )


@pytest.mark.timezone
def test_reports_wait_for_local_0300():
    now = dt.datetime(2025, 3, 14, 18, 59, tzinfo=dt.UTC)  # 02:59 on the 15th in Shanghai
    assert (
        list(due_report_pulls([make_instance("sh", "Asia/Shanghai")], now, lookback_days=1)) == []
    )


@pytest.mark.timezone
def test_reports_take_previous_local_day():
    now = dt.datetime(2025, 3, 14, 19, 1, tzinfo=dt.UTC)  # 03:01 on the 15th in Shanghai
    pulls = list(due_report_pulls([make_instance("sh", "Asia/Shanghai")], now, lookback_days=1))
    assert [pull.day for pull in pulls] == [dt.date(2025, 3, 14), dt.date(2025, 3, 13)]
    assert pulls[0].run_key == "reports:sh:2025-03-14:pulled-on:2025-03-15"


def test_reports_skip_disabled_instance():
    now = dt.datetime(2025, 3, 14, 19, 1, tzinfo=dt.UTC)
    disabled = make_instance("off", "UTC", enabled=False)
    assert list(due_report_pulls([disabled], now, lookback_days=1)) == []


def test_reports_reject_naive_now():
    with pytest.raises(ValueError):
        list(due_report_pulls([], dt.datetime(2025, 3, 14), lookback_days=1))


def test_is_due_without_cache_row():
    assert is_due(["GetPerformance"], {}, TICK)


def test_is_due_within_slack():
    expiry = {"GetPerformance": TICK + EXPIRY_SLACK - dt.timedelta(seconds=1)}
    assert is_due(["GetPerformance"], expiry, TICK)


def test_not_due_when_fresh():
    expiry = {"GetPerformance": TICK + EXPIRY_SLACK + dt.timedelta(seconds=1)}
    assert not is_due(["GetPerformance"], expiry, TICK)
