"""Jobs and sensors that replace the Celery beat of the older platform. All start running by
default, so an unattended deployment pulls and refreshes without clicks. None of them touches
ClickHouse: they read the registry in PostgreSQL and Dagster's own event log."""

import datetime as dt
import os
from collections import defaultdict

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.destinations import cdr_destinations
from ykvos_dagster.assets.statistics import ASSET_NAMES, statistics_assets
from ykvos_dagster.partitions import (
    DATE_DIMENSION,
    INSTANCE_DIMENSION,
    PARTITIONS_START,
    cdr_partitions,
    instance_partitions,
    partition_key,
    period_key,
    statistics_partitions,
)
from ykvos_dagster.resources import PostgresResource
from ykvos_dagster.scheduling import DEFAULT_LOOKBACK_DAYS, due_cdr_pulls, periods_for_days
from ykvos_dagster.warehouse.registry import list_instances

LOOKBACK_ENV = "YKVOS_CDR_LOOKBACK_DAYS"
AUTOMATION_ENV = "YKVOS_AUTOMATION"


def automation_enabled() -> bool:
    """Return False when `YKVOS_AUTOMATION=off`, which starts every sensor and schedule stopped
    (for a staging copy or a test that launches its own runs)."""
    value = os.environ.get(AUTOMATION_ENV, "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{AUTOMATION_ENV} must be 'on' or 'off', got {value!r}")
    return value == "on"


def default_status() -> DefaultSensorStatus:
    """Return the default status of sensors: RUNNING unless `YKVOS_AUTOMATION=off`."""
    return DefaultSensorStatus.RUNNING if automation_enabled() else DefaultSensorStatus.STOPPED


def default_schedule_status() -> DefaultScheduleStatus:
    """Return the default status of schedules: RUNNING unless `YKVOS_AUTOMATION=off`."""
    if automation_enabled():
        return DefaultScheduleStatus.RUNNING
    return DefaultScheduleStatus.STOPPED


cdrs_job = define_asset_job(
    "cdrs_job",
    selection=AssetSelection.assets(cdrs, cdr_destinations),
    partitions_def=cdr_partitions,
    description="Pull one call day of one VOS3000 instance into ClickHouse `cdrs` and parse the "
    "destinations of its dialled numbers.",
)
statistics_jobs = {
    period: define_asset_job(
        f"{ASSET_NAMES[period]}_job",
        selection=AssetSelection.assets(statistics_assets[period]),
        partitions_def=statistics_partitions[period],
    )
    for period in ASSET_NAMES
}


def lookback_days() -> int:
    raw = os.environ.get(LOOKBACK_ENV)
    if not raw:
        return DEFAULT_LOOKBACK_DAYS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{LOOKBACK_ENV}={raw!r} is not a whole number of days") from None
    if value < 0:
        raise ValueError(f"{LOOKBACK_ENV} must be >= 0, got {value}")
    return value


@sensor(default_status=default_status(), minimum_interval_seconds=60)
def vos_instances_sensor(context: SensorEvaluationContext, postgres: PostgresResource):
    """Adds a `vos_instances` dynamic partition for every registered instance. Disabled
    instances keep their partition, and nothing is ever deleted."""
    with postgres.connect() as connection:
        slugs = [instance.slug for instance in list_instances(connection)]
    existing = set(context.instance.get_dynamic_partitions(instance_partitions.name))
    missing = [slug for slug in slugs if slug not in existing]
    if not missing:
        return SkipReason(f"all {len(slugs)} registered instances have a partition")
    context.log.info(f"adding instance partitions: {', '.join(missing)}")
    return SensorResult(
        dynamic_partitions_requests=[instance_partitions.build_add_request(missing)]
    )


@sensor(
    job=cdrs_job,
    default_status=default_status(),
    minimum_interval_seconds=300,
)
def cdr_daily_pull_sensor(context: SensorEvaluationContext, postgres: PostgresResource):
    """Pulls each enabled instance's previous call day once its own local time has passed 01:30,
    plus `YKVOS_CDR_LOOKBACK_DAYS` (default 1) earlier days for late CDRs."""
    with postgres.connect() as connection:
        instances = list_instances(connection, enabled_only=True)
    partitions = set(context.instance.get_dynamic_partitions(instance_partitions.name))
    now = dt.datetime.now(dt.UTC)
    requests = []
    for pull in due_cdr_pulls(
        instances,
        now,
        lookback_days=lookback_days(),
        earliest_day=dt.date.fromisoformat(PARTITIONS_START),
    ):
        if pull.instance not in partitions:
            context.log.warning(
                f"instance {pull.instance} has no partition yet; vos_instances_sensor adds it"
            )
            continue
        requests.append(
            RunRequest(
                run_key=pull.run_key,
                partition_key=partition_key(pull.day.isoformat(), pull.instance),
                tags={"ykvos/trigger": "daily-pull"},
            )
        )
    if not requests:
        return SkipReason("no instance has reached 01:30 local time with a day left to pull")
    return requests


@sensor(
    jobs=list(statistics_jobs.values()),
    default_status=default_status(),
    minimum_interval_seconds=60,
)
def cdr_statistics_sensor(context: SensorEvaluationContext):
    """Refreshes the day, month, quarter and year statistics that contain each newly
    materialized `cdrs` partition. The cursor is the last storage id of a `cdrs`
    materialization handled."""
    after = int(context.cursor) if context.cursor else None
    result = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(cdrs.key.path), after_storage_id=after),
        limit=500,
        ascending=True,
    )
    if not result.records:
        return SkipReason("no new cdrs materializations")

    days_by_instance: dict[str, set[dt.date]] = defaultdict(set)
    for record in result.records:
        key = record.partition_key
        if not key:
            continue
        keys = cdr_partitions.get_partition_key_from_str(key).keys_by_dimension
        days_by_instance[keys[INSTANCE_DIMENSION]].add(dt.date.fromisoformat(keys[DATE_DIMENSION]))
    last_storage_id = result.records[-1].storage_id

    requests = []
    for slug, days in sorted(days_by_instance.items()):
        for period, starts in periods_for_days(days).items():
            for start in sorted(starts):
                date_key = period_key(period, start)
                requests.append(
                    RunRequest(
                        run_key=f"stats:{period}:{date_key}|{slug}:after:{last_storage_id}",
                        job_name=statistics_jobs[period].name,
                        partition_key=partition_key(date_key, slug),
                        tags={"ykvos/trigger": "cdrs-landed"},
                    )
                )
    return SensorResult(run_requests=requests, cursor=str(last_storage_id))
