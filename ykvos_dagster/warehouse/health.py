"""`vos_health_checks`: one row per health probe of an instance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class Probe:
    """The outcome of one light request to a switch."""

    instance: str
    checked_at: dt.datetime
    interface: str
    ok: bool
    latency_ms: float
    ret_code: int | None = None
    error: str | None = None


def record_probe(connection: psycopg.Connection, probe: Probe) -> None:
    connection.execute(
        "INSERT INTO vos_health_checks (instance, checked_at, interface, ok, latency_ms,"
        " ret_code, error) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            probe.instance,
            probe.checked_at,
            probe.interface,
            probe.ok,
            round(probe.latency_ms, 3),
            probe.ret_code,
            probe.error,
        ),
    )


def consecutive_failures(connection: psycopg.Connection, instance: str) -> int:
    """Return the number of failed probes of `instance` since its last successful one."""
    row = connection.execute(
        "SELECT count(*) FROM vos_health_checks WHERE instance = %s AND NOT ok"
        " AND checked_at > coalesce((SELECT max(checked_at) FROM vos_health_checks"
        " WHERE instance = %s AND ok), '-infinity')",
        (instance, instance),
    ).fetchone()
    return int(row[0])


def delete_older_than(connection: psycopg.Connection, cutoff: dt.datetime) -> int:
    """Delete the probes checked before `cutoff` and return how many there were."""
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware")
    return connection.execute(
        "DELETE FROM vos_health_checks WHERE checked_at < %s", (cutoff,)
    ).rowcount


def latest_probe(connection: psycopg.Connection, instance: str) -> Probe | None:
    """Return the latest probe of `instance`, or None before its first one."""
    with connection.cursor(row_factory=class_row(Probe)) as cursor:
        cursor.execute(
            "SELECT instance, checked_at, interface, ok, latency_ms, ret_code, error"
            " FROM vos_health_checks WHERE instance = %s ORDER BY checked_at DESC, id DESC"
            " LIMIT 1",
            (instance,),
        )
        return cursor.fetchone()
