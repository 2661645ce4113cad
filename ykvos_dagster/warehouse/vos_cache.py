"""`vos_data_cache`: the latest reply of each instance, interface and request, with an expiry.

Each interface belongs to a kind whose time-to-live sets `expires_at`. The real-time sensor
pulls an interface again only once its row has expired, and a daily job deletes expired rows.
Replies arrive here without secrets (see `vos3000.redaction`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import psycopg

from ykvos_dagster.vos3000.fields import json_text
from ykvos_dagster.vos3000.inventory import Reply

DEFAULT_TTL_SECONDS: Mapping[str, int] = {
    "phones": 5 * 60,
    "customers": 10 * 60,
    "gateways": 4 * 3600,
    "realtime": 60,
    "other": 60 * 60,
}
"""Time-to-live per kind, in seconds. `YKVOS_CACHE_TTL_<KIND>` overrides each one."""

INTERFACE_KINDS: Mapping[str, str] = {
    "GetPhone": "phones",
    "GetPhoneOnline": "phones",
    "GetAllPhoneOnline": "phones",
    "GetAllCustomers": "customers",
    "GetCustomer": "customers",
    "GetGatewayMapping": "gateways",
    "GetGatewayRouting": "gateways",
    "GetGatewayMappingOnline": "realtime",
    "GetGatewayRoutingOnline": "realtime",
    "GetPerformance": "realtime",
    "GetAlarmCurrent": "realtime",
    "GetCurrentCall": "realtime",
}
"""Kind of each interface. Every other interface (rates, suites, soft switches, reports,
payments) is of kind `other`."""

TTL_ENV_PREFIX = "YKVOS_CACHE_TTL_"


def interface_kind(interface: str) -> str:
    return INTERFACE_KINDS.get(interface, "other")


@dataclass(frozen=True)
class CachePolicy:
    """Time-to-live of cached replies per kind, in seconds."""

    ttl_seconds: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_TTL_SECONDS))

    def __post_init__(self) -> None:
        unknown = set(self.ttl_seconds) - set(DEFAULT_TTL_SECONDS)
        if unknown:
            raise ValueError(
                f"unknown cache kinds {sorted(unknown)}; expected {sorted(DEFAULT_TTL_SECONDS)}"
            )
        for kind, seconds in self.ttl_seconds.items():
            if seconds <= 0:
                raise ValueError(f"cache time-to-live of {kind} must be > 0 s, got {seconds}")

    def ttl(self, interface: str) -> dt.timedelta:
        kind = interface_kind(interface)
        seconds = self.ttl_seconds.get(kind, DEFAULT_TTL_SECONDS[kind])
        return dt.timedelta(seconds=seconds)

    @classmethod
    def from_env(cls, overrides: Mapping[str, int | None] | None = None) -> CachePolicy:
        """Return the defaults, overridden by `YKVOS_CACHE_TTL_<KIND>` and then `overrides`."""
        ttl = dict(DEFAULT_TTL_SECONDS)
        for kind in DEFAULT_TTL_SECONDS:
            name = TTL_ENV_PREFIX + kind.upper()
            raw = os.environ.get(name)
            if raw:
                try:
                    ttl[kind] = int(raw)
                except ValueError:
                    raise ValueError(f"{name}={raw!r} is not a whole number of seconds") from None
        for kind, seconds in (overrides or {}).items():
            if seconds is not None:
                ttl[kind] = seconds
        return cls(ttl)


def store_replies(
    connection: psycopg.Connection, instance: str, replies: Iterable[Reply], policy: CachePolicy
) -> int:
    """Upsert each reply as the latest one of its (instance, interface, request) and return
    the number of rows written. Runs in the caller's transaction."""
    rows = [
        (
            instance,
            reply.interface,
            reply.request_hash,
            json_text(reply.request),
            json_text(reply.reply),
            reply.fetched_at,
            reply.fetched_at + policy.ttl(reply.interface),
        )
        for reply in replies
    ]
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO vos_data_cache (instance, interface, request_hash, request, reply,"
            " fetched_at, expires_at) VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)"
            " ON CONFLICT (instance, interface, request_hash) DO UPDATE SET"
            " request = EXCLUDED.request, reply = EXCLUDED.reply,"
            " fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at",
            rows,
        )
    return len(rows)


def expiry_by_interface(
    connection: psycopg.Connection, instance: str, interfaces: Iterable[str]
) -> dict[str, dt.datetime]:
    """Return the latest `expires_at` of each interface that has a cached reply."""
    rows = connection.execute(
        "SELECT interface, max(expires_at) FROM vos_data_cache"
        " WHERE instance = %s AND interface = ANY(%s) GROUP BY interface",
        (instance, list(interfaces)),
    ).fetchall()
    return {interface: expires_at for interface, expires_at in rows}


def delete_expired(connection: psycopg.Connection, now: dt.datetime) -> int:
    """Delete every row that expired before `now` and return how many there were."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return connection.execute("DELETE FROM vos_data_cache WHERE expires_at < %s", (now,)).rowcount
