"""The inventory part of `ykvos demo`: live state, inventory, health and account reports of the
demo instance, through the same sensors, assets and jobs that run in production."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import DagsterInstance, SensorResult, build_sensor_context, materialize

from ykvos_dagster.assets.inventory import inventory_assets
from ykvos_dagster.definitions import build_resources, defs
from ykvos_dagster.inventory_automation import (
    account_reports_job,
    vos_health_sensor,
    vos_realtime_sensor,
)
from ykvos_dagster.partitions import partition_key
from ykvos_dagster.warehouse.postgres import connect

# The assets that the sensors do not materialize: customers, gateways, phones, rates, suites
# and soft switches.
SCHEDULED_ASSETS = ("customers", "gateways", "phones", "fee_rates", "suites", "soft_switches")


@dataclass
class InventorySummary:
    counts: dict[str, int]
    health_ok: bool
    health_latency_ms: float
    reconciled_days: int
    report_days: int
    sensor_events: int

    @property
    def ok(self) -> bool:
        return self.health_ok and self.reconciled_days == self.report_days

    def lines(self) -> list[str]:
        counts = self.counts
        return [
            f"Inventory: {counts['customers']} customers ({counts['in_debt']} in debt), "
            f"{counts['gateways']} gateways ({counts['gateways_online']} online), "
            f"{counts['phones']} phones ({counts['phones_online']} online), "
            f"{counts['fee_rates']} rates in {counts['fee_rate_groups']} groups, "
            f"{counts['suites']} suites, {counts['alarms_current']} alarms",
            f"Cache: {counts['vos_data_cache']} replies. Sensor events: {self.sensor_events}. "
            f"Health: {'ok' if self.health_ok else 'FAILED'} in {self.health_latency_ms:.0f} ms. "
            f"CDRs equal the switch's account report on {self.reconciled_days} of "
            f"{self.report_days} days",
        ]


def _record_sensor_tick(instance: DagsterInstance, sensor, resources: dict) -> int:
    """Evaluate one sensor tick and record its asset events as the daemon would."""
    result = sensor(build_sensor_context(instance=instance, resources=resources))
    if not isinstance(result, SensorResult):
        return 0
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return len(result.asset_events)


def run_inventory_demo(
    instance: DagsterInstance, slug: str, days: list[dt.date], run_config: dict
) -> InventorySummary:
    """Pull the live state and the inventory of `slug`, probe it, pull the account reports of
    `days` and reconcile those `cdrs` partitions. Return what the tables then contain."""
    resources = build_resources()
    tags = {"ykvos/trigger": "demo"}
    sensor_events = _record_sensor_tick(instance, vos_realtime_sensor, resources)
    materialize(
        [inventory_assets[name] for name in SCHEDULED_ASSETS],
        partition_key=slug,
        instance=instance,
        resources=resources,
        run_config=run_config,
        tags=tags,
    )
    sensor_events += _record_sensor_tick(instance, vos_health_sensor, resources)

    job = defs.resolve_job_def(account_reports_job.name)
    reconciled = 0
    for day in days:
        result = job.execute_in_process(
            partition_key=str(partition_key(day.isoformat(), slug)),
            instance=instance,
            run_config=run_config,
            tags=tags,
        )
        evaluations = result.get_asset_check_evaluations()
        reconciled += bool(evaluations) and all(evaluation.passed for evaluation in evaluations)

    with connect() as connection:
        counts = {
            table: connection.execute(
                f"SELECT count(*) FROM {table} WHERE instance = %s", (slug,)
            ).fetchone()[0]
            for table in (
                "customers",
                "gateways",
                "phones",
                "phones_online",
                "fee_rate_groups",
                "fee_rates",
                "suites",
                "alarms_current",
                "vos_data_cache",
            )
        }
        counts["in_debt"] = connection.execute(
            "SELECT count(*) FROM customers WHERE instance = %s AND is_in_debt", (slug,)
        ).fetchone()[0]
        counts["gateways_online"] = connection.execute(
            "SELECT count(*) FROM gateways WHERE instance = %s AND is_online", (slug,)
        ).fetchone()[0]
        health_ok, latency = connection.execute(
            "SELECT ok, latency_ms FROM vos_health_checks WHERE instance = %s"
            " ORDER BY checked_at DESC LIMIT 1",
            (slug,),
        ).fetchone()

    return InventorySummary(
        counts=counts,
        health_ok=health_ok,
        health_latency_ms=float(latency),
        reconciled_days=reconciled,
        report_days=len(days),
        sensor_events=sensor_events,
    )
