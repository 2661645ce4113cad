"""Ordered, idempotent schema migrations for PostgreSQL (`sql/`) and ClickHouse (`clickhouse/`).

A migration is a file `NNNN_name.sql`. Each engine records the versions it has applied in its own
`db_versions` table, and a migration runs at most once per database.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ykvos_dagster import settings
from ykvos_dagster.warehouse.cluster import ClusterDdl, check_cluster, merge_tree_tables

logger = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed number works; it only has to differ from the advisory-lock keys used elsewhere.
_POSTGRES_MIGRATION_LOCK_KEY = 7_301_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """Split the file into statements at semicolons that end a line (ClickHouse runs one
        statement per request)."""
        without_comments = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        parts = re.split(r";\s*(?:\n|$)", without_comments)
        return [part.strip() for part in parts if part.strip()]


def schema_folder(name: str) -> Path:
    """Return `sql/` or `clickhouse/`: next to the package in a checkout, inside it when
    installed."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir.parent / name, package_dir / "schema" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"schema folder {name!r} not found next to {package_dir}")


def load_migrations(folder: Path) -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name {path.name!r} does not match NNNN_name.sql")
        migrations.append(
            Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8"))
        )
    versions = [migration.version for migration in migrations]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration versions in {folder}")
    return migrations


def migrate_postgres(connection, folder: Path | None = None) -> list[int]:
    """Apply pending PostgreSQL migrations in one transaction; return the versions applied.

    Concurrent callers serialise on an advisory lock, so the second one finds nothing to do.
    """
    migrations = load_migrations(folder or schema_folder("sql"))
    applied_now = []
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_POSTGRES_MIGRATION_LOCK_KEY,))
        connection.execute(
            "CREATE TABLE IF NOT EXISTS db_versions ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in connection.execute("SELECT version FROM db_versions")}
        for migration in migrations:
            if migration.version in done:
                continue
            logger.info("Applying PostgreSQL migration %04d_%s", migration.version, migration.name)
            with connection.transaction():
                connection.execute(migration.sql)
                connection.execute(
                    "INSERT INTO db_versions (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            applied_now.append(migration.version)
    return applied_now


def migrate_clickhouse(client, folder: Path | None = None, cluster: str | None = None) -> list[int]:
    """Apply pending ClickHouse migrations; return the versions applied.

    ClickHouse has no transactional DDL, so every statement must be idempotent
    (`IF NOT EXISTS`); a migration interrupted half-way is simply run again. With a `cluster`
    (default: `YKVOS_CLICKHOUSE_CLUSTER`), each statement is rewritten for that replicated
    cluster by `ykvos_dagster.warehouse.cluster` and runs ON CLUSTER.
    """
    migrations = load_migrations(folder or schema_folder("clickhouse"))
    cluster = cluster or settings.clickhouse_cluster()
    ddl = None
    if cluster is None:
        client.command(
            "CREATE TABLE IF NOT EXISTS db_versions (version UInt32, name String,"
            " applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree"
            " ORDER BY version"
        )
    else:
        check_cluster(client, cluster)
        database = client.query("SELECT currentDatabase()").result_rows[0][0]
        ddl = ClusterDdl(cluster=cluster, database=database)
        client.command(ddl.versions_table_ddl())
    replicated_tables = merge_tree_tables(
        [statement for migration in migrations for statement in migration.statements()]
    )

    done = {row[0] for row in client.query("SELECT version FROM db_versions").result_rows}
    applied_now = []
    for migration in migrations:
        if migration.version in done:
            continue
        logger.info("Applying ClickHouse migration %04d_%s", migration.version, migration.name)
        for statement in migration.statements():
            rewritten = [statement] if ddl is None else ddl.rewrite(statement, replicated_tables)
            for command in rewritten:
                client.command(command)
        client.command(
            "INSERT INTO db_versions (version, name) VALUES ({version:UInt32}, {name:String})",
            parameters={"version": migration.version, "name": migration.name},
        )
        applied_now.append(migration.version)
    return applied_now
