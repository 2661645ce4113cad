"""Schedules and sensors of the inventory, live state, health, reply cache and reports.

They replace the older platform's Celery beat jobs. All start running by default and list the
enabled instances from the registry, so disabling an instance stops them for it.

| old beat job | here | runs a day per instance |
|---|---|---|
| customers, every 10 min | `customers_schedule` | 144 |
| phones online, every 5 min | `vos_realtime_sensor` (no runs) | 0 |
| real-time interfaces, every minute when the cached reply expired | `vos_realtime_sensor` | 0 |
| phones, gateways, rates and suites, every 4 h | `inventory_sync_schedule` | 6 |
| gateways, every 4 h | `gateway_sync_schedule`, 2 h after the one above | 6 |
| health, every 5 min | `vos_health_sensor` (no runs) | 0 |
| cache clean-up, daily | `vos_cache_cleanup_schedule` at 02:00 | 1 in all |
| account reports, daily at 03:00 | `account_reports_sensor`, 03:00 switch-local | 1 + look-back |

The sensors that run no job report asset events instead of runs. With the default
times-to-live they record per instance and day at most 1,440 materializations of
`vos_performance`, 1,440 of `alarms_current`, 1,440 observations of `gateways`, 288
materializations of `phones_online` and 288 evaluations of the check `switch_reachable`: 4,896
events and no run. The README's "Schedules and sensors" section adds the events of the runs.
"""

import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSelection,
    DagsterRunStatus,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    job,
    op,
    schedule,
    sensor,
)

from ykvos_dagster.assets.account_reports import (
    account_detail_reports,
    cdrs_match_account_report,
)
from ykvos_dagster.assets.inventory import (
    health_metadata,
    health_verdict,
    inventory_assets,
    vos_health_checks,
)
from ykvos_dagster.automation import default_schedule_status, default_status, lookback_days
from ykvos_dagster.inventory_scheduling import (
    due_report_pulls,
    health_failures_before_error,
    health_retention_days,
)
from ykvos_dagster.partitions import (
    PARTITIONS_START,
    cdr_partitions,
    instance_partitions,
    partition_key,
)
from ykvos_dagster.realtime import LightPullResult, due_pulls, probe, run_light_pulls
from ykvos_dagster.resources import PostgresResource, VosCacheResource
from ykvos_dagster.warehouse import health, vos_cache
from ykvos_dagster.warehouse.registry import VosInstance, list_instances

logger = logging.getLogger(__name__)

# The zone of the schedules' cron times. Only the 02:00 clean-up depends on it: the other
# schedules repeat every few minutes or hours on the hour, which is the same in any zone with
# a whole-hour offset. Asia/Shanghai is the default zone of instances and of the older
# platform's beat. Per-instance daily work (CDRs, reports) uses each instance's own zone.
SCHEDULE_TIMEZONE = "Asia/Shanghai"

# A sensor tick stops starting new pulls after this many seconds, well inside Dagster's
# default 60 s sensor evaluation timeout. What is left runs on the next tick.
TICK_BUDGET_SECONDS = 40.0
# Instances pulled or probed in parallel by one sensor tick.
MAX_PARALLEL_INSTANCES = 8

INVENTORY_SYNC_ASSETS = ("phones", "gateways", "fee_rates", "suites", "soft_switches")

customers_job = define_asset_job(
    "customers_job",
    selection=AssetSelection.assets(inventory_assets["customers"]),
    partitions_def=instance_partitions,
    description="Refresh `customers` of one VOS3000 instance.",
)
inventory_sync_job = define_asset_job(
    "inventory_sync_job",
    selection=AssetSelection.assets(*(inventory_assets[name] for name in INVENTORY_SYNC_ASSETS)),
    partitions_def=instance_partitions,
    description="Refresh phones, gateways, rates, suites and soft switches of one instance.",
)
gateways_job = define_asset_job(
    "gateways_job",
    selection=AssetSelection.assets(inventory_assets["gateways"]),
    partitions_def=instance_partitions,
    description="Refresh `gateways` (configuration and online state) of one instance.",
)
account_reports_job = define_asset_job(
    "account_reports_job",
    selection=AssetSelection.assets(account_detail_reports)
    | AssetSelection.checks(cdrs_match_account_report),
    partitions_def=cdr_partitions,
    description=(
        "Pull the switch's account report of one instance-day, then reconcile that day's "
        "`cdrs` partition against it."
    ),
)


def _enabled_with_partition(
    context: ScheduleEvaluationContext | SensorEvaluationContext, postgres: PostgresResource
) -> list[VosInstance]:
    with postgres.connect() as connection:
        instances = list_instances(connection, enabled_only=True)
    partitions = set(context.instance.get_dynamic_partitions(instance_partitions.name))
    missing = [instance.slug for instance in instances if instance.slug not in partitions]
    if missing:
        context.log.warning(
            f"instances without a partition yet, added by vos_instances_sensor: {missing}"
        )
    return [instance for instance in instances if instance.slug in partitions]


def _busy_instances(context: ScheduleEvaluationContext, job_name: str) -> set[str]:
    """Return the instances with a run of `job_name` still queued or in progress."""
    runs = context.instance.get_runs(
        filters=RunsFilter(
            job_name=job_name,
            statuses=[
                DagsterRunStatus.QUEUED,
                DagsterRunStatus.NOT_STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.STARTED,
            ],
        )
    )
    return {run.tags.get("dagster/partition") for run in runs}


def _instance_runs(
    context: ScheduleEvaluationContext, postgres: PostgresResource, job_name: str, trigger: str
):
    """Request one run of `job_name` per enabled instance, skipping an instance whose previous
    run of that job has not finished, so that a slow switch does not pile up runs."""
    busy = _busy_instances(context, job_name)
    tick = context.scheduled_execution_time
    requests = []
    for instance in _enabled_with_partition(context, postgres):
        if instance.slug in busy:
            context.log.info(f"instance {instance.slug}: previous {job_name} run not finished")
            continue
        requests.append(
            RunRequest(
                run_key=f"{trigger}:{instance.slug}:{tick.isoformat()}",
                partition_key=instance.slug,
                tags={"ykvos/trigger": trigger},
            )
        )
    return requests or SkipReason("no enabled instance is due")


@schedule(
    cron_schedule="*/10 * * * *",
    job=customers_job,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=default_schedule_status(),
    description="Refreshes `customers` of every enabled instance every 10 minutes.",
)
def customers_schedule(context: ScheduleEvaluationContext, postgres: PostgresResource):
    return _instance_runs(context, postgres, customers_job.name, "customers")


@schedule(
    cron_schedule="0 */4 * * *",
    job=inventory_sync_job,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=default_schedule_status(),
    description=(
        "Refreshes phones, gateways, rates, suites and soft switches of every enabled "
        "instance every 4 hours, at 00:00, 04:00, ..."
    ),
)
def inventory_sync_schedule(context: ScheduleEvaluationContext, postgres: PostgresResource):
    return _instance_runs(context, postgres, inventory_sync_job.name, "inventory-sync")


@schedule(
    cron_schedule="0 2-22/4 * * *",
    job=gateways_job,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=default_schedule_status(),
    description=(
        "Refreshes `gateways` of every enabled instance every 4 hours at 02:00, 06:00, ..., "
        "between the runs of inventory_sync_schedule, so gateways are pulled every 2 hours."
    ),
)
def gateway_sync_schedule(context: ScheduleEvaluationContext, postgres: PostgresResource):
    return _instance_runs(context, postgres, gateways_job.name, "gateway-sync")


@op(description="Delete expired `vos_data_cache` rows and health probes past their retention.")
def clean_vos_cache(context: OpExecutionContext, postgres: PostgresResource) -> None:
    now = dt.datetime.now(dt.UTC)
    retention = health_retention_days()
    with postgres.connect() as connection:
        expired = vos_cache.delete_expired(connection, now)
        probes = health.delete_older_than(connection, now - dt.timedelta(days=retention))
    context.log.info(
        f"deleted {expired} expired cache rows and {probes} health probes older than "
        f"{retention} days"
    )


@job(description="Daily clean-up of the reply cache and of old health probes.")
def vos_cache_cleanup_job():
    clean_vos_cache()


@schedule(
    cron_schedule="0 2 * * *",
    job=vos_cache_cleanup_job,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=default_schedule_status(),
    description="Deletes expired cache rows and old health probes every day at 02:00.",
)
def vos_cache_cleanup_schedule(context: ScheduleEvaluationContext):
    return RunRequest(run_key=f"cache-cleanup:{context.scheduled_execution_time.isoformat()}")


@sensor(
    job=account_reports_job,
    default_status=default_status(),
    minimum_interval_seconds=300,
)
def account_reports_sensor(context: SensorEvaluationContext, postgres: PostgresResource):
    """Pulls each enabled instance's account report of its previous day once its own local time
    has passed 03:00, plus `YKVOS_CDR_LOOKBACK_DAYS` (default 1) earlier days, and reconciles
    those `cdrs` partitions against the reports."""
    instances = _enabled_with_partition(context, postgres)
    requests = [
        RunRequest(
            run_key=due.run_key,
            partition_key=partition_key(due.day.isoformat(), due.instance),
            tags={"ykvos/trigger": "daily-report"},
        )
        for due in due_report_pulls(
            instances,
            dt.datetime.now(dt.UTC),
            lookback_days=lookback_days(),
            earliest_day=dt.date.fromisoformat(PARTITIONS_START),
        )
    ]
    if not requests:
        return SkipReason("no instance has reached 03:00 local time with a report left to pull")
    return requests


# Asset events of the real-time pulls.
_EVENT_ASSETS = {
    "vos_performance": (AssetMaterialization, "vos_performance"),
    "alarms_current": (AssetMaterialization, "alarms_current"),
    "phones_online": (AssetMaterialization, "phones_online"),
    # The sensor refreshes only the online columns of `gateways`, so it observes the asset
    # rather than materializing it.
    "gateway_online": (AssetObservation, "gateways"),
}


def _light_event(result: LightPullResult):
    event_type, asset_name = _EVENT_ASSETS[result.pull]
    metadata = {
        name: MetadataValue.int(value) if isinstance(value, int) else MetadataValue.float(value)
        for name, value in result.metrics.items()
    }
    for table, count in result.rows.items():
        metadata[f"rows_{table}"] = MetadataValue.int(count)
    metadata["requests"] = MetadataValue.int(result.requests)
    metadata["api_seconds"] = MetadataValue.float(round(result.seconds, 3))
    return event_type(asset_key=AssetKey(asset_name), partition=result.instance, metadata=metadata)


@sensor(
    default_status=default_status(),
    minimum_interval_seconds=60,
)
def vos_realtime_sensor(
    context: SensorEvaluationContext, postgres: PostgresResource, vos_cache: VosCacheResource
):
    """Pulls the live state of every enabled instance whose cached reply has expired: load
    (GetPerformance) and alarms every minute, the online columns of `gateways` every minute,
    online phones every 5 minutes (the cache times-to-live). It runs no job: it writes the
    tables itself and reports a materialization of `vos_performance`, `alarms_current` and
    `phones_online` or an observation of `gateways` per pull."""
    policy = vos_cache.policy()
    now = dt.datetime.now(dt.UTC)
    deadline = time.monotonic() + TICK_BUDGET_SECONDS
    instances = _enabled_with_partition(context, postgres)

    def pull(instance: VosInstance) -> list[LightPullResult]:
        pulls = due_pulls(postgres.connect, instance.slug, now)
        return list(run_light_pulls(instance, pulls, postgres.connect, policy, deadline=deadline))

    results = _for_each_instance(context, instances, pull)
    failed = [result for result in results if not result.ok]
    for result in failed:
        context.log.warning(f"instance {result.instance}: {result.pull} failed: {result.error}")
    events = [_light_event(result) for result in results if result.ok]
    if not events:
        if failed:
            return SkipReason(f"{len(failed)} real-time pulls failed. See the tick's log.")
        return SkipReason("no cached real-time reply has expired")
    return SensorResult(asset_events=events)


@sensor(
    default_status=default_status(),
    minimum_interval_seconds=300,
)
def vos_health_sensor(context: SensorEvaluationContext, postgres: PostgresResource):
    """Probes every enabled instance with one GetSoftSwitch request every 5 minutes, records
    the probe in `vos_health_checks` and reports the check `switch_reachable`: a warning after
    a failure, an error after YKVOS_HEALTH_FAILURES_BEFORE_ERROR (default 3) in a row."""
    threshold = health_failures_before_error()
    deadline = time.monotonic() + TICK_BUDGET_SECONDS
    instances = _enabled_with_partition(context, postgres)

    def check(instance: VosInstance) -> list[AssetCheckEvaluation]:
        if time.monotonic() > deadline:
            context.log.warning(
                f"instance {instance.slug}: probe left for the next tick, because this tick has"
                " used its time budget"
            )
            return []
        outcome = probe(instance)
        with postgres.connect() as connection:
            health.record_probe(connection, outcome)
            failures = health.consecutive_failures(connection, instance.slug)
        passed, severity = health_verdict(failures, threshold)
        if not outcome.ok:
            context.log.warning(
                f"instance {instance.slug}: probe failed ({failures} in a row): {outcome.error}"
            )
        return [
            AssetCheckEvaluation(
                asset_key=vos_health_checks.key,
                check_name="switch_reachable",
                passed=passed,
                severity=severity,
                partition=instance.slug,
                metadata=health_metadata(outcome, failures, threshold),
            )
        ]

    evaluations = _for_each_instance(context, instances, check)
    if not evaluations:
        return SkipReason("no enabled instance with a partition to probe")
    return SensorResult(asset_events=evaluations)


def _for_each_instance(context: SensorEvaluationContext, instances: list[VosInstance], work):
    """Run `work(instance)` for the instances in parallel and concatenate the returned lists.

    An unexpected error of one instance (a database failure, a bug) is logged and the other
    instances' results are kept.
    """
    results = []
    if not instances:
        return results
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_INSTANCES, len(instances))) as pool:
        futures = {pool.submit(work, instance): instance.slug for instance in instances}
        for future, slug in futures.items():
            try:
                results += future.result()
            except Exception as error:  # noqa: BLE001 - one instance must not stop the others
                context.log.error(f"instance {slug}: {type(error).__name__}: {error}")
                logger.exception("instance %s failed in a sensor tick", slug)
    return results


inventory_jobs = [
    customers_job,
    inventory_sync_job,
    gateways_job,
    account_reports_job,
    vos_cache_cleanup_job,
]
inventory_schedules = [
    customers_schedule,
    inventory_sync_schedule,
    gateway_sync_schedule,
    vos_cache_cleanup_schedule,
]
inventory_sensors = [account_reports_sensor, vos_realtime_sensor, vos_health_sensor]
