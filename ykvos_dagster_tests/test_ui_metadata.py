"""What the assets show in the Dagster UI: Markdown previews, column schemas that match the live
tables, row counts and freshness policies."""

import datetime as dt
from decimal import Decimal

import pytest
from dagster import DagsterInstance, materialize

from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.observability import COLUMN_SCHEMA_KEY, ROW_COUNT_KEY
from ykvos_dagster.assets.statistics import statistics_assets
from ykvos_dagster.definitions import build_resources, defs
from ykvos_dagster.metadata import (
    CDR_STATISTICS_COLUMNS,
    CDRS_COLUMNS,
    DESTINATION_PREFIXES_COLUMNS,
    Leader,
    leaders_markdown,
    markdown_table,
    statistics_leaders,
)
from ykvos_dagster.partitions import instance_partitions, partition_key
from ykvos_dagster.warehouse.leaders import leaders_preview, top_leaders
from ykvos_dagster.warehouse.statistics import StatisticRow
from ykvos_dagster_tests.cdr_samples import make_cdr
from ykvos_dagster_tests.test_statistics import load_day

DAY = dt.date(2024, 7, 1)


def test_markdown_table_escapes_cells():
    table = markdown_table(["a", "b"], [["x|y", "line\nbreak"]])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| x\\|y | line break |"]


def test_leader_asr_rounds_half_up():
    assert Leader("k", "", 8, 1, Decimal(0)).asr_percent == Decimal("12.50")
    assert Leader("k", "", 3, 2, Decimal(0)).asr_percent == Decimal("66.67")
    assert Leader("k", "", 0, 0, Decimal(0)).asr_percent == Decimal("0.00")


def test_leaders_markdown_sections():
    text = leaders_markdown(
        [
            ("Top accounts", "account", [Leader("a1", "One", 3, 2, Decimal("1.5"))]),
            ("Top routing gateways", "routing gateway", []),
        ],
        "CNY",
    )
    assert "| a1 | One | 3 | 2 | 66.67 | 1.50 |" in text
    assert "revenue (CNY)" in text
    assert text.endswith("**Top routing gateways**\n\nNo calls.")


def test_empty_key_shown_as_none():
    text = leaders_markdown([("Top", "gateway", [Leader("", "", 1, 0, Decimal(0))])], "USD")
    assert "| (none) |" in text


def test_statistics_leaders_orders_by_calls():
    rows = [
        StatisticRow("vos", "", "", 9, 5, 0, 0, Decimal(0)),
        StatisticRow("account", "b", "B", 3, 1, 0, 0, Decimal("1")),
        StatisticRow("account", "a", "A", 3, 2, 0, 0, Decimal("2")),
        StatisticRow("account", "c", "C", 4, 2, 0, 0, Decimal("3")),
        StatisticRow("gateway", "g", "", 9, 5, 0, 0, Decimal(0)),
    ]
    leaders = statistics_leaders(rows, "account", limit=2)
    assert [leader.key for leader in leaders] == ["c", "a"]


@pytest.mark.parametrize(
    ("table", "columns"),
    [("cdrs", CDRS_COLUMNS), ("destination_prefixes", DESTINATION_PREFIXES_COLUMNS)],
)
def test_clickhouse_catalog_matches_table(ch, table, columns):
    live = ch.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase()"
        " AND table = {table:String} ORDER BY position",
        parameters={"table": table},
    ).result_rows
    assert [(column.name, column.type) for column in columns] == live


def test_statistics_catalog_matches_table(pg):
    live = pg.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = 'cdr_statistics' ORDER BY ordinal_position"
    ).fetchall()
    assert [(column.name, column.type) for column in CDR_STATISTICS_COLUMNS] == live


@pytest.mark.parametrize(
    "asset_name",
    ["cdrs", "cdr_destinations", "cdr_statistics_daily", "cdr_statistics_yearly"],
)
def test_assets_have_column_schema(asset_name):
    spec = next(spec for spec in defs.resolve_all_asset_specs() if spec.key.path == [asset_name])
    assert spec.metadata[COLUMN_SCHEMA_KEY].columns


@pytest.mark.parametrize(
    ("asset_name", "has_policy"),
    [
        ("cdrs", True),
        ("cdr_statistics_daily", True),
        ("cdr_statistics_monthly", False),
        ("cdr_destinations", False),
    ],
)
def test_freshness_policies(asset_name, has_policy):
    spec = next(spec for spec in defs.resolve_all_asset_specs() if spec.key.path == [asset_name])
    assert (spec.freshness_policy is not None) == has_policy


def test_assets_have_owner_and_group():
    for spec in defs.resolve_all_asset_specs():
        assert spec.owners == ["team:data-engineering"]
        assert spec.group_name in ("cdrs", "statistics", "analytics", "inventory", "reports")
        assert spec.kinds


def test_top_leaders_from_cdrs(ch, register, unique_slug):
    instance = register(unique_slug)
    records = [
        make_cdr(1, account="a1", account_name="Old"),
        make_cdr(2, account="a1", account_name="New", start=dt.datetime(2024, 7, 1, 13)),
        make_cdr(3, account="a2", hold_time=0, callee_gateway="gw-2"),
    ]
    load_day(ch, instance, DAY, records)
    end = DAY + dt.timedelta(days=1)
    leaders = top_leaders(ch, instance=instance.slug, start=DAY, end=end, dimension="account")
    assert [(leader.key, leader.name, leader.attempts) for leader in leaders] == [
        ("a1", "New", 2),
        ("a2", "Account One", 1),
    ]
    preview = leaders_preview(ch, instance=instance.slug, start=DAY, end=end, currency="CNY")
    assert "**Top routing gateways (calleeGateway)**" in preview
    assert "| gw-2 |" in preview


def test_top_leaders_rejects_unknown_dimension(ch):
    with pytest.raises(ValueError, match="unknown dimension"):
        top_leaders(ch, instance="x", start=DAY, end=DAY, dimension="callee_ip")


def test_statistics_materialization_metadata(register, unique_slug, ch):
    instance = register(unique_slug)
    load_day(ch, instance, DAY, [make_cdr(1, account="a1"), make_cdr(2, account="a2")])
    with DagsterInstance.ephemeral() as dagster_instance:
        dagster_instance.add_dynamic_partitions(instance_partitions.name, [unique_slug])
        result = materialize(
            [cdrs, statistics_assets["day"]],
            selection=[statistics_assets["day"]],
            partition_key=partition_key(DAY.isoformat(), unique_slug),
            instance=dagster_instance,
            resources=build_resources(),
        )
    metadata = result.asset_materializations_for_node("cdr_statistics_daily")[0].metadata
    assert metadata[ROW_COUNT_KEY].value == 4
    assert "| a1 |" in metadata["preview"].value
    assert "| gw-1 |" in metadata["preview"].value


def test_cdrs_materialization_metadata(register, unique_slug):
    pytest.importorskip("ykvos_dagster.simulator", reason="needs the VOS3000 simulator package")
    from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
    from ykvos_dagster.simulator.server import SimulatorServer

    switch = SimulatedSwitch(SimulatorConfig(seed=3, accounts=5, daily_cdrs=200))
    day = dt.date(2025, 3, 14)
    with SimulatorServer(switch) as server, DagsterInstance.ephemeral() as dagster_instance:
        register(unique_slug, server)
        dagster_instance.add_dynamic_partitions(instance_partitions.name, [unique_slug])
        result = materialize(
            [cdrs],
            partition_key=partition_key(day.isoformat(), unique_slug),
            instance=dagster_instance,
            resources=build_resources(),
        )
    metadata = result.asset_materializations_for_node("cdrs")[0].metadata
    assert metadata[ROW_COUNT_KEY].value == switch.day_totals(day)["calls"]
    assert "**Top accounts**" in metadata["preview"].value
    assert "**Top mapping gateways (callerGateway)**" in metadata["preview"].value
