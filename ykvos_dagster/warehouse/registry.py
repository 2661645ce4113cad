"""The registry of VOS3000 instances (`vos_instances` in PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from ykvos_dagster.numbering import normalize_strip_prefixes, validate_region
from ykvos_dagster.vos3000.client import DEFAULT_PATH_PREFIX, VosEndpoint
from ykvos_dagster.vos3000.days import zone_for

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_COLUMNS = (
    "slug, uuid, name, base_url, path_prefix, timezone, currency, first_day, enabled,"
    " pause_seconds, timeout_seconds, default_region, strip_prefixes, skip_idle_accounts,"
    " batch_accounts, batch_max_rows"
)


class InstanceNotFound(LookupError):
    pass


@dataclass(frozen=True)
class VosInstance:
    slug: str
    uuid: uuid.UUID
    name: str
    base_url: str
    path_prefix: str
    timezone: str
    currency: str
    first_day: dt.date
    enabled: bool
    pause_seconds: float
    timeout_seconds: float
    default_region: str = "CN"
    strip_prefixes: tuple[str, ...] = ()
    # CDR pull options (see cdr_pull): skip accounts the switch reports idle, batch small ones.
    skip_idle_accounts: bool = True
    batch_accounts: bool = True
    batch_max_rows: int = 5000

    @property
    def zone(self) -> ZoneInfo:
        return zone_for(self.timezone)

    def endpoint(self) -> VosEndpoint:
        return VosEndpoint(
            instance=self.slug,
            base_url=self.base_url,
            path_prefix=self.path_prefix,
            timeout_seconds=self.timeout_seconds,
        )


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise ValueError(
            f"invalid instance slug {slug!r}: use 1-63 lowercase letters, digits and '-', "
            "starting with a letter or digit"
        )
    return slug


def _from_row(row: dict) -> VosInstance:
    values = dict(row)
    for key in ("pause_seconds", "timeout_seconds"):
        if isinstance(values[key], Decimal):
            values[key] = float(values[key])
    values["strip_prefixes"] = tuple(values["strip_prefixes"])
    return VosInstance(**values)


def add_instance(
    connection: psycopg.Connection,
    *,
    slug: str,
    name: str,
    base_url: str,
    first_day: dt.date,
    path_prefix: str = DEFAULT_PATH_PREFIX,
    timezone: str = "Asia/Shanghai",
    currency: str = "CNY",
    pause_seconds: float = 2.0,
    timeout_seconds: float = 60.0,
    default_region: str = "CN",
    strip_prefixes: tuple[str, ...] | list[str] = (),
    skip_idle_accounts: bool = True,
    batch_accounts: bool = True,
    batch_max_rows: int = 5000,
    update_existing: bool = False,
) -> VosInstance:
    """Register an instance, validating every field first.

    With `update_existing`, an instance with the same slug gets the new settings but keeps its
    UUID; otherwise a second registration of a slug raises ValueError.
    """
    validate_slug(slug)
    zone_for(timezone)
    VosEndpoint(
        instance=slug, base_url=base_url, path_prefix=path_prefix, timeout_seconds=timeout_seconds
    )
    if pause_seconds < 0:
        raise ValueError(f"pause must be >= 0 s, got {pause_seconds}")
    if batch_max_rows < 1:
        raise ValueError(f"the GetCdr row budget must be at least 1 row, got {batch_max_rows}")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code such as CNY or USD")
    validate_region(default_region)
    strip_prefixes = list(normalize_strip_prefixes(strip_prefixes))

    conflict = (
        "ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, base_url = EXCLUDED.base_url,"
        " path_prefix = EXCLUDED.path_prefix, timezone = EXCLUDED.timezone,"
        " currency = EXCLUDED.currency, first_day = EXCLUDED.first_day,"
        " pause_seconds = EXCLUDED.pause_seconds, timeout_seconds = EXCLUDED.timeout_seconds,"
        " default_region = EXCLUDED.default_region, strip_prefixes = EXCLUDED.strip_prefixes,"
        " skip_idle_accounts = EXCLUDED.skip_idle_accounts,"
        " batch_accounts = EXCLUDED.batch_accounts, batch_max_rows = EXCLUDED.batch_max_rows,"
        " updated_at = now()"
        if update_existing
        else "ON CONFLICT (slug) DO NOTHING"
    )
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            f"INSERT INTO vos_instances (slug, uuid, name, base_url, path_prefix, timezone,"
            f" currency, first_day, pause_seconds, timeout_seconds, default_region, strip_prefixes,"
            f" skip_idle_accounts, batch_accounts, batch_max_rows)"
            f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) {conflict}"
            f" RETURNING {_COLUMNS}",
            (
                slug,
                uuid.uuid4(),
                name,
                base_url,
                path_prefix,
                timezone,
                currency,
                first_day,
                pause_seconds,
                timeout_seconds,
                default_region,
                strip_prefixes,
                skip_idle_accounts,
                batch_accounts,
                batch_max_rows,
            ),
        )
        row = cursor.fetchone()
    if row is None:
        raise ValueError(f"instance {slug!r} is already registered")
    return _from_row(row)


def get_instance(connection: psycopg.Connection, slug: str) -> VosInstance:
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f"SELECT {_COLUMNS} FROM vos_instances WHERE slug = %s", (slug,))
        row = cursor.fetchone()
    if row is None:
        raise InstanceNotFound(
            f"VOS instance {slug!r} is not registered; see `ykvos instances list` "
            "or add it with `ykvos instances add`"
        )
    return _from_row(row)


def list_instances(
    connection: psycopg.Connection, *, enabled_only: bool = False
) -> list[VosInstance]:
    query = f"SELECT {_COLUMNS} FROM vos_instances"
    if enabled_only:
        query += " WHERE enabled"
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query + " ORDER BY slug")
        return [_from_row(row) for row in cursor.fetchall()]


def set_enabled(connection: psycopg.Connection, slug: str, enabled: bool) -> None:
    """Enable or disable pulls of an instance. Its partitions and data stay."""
    result = connection.execute(
        "UPDATE vos_instances SET enabled = %s, updated_at = now() WHERE slug = %s",
        (enabled, slug),
    )
    if result.rowcount == 0:
        raise InstanceNotFound(f"VOS instance {slug!r} is not registered")
