"""The inventory assets and the health check through Dagster's `materialize()`, on the embedded
PostgreSQL, with the simulator as the VOS3000 server over HTTP."""

import datetime as dt
import logging

import pytest
from dagster import AssetCheckSeverity, DagsterInstance, materialize

from ykvos_dagster.assets.inventory import inventory_assets, switch_reachable, vos_health_checks
from ykvos_dagster.definitions import build_resources
from ykvos_dagster.inventory_pull import PULLS
from ykvos_dagster.partitions import instance_partitions
from ykvos_dagster.simulator.inventory_data import inventory_for
from ykvos_dagster.vos3000.inventory import GatewayOnline
from ykvos_dagster.warehouse.inventory_store import refresh_gateway_online
from ykvos_dagster.warehouse.vos_cache import DEFAULT_TTL_SECONDS, interface_kind

INVENTORY_TABLES = (
    "customers",
    "gateways",
    "phones",
    "phones_online",
    "fee_rate_groups",
    "fee_rates",
    "suites",
    "soft_switches",
    "vos_performance",
    "alarms_current",
)


@pytest.fixture(scope="module")
def dagster_instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def run_inventory(dagster_instance, slug, names=tuple(PULLS), raise_on_error=True):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])
    return materialize(
        [inventory_assets[name] for name in names],
        partition_key=slug,
        instance=dagster_instance,
        resources=build_resources(),
        raise_on_error=raise_on_error,
    )


def row_counts(pg, slug) -> dict[str, int]:
    return {
        table: pg.execute(f"SELECT count(*) FROM {table} WHERE instance = %s", (slug,)).fetchone()[
            0
        ]
        for table in INVENTORY_TABLES
    }


def simulator_secrets(switch) -> set[str]:
    inventory = inventory_for(switch)
    records = (
        inventory.phones(switch.accounts())
        + inventory.mapping_gateways
        + inventory.routing_gateways
    )
    return {record[key] for record in records for key in ("password", "customerPassword")}


@pytest.fixture(scope="module")
def loaded(dagster_instance, simulator, postgres_dsn):
    """One instance with every inventory asset materialized once."""
    from ykvos_dagster.warehouse.postgres import connect
    from ykvos_dagster.warehouse.registry import add_instance

    slug = "inventory-loaded"
    with connect(postgres_dsn) as connection:
        add_instance(
            connection,
            slug=slug,
            name=slug,
            base_url=simulator.url,
            first_day=dt.date(2024, 1, 1),
            pause_seconds=0,
            timeout_seconds=30,
            update_existing=True,
        )
    result = run_inventory(dagster_instance, slug)
    return slug, result


def test_every_table_filled(loaded, pg, simulator):
    slug, _ = loaded
    counts = row_counts(pg, slug)
    inventory = inventory_for(simulator.switch)
    accounts = simulator.switch.accounts()
    assert counts["customers"] == len(accounts)
    assert counts["gateways"] == len(inventory.mapping_gateways) + len(inventory.routing_gateways)
    assert counts["phones"] == len(inventory.phones(accounts))
    assert counts["phones_online"] == len(inventory.online_phone_numbers())
    assert counts["fee_rate_groups"] == len(inventory.fee_rate_groups)
    assert counts["suites"] == 3
    assert counts["soft_switches"] == 2
    assert counts["vos_performance"] == 1
    assert counts["alarms_current"] >= 1


def test_fee_rates_per_group(loaded, pg, simulator):
    slug, _ = loaded
    inventory = inventory_for(simulator.switch)
    rows = pg.execute(
        "SELECT fee_rate_group, count(*) FROM fee_rates WHERE instance = %s GROUP BY 1", (slug,)
    ).fetchall()
    expected = {
        group["name"]: len(inventory.fee_rates(group["name"]))
        for group in inventory.fee_rate_groups
    }
    assert dict(rows) == expected


def test_debt_flag_matches_money(loaded, pg):
    slug, _ = loaded
    rows = pg.execute(
        "SELECT count(*) FILTER (WHERE is_in_debt <> (money < 0)), count(*) FILTER (WHERE"
        " is_in_debt) FROM customers WHERE instance = %s",
        (slug,),
    ).fetchone()
    assert rows[0] == 0
    assert rows[1] > 0


def test_gateways_merged_with_online_state(loaded, pg):
    slug, _ = loaded
    offline_with_state, online, online_without_calls = pg.execute(
        "SELECT count(*) FILTER (WHERE NOT is_online AND current_calls IS NOT NULL),"
        " count(*) FILTER (WHERE is_online),"
        " count(*) FILTER (WHERE is_online AND current_calls IS NULL)"
        " FROM gateways WHERE instance = %s",
        (slug,),
    ).fetchone()
    assert offline_with_state == 0
    assert online > 0
    assert online_without_calls == 0


def test_materialization_metadata_counts(loaded, simulator):
    _, result = loaded
    metadata = result.asset_materializations_for_node("customers")[0].metadata
    assert metadata["customers"].value == len(simulator.switch.accounts())
    assert metadata["rows_customers"].value == len(simulator.switch.accounts())
    assert metadata["requests"].value == 2
    assert metadata["rows_vos_data_cache"].value == 2


def test_cache_expiry_by_kind(loaded, pg):
    slug, _ = loaded
    rows = pg.execute(
        "SELECT interface, extract(epoch FROM expires_at - fetched_at) FROM vos_data_cache"
        " WHERE instance = %s",
        (slug,),
    ).fetchall()
    interfaces = {interface for interface, _ in rows}
    assert {"GetAllCustomers", "GetPhone", "GetGatewayMapping", "GetPerformance"} <= interfaces
    for interface, seconds in rows:
        assert seconds == DEFAULT_TTL_SECONDS[interface_kind(interface)]


def test_rerun_replaces_rows(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    run_inventory(dagster_instance, unique_slug)
    first = row_counts(pg, unique_slug)
    fetched = pg.execute(
        "SELECT max(fetched_at) FROM customers WHERE instance = %s", (unique_slug,)
    ).fetchone()[0]
    pg.commit()
    run_inventory(dagster_instance, unique_slug)
    assert row_counts(pg, unique_slug) == first
    refetched = pg.execute(
        "SELECT min(fetched_at) FROM customers WHERE instance = %s", (unique_slug,)
    ).fetchone()[0]
    assert refetched > fetched


def test_failed_pull_keeps_rows(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    run_inventory(dagster_instance, unique_slug, names=("gateways", "customers"))
    before = row_counts(pg, unique_slug)
    pg.execute(
        "UPDATE vos_instances SET path_prefix = '/missing/server' WHERE slug = %s", (unique_slug,)
    )
    pg.commit()
    result = run_inventory(
        dagster_instance, unique_slug, names=("gateways", "customers"), raise_on_error=False
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert unique_slug in failure
    assert "HTTP 404" in failure
    assert row_counts(pg, unique_slug) == before


def test_disabled_instance_rejected(dagster_instance, register, simulator, unique_slug, pg):
    from ykvos_dagster.warehouse.registry import set_enabled

    register(unique_slug, simulator)
    set_enabled(pg, unique_slug, False)
    pg.commit()
    result = run_inventory(dagster_instance, unique_slug, names=("suites",), raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert "disabled" in failure


def test_passwords_never_stored_or_logged(
    dagster_instance, register, simulator, unique_slug, pg, caplog
):
    secrets = simulator_secrets(simulator.switch)
    assert len(secrets) > 50
    register(unique_slug, simulator)
    with caplog.at_level(logging.DEBUG):
        result = run_inventory(dagster_instance, unique_slug)

    tables = {}
    for table in (*INVENTORY_TABLES, "vos_data_cache"):
        tables[table] = pg.execute(
            f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t WHERE instance = %s",
            (unique_slug,),
        ).fetchone()[0]
    assert tables["phones"]
    assert tables["vos_data_cache"]
    events = "\n".join(str(entry) for entry in dagster_instance.all_logs(result.run_id))
    assert "rows_gateways" in events
    logs = "\n".join(record.getMessage() for record in caplog.records)

    for secret in secrets:
        for table, text in tables.items():
            assert secret not in text, f"a password is stored in {table}"
        assert secret not in events, "a password is in the Dagster event log or metadata"
        assert secret not in logs, "a password is in a log line"


def test_online_refresh_marks_missing_offline(loaded, pg):
    slug, _ = loaded
    name = pg.execute(
        "SELECT name FROM gateways WHERE instance = %s AND gateway_type = 'routing' AND is_online"
        " ORDER BY name LIMIT 1",
        (slug,),
    ).fetchone()[0]
    state = GatewayOnline(
        "routing", name, 1, 7, 100, None, 60, None, None, None, None, None, None, None, 0,
        None, 0, 0, None, None, online_raw={"name": name, "currentCall": 7},
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    # The update is rolled back at the end, so the other tests see the pulled state.
    refreshed = refresh_gateway_online(pg, slug, [state], now)
    online = pg.execute(
        "SELECT name, current_calls FROM gateways WHERE instance = %s AND is_online", (slug,)
    ).fetchall()
    configured = pg.execute(
        "SELECT count(*) FROM gateways WHERE instance = %s AND raw IS NOT NULL", (slug,)
    ).fetchone()[0]
    pg.rollback()
    assert refreshed == 1
    assert online == [(name, 7)]
    assert configured > 1


# Health.


def run_health(dagster_instance, slug, raise_on_error=False):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])
    return materialize(
        [vos_health_checks, switch_reachable],
        partition_key=slug,
        instance=dagster_instance,
        resources=build_resources(),
        raise_on_error=raise_on_error,
    )


def test_health_check_passes(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    result = run_health(dagster_instance, unique_slug)
    evaluation = result.get_asset_check_evaluations()[0]
    assert evaluation.passed
    assert evaluation.partition == unique_slug
    ok, ret_code = pg.execute(
        "SELECT ok, ret_code FROM vos_health_checks WHERE instance = %s", (unique_slug,)
    ).fetchone()
    assert ok
    assert ret_code == 0


def test_health_check_red_after_failures(dagster_instance, register, unique_slug):
    register(unique_slug)  # a closed local port
    severities = []
    for _ in range(3):
        evaluation = run_health(dagster_instance, unique_slug).get_asset_check_evaluations()[0]
        assert not evaluation.passed
        severities.append(evaluation.severity)
    assert severities == [
        AssetCheckSeverity.WARN,
        AssetCheckSeverity.WARN,
        AssetCheckSeverity.ERROR,
    ]
    assert evaluation.metadata["consecutive_failures"].value == 3
    assert "request failed" in evaluation.metadata["error"].value
