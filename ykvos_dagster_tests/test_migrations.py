"""Schema upgrades: a database created by the first schema version, with data in it, is upgraded
to the current version plus one more test migration, on the embedded PostgreSQL server and on
chDB. Each test works in a database of its own."""

import datetime as dt
import itertools
import os
import shutil
import uuid
from decimal import Decimal

import psycopg
import pytest

from ykvos_dagster.warehouse.migrations import (
    load_migrations,
    migrate_clickhouse,
    migrate_postgres,
    schema_folder,
)

_database_counter = itertools.count(1)

# Appended after the current migrations, so that the upgrade always applies at least one
# migration to a database with data, whatever the repository's latest version is.
POSTGRES_NEXT = """\
CREATE INDEX IF NOT EXISTS cdr_loads_run_id ON cdr_loads (run_id);
CREATE OR REPLACE VIEW cdr_loads_latest AS
SELECT DISTINCT ON (instance, call_day) instance, call_day, rows, loaded_at
FROM cdr_loads ORDER BY instance, call_day, loaded_at DESC;
"""
CLICKHOUSE_NEXT = """\
ALTER TABLE cdrs ADD COLUMN IF NOT EXISTS upgrade_marker UInt8 DEFAULT 7;
CREATE VIEW IF NOT EXISTS daily_calls AS
SELECT instance, call_day, count() AS calls FROM cdrs GROUP BY instance, call_day;
"""


def versioned_folders(tmp_path, engine_folder: str, next_sql: str):
    """Return (first, upgraded): a folder with the first migration only, and one with every
    current migration plus `next_sql` as the following version."""
    source = schema_folder(engine_folder)
    migrations = load_migrations(source)
    first = tmp_path / "first"
    upgraded = tmp_path / "upgraded"
    first.mkdir()
    upgraded.mkdir()
    files = sorted(source.glob("*.sql"))
    shutil.copy(files[0], first / files[0].name)
    for path in files:
        shutil.copy(path, upgraded / path.name)
    next_version = migrations[-1].version + 1
    (upgraded / f"{next_version:04d}_upgrade_test.sql").write_text(next_sql, encoding="utf-8")
    return first, upgraded, [migration.version for migration in migrations] + [next_version]


@pytest.fixture
def scratch_postgres(postgres_dsn):
    """A new, empty PostgreSQL database on the session's embedded server."""
    name = f"upgrade_{os.getpid()}_{next(_database_counter)}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(postgres_dsn, dbname=name)
    with psycopg.connect(dsn) as connection:
        yield connection
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def scratch_clickhouse(ch):
    """The session's chDB engine with a new, empty database as the current one."""
    name = f"upgrade_{os.getpid()}_{next(_database_counter)}"
    ch.command(f"CREATE DATABASE `{name}`")
    ch.command(f"USE `{name}`")
    try:
        yield ch
    finally:
        ch.command("USE default")
        ch.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")


def insert_postgres_rows(connection) -> None:
    """Write rows with the columns of the first schema version."""
    connection.execute(
        "INSERT INTO vos_instances (slug, uuid, name, base_url, first_day)"
        " VALUES ('upgrade-a', %s, 'switch A', 'http://127.0.0.1:9', '2024-01-01')",
        (uuid.UUID(int=1),),
    )
    connection.execute(
        "INSERT INTO cdr_loads (instance, call_day, rows, accounts, answered_calls, total_fee,"
        " run_id, loaded_at) VALUES ('upgrade-a', '2024-05-10', 3, 2, 1, 1.250000, 'run-1',"
        " '2024-05-11 01:30:00+00'), ('upgrade-a', '2024-05-10', 4, 2, 2, 2.500000, 'run-2',"
        " '2024-05-12 01:30:00+00')"
    )
    connection.execute(
        "INSERT INTO cdr_statistics (instance, instance_uuid, statistic_type, dimension_value,"
        " period_type, period_start, period_end, total_calls, connected_calls, total_duration,"
        " total_billed_seconds, total_fee, currency, connection_rate, days_in_period,"
        " days_elapsed, days_loaded, is_complete) VALUES ('upgrade-a', %s, 'vos', '', 'day',"
        " '2024-05-10', '2024-05-11', 4, 2, 95, 120, 2.500000, 'CNY', 50.00, 1, 1, 1, true)",
        (uuid.UUID(int=1),),
    )
    connection.commit()


SNAPSHOT_TABLES = ("vos_instances", "cdr_loads", "cdr_statistics")


def postgres_columns(connection) -> dict[str, list[str]]:
    """Return the columns of the snapshot tables, so that columns added later are left out."""
    return {
        table: [
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                " ORDER BY ordinal_position",
                (table,),
            )
        ]
        for table in SNAPSHOT_TABLES
    }


def postgres_snapshot(connection, columns: dict[str, list[str]]) -> dict:
    return {
        table: connection.execute(
            f"SELECT {', '.join(columns[table])} FROM {table} ORDER BY 1, 2"
        ).fetchall()
        for table in SNAPSHOT_TABLES
    }


def test_postgres_upgrade_keeps_data(tmp_path, scratch_postgres):
    first, upgraded, versions = versioned_folders(tmp_path, "sql", POSTGRES_NEXT)
    assert migrate_postgres(scratch_postgres, first) == versions[:1]
    scratch_postgres.commit()
    insert_postgres_rows(scratch_postgres)
    first_columns = postgres_columns(scratch_postgres)
    before = postgres_snapshot(scratch_postgres, first_columns)

    assert migrate_postgres(scratch_postgres, upgraded) == versions[1:]
    scratch_postgres.commit()

    assert postgres_snapshot(scratch_postgres, first_columns) == before
    recorded = scratch_postgres.execute("SELECT version FROM db_versions ORDER BY 1").fetchall()
    assert [row[0] for row in recorded] == versions
    latest = scratch_postgres.execute("SELECT rows FROM cdr_loads_latest").fetchall()
    assert latest == [(4,)]


def test_postgres_upgrade_is_idempotent(tmp_path, scratch_postgres):
    first, upgraded, versions = versioned_folders(tmp_path, "sql", POSTGRES_NEXT)
    migrate_postgres(scratch_postgres, first)
    migrate_postgres(scratch_postgres, upgraded)
    scratch_postgres.commit()
    assert migrate_postgres(scratch_postgres, upgraded) == []
    count = scratch_postgres.execute("SELECT count(*) FROM db_versions").fetchone()[0]
    assert count == len(versions)


def insert_clickhouse_rows(client) -> None:
    columns = ["instance", "instance_uuid", "call_day", "flow_no", "account", "start", "stop"]
    columns += ["start_day", "hold_time", "fee", "raw", "loaded_at"]
    start = dt.datetime(2024, 5, 10, 2, 0, tzinfo=dt.UTC)
    rows = [
        ["upgrade-a", uuid.UUID(int=1), dt.date(2024, 5, 10), flow_no, "1001", start, start]
        + [dt.date(2024, 5, 10), hold_time, Decimal(fee), "{}", start]
        for flow_no, hold_time, fee in ((1, 0, "0"), (2, 35, "0.123456"), (3, 60, "1.5"))
    ]
    client.insert("cdrs", rows, column_names=columns)


def clickhouse_snapshot(client, columns: list[str]) -> list[tuple]:
    listed = ", ".join(f"`{column}`" for column in columns)
    return client.query(f"SELECT {listed} FROM cdrs ORDER BY flow_no").result_rows


def test_clickhouse_upgrade_keeps_data(tmp_path, scratch_clickhouse):
    client = scratch_clickhouse
    first, upgraded, versions = versioned_folders(tmp_path, "clickhouse", CLICKHOUSE_NEXT)
    assert migrate_clickhouse(client, first) == versions[:1]
    insert_clickhouse_rows(client)
    columns = [
        row[0]
        for row in client.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase()"
            " AND table = 'cdrs' ORDER BY position"
        ).result_rows
    ]
    before = clickhouse_snapshot(client, columns)

    assert migrate_clickhouse(client, upgraded) == versions[1:]

    assert clickhouse_snapshot(client, columns) == before
    recorded = client.query("SELECT version FROM db_versions ORDER BY version").result_rows
    assert [row[0] for row in recorded] == versions
    markers = client.query("SELECT DISTINCT upgrade_marker FROM cdrs").result_rows
    assert markers == [(7,)]
    assert client.query("SELECT calls FROM daily_calls").result_rows == [(3,)]


def test_clickhouse_upgrade_is_idempotent(tmp_path, scratch_clickhouse):
    client = scratch_clickhouse
    first, upgraded, versions = versioned_folders(tmp_path, "clickhouse", CLICKHOUSE_NEXT)
    migrate_clickhouse(client, first)
    migrate_clickhouse(client, upgraded)
    assert migrate_clickhouse(client, upgraded) == []
    assert client.command("SELECT count() FROM db_versions") == len(versions)
