"""`ykvos demo`: the main job end to end against the bundled simulator, through Dagster.

Registers the simulator as an instance, materializes the last N complete call days of `cdrs`
and every statistics period they touch in the persistent Dagster instance, then checks the
daily statistics against a direct count over the simulator's GetCdr replies. Last, it fills the
inventory, cache, health and report tables and reconciles each day's CDRs with the switch's
account report (`demo_inventory`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from dagster import DagsterInstance, materialize

from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.destinations import cdr_destinations
from ykvos_dagster.assets.statistics import statistics_assets
from ykvos_dagster.definitions import build_resources
from ykvos_dagster.demo_inventory import run_inventory_demo
from ykvos_dagster.partitions import instance_partitions, partition_key, period_key
from ykvos_dagster.scheduling import periods_for_days
from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
from ykvos_dagster.simulator.server import SimulatorServer
from ykvos_dagster.vos3000.client import VosClient
from ykvos_dagster.vos3000.days import local_today, zone_for
from ykvos_dagster.warehouse import registry
from ykvos_dagster.warehouse.postgres import connect

logger = logging.getLogger("ykvos.demo")

# Dagster's console logger prints every event at DEBUG; the demo prints its own progress.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@contextmanager
def serve_simulator(
    port: int, *, enabled: bool = True, seed: int = 1, timezone: str = "Asia/Shanghai"
) -> Iterator[SimulatorServer | None]:
    """Serve the simulator on 127.0.0.1:`port` in a background thread for the block."""
    if not enabled:
        yield None
        return
    switch = SimulatedSwitch(SimulatorConfig(seed=seed, timezone=timezone))
    with SimulatorServer(switch, host="127.0.0.1", port=port) as server:
        logger.info("VOS3000 simulator listening on %s", server.url)
        yield server


def _direct_totals(client: VosClient, accounts: list[str], day: dt.date) -> dict:
    records = client.get_cdrs(accounts, day)
    totals = {"calls": 0, "connected": 0, "duration": 0, "billed_seconds": 0, "fee": Decimal(0)}
    for record in records:
        totals["calls"] += 1
        if record["holdTime"] > 0:
            totals["connected"] += 1
            totals["duration"] += record["holdTime"]
        totals["billed_seconds"] += record["feeTime"]
        totals["fee"] += Decimal(record["fee"])
    return totals


def run_demo(*, days: int, slug: str, seed: int, timezone: str, simulator_port: int) -> int:
    if days < 1:
        raise ValueError(f"--days must be at least 1, got {days}")
    zone = zone_for(timezone)
    started = time.monotonic()
    resources = build_resources()
    instance = DagsterInstance.get()

    with serve_simulator(simulator_port, seed=seed, timezone=timezone) as server:
        last_day = local_today(zone) - dt.timedelta(days=1)
        pull_days = [last_day - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
        with connect() as connection:
            vos_instance = registry.add_instance(
                connection,
                slug=slug,
                name=f"VOS3000 simulator (seed {seed})",
                base_url=server.url,
                timezone=timezone,
                first_day=min(pull_days[0], dt.date(2024, 1, 1)),
                pause_seconds=0,
                timeout_seconds=60,
                update_existing=True,
            )
        instance.add_dynamic_partitions(instance_partitions.name, [slug])

        timings: dict[str, float] = {}
        for day in pull_days:
            day_started = time.monotonic()
            key = partition_key(day.isoformat(), slug)
            materialize(
                [cdrs, cdr_destinations],
                partition_key=key,
                instance=instance,
                resources=resources,
                run_config=QUIET_RUN_CONFIG,
                tags={"ykvos/trigger": "demo"},
            )
            materialize(
                [cdrs, statistics_assets["day"]],
                selection=[statistics_assets["day"]],
                partition_key=key,
                instance=instance,
                resources=resources,
                run_config=QUIET_RUN_CONFIG,
                tags={"ykvos/trigger": "demo"},
            )
            timings[day.isoformat()] = time.monotonic() - day_started
            logger.info("demo: %s loaded in %.1f s", day, timings[day.isoformat()])

        period_started = time.monotonic()
        periods = periods_for_days(pull_days)
        for period in ("month", "quarter", "year"):
            for start in sorted(periods[period]):
                materialize(
                    [cdrs, statistics_assets[period]],
                    selection=[statistics_assets[period]],
                    partition_key=partition_key(period_key(period, start), slug),
                    instance=instance,
                    resources=resources,
                    run_config=QUIET_RUN_CONFIG,
                    tags={"ykvos/trigger": "demo"},
                )
        timings["periods"] = time.monotonic() - period_started

        with VosClient(vos_instance.endpoint()) as client:
            accounts = client.get_all_accounts()
            direct = {day: _direct_totals(client, accounts, day) for day in pull_days}

        inventory_started = time.monotonic()
        inventory = run_inventory_demo(instance, slug, pull_days, QUIET_RUN_CONFIG)
        timings["inventory"] = time.monotonic() - inventory_started

    with connect() as connection:
        stored = {
            row[0]: row[1:]
            for row in connection.execute(
                "SELECT period_start, total_calls, connected_calls, total_duration,"
                " total_billed_seconds, total_fee, connection_rate, is_complete"
                " FROM cdr_statistics WHERE instance = %s AND period_type = 'day'"
                " AND statistic_type = 'vos' AND period_start = ANY(%s)",
                (slug, pull_days),
            ).fetchall()
        }
        period_rows = connection.execute(
            "SELECT period_type, period_start, total_calls, total_fee, days_loaded,"
            " days_elapsed, is_complete FROM cdr_statistics WHERE instance = %s"
            " AND statistic_type = 'vos' AND period_type <> 'day' ORDER BY period_type,"
            " period_start",
            (slug,),
        ).fetchall()
        level_counts = connection.execute(
            "SELECT statistic_type, count(*) FROM cdr_statistics WHERE instance = %s"
            " GROUP BY statistic_type ORDER BY statistic_type",
            (slug,),
        ).fetchall()

    status = _print_summary(
        slug, pull_days, direct, stored, period_rows, level_counts, timings, started
    )
    print()
    print("\n".join(inventory.lines()) + f" ({timings['inventory']:.1f} s)")
    if not inventory.ok:
        print("FAILED: the health probe failed or a day's CDRs differ from the switch's report")
        return 1
    return status


def _print_summary(slug, pull_days, direct, stored, period_rows, level_counts, timings, started):
    from ykvos_dagster.cli import print_rows

    mismatches = 0
    rows = []
    for day in pull_days:
        expected = direct[day]
        got = stored.get(day)
        actual = None
        if got is not None:
            actual = {
                "calls": got[0],
                "connected": got[1],
                "duration": got[2],
                "billed_seconds": got[3],
                "fee": Decimal(got[4]),
            }
        match = actual == expected
        mismatches += not match
        rows.append(
            [
                day,
                expected["calls"],
                actual["calls"] if actual else "-",
                actual["connected"] if actual else "-",
                got[5] if got else "-",
                actual["fee"] if actual else "-",
                f"{timings[day.isoformat()]:.1f}",
                "yes" if match else "NO",
            ]
        )
    print()
    print(f"Daily statistics of instance {slug} against the simulator's GetCdr replies:")
    print_rows(
        [
            "call_day",
            "simulator_cdrs",
            "stored_cdrs",
            "connected",
            "connection_rate_%",
            "total_fee",
            "seconds",
            "equal",
        ],
        rows,
        "table",
    )
    print()
    print("Period statistics (vos level):")
    print_rows(
        ["period", "start", "calls", "total_fee", "days_loaded", "days_elapsed", "complete"],
        period_rows,
        "table",
    )
    print()
    print("Rows in cdr_statistics by level: " + ", ".join(f"{t} {n}" for t, n in level_counts))
    print(
        f"Total: {sum(d['calls'] for d in direct.values())} CDRs in {len(pull_days)} days, "
        f"{time.monotonic() - started:.1f} s (periods {timings['periods']:.1f} s)"
    )
    if mismatches:
        print(f"FAILED: {mismatches} days differ from the simulator")
        return 1
    print("OK: every day's statistics equal a direct count over the simulator's replies")
    return 0
