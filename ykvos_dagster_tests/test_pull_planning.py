"""Planning of GetCdr requests from GetReportCustomerFee counts, the simulator's report, and
pulls against the simulator over HTTP."""

import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest

from ykvos_dagster.cdr_pull import PullOptions, plan_requests, pull_cdr_day
from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
from ykvos_dagster.simulator.server import SimulatorServer
from ykvos_dagster.vos3000 import reports
from ykvos_dagster.vos3000.client import VosClient

DAY = dt.date(2025, 3, 14)
OPTIONS = PullOptions(batch_max_rows=100, max_accounts_per_request=3)


def test_plan_skips_only_idle_unstored():
    plan = plan_requests(["a", "b", "c"], {"a": 0, "b": 0, "c": 5}, {"b": 2}, OPTIONS)
    assert plan == [["b", "c"]]


def test_plan_keeps_unreported_stored_account():
    plan = plan_requests(["a", "z"], {"a": 5}, {"z": 7}, OPTIONS)
    assert plan == [["a", "z"]]


def test_plan_sends_big_accounts_alone():
    plan = plan_requests(["a", "b", "c"], {"a": 40, "b": 100, "c": 50}, {}, OPTIONS)
    assert plan == [["b"], ["a", "c"]]


def test_plan_respects_row_budget():
    plan = plan_requests(["a", "b", "c"], {"a": 60, "b": 50, "c": 40}, {}, OPTIONS)
    assert plan == [["a"], ["b", "c"]]


def test_plan_budget_uses_stored_rows():
    plan = plan_requests(["a", "b"], {"a": 10, "b": 10}, {"a": 95}, OPTIONS)
    assert plan == [["a"], ["b"]]


def test_plan_limits_accounts_per_request():
    accounts = [f"a{number}" for number in range(7)]
    plan = plan_requests(accounts, dict.fromkeys(accounts, 1), {}, OPTIONS)
    assert [len(batch) for batch in plan] == [3, 3, 1]


def test_plan_without_batching():
    options = PullOptions(batch_accounts=False)
    assert plan_requests(["a", "b", "c"], {"a": 1, "b": 0, "c": 2}, {}, options) == [["a"], ["c"]]


def test_plan_without_skipping():
    options = PullOptions(skip_idle_accounts=False, batch_max_rows=10)
    assert plan_requests(["a", "b"], {"a": 0, "b": 0}, {}, options) == [["a", "b"]]


def test_plan_without_report():
    assert plan_requests(["a", "b"], None, {}, OPTIONS) == [["a"], ["b"]]


# ---------------------------------------------------------------- simulator report


@pytest.fixture(scope="module")
def report_server():
    switch = SimulatedSwitch(SimulatorConfig(seed=5, instance="rep", accounts=30, daily_cdrs=900))
    with SimulatorServer(switch) as server:
        yield server


def post(server, interface, payload):
    response = httpx.post(server.interface_url(interface), content=json.dumps(payload))
    return response.json()


def test_report_sums_equal_cdrs(report_server):
    switch = report_server.switch
    accounts = switch.accounts()
    reply = post(
        report_server,
        "GetReportCustomerFee",
        {"accounts": accounts, "period": 1, "beginTime": "20250314", "endTime": "20250314"},
    )
    rows = {row["account"]: row for row in reply["infoReportCustomerFees"]}
    assert reply["retCode"] == 0
    assert set(rows) == {a for a in accounts if switch.cdrs(DAY, a)}
    for account, row in rows.items():
        records = switch.cdrs(DAY, account)
        assert row["cdrCount"] == len(records)
        assert Decimal(str(row["totalFee"])) == sum(r["fee"] for r in records)
        assert row["totalTime"] == sum(r["feeTime"] for r in records)
        assert row["domesticCount"] == sum(1 for r in records if r["callLevel"] == 4)
        assert (row["beginTime"], row["endTime"]) == switch.day_bounds_ms(DAY)


@pytest.mark.parametrize("missing", ["accounts", "period", "beginTime", "endTime"])
def test_report_missing_field_rejected(report_server, missing):
    payload = {"accounts": ["x"], "period": 1, "beginTime": "20250314", "endTime": "20250314"}
    del payload[missing]
    reply = post(report_server, "GetReportCustomerFee", payload)
    assert reply["retCode"] == -10124
    assert reply["infoReportCustomerFees"] == []


def test_report_month_bucket_sums_days(report_server):
    switch = report_server.switch
    account = max(switch.accounts(), key=lambda a: len(switch.cdrs(DAY, a)))
    reply = post(
        report_server,
        "GetReportCustomerFee",
        {"accounts": [account], "period": -2, "beginTime": "20250313", "endTime": "20250314"},
    )
    (row,) = reply["infoReportCustomerFees"]
    expected = len(switch.cdrs(DAY, account)) + len(switch.cdrs(DAY - dt.timedelta(1), account))
    assert row["cdrCount"] == expected


def test_client_report_counts(report_server):
    from ykvos_dagster.vos3000.client import VosEndpoint

    switch = report_server.switch
    accounts = switch.accounts()
    endpoint = VosEndpoint(instance="rep", base_url=report_server.url)
    with VosClient(endpoint) as client:
        counts = reports.cdr_counts(client, accounts, DAY, batch_size=7)
        assert client.requests_by_interface["GetReportCustomerFee"] == 5
    assert counts == {a: len(switch.cdrs(DAY, a)) for a in accounts}


# ---------------------------------------------------------------- pulls


def run_pull(instance, server, options=None):
    from ykvos_dagster.warehouse.clickhouse import open_client

    with VosClient(instance.endpoint()) as client:
        return pull_cdr_day(
            instance=instance,
            day=DAY,
            client=client,
            open_clickhouse=open_client,
            options=options,
        )


def test_pull_with_fewer_requests(register, simulator, unique_slug):
    instance = register(unique_slug, simulator)
    planned = run_pull(instance, simulator)
    one_each = run_pull(instance, simulator, PullOptions(False, False))
    assert planned.rows == simulator.switch.day_totals(DAY)["calls"]
    assert one_each.rows == planned.rows
    assert planned.cdr_requests < one_each.cdr_requests
    assert one_each.cdr_requests == one_each.accounts_listed
    assert planned.accounts_skipped > 0
    assert planned.requests_one_per_account == one_each.requests


def test_pull_requests_stored_idle_account(register, simulator, unique_slug):
    from ykvos_dagster.warehouse.clickhouse import open_client

    instance = register(unique_slug, simulator)
    switch = simulator.switch
    idle = next(a for a in switch.accounts() if not switch.cdrs(DAY, a))
    run_pull(instance, simulator)
    with open_client() as ch:
        ch.command(
            "INSERT INTO cdrs SELECT * REPLACE ({a:String} AS account, flow_no + 1 AS flow_no)"
            " FROM cdrs WHERE instance = {i:String} AND call_day = {d:Date} LIMIT 1",
            parameters={"a": idle, "i": unique_slug, "d": DAY},
        )
    # The idle account has a stored row and gets no CDRs from the switch: a shrink, not a skip.
    from ykvos_dagster.warehouse.cdr_store import CdrLoadError

    with pytest.raises(CdrLoadError, match=idle):
        run_pull(instance, simulator)


def test_registry_stores_pull_options(register, pg, unique_slug):
    from ykvos_dagster.warehouse.registry import get_instance

    register(unique_slug, skip_idle_accounts=False, batch_accounts=False, batch_max_rows=123)
    instance = get_instance(pg, unique_slug)
    assert (instance.skip_idle_accounts, instance.batch_accounts, instance.batch_max_rows) == (
        False,
        False,
        123,
    )


def test_pull_options_migration_idempotent(pg):
    from ykvos_dagster.warehouse.migrations import schema_folder

    sql = (schema_folder("sql") / "0004_pull_options.sql").read_text()
    pg.execute(sql)
    pg.execute(sql)
    columns = {
        row[0]
        for row in pg.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'vos_instances'"
        )
    }
    assert {"skip_idle_accounts", "batch_accounts", "batch_max_rows"} <= columns


@pytest.mark.parametrize(("quarantined", "passed"), [(0, True), (1, True), (2, False)])
def test_quarantine_check_share(monkeypatch, quarantined, passed):
    from ykvos_dagster.assets.cdrs import _quarantine_check
    from ykvos_dagster.cdr_pull import PullResult

    monkeypatch.setenv("YKVOS_QUARANTINE_MAX_SHARE", "0.001")
    result = PullResult(
        instance="sw",
        day=DAY,
        rows=1000 - quarantined,
        accounts_requested=1,
        accounts_with_cdrs=1,
        answered_calls=0,
        total_fee=Decimal(0),
        duplicates_dropped=0,
        previous_rows=0,
        requests=1,
        api_seconds=0.0,
        load_seconds=0.0,
        quarantined=quarantined,
    )
    assert _quarantine_check(result).passed is passed
