"""Deleting old Dagster runs. The `retention:` block of dagster.yaml expires sensor and schedule
ticks only, so runs and their event logs would otherwise grow forever.

A finished run created more than `YKVOS_RUN_RETENTION_DAYS` days ago is deleted with its event
log, unless it contains the latest materialization, planned materialization or failed
materialization of an asset partition. Those events give the partition its status in the UI, so
each partition keeps the runs behind its current state, and a day pulled again keeps only its
newest run.
"""

import datetime as dt
import os
from dataclasses import dataclass

from dagster import (
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    in_process_executor,
    job,
    op,
    schedule,
)

RUN_RETENTION_ENV = "YKVOS_RUN_RETENTION_DAYS"
MIN_RETENTION_DAYS = 7
MAX_RUNS_PER_PURGE = 2_000
_PAGE_SIZE = 200
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


@dataclass(frozen=True)
class PurgeResult:
    examined: int
    deleted: int
    kept: int


def run_retention_days() -> int | None:
    """Return the days that finished runs are kept, or None to keep them all (the default).

    The sensors recognise the runs they already requested by run key, and each key contains the
    day of the request, so deleting runs older than `MIN_RETENTION_DAYS` repeats no request.
    """
    raw = os.environ.get(RUN_RETENTION_ENV, "").strip()
    if not raw or raw == "0":
        return None
    try:
        days = int(raw)
    except ValueError:
        raise ValueError(f"{RUN_RETENTION_ENV}={raw!r} is not a whole number of days") from None
    if days < MIN_RETENTION_DAYS:
        raise ValueError(
            f"{RUN_RETENTION_ENV}={days} is too short: keep runs at least {MIN_RETENTION_DAYS} "
            "days, or use 0 to keep every run"
        )
    return days


def _contains_latest_asset_event(instance: DagsterInstance, run_id: str) -> bool:
    # A partition's status comes from its latest materialization and from the run of its latest
    # planned materialization (a failed run leaves a planned event and no materialization).
    fetchers = {
        DagsterEventType.ASSET_MATERIALIZATION: instance.fetch_materializations,
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED: instance.fetch_planned_materializations,
        DagsterEventType.ASSET_FAILED_TO_MATERIALIZE: instance.fetch_failed_materializations,
    }
    for event_type, fetch in fetchers.items():
        for record in instance.get_records_for_run(run_id, of_type=event_type).records:
            event = record.event_log_entry.dagster_event
            partitions = [event.partition] if event.partition else None
            latest = fetch(
                AssetRecordsFilter(asset_key=event.asset_key, asset_partitions=partitions),
                limit=1,
            ).records
            if latest and latest[0].storage_id == record.storage_id:
                return True
    return False


def purge_old_runs(
    instance: DagsterInstance, created_before: dt.datetime, limit: int = MAX_RUNS_PER_PURGE
) -> PurgeResult:
    """Delete up to `limit` finished runs created before `created_before`, oldest first, except
    those containing the latest asset event of an asset partition."""
    to_delete: list[str] = []
    examined = 0
    cursor = None
    while examined < limit:
        records = instance.get_run_records(
            filters=RunsFilter(statuses=_FINISHED, created_before=created_before),
            limit=min(_PAGE_SIZE, limit - examined),
            ascending=True,
            cursor=cursor,
        )
        if not records:
            break
        for record in records:
            run_id = record.dagster_run.run_id
            if not _contains_latest_asset_event(instance, run_id):
                to_delete.append(run_id)
        examined += len(records)
        cursor = records[-1].dagster_run.run_id

    # Deleting after paging, because the cursor is a run that must still exist.
    for run_id in to_delete:
        instance.delete_run(run_id)
    return PurgeResult(examined=examined, deleted=len(to_delete), kept=examined - len(to_delete))


@op
def purge_old_runs_op(context: OpExecutionContext) -> None:
    """Deletes finished runs older than YKVOS_RUN_RETENTION_DAYS, except those that contain the
    latest asset event of an asset partition."""
    days = run_retention_days()
    if days is None:
        context.log.info(f"{RUN_RETENTION_ENV} is not set: every run is kept")
        return
    created_before = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    result = purge_old_runs(context.instance, created_before)
    context.log.info(
        f"runs created before {created_before:%Y-%m-%d %H:%M} UTC: examined {result.examined}, "
        f"deleted {result.deleted}, kept {result.kept} that contain the latest event of an asset "
        "partition"
    )


@job(executor_def=in_process_executor, tags={"ykvos/trigger": "maintenance"})
def purge_old_runs_job():
    """Delete old Dagster runs and their event logs (see YKVOS_RUN_RETENTION_DAYS)."""
    purge_old_runs_op()


@schedule(
    job=purge_old_runs_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def purge_old_runs_schedule(context: ScheduleEvaluationContext):
    """Runs purge_old_runs_job daily at 03:30 UTC when YKVOS_RUN_RETENTION_DAYS is set."""
    if run_retention_days() is None:
        return SkipReason(f"{RUN_RETENTION_ENV} is not set: every run is kept")
    return RunRequest()
