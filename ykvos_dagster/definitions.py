"""The ykvos-dagster code location."""

from dagster import Definitions, in_process_executor

from ykvos_dagster.alerts import run_failure_webhook_sensor
from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.destinations import cdr_destinations
from ykvos_dagster.assets.statistics import statistics_assets
from ykvos_dagster.automation import (
    cdr_daily_pull_sensor,
    cdr_statistics_sensor,
    cdrs_job,
    statistics_jobs,
    vos_instances_sensor,
)
from ykvos_dagster.maintenance import purge_old_runs_job, purge_old_runs_schedule
from ykvos_dagster.resources import ClickHouseResource, PostgresResource, VosApiResource


def build_resources() -> dict:
    """Resources for the definitions, `ykvos demo` and the tests. Each reads its DSN from the
    environment when used, not here."""
    return {
        "vos": VosApiResource(),
        "clickhouse": ClickHouseResource(),
        "postgres": PostgresResource(),
    }


defs = Definitions(
    assets=[cdrs, cdr_destinations, *statistics_assets.values()],
    jobs=[cdrs_job, *statistics_jobs.values(), purge_old_runs_job],
    schedules=[purge_old_runs_schedule],
    sensors=[
        vos_instances_sensor,
        cdr_daily_pull_sensor,
        cdr_statistics_sensor,
        run_failure_webhook_sensor,
    ],
    resources=build_resources(),
    executor=in_process_executor,
)
