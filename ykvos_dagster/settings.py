"""Environment settings shared by the code location, the `ykvos` command and the tests.

Every setting is read when it is needed, never at import time, so that loading the Dagster
definitions works on a machine with no engine reachable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

HOME_ENV = "YKVOS_HOME"
CLICKHOUSE_URL_ENV = "YKVOS_CLICKHOUSE_URL"
POSTGRES_DSN_ENV = "YKVOS_POSTGRES_DSN"
CLICKHOUSE_LOCK_TIMEOUT_ENV = "YKVOS_CLICKHOUSE_LOCK_TIMEOUT"
CLICKHOUSE_CLUSTER_ENV = "YKVOS_CLICKHOUSE_CLUSTER"

DEFAULT_CLICKHOUSE_LOCK_TIMEOUT_SECONDS = 600.0

# A cluster name ends up quoted inside DDL, so it may not contain quotes or spaces.
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_.{}-]+")


def ykvos_home() -> Path:
    """Return the folder of the embedded engines: `$YKVOS_HOME`, or `.ykvos` in the working
    directory."""
    return Path(os.environ.get(HOME_ENV) or ".ykvos").resolve()


def clickhouse_url() -> str | None:
    """Return the configured ClickHouse DSN, or None for the embedded chDB engine."""
    return os.environ.get(CLICKHOUSE_URL_ENV) or None


def clickhouse_cluster() -> str | None:
    """Return the ClickHouse cluster that the schema is replicated on, or None for one server."""
    name = os.environ.get(CLICKHOUSE_CLUSTER_ENV, "").strip()
    if not name:
        return None
    if not _CLUSTER_NAME.fullmatch(name):
        raise ValueError(
            f"{CLICKHOUSE_CLUSTER_ENV}={name!r} is not a valid cluster name: use letters, digits, "
            "'_', '-', '.' or a macro such as {cluster}"
        )
    return name


def postgres_dsn() -> str | None:
    """Return the configured PostgreSQL DSN, or None for the embedded server."""
    return os.environ.get(POSTGRES_DSN_ENV) or None


def clickhouse_lock_timeout() -> float:
    """Return how long a process waits for the embedded ClickHouse engine, in seconds."""
    raw = os.environ.get(CLICKHOUSE_LOCK_TIMEOUT_ENV)
    if not raw:
        return DEFAULT_CLICKHOUSE_LOCK_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError as error:
        raise ValueError(
            f"{CLICKHOUSE_LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds"
        ) from error
    if value <= 0:
        raise ValueError(f"{CLICKHOUSE_LOCK_TIMEOUT_ENV} must be positive, got {raw!r}")
    return value


def embedded_clickhouse_path() -> Path:
    return ykvos_home() / "clickhouse"


def embedded_postgres_path() -> Path:
    return ykvos_home() / "postgres"


def dagster_home() -> Path:
    """Return `$DAGSTER_HOME`, defaulting to `$YKVOS_HOME/dagster`."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured).resolve()
    return ykvos_home() / "dagster"
