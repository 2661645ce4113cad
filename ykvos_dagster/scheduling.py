"""When to pull and refresh, without Dagster: the plain rules behind the sensors."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ykvos_dagster.warehouse.registry import VosInstance
from ykvos_dagster.warehouse.statistics import PERIOD_TYPES, period_start_for

logger = logging.getLogger(__name__)

# The daily pull of an instance's previous call day starts once this server-local time has
# passed, so that calls written just after midnight are in the switch's daily table.
PULL_AFTER_LOCAL_TIME = dt.time(1, 30)
DEFAULT_LOOKBACK_DAYS = 1


@dataclass(frozen=True)
class DuePull:
    instance: str
    day: dt.date
    run_key: str


def due_local_days(
    instances: Iterable[VosInstance],
    now: dt.datetime,
    *,
    after: dt.time,
    lookback_days: int,
    earliest_day: dt.date | None = None,
) -> Iterator[tuple[VosInstance, dt.date, dt.date]]:
    """Yield (instance, day, local today) for every enabled instance whose local time has passed
    `after`: its previous local day and `lookback_days` days before it, none before its first
    day or `earliest_day`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if lookback_days < 0:
        raise ValueError(f"look-back must be >= 0 days, got {lookback_days}")
    for instance in instances:
        if not instance.enabled:
            continue
        try:
            zone = instance.zone
        except ValueError as error:
            # One broken registry row must not stop the pulls of every other instance.
            logger.error("instance %s is skipped: %s", instance.slug, error)
            continue
        local_now = now.astimezone(zone)
        if local_now.time() < after:
            continue
        today = local_now.date()
        for offset in range(1, lookback_days + 2):
            day = today - dt.timedelta(days=offset)
            if day < instance.first_day or (earliest_day and day < earliest_day):
                continue
            yield instance, day, today


def due_cdr_pulls(
    instances: Iterable[VosInstance],
    now: dt.datetime,
    *,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    earliest_day: dt.date | None = None,
) -> Iterator[DuePull]:
    """Yield the instance-days to pull at `now`: for every enabled instance whose local time has
    passed 01:30, its previous local day and `lookback_days` days before it.

    The run key contains the local day of the pull, so each day is pulled once on the day after
    it and once more on each look-back day.
    """
    for instance, day, today in due_local_days(
        instances,
        now,
        after=PULL_AFTER_LOCAL_TIME,
        lookback_days=lookback_days,
        earliest_day=earliest_day,
    ):
        yield DuePull(
            instance=instance.slug,
            day=day,
            run_key=f"cdrs:{instance.slug}:{day.isoformat()}:pulled-on:{today.isoformat()}",
        )


def periods_for_days(days: Iterable[dt.date]) -> dict[str, set[dt.date]]:
    """Return, per period type, the starts of the periods that contain any of `days`."""
    periods: dict[str, set[dt.date]] = {period: set() for period in PERIOD_TYPES}
    for day in days:
        for period in PERIOD_TYPES:
            periods[period].add(period_start_for(period, day))
    return periods
