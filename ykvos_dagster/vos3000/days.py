"""Server-local days. VOS3000 instants are UTC epoch milliseconds, while its days (`yyyyMMdd` in
GetCdr, the daily CDR tables, the reports) are calendar days in the switch's own time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_for(name: str) -> ZoneInfo:
    """Return the IANA zone `name`, raising ValueError with the name when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai or UTC"
        ) from None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def local_today(zone: ZoneInfo, now: dt.datetime | None = None) -> dt.date:
    """Return the current calendar day in `zone`."""
    now = now or utc_now()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(zone).date()


def day_has_ended(day: dt.date, zone: ZoneInfo, now: dt.datetime | None = None) -> bool:
    """Return True once the whole of `day` lies in the past in `zone`."""
    return day < local_today(zone, now)


def local_time(zone: ZoneInfo, now: dt.datetime | None = None) -> dt.time:
    now = now or utc_now()
    return now.astimezone(zone).time()


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Return the days of the half-open window [start, end)."""
    return [start + dt.timedelta(days=offset) for offset in range((end - start).days)]
