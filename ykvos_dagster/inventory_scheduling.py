"""When to pull inventory, live state, health and reports, without Dagster: the plain rules
behind the inventory schedules and sensors."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from ykvos_dagster.scheduling import due_local_days
from ykvos_dagster.warehouse.registry import VosInstance

# The daily report pull of an instance's previous day starts once this server-local time has
# passed: after the CDR pull at 01:30, like the older platform's 03:00 job, but for the day
# that has ended in the switch's zone rather than "today" on the worker's clock.
REPORT_AFTER_LOCAL_TIME = dt.time(3, 0)

# A cached reply that expires within this many seconds counts as expired. Without it a 60 s
# time-to-live and a sensor tick every 60 s would drift into a 120 s cadence, because each
# tick comes a few milliseconds before the row expires.
EXPIRY_SLACK = dt.timedelta(seconds=10)

HEALTH_FAILURES_ENV = "YKVOS_HEALTH_FAILURES_BEFORE_ERROR"
DEFAULT_HEALTH_FAILURES = 3
HEALTH_RETENTION_ENV = "YKVOS_HEALTH_RETENTION_DAYS"
DEFAULT_HEALTH_RETENTION_DAYS = 90


@dataclass(frozen=True)
class DueReport:
    instance: str
    day: dt.date
    run_key: str


def due_report_pulls(
    instances: Iterable[VosInstance],
    now: dt.datetime,
    *,
    lookback_days: int,
    earliest_day: dt.date | None = None,
) -> Iterator[DueReport]:
    """Yield the instance-days whose report to pull at `now`: for every enabled instance whose
    local time has passed 03:00, its previous local day and `lookback_days` days before it.

    The run key contains the local day of the pull, so each day is pulled once on the day
    after it and once more on each look-back day, when late CDRs may have changed it.
    """
    for instance, day, today in due_local_days(
        instances,
        now,
        after=REPORT_AFTER_LOCAL_TIME,
        lookback_days=lookback_days,
        earliest_day=earliest_day,
    ):
        yield DueReport(
            instance=instance.slug,
            day=day,
            run_key=f"reports:{instance.slug}:{day.isoformat()}:pulled-on:{today.isoformat()}",
        )


def is_due(interfaces: Iterable[str], expiry: Mapping[str, dt.datetime], now: dt.datetime) -> bool:
    """Return True when any of `interfaces` has no cached reply or one that expires within
    EXPIRY_SLACK of `now`."""
    return any(
        interface not in expiry or expiry[interface] <= now + EXPIRY_SLACK
        for interface in interfaces
    )


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def health_failures_before_error() -> int:
    """Return how many consecutive failed probes turn an instance's health check red."""
    return _positive_int(HEALTH_FAILURES_ENV, DEFAULT_HEALTH_FAILURES)


def health_retention_days() -> int:
    """Return how many days of health probes the daily clean-up keeps."""
    return _positive_int(HEALTH_RETENTION_ENV, DEFAULT_HEALTH_RETENTION_DAYS)
