"""The ykvos-dagster code location."""

from dagster import Definitions, in_process_executor

from ykvos_dagster.alerts import run_failure_webhook_sensor
from ykvos_dagster.assets.account_reports import account_detail_reports, cdrs_match_account_report
from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.destinations import cdr_destinations
from ykvos_dagster.assets.inventory import inventory_assets, switch_reachable, vos_health_checks
from ykvos_dagster.assets.statistics import statistics_assets
from ykvos_dagster.automation import (
    cdr_daily_pull_sensor,
    cdr_statistics_sensor,
    cdrs_job,
    statistics_jobs,
    vos_instances_sensor,
)
from ykvos_dagster.inventory_automation import (
    inventory_jobs,
    inventory_schedules,
    inventory_sensors,
)
from ykvos_dagster.maintenance import purge_old_runs_job, purge_old_runs_schedule
from ykvos_dagster.resources import (
    ClickHouseResource,
    PostgresResource,
    VosApiResource,
    VosCacheResource,
)


def build_resources() -> dict:
    """Resources for the definitions, `ykvos demo` and the tests. Each reads its DSN from the
    environment when used, not here."""
    return {
        "vos": VosApiResource(),
        "clickhouse": ClickHouseResource(),
        "postgres": PostgresResource(),
        "vos_cache": VosCacheResource(),
    }


defs = Definitions(
    assets=[
        cdrs,
        cdr_destinations,
        *statistics_assets.values(),
        *inventory_assets.values(),
        vos_health_checks,
        account_detail_reports,
    ],
    asset_checks=[cdrs_match_account_report, switch_reachable],
    jobs=[cdrs_job, *statistics_jobs.values(), *inventory_jobs, purge_old_runs_job],
    schedules=[*inventory_schedules, purge_old_runs_schedule],
    sensors=[
        vos_instances_sensor,
        cdr_daily_pull_sensor,
        cdr_statistics_sensor,
        run_failure_webhook_sensor,
        *inventory_sensors,
    ],
    resources=build_resources(),
    executor=in_process_executor,
)
