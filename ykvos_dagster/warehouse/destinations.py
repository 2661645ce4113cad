"""Filling `destination_prefixes`, the lookup that gives the analyst views the destination of each
dialled number.

The view `cdr_calls` computes each CDR's lookup key in SQL (routing prefix stripped, leading
digits, length) and marks CDRs whose key has no lookup row as `pending`. This module parses one
sample number per pending key with `phonenumbers` and inserts the result. A key's result depends
only on the key, the default region and the phonenumbers version, so rows are only added: running
it again for the same call day finds no pending key and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass

import phonenumbers

from ykvos_dagster.numbering import parse_destination

logger = logging.getLogger(__name__)

LOOKUP_TABLE = "destination_prefixes"
_LOOKUP_COLUMNS = (
    "default_region",
    "number_prefix",
    "number_length",
    "status",
    "country",
    "country_code",
    "destination_prefix",
    "sample_number",
    "parsed_with",
    "parsed_at",
)
_INSERT_BATCH_ROWS = 10_000

# min() picks the same sample for a key on every run over the same rows.
_PENDING_KEYS_QUERY = """
SELECT destination_key, toUInt16(length(dialled_number)) AS number_length, min(dialled_number)
FROM cdr_calls
WHERE instance = {instance:String} AND call_day >= {start:Date} AND call_day < {end:Date}
    AND destination_status = 'pending'
GROUP BY destination_key, number_length
"""

_STATUS_COUNTS_QUERY = """
SELECT destination_status, count()
FROM cdr_calls
WHERE instance = {instance:String} AND call_day >= {start:Date} AND call_day < {end:Date}
GROUP BY destination_status
"""


@dataclass(frozen=True)
class DestinationRefresh:
    """Result of one refresh: keys parsed, and the CDRs of the refreshed days per status."""

    keys_parsed: int
    keys_reparsed: int
    cdrs_by_status: dict[str, int]


def _lookup_row(region: str, key: str, length: int, sample: str, parsed_at: dt.datetime):
    destination = parse_destination(sample, region)
    return (
        region,
        key,
        length,
        destination.status,
        destination.country,
        destination.country_code,
        destination.destination_prefix,
        sample,
        phonenumbers.__version__,
        parsed_at,
    )


def _insert(client, rows: list[tuple]) -> None:
    for offset in range(0, len(rows), _INSERT_BATCH_ROWS):
        client.insert(
            LOOKUP_TABLE,
            rows[offset : offset + _INSERT_BATCH_ROWS],
            column_names=list(_LOOKUP_COLUMNS),
        )


def reparse_outdated(client, region: str, now: dt.datetime | None = None) -> int:
    """Parse again every key of `region` that an older phonenumbers version parsed; return how
    many. The new rows carry a later parsed_at, so they win in `destination_prefixes FINAL`."""
    parsed_at = now or dt.datetime.now(dt.UTC)
    outdated = client.query(
        f"SELECT number_prefix, number_length, sample_number FROM {LOOKUP_TABLE} FINAL"
        " WHERE default_region = {region:String} AND parsed_with != {version:String}",
        parameters={"region": region, "version": phonenumbers.__version__},
    ).result_rows
    rows = [_lookup_row(region, key, length, sample, parsed_at) for key, length, sample in outdated]
    _insert(client, rows)
    if rows:
        logger.info(
            "Re-parsed %d destination keys of region %s with phonenumbers %s",
            len(rows),
            region,
            phonenumbers.__version__,
        )
    return len(rows)


def refresh_destinations(
    client,
    *,
    instance: str,
    region: str,
    start: dt.date,
    end: dt.date,
    now: dt.datetime | None = None,
) -> DestinationRefresh:
    """Parse the pending destination keys of the instance's call days [start, end).

    Raises:
        ValueError: the instance's settings are not in `vos_instance_settings`, from which the
            view builds the keys (see `instance_settings.sync_instance_settings`).
    """
    synced = client.command(
        "SELECT count() FROM vos_instance_settings WHERE instance = {instance:String}",
        parameters={"instance": instance},
    )
    if not int(synced):
        raise ValueError(
            f"instance {instance} has no settings in ClickHouse yet; sync them with "
            "sync_instance_settings (the cdr_destinations asset does) before parsing destinations"
        )
    parsed_at = now or dt.datetime.now(dt.UTC)
    reparsed = reparse_outdated(client, region, parsed_at)
    pending = client.query(
        _PENDING_KEYS_QUERY, parameters={"instance": instance, "start": start, "end": end}
    ).result_rows
    rows = [_lookup_row(region, key, length, sample, parsed_at) for key, length, sample in pending]
    _insert(client, rows)

    counts = client.query(
        _STATUS_COUNTS_QUERY, parameters={"instance": instance, "start": start, "end": end}
    ).result_rows
    by_status = Counter({status: int(count) for status, count in counts})
    logger.info(
        "instance %s days [%s, %s): parsed %d new destination keys; CDRs by status: %s",
        instance,
        start,
        end,
        len(rows),
        dict(by_status),
    )
    return DestinationRefresh(
        keys_parsed=len(rows), keys_reparsed=reparsed, cdrs_by_status=dict(by_status)
    )
