"""Backfills through `dagster dev` (webserver and daemon) on 127.0.0.1, launched over GraphQL
while the simulators inject transient faults, compared with totals straight from the simulators.
"""

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance

from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
from ykvos_dagster.simulator.faults import FaultPlan
from ykvos_dagster.simulator.server import SimulatorServer
from ykvos_dagster.warehouse.clickhouse import open_client

DAYS = [dt.date(2025, 4, 7), dt.date(2025, 4, 8)]
# Every GetCdr and GetAllCustomers request fails once with a 503 or an empty body; the retry of
# the same request succeeds.
FAULTS = "http_status=503,times=1,interfaces=GetCdr;empty_body,times=1,interfaces=GetAllCustomers"
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}
"""


@dataclass(frozen=True)
class DagsterDev:
    url: str
    home: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_dev(ykvos_home, postgres_dsn, tmp_path_factory):
    """One `dagster dev` for the module, in its own process group, ended in teardown."""
    home = tmp_path_factory.mktemp("dagster-dev-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "YKVOS_HOME": str(ykvos_home),
        "YKVOS_POSTGRES_DSN": postgres_dsn,
        "YKVOS_AUTOMATION": "off",
    }
    log = (home / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-m",
            "ykvos_dagster.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.post(url, json={"query": "{ version }"}, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dagster dev did not start; see {home / 'dagster-dev.log'}")
            time.sleep(1)
        yield DagsterDev(url=url, home=home)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def graphql(url, query, variables):
    response = httpx.post(url, json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def run_backfill(url, assets, partition_names, timeout=420):
    """Launch an asset backfill of `assets` and wait for it; the daemon runs each partition of
    the statistics after the same partition of its upstream `cdrs`."""
    data = graphql(
        url,
        LAUNCH,
        {
            "params": {
                "assetSelection": [{"path": [asset]} for asset in assets],
                "partitionNames": partition_names,
            }
        },
    )
    launched = data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if status.get("status") in TERMINAL:
            return status["status"]
        time.sleep(2)
    raise AssertionError(f"backfill {backfill_id} of {assets} did not finish in {timeout} s")


def snapshot(pg, slugs):
    with open_client() as client:
        stored = client.query(
            "SELECT instance, call_day, count(), countIf(hold_time > 0), sum(fee)"
            " FROM cdrs WHERE instance IN {slugs:Array(String)}"
            " GROUP BY instance, call_day ORDER BY instance, call_day",
            parameters={"slugs": slugs},
        ).result_rows
    statistics = pg.execute(
        "SELECT instance, period_start, statistic_type, dimension_value, total_calls,"
        " connected_calls, total_duration, total_billed_seconds, total_fee FROM cdr_statistics"
        " WHERE instance = ANY(%s) AND period_type = 'day'"
        " ORDER BY instance, period_start, statistic_type, dimension_value",
        (slugs,),
    ).fetchall()
    pg.commit()
    return stored, statistics


@pytest.mark.slow
def test_backfill_under_faults_matches_simulators(dagster_dev, register, pg, unique_slug):
    switches = {
        f"{unique_slug}-a": SimulatedSwitch(SimulatorConfig(seed=31, accounts=8, daily_cdrs=800)),
        f"{unique_slug}-b": SimulatedSwitch(
            SimulatorConfig(seed=32, accounts=8, daily_cdrs=800, timezone="Europe/Berlin")
        ),
    }
    servers = {
        slug: SimulatorServer(switch, faults=FaultPlan.parse(FAULTS)).start()
        for slug, switch in switches.items()
    }
    try:
        for slug, server in servers.items():
            register(slug, server, timezone=server.switch.config.timezone)
        slugs = sorted(switches)
        # The partitions of new instances, as vos_instances_sensor would add them.
        with DagsterInstance.from_config(str(dagster_dev.home)) as instance:
            instance.add_dynamic_partitions("vos_instances", slugs)
        partitions = [f"{day.isoformat()}|{slug}" for day in DAYS for slug in slugs]

        assets = ["cdrs", "cdr_statistics_daily"]
        status = run_backfill(dagster_dev.url, assets, partitions)
        assert status in ("COMPLETED", "COMPLETED_SUCCESS")
        injected = sum(server.faults.injected.total() for server in servers.values())
        assert injected > 0

        stored, statistics = snapshot(pg, slugs)
        expected_stored = []
        for slug in slugs:
            for day in DAYS:
                totals = switches[slug].day_totals(day)
                expected_stored.append(
                    (slug, day, totals["calls"], totals["connected"], totals["fee"])
                )
        assert stored == expected_stored
        vos_rows = [row for row in statistics if row[2] == "vos"]
        assert [(row[0], row[1], *row[4:]) for row in vos_rows] == [
            (
                slug,
                day,
                *(
                    switches[slug].day_totals(day)[key]
                    for key in ("calls", "connected", "duration", "billed_seconds", "fee")
                ),
            )
            for slug in slugs
            for day in DAYS
        ]

        run_backfill(dagster_dev.url, assets, partitions)
        assert snapshot(pg, slugs) == (stored, statistics)
    finally:
        for server in servers.values():
            server.stop()
