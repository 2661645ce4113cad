"""The daily pull rule and the sensors, evaluated with Dagster's test contexts."""

import datetime as dt
import uuid

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from ykvos_dagster.automation import (
    cdr_daily_pull_sensor,
    cdr_statistics_sensor,
    vos_instances_sensor,
)
from ykvos_dagster.definitions import build_resources
from ykvos_dagster.partitions import instance_partitions
from ykvos_dagster.scheduling import due_cdr_pulls, periods_for_days
from ykvos_dagster.warehouse.registry import VosInstance


def instance(slug, timezone, enabled=True, first_day=dt.date(2024, 1, 1)):
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


SHANGHAI = instance("sh", "Asia/Shanghai")
NEW_YORK = instance("ny", "America/New_York")


@pytest.mark.timezone
def test_pull_waits_for_local_0130():
    # 17:29 UTC is 01:29 in Shanghai.
    now = dt.datetime(2025, 3, 14, 17, 29, tzinfo=dt.UTC)
    assert list(due_cdr_pulls([SHANGHAI], now)) == []


@pytest.mark.timezone
def test_pull_after_local_0130_takes_yesterday_and_lookback():
    now = dt.datetime(2025, 3, 14, 17, 31, tzinfo=dt.UTC)  # 01:31 on the 15th in Shanghai
    days = [pull.day for pull in due_cdr_pulls([SHANGHAI], now)]
    assert days == [dt.date(2025, 3, 14), dt.date(2025, 3, 13)]


@pytest.mark.timezone
def test_instances_in_different_zones():
    now = dt.datetime(2025, 3, 14, 17, 31, tzinfo=dt.UTC)  # 13:31 on the 14th in New York
    pulls = {(pull.instance, pull.day) for pull in due_cdr_pulls([SHANGHAI, NEW_YORK], now)}
    assert pulls == {
        ("sh", dt.date(2025, 3, 14)),
        ("sh", dt.date(2025, 3, 13)),
        ("ny", dt.date(2025, 3, 13)),
        ("ny", dt.date(2025, 3, 12)),
    }


def test_lookback_configurable():
    now = dt.datetime(2025, 3, 14, 17, 31, tzinfo=dt.UTC)
    assert len(list(due_cdr_pulls([SHANGHAI], now, lookback_days=3))) == 4
    assert len(list(due_cdr_pulls([SHANGHAI], now, lookback_days=0))) == 1


def test_run_key_changes_with_pull_day():
    first = list(due_cdr_pulls([SHANGHAI], dt.datetime(2025, 3, 14, 18, tzinfo=dt.UTC)))
    second = list(due_cdr_pulls([SHANGHAI], dt.datetime(2025, 3, 15, 18, tzinfo=dt.UTC)))
    repeated_day = dt.date(2025, 3, 14)
    first_key = next(pull.run_key for pull in first if pull.day == repeated_day)
    second_key = next(pull.run_key for pull in second if pull.day == repeated_day)
    assert first_key != second_key


def test_instance_with_invalid_zone_skipped():
    now = dt.datetime(2025, 3, 14, 18, tzinfo=dt.UTC)
    broken = instance("broken", "Asia/Atlantis")
    pulls = list(due_cdr_pulls([broken, SHANGHAI], now))
    assert {pull.instance for pull in pulls} == {"sh"}


def test_disabled_instance_not_pulled():
    now = dt.datetime(2025, 3, 14, 18, tzinfo=dt.UTC)
    assert list(due_cdr_pulls([instance("off", "UTC", enabled=False)], now)) == []


def test_days_before_first_day_not_pulled():
    now = dt.datetime(2025, 3, 14, 18, tzinfo=dt.UTC)
    late = instance("late", "Asia/Shanghai", first_day=dt.date(2025, 3, 14))
    assert [pull.day for pull in due_cdr_pulls([late], now)] == [dt.date(2025, 3, 14)]


def test_naive_now_rejected():
    with pytest.raises(ValueError):
        list(due_cdr_pulls([SHANGHAI], dt.datetime(2025, 3, 14, 18)))


def test_periods_for_days():
    periods = periods_for_days([dt.date(2024, 3, 31), dt.date(2024, 4, 1)])
    assert periods["month"] == {dt.date(2024, 3, 1), dt.date(2024, 4, 1)}
    assert periods["quarter"] == {dt.date(2024, 1, 1), dt.date(2024, 4, 1)}
    assert periods["year"] == {dt.date(2024, 1, 1)}


@pytest.fixture
def dagster_instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def test_instances_sensor_adds_partitions(dagster_instance, register, unique_slug):
    register(unique_slug)
    context = build_sensor_context(instance=dagster_instance, resources=build_resources())
    result = vos_instances_sensor(context)
    added = result.dynamic_partitions_requests[0].partition_keys
    assert unique_slug in added


def test_instances_sensor_keeps_disabled_partitions(dagster_instance, register, unique_slug, pg):
    from ykvos_dagster.warehouse.registry import set_enabled

    register(unique_slug)
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [unique_slug])
    set_enabled(pg, unique_slug, False)
    pg.commit()
    context = build_sensor_context(instance=dagster_instance, resources=build_resources())
    vos_instances_sensor(context)
    assert unique_slug in dagster_instance.get_dynamic_partitions(instance_partitions.name)


def test_daily_pull_sensor_requests_runs(dagster_instance, register, unique_slug):
    register(unique_slug, timezone="UTC")
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [unique_slug])
    context = build_sensor_context(instance=dagster_instance, resources=build_resources())
    requests = [
        request
        for request in cdr_daily_pull_sensor(context)
        if request.partition_key.keys_by_dimension["instance"] == unique_slug
    ]
    now = dt.datetime.now(dt.UTC)
    if now.time() < dt.time(1, 30):
        assert requests == []
    else:
        yesterday = (now.date() - dt.timedelta(days=1)).isoformat()
        days = sorted(r.partition_key.keys_by_dimension["date"] for r in requests)
        assert days[-1] == yesterday
        assert len(days) == 2


def test_statistics_sensor_follows_cdrs(dagster_instance, register, simulator, unique_slug):
    from ykvos_dagster.assets.cdrs import cdrs
    from ykvos_dagster.partitions import partition_key

    register(unique_slug, simulator)
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [unique_slug])
    materialize(
        [cdrs],
        partition_key=partition_key("2025-03-31", unique_slug),
        instance=dagster_instance,
        resources=build_resources(),
    )
    context = build_sensor_context(instance=dagster_instance)
    result = cdr_statistics_sensor(context)
    requested = {(r.job_name, str(r.partition_key)) for r in result.run_requests}
    assert requested == {
        ("cdr_statistics_daily_job", f"2025-03-31|{unique_slug}"),
        ("cdr_statistics_monthly_job", f"2025-03-01|{unique_slug}"),
        ("cdr_statistics_quarterly_job", f"2025-01-01|{unique_slug}"),
        ("cdr_statistics_yearly_job", f"2025|{unique_slug}"),
    }

    again = cdr_statistics_sensor(
        build_sensor_context(instance=dagster_instance, cursor=result.cursor)
    )
    assert again.skip_message
