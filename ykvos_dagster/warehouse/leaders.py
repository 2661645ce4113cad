"""The busiest accounts and gateways of an instance's call days, for the previews that the assets
show in the Dagster UI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ykvos_dagster.metadata import Leader, leaders_markdown

DEFAULT_LIMIT = 10

# Table, grouping column and name column of each dimension. They come from this fixed set and
# never from input, because identifiers cannot be query parameters.
_DIMENSIONS = {
    "account": ("cdrs", "account", "argMax(account_name, start)"),
    "routing_gateway": ("cdrs", "callee_gateway", "''"),
    "mapping_gateway": ("cdrs", "caller_gateway", "''"),
    "destination_country": ("cdr_calls", "destination_country", "any(destination_status)"),
}


def top_leaders(
    client,
    *,
    instance: str,
    start: dt.date,
    end: dt.date,
    dimension: str,
    limit: int = DEFAULT_LIMIT,
) -> list[Leader]:
    """Return the `limit` keys of `dimension` with the most CDRs in the call days [start, end).

    Args:
        dimension: `account`, `routing_gateway` (calleeGateway), `mapping_gateway`
            (callerGateway) or `destination_country`.
    """
    if dimension not in _DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; expected one of {list(_DIMENSIONS)}")
    table, column, name = _DIMENSIONS[dimension]
    rows = client.query(
        f"SELECT {column}, {name}, count() AS attempts, countIf(hold_time > 0), sum(fee)"
        f" FROM {table} WHERE instance = {{instance:String}}"
        " AND call_day >= {start:Date} AND call_day < {end:Date}"
        f" GROUP BY {column} ORDER BY attempts DESC, {column} LIMIT {{limit:UInt32}}",
        parameters={"instance": instance, "start": start, "end": end, "limit": limit},
    ).result_rows
    return [
        Leader(
            key=key,
            name=label,
            attempts=int(attempts),
            answered=int(answered),
            revenue=Decimal(revenue),
        )
        for key, label, attempts, answered, revenue in rows
    ]


def leaders_preview(
    client,
    *,
    instance: str,
    start: dt.date,
    end: dt.date,
    currency: str,
    dimensions: tuple[str, ...] = ("account", "routing_gateway", "mapping_gateway"),
    limit: int = DEFAULT_LIMIT,
) -> str:
    """Return Markdown tables of the busiest keys of each dimension in the days [start, end)."""
    titles = {
        "account": ("Top accounts", "account"),
        "routing_gateway": ("Top routing gateways (calleeGateway)", "routing gateway"),
        "mapping_gateway": ("Top mapping gateways (callerGateway)", "mapping gateway"),
        "destination_country": ("Top destination countries", "country"),
    }
    sections = []
    for dimension in dimensions:
        title, key_header = titles[dimension]
        leaders = top_leaders(
            client, instance=instance, start=start, end=end, dimension=dimension, limit=limit
        )
        sections.append((title, key_header, leaders))
    return leaders_markdown(sections, currency)
