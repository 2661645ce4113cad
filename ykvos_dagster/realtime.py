"""Light pulls of live state and health probes, which sensors run themselves, without Dagster.

A pull of live state is one to three small requests, due every minute. Launching a Dagster run
for each would add about 1,440 runs a day per instance to the run storage, so the sensors call
the switch directly, write the tables, and report asset events instead.

The requests go to the switch's equipment backend, not to the database backend that serves
GetCdr, so they do not take the per-instance GetCdr lock. Each has a short timeout and no
retries. A failed one is tried again on the next tick, because its cache row stays expired.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import psycopg

from ykvos_dagster.inventory_pull import (
    GATEWAY_ONLINE_PULL,
    PULLS,
    InventoryPull,
    store_pulled,
)
from ykvos_dagster.inventory_scheduling import is_due
from ykvos_dagster.vos3000.client import VosClient, VosEndpoint
from ykvos_dagster.vos3000.errors import VosError, VosReturnCodeError, VosTransportError
from ykvos_dagster.vos3000.inventory import InventoryApi
from ykvos_dagster.warehouse.health import Probe
from ykvos_dagster.warehouse.registry import VosInstance
from ykvos_dagster.warehouse.vos_cache import CachePolicy, expiry_by_interface

logger = logging.getLogger(__name__)

LIGHT_READ_TIMEOUT_SECONDS = 10.0
LIGHT_CONNECT_TIMEOUT_SECONDS = 5.0
PROBE_INTERFACE = "GetSoftSwitch"

REALTIME_PULLS: tuple[InventoryPull, ...] = (
    PULLS["vos_performance"],
    PULLS["alarms_current"],
    GATEWAY_ONLINE_PULL,
    PULLS["phones_online"],
)
"""Pulls that the real-time sensor runs when their cached replies expire: the real-time kind
(1 minute by default) and the online phones (5 minutes)."""

ConnectionFactory = Callable[[], AbstractContextManager[psycopg.Connection]]


def light_endpoint(instance: VosInstance) -> VosEndpoint:
    """Return the instance's endpoint with short timeouts and no retries."""
    endpoint = instance.endpoint()
    return dataclasses.replace(
        endpoint,
        timeout_seconds=min(endpoint.timeout_seconds, LIGHT_READ_TIMEOUT_SECONDS),
        connect_timeout_seconds=LIGHT_CONNECT_TIMEOUT_SECONDS,
        retries=0,
    )


@dataclass
class LightPullResult:
    """The outcome of one real-time pull of one instance."""

    instance: str
    pull: str
    ok: bool
    metrics: dict[str, int | float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None


def due_pulls(connect: ConnectionFactory, instance: str, now: dt.datetime) -> list[InventoryPull]:
    """Return the real-time pulls of `instance` whose cached replies have expired."""
    interfaces = {interface for pull in REALTIME_PULLS for interface in pull.interfaces}
    with connect() as connection:
        expiry = expiry_by_interface(connection, instance, interfaces)
    return [pull for pull in REALTIME_PULLS if is_due(pull.interfaces, expiry, now)]


def run_light_pulls(
    instance: VosInstance,
    pulls: list[InventoryPull],
    connect: ConnectionFactory,
    policy: CachePolicy,
    *,
    deadline: float,
    client_factory: Callable[[VosEndpoint], VosClient] = VosClient,
) -> Iterator[LightPullResult]:
    """Run `pulls` for one instance, one after the other, until `deadline` (time.monotonic()).

    A failed pull is reported and logged, not raised. After a transport error (timeout,
    connection refused) the instance's remaining pulls wait for the next tick.
    """
    with client_factory(light_endpoint(instance)) as client:
        for pull in pulls:
            if time.monotonic() > deadline:
                logger.warning(
                    "instance %s: real-time pull %s left for the next tick, because this tick"
                    " has used its time budget",
                    instance.slug,
                    pull.name,
                )
                return
            api = InventoryApi(client)
            started = time.monotonic()
            try:
                pulled = pull.fetch(api)
            except VosError as error:
                logger.warning(
                    "instance %s: real-time pull %s failed: %s", instance.slug, pull.name, error
                )
                yield LightPullResult(
                    instance.slug,
                    pull.name,
                    ok=False,
                    requests=len(api.replies) + 1,
                    seconds=time.monotonic() - started,
                    error=str(error),
                )
                if isinstance(error, VosTransportError):
                    return
                continue
            fetched_at = dt.datetime.now(dt.UTC)
            with connect() as connection:
                rows = store_pulled(connection, instance.slug, pulled, api, policy, fetched_at)
            yield LightPullResult(
                instance.slug,
                pull.name,
                ok=True,
                metrics=pulled.metrics,
                rows=rows,
                requests=len(api.replies),
                seconds=time.monotonic() - started,
            )


def probe(
    instance: VosInstance,
    *,
    client_factory: Callable[[VosEndpoint], VosClient] = VosClient,
) -> Probe:
    """Send one GetSoftSwitch request, a light call, and return its outcome and latency."""
    checked_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    ret_code: int | None = 0
    error: str | None = None
    with client_factory(light_endpoint(instance)) as client:
        try:
            InventoryApi(client).soft_switches()
        except VosReturnCodeError as failure:
            ret_code, error = failure.ret_code, str(failure)
        except VosError as failure:
            ret_code, error = None, str(failure)
    return Probe(
        instance=instance.slug,
        checked_at=checked_at,
        interface=PROBE_INTERFACE,
        ok=error is None,
        latency_ms=(time.monotonic() - started) * 1000,
        ret_code=ret_code,
        error=error,
    )
