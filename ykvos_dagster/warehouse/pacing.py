"""One VOS3000 request in flight per instance, across runs and hosts, with a pause between them.

A PostgreSQL advisory lock per instance serialises the requests of every process that shares the
database (an in-process `materialize()`, the daemon's runs, a second host). The time of the last
request of each instance is kept in `vos_request_pacing`, so the pause also applies between runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

logger = logging.getLogger(__name__)

_LOCK_NAMESPACE = "ykvos-vos-request:"


@dataclass
class PacingStats:
    requests: int = 0
    lock_wait_seconds: float = 0.0
    pause_seconds: float = 0.0


class RequestGate:
    """Context manager factory: `with gate(): send one request`.

    Keeps one autocommit connection open; call `close()` when the pull ends.
    """

    def __init__(self, dsn: str, instance: str, pause_seconds: float) -> None:
        if pause_seconds < 0:
            raise ValueError(f"pause between requests must be >= 0 s, got {pause_seconds}")
        self.instance = instance
        self.pause_seconds = pause_seconds
        self.stats = PacingStats()
        self._connection = psycopg.connect(dsn, autocommit=True, connect_timeout=10)

    @contextmanager
    def __call__(self) -> Iterator[None]:
        started = time.monotonic()
        self._connection.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (_LOCK_NAMESPACE + self.instance,)
        )
        self.stats.lock_wait_seconds += time.monotonic() - started
        try:
            self._sleep_out_pause()
            try:
                yield
            finally:
                self._connection.execute(
                    "INSERT INTO vos_request_pacing (instance, last_request_at)"
                    " VALUES (%s, now()) ON CONFLICT (instance)"
                    " DO UPDATE SET last_request_at = EXCLUDED.last_request_at",
                    (self.instance,),
                )
                self.stats.requests += 1
        finally:
            self._connection.execute(
                "SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                (_LOCK_NAMESPACE + self.instance,),
            )

    def _sleep_out_pause(self) -> None:
        if self.pause_seconds <= 0:
            return
        row = self._connection.execute(
            "SELECT extract(epoch FROM now() - last_request_at) FROM vos_request_pacing"
            " WHERE instance = %s",
            (self.instance,),
        ).fetchone()
        if row is None:
            return
        remaining = self.pause_seconds - float(row[0])
        if remaining > 0:
            time.sleep(remaining)
            self.stats.pause_seconds += remaining

    def close(self) -> None:
        self._connection.close()
