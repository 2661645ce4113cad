"""The production `dagster.yaml`: its settings load, and a `cdrs` partition materialized with
PostgreSQL as Dagster's storage leaves its run and materialization in that database.

The instance uses a database of its own on the session's embedded PostgreSQL server. That
server listens on a Unix socket only, so the test adds the socket folder as a connection
parameter to the storage settings. Every other setting is the file's own.
"""

import datetime as dt
import os
import shutil
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, materialize

from ykvos_dagster.assets.cdrs import CLICKHOUSE_POOL, cdrs
from ykvos_dagster.definitions import build_resources
from ykvos_dagster.partitions import instance_partitions, partition_key

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2025, 3, 14)


def production_config() -> dict:
    return yaml.safe_load((ROOT / "dagster.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def dagster_storage_dsn(postgres_dsn):
    """A new database for Dagster's own tables on the session's embedded server."""
    name = f"dagster_{os.getpid()}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield psycopg.conninfo.make_conninfo(postgres_dsn, dbname=name)
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_instance(tmp_path, monkeypatch, dagster_storage_dsn):
    """A DagsterInstance built from the production dagster.yaml in a temporary DAGSTER_HOME."""
    params = psycopg.conninfo.conninfo_to_dict(dagster_storage_dsn)
    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", "localhost")
    monkeypatch.setenv("DAGSTER_POSTGRES_PORT", str(params.get("port") or 5432))
    monkeypatch.setenv("DAGSTER_POSTGRES_DB", params["dbname"])
    monkeypatch.setenv("DAGSTER_POSTGRES_USER", params["user"])
    monkeypatch.setenv("DAGSTER_POSTGRES_PASSWORD", "")

    config = production_config()
    config["storage"]["postgres"]["postgres_db"]["params"] = {"host": params["host"]}
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    instance = DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()
        shutil.rmtree(home, ignore_errors=True)


def test_storage_uses_psycopg2():
    postgres_db = production_config()["storage"]["postgres"]["postgres_db"]
    assert postgres_db["scheme"] == "postgresql+psycopg2"


def test_one_cdrs_run_per_instance():
    limits = production_config()["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {
        "key": "dagster/partition/instance",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in limits


def test_limits_only_in_concurrency_block():
    config = production_config()
    coordinator = config["run_coordinator"].get("config", {})
    assert "max_concurrent_runs" not in coordinator
    assert "tag_concurrency_limits" not in coordinator
    assert "run_queue" not in config


def test_assets_use_clickhouse_pool():
    from ykvos_dagster.assets.statistics import statistics_assets

    assert cdrs.op.pool == CLICKHOUSE_POOL
    for asset in statistics_assets.values():
        assert asset.op.pool == CLICKHOUSE_POOL


def test_production_settings_loaded(postgres_instance):
    assert type(postgres_instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(postgres_instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(postgres_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert postgres_instance.run_monitoring_enabled
    assert postgres_instance.run_retries_enabled
    assert postgres_instance.run_retries_max_retries == 2
    assert postgres_instance.get_concurrency_config().pool_config.default_pool_limit == 4


def test_materialization_stored_in_postgres(
    postgres_instance, dagster_storage_dsn, register, simulator, unique_slug
):
    register(unique_slug, simulator)
    postgres_instance.add_dynamic_partitions(instance_partitions.name, [unique_slug])
    key = partition_key(DAY.isoformat(), unique_slug)

    result = materialize(
        [cdrs], partition_key=key, instance=postgres_instance, resources=build_resources()
    )

    assert result.success
    run = postgres_instance.get_run_by_id(result.run_id)
    assert run.status == DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition/instance"] == unique_slug
    records = postgres_instance.fetch_materializations(AssetKey("cdrs"), limit=10).records
    assert [record.partition_key for record in records] == [str(key)]
    assert records[0].run_id == result.run_id
    with psycopg.connect(dagster_storage_dsn) as connection:
        runs = connection.execute(
            "SELECT status FROM runs WHERE run_id = %s", (result.run_id,)
        ).fetchall()
        materializations = connection.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s"
            " AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        ).fetchone()[0]
    assert runs == [("SUCCESS",)]
    assert materializations == 1
