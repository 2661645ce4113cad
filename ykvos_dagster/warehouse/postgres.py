"""Connecting to PostgreSQL: a configured server, or the embedded server when none is set."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from ykvos_dagster import settings
from ykvos_dagster.warehouse import embedded_postgres
from ykvos_dagster.warehouse.migrations import migrate_postgres

logger = logging.getLogger(__name__)

_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def validate_dsn(dsn: str) -> None:
    """Raise ValueError when `dsn` is not a libpq connection string or URI."""
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        raise ValueError(
            f"{settings.POSTGRES_DSN_ENV} is not a valid PostgreSQL DSN: {error} "
            "(expected for example postgresql://user:password@host:5432/ykvos)"
        ) from None


def resolve_dsn(dsn: str | None = None) -> str:
    """Return `dsn`, `YKVOS_POSTGRES_DSN`, or the DSN of the running embedded server."""
    dsn = dsn or settings.postgres_dsn()
    if dsn:
        validate_dsn(dsn)
        return dsn
    data_path = settings.embedded_postgres_path()
    embedded = embedded_postgres.running_dsn(data_path)
    if embedded is None:
        raise embedded_postgres.EmbeddedPostgresNotRunning(
            f"no PostgreSQL configured and the embedded server in {data_path} is not running: "
            f"set {settings.POSTGRES_DSN_ENV}, or start it with `ykvos dev` or `ykvos demo`"
        )
    return embedded


def describe_dsn(dsn: str) -> str:
    """Return the DSN's host and database without credentials, for logs and errors."""
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    return f"host={params.get('host', '')} dbname={params.get('dbname', '')}"


@contextmanager
def connect(dsn: str | None = None, *, migrate: bool = True) -> Iterator[psycopg.Connection]:
    """Open a connection for the block, committing on success and rolling back on error.

    Applies pending `sql/` migrations on the first connection to each database in this process.
    """
    resolved = resolve_dsn(dsn)
    try:
        connection = psycopg.connect(resolved, connect_timeout=10)
    except psycopg.OperationalError as error:
        raise ConnectionError(
            f"cannot connect to PostgreSQL ({describe_dsn(resolved)}): {error}"
        ) from error
    with connection:
        if migrate and resolved not in _migrated:
            with _migrate_lock:
                migrate_postgres(connection)
                connection.commit()
                _migrated.add(resolved)
        yield connection
