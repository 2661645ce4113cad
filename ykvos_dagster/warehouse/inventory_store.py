"""Writing inventory records to PostgreSQL: each table is replaced per instance.

A pull's tables are replaced inside the caller's transaction (delete the instance's rows, then
COPY the new ones), so a reader sees either the previous pull or the new one, never a mix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from ykvos_dagster.vos3000.fields import json_text
from ykvos_dagster.vos3000.inventory import Gateway, GatewayOnline

# Columns of type jsonb. Their values are written as JSON text with exact decimals.
JSON_COLUMNS = frozenset({"raw", "online_raw", "sections", "gift_times"})

_GATEWAY_CONFIG_COLUMNS = tuple(field.name for field in dataclasses.fields(Gateway))
_GATEWAY_ONLINE_COLUMNS = tuple(
    field.name for field in dataclasses.fields(GatewayOnline) if field.name != "gateway_type"
)
_GATEWAY_ONLINE_DATA = tuple(column for column in _GATEWAY_ONLINE_COLUMNS if column != "name")


def record_columns(record_type: type) -> tuple[str, ...]:
    """Return the column names of a record dataclass, in field order."""
    return tuple(field.name for field in dataclasses.fields(record_type))


def _value(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and value is not None:
        return json_text(value)
    return value


def copy_rows(
    connection: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """COPY rows into `table` and return the number of rows written."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [_value(column, value) for column, value in zip(columns, row, strict=True)]
            )
            count += 1
    return count


def replace_records(
    connection: psycopg.Connection,
    table: str,
    instance: str,
    records: Sequence[Any],
    record_type: type,
    fetched_at: dt.datetime,
    *,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Replace the rows of `instance` in `table` by `records` (dataclass instances).

    `extra` adds columns with one value for every row, and also narrows the delete to rows
    with those values (for example one report day).
    """
    extra = dict(extra or {})
    columns = ("instance", *extra, *record_columns(record_type), "fetched_at")
    condition = sql.SQL(" AND ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column in ("instance", *extra)
    )
    connection.execute(
        sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(table), condition),
        (instance, *extra.values()),
    )
    fixed_head = (instance, *extra.values())
    names = record_columns(record_type)
    return copy_rows(
        connection,
        table,
        columns,
        (
            (*fixed_head, *(getattr(record, name) for name in names), fetched_at)
            for record in records
        ),
    )


def replace_gateways(
    connection: psycopg.Connection,
    instance: str,
    configs: Sequence[Gateway],
    online: Sequence[GatewayOnline],
    fetched_at: dt.datetime,
) -> int:
    """Replace the instance's gateways by `configs`, each merged with its online state.

    An online gateway without configuration (created since the configuration was read) keeps a
    row with NULL configuration columns, so that its state is not lost.
    """
    online_by_key = {(state.gateway_type, state.name): state for state in online}
    columns = (
        "instance",
        *_GATEWAY_CONFIG_COLUMNS,
        "fetched_at",
        "is_online",
        *_GATEWAY_ONLINE_DATA,
        "online_fetched_at",
    )
    rows = []
    for config in configs:
        state = online_by_key.pop((config.gateway_type, config.name), None)
        rows.append(
            (
                instance,
                *(getattr(config, column) for column in _GATEWAY_CONFIG_COLUMNS),
                fetched_at,
                *_online_values(state, fetched_at),
            )
        )
    for (gateway_type, name), state in online_by_key.items():
        config_values = [None] * len(_GATEWAY_CONFIG_COLUMNS)
        config_values[_GATEWAY_CONFIG_COLUMNS.index("gateway_type")] = gateway_type
        config_values[_GATEWAY_CONFIG_COLUMNS.index("name")] = name
        rows.append((instance, *config_values, None, *_online_values(state, fetched_at)))
    connection.execute("DELETE FROM gateways WHERE instance = %s", (instance,))
    return copy_rows(connection, "gateways", columns, rows)


def _online_values(state: GatewayOnline | None, fetched_at: dt.datetime) -> tuple:
    if state is None:
        return (False, *([None] * len(_GATEWAY_ONLINE_DATA)), fetched_at)
    return (True, *(getattr(state, column) for column in _GATEWAY_ONLINE_DATA), fetched_at)


def refresh_gateway_online(
    connection: psycopg.Connection,
    instance: str,
    online: Sequence[GatewayOnline],
    fetched_at: dt.datetime,
) -> int:
    """Update the online columns of the instance's gateways and return the number online.

    Gateways missing from `online` become offline. Configuration columns stay as the last
    full pull wrote them.
    """
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = NULL").format(sql.Identifier(column)) for column in _GATEWAY_ONLINE_DATA
    )
    connection.execute(
        sql.SQL(
            "UPDATE gateways SET is_online = false, {}, online_fetched_at = %s WHERE instance = %s"
        ).format(assignments),
        (fetched_at, instance),
    )
    columns = ("instance", "gateway_type", "name", "is_online", *_GATEWAY_ONLINE_DATA)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column))
        for column in ("is_online", *_GATEWAY_ONLINE_DATA, "online_fetched_at")
    )
    statement = sql.SQL(
        "INSERT INTO gateways ({}, online_fetched_at) VALUES ({}, %s)"
        " ON CONFLICT (instance, gateway_type, name) DO UPDATE SET {}"
    ).format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        updates,
    )
    rows = [
        (
            instance,
            state.gateway_type,
            state.name,
            True,
            *(_value(column, getattr(state, column)) for column in _GATEWAY_ONLINE_DATA),
            fetched_at,
        )
        for state in online
    ]
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(statement, rows)
    return len(rows)
