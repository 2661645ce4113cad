"""The ClickHouse copy of registry settings that the analyst views join: `vos_instance_settings`
(currency, numbering rules) and `instance_utc_offsets` (the instance's time zone as UTC offsets).

ClickHouse date functions take the time zone as a constant, so a view cannot read it from a
column. The offsets table turns the zone into data instead: the views add the offset in force at
a call's start (ASOF JOIN) to get its local hour.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from ykvos_dagster.numbering import international_prefixes
from ykvos_dagster.warehouse.registry import VosInstance, validate_slug

SETTINGS_TABLE = "vos_instance_settings"
OFFSETS_TABLE = "instance_utc_offsets"
_SETTINGS_COLUMNS = (
    "instance",
    "timezone",
    "currency",
    "default_region",
    "strip_prefixes",
    "international_prefixes",
    "synced_at",
)
_OFFSET_COLUMNS = ("instance", "valid_from", "utc_offset_seconds")
OFFSETS_START = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
OFFSETS_END = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _offset_seconds(zone: ZoneInfo, instant: dt.datetime) -> int:
    return int(instant.astimezone(zone).utcoffset().total_seconds())


def utc_offset_periods(
    zone: ZoneInfo, start: dt.datetime = OFFSETS_START, end: dt.datetime = OFFSETS_END
) -> list[tuple[dt.datetime, int]]:
    """Return (valid_from, UTC offset in seconds) for each period of constant offset in `zone`.

    The first period starts at `start`. Offsets are sampled once a day and each change is then
    located to the second by bisection.
    """
    # NOTE: two offset changes within one day would be seen as one; tzdata has none since 1970.
    periods = [(start, _offset_seconds(zone, start))]
    day = dt.timedelta(days=1)
    previous = start
    while previous < end:
        current = min(previous + day, end)
        if _offset_seconds(zone, current) != periods[-1][1]:
            low, high = previous, current
            while (high - low) > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle <= low:
                    break
                if _offset_seconds(zone, middle) == periods[-1][1]:
                    low = middle
                else:
                    high = middle
            periods.append((high, _offset_seconds(zone, high)))
        previous = current
    return periods


def _replace_instance_partition(
    client, table: str, instance: str, columns: tuple[str, ...], rows: list[tuple]
) -> None:
    """Replace the instance's partition of `table` with `rows` through a staging table, so that
    readers see the old rows or the new ones, never both."""
    validate_slug(instance)
    staging = f"_staging_{table}_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE `{staging}` AS {table}")
    try:
        client.insert(staging, rows, column_names=list(columns))
        # ClickHouse takes no query parameters in a PARTITION clause; the slug is validated.
        client.command(f"ALTER TABLE {table} REPLACE PARTITION '{instance}' FROM `{staging}`")
    finally:
        client.command(f"DROP TABLE IF EXISTS `{staging}`")


def sync_instance_settings(client, instance: VosInstance, now: dt.datetime | None = None) -> None:
    """Write the instance's settings and UTC offsets to ClickHouse, replacing earlier copies."""
    synced_at = now or dt.datetime.now(dt.UTC)
    settings_row = (
        instance.slug,
        instance.timezone,
        instance.currency,
        instance.default_region,
        list(instance.strip_prefixes),
        list(international_prefixes(instance.default_region)),
        synced_at,
    )
    _replace_instance_partition(
        client, SETTINGS_TABLE, instance.slug, _SETTINGS_COLUMNS, [settings_row]
    )
    offsets = [
        (instance.slug, valid_from, offset)
        for valid_from, offset in utc_offset_periods(instance.zone)
    ]
    _replace_instance_partition(client, OFFSETS_TABLE, instance.slug, _OFFSET_COLUMNS, offsets)
