"""Opening ClickHouse: a server over HTTP(S), or the embedded chDB engine under a file lock.

chDB allows one engine per data folder and per process, and a second process fails at once
instead of waiting. In embedded mode the engine is therefore opened only around each load or
query, under an exclusive file lock next to the data folder: a second process (a run, `ykvos sql`,
a test) waits for the lock, up to a timeout, instead of failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
from filelock import FileLock, Timeout

from ykvos_dagster import settings
from ykvos_dagster.warehouse.migrations import migrate_clickhouse

logger = logging.getLogger(__name__)

_SUPPORTED_SCHEMES = ("http", "https", "chdb")
_process_lock = threading.RLock()
_file_locks: dict[Path, FileLock] = {}
_migrated: set[str] = set()


class ClickHouseLockTimeout(TimeoutError):
    """Raised when the embedded engine stays locked by another process past the timeout."""


def validate_url(url: str) -> str:
    """Return the scheme of a ClickHouse DSN, raising ValueError for a malformed one."""
    parts = urlsplit(url)
    if parts.scheme not in _SUPPORTED_SCHEMES:
        raise ValueError(
            f"ClickHouse DSN has scheme {parts.scheme!r}; expected one of "
            f"{', '.join(_SUPPORTED_SCHEMES)} (for example http://user:password@host:8123/db)"
        )
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise ValueError("ClickHouse DSN has no host name (expected http://host:8123/database)")
    return parts.scheme


def _describe(url: str) -> str:
    """Return the DSN without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def _file_lock(lock_path: Path) -> FileLock:
    with _process_lock:
        lock = _file_locks.get(lock_path)
        if lock is None:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(lock_path)
            _file_locks[lock_path] = lock
        return lock


@contextmanager
def _embedded_lock(data_path: Path, timeout: float) -> Iterator[None]:
    lock = _file_lock(data_path.parent / f"{data_path.name}.lock")
    with _process_lock:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logger.info(
                "Waiting up to %.0f s for the embedded ClickHouse engine in %s, "
                "which another process holds",
                timeout,
                data_path,
            )
            waited_from = time.monotonic()
            try:
                lock.acquire(timeout=timeout)
            except Timeout as error:
                raise ClickHouseLockTimeout(
                    f"the embedded ClickHouse engine in {data_path} stayed locked by another "
                    f"process for {timeout:.0f} s; raise {settings.CLICKHOUSE_LOCK_TIMEOUT_ENV} "
                    "or wait for the running load to finish"
                ) from error
            logger.info(
                "Got the embedded ClickHouse engine after %.1f s", time.monotonic() - waited_from
            )
        try:
            yield
        finally:
            lock.release()


@contextmanager
def open_client(
    url: str | None = None,
    *,
    lock_timeout: float | None = None,
    migrate: bool = True,
) -> Iterator[clickhouse_connect.driver.Client]:
    """Open a clickhouse-connect client for the duration of the block.

    Args:
        url: a ClickHouse DSN (`http://`, `https://` or `chdb:///path`); None reads
            `YKVOS_CLICKHOUSE_URL` and falls back to chDB under `$YKVOS_HOME/clickhouse`.
        lock_timeout: seconds to wait for the embedded engine's file lock.
        migrate: apply pending `clickhouse/` migrations on the first open in this process.
    """
    url = url or settings.clickhouse_url()
    if url is None:
        url = f"chdb://{settings.embedded_clickhouse_path()}"
    scheme = validate_url(url)
    timeout = settings.clickhouse_lock_timeout() if lock_timeout is None else lock_timeout

    if scheme == "chdb":
        data_path = Path(url[len("chdb://") :] or settings.embedded_clickhouse_path()).resolve()
        data_path.parent.mkdir(parents=True, exist_ok=True)
        with _embedded_lock(data_path, timeout):
            client = clickhouse_connect.get_client(dsn=f"chdb://{data_path}")
            try:
                _migrate_once(client, url, migrate)
                yield client
            finally:
                client.close()
        return

    try:
        client = clickhouse_connect.get_client(dsn=url)
    except Exception as error:
        raise ConnectionError(
            f"cannot connect to ClickHouse at {_describe(url)}: {error}"
        ) from error
    try:
        _migrate_once(client, url, migrate)
        yield client
    finally:
        client.close()


def _migrate_once(client, url: str, migrate: bool) -> None:
    if not migrate or url in _migrated:
        return
    migrate_clickhouse(client)
    _migrated.add(url)
