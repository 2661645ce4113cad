"""A PostgreSQL server from the `pgserver` wheel, used when no `YKVOS_POSTGRES_DSN` is set.

The server listens only on a Unix socket inside its data folder. Its lifetime is owned
explicitly: `ykvos demo`, `ykvos dev` and the test suite start it and stop it by PID. The wheel's
own clean-up at interpreter exit is disabled (`cleanup_mode=None`), so a short command such as
`ykvos sql` can use a server that another process started without stopping it.

As root, pgserver runs the server as the system user `pgserver`, creating it if needed, and opens
the permissions of the data folder's parents; keep `$YKVOS_HOME` in the project or a dedicated
folder.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg

logger = logging.getLogger(__name__)

DATABASE = "ykvos"


class EmbeddedPostgresNotRunning(RuntimeError):
    """Raised when the embedded server is needed but no process has started it."""


def _import_pgserver():
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; pgserver then keeps its
        # lock file in /tmp/runtime-<uid>.
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver.utils

    return pgserver


def _postmaster_info(data_path: Path):
    info = _import_pgserver().utils.PostmasterInfo.read_from_pgdata(data_path)
    if info is None or not info.is_running():
        return None
    return info


def _dsn_for_socket(socket_dir: str, database: str) -> str:
    return f"postgresql://postgres@/{database}?host={quote(socket_dir, safe='/')}"


def running_dsn(data_path: Path) -> str | None:
    """Return the DSN of the embedded server in `data_path`, or None when it is not running."""
    if not (data_path / "postmaster.pid").exists():
        return None
    info = _postmaster_info(data_path)
    if info is None or info.socket_dir is None:
        return None
    return _dsn_for_socket(str(info.socket_dir), DATABASE)


def running_pid(data_path: Path) -> int | None:
    """Return the postmaster PID of the embedded server in `data_path`, or None."""
    if not (data_path / "postmaster.pid").exists():
        return None
    info = _postmaster_info(data_path)
    return None if info is None else info.pid


def start(data_path: Path) -> str:
    """Start the embedded server in `data_path` unless it runs already; return its DSN.

    Creates the data folder and the `ykvos` database on first use.
    """
    existing = running_dsn(data_path)
    if existing is not None:
        return existing

    data_path.parent.mkdir(parents=True, exist_ok=True)
    started_at = time.monotonic()
    server = _import_pgserver().get_server(data_path, cleanup_mode=None)
    admin_dsn = server.get_uri("postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if exists is None:
            connection.execute(f'CREATE DATABASE "{DATABASE}"')
    logger.info(
        "Started embedded PostgreSQL in %s (pid %s) in %.1f s",
        data_path,
        server.get_pid(),
        time.monotonic() - started_at,
    )
    dsn = running_dsn(data_path)
    if dsn is None:
        raise RuntimeError(f"embedded PostgreSQL in {data_path} started but is not running")
    return dsn


def stop(data_path: Path, timeout: float = 30.0) -> bool:
    """Stop the embedded server in `data_path` with a fast shutdown; return False if none ran."""
    pid = running_pid(data_path)
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            logger.info("Stopped embedded PostgreSQL in %s (pid %s)", data_path, pid)
            return True
        time.sleep(0.05)
    logger.warning("Embedded PostgreSQL pid %s did not stop in %.0f s; killing it", pid, timeout)
    os.kill(pid, signal.SIGKILL)
    return True


@contextmanager
def running(data_path: Path) -> Iterator[str]:
    """Run the embedded server for the duration of the block and yield its DSN.

    Stops the server on exit only if this block started it.
    """
    was_running = running_dsn(data_path) is not None
    dsn = start(data_path)
    try:
        yield dsn
    finally:
        if not was_running:
            stop(data_path)
