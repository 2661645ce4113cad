"""Column catalogs and Markdown previews that the assets attach to the Dagster UI, without Dagster.

The catalogs describe the tables for analysts and must match the DDL in `clickhouse/` and `sql/`
(tests compare them with the live tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


# The ClickHouse table `cdrs`, in table order.
CDRS_COLUMNS: tuple[Column, ...] = (
    Column("instance", "LowCardinality(String)", "slug of the VOS3000 switch (vos_instances)"),
    Column("instance_uuid", "UUID", "stable id of the switch (vos_instances.uuid)"),
    Column("call_day", "Date", "server-local day whose GetCdr pull returned the CDR"),
    Column("flow_no", "Int64", "flowNo: CDR id, unique within one switch"),
    Column("account", "String", "billed account number"),
    Column("account_name", "String", "billed account name at the time of the call"),
    Column("caller_e164", "String", "caller number used for billing"),
    Column("caller_access_e164", "String", "caller number as received"),
    Column("caller_to_gateway_e164", "String", "caller number as sent to the routing gateway"),
    Column("caller_product_id", "String", "caller device (SIP User-Agent)"),
    Column("caller_gateway", "String", "mapping (ingress) gateway name"),
    Column("caller_ip", "String", "caller signalling IP"),
    Column("callee_e164", "String", "callee number used for routing, may carry a routing prefix"),
    Column("callee_access_e164", "String", "dialled callee number"),
    Column("callee_to_gateway_e164", "String", "callee number as sent to the routing gateway"),
    Column("callee_product_id", "String", "callee device, empty if none"),
    Column("callee_gateway", "String", "routing (egress) gateway name, empty if none reached"),
    Column("callee_ip", "String", "callee signalling IP, empty if none"),
    Column("start", "DateTime64(3, 'UTC')", "start of the call, UTC"),
    Column("stop", "DateTime64(3, 'UTC')", "end of the call, UTC"),
    Column("start_day", "Date", "date of start in the switch's time zone"),
    Column("hold_time", "UInt32", "talk seconds; a call is answered when hold_time > 0"),
    Column("fee_time", "UInt32", "billed seconds, after the billing-period rounding"),
    Column("fee", "Decimal(18, 6)", "amount charged to the account, in the switch's currency"),
    Column("fee_prefix", "String", "rate-table prefix that matched"),
    Column("suite_fee", "Decimal(18, 6)", "part of the fee charged to a package (suite)"),
    Column("suite_fee_time", "UInt32", "package seconds used"),
    Column("agent_account", "String", "agent (reseller) above the account, empty if none"),
    Column("agent_name", "String", "agent name"),
    Column("agent_fee", "Decimal(18, 6)", "amount charged to the agent account, not a cost"),
    Column("agent_fee_time", "UInt32", "agent billed seconds"),
    Column("agent_fee_prefix", "String", "agent rate-table prefix"),
    Column("agent_suite_fee", "Decimal(18, 6)", "agent package fee"),
    Column("agent_suite_fee_time", "UInt32", "agent package seconds"),
    Column("call_level", "Int16", "1 on-net, 2 local, 4 national, 5 international"),
    Column("end_direction", "Int16", "who hung up: 0 caller, 1 callee, 2 switch"),
    Column("end_reason", "Int32", "termination reason: SIP-like codes, negative switch codes"),
    Column(
        "callee_billing", "Nullable(Int16)", "0 caller pays, 1 callee, 2 external; NULL if absent"
    ),
    Column("billing_mode", "Int16", "billed account: 0 phone, 1 mapping gateway, 2 number, 3 card"),
    Column("billing_type", "Nullable(Int16)", "sent by newer VOS versions; NULL if absent"),
    Column("raw", "String", "the InfoCdr record as received, JSON"),
    Column("loaded_at", "DateTime64(3, 'UTC')", "when the call day was loaded"),
)

# The PostgreSQL table `cdr_statistics`, in table order.
CDR_STATISTICS_COLUMNS: tuple[Column, ...] = (
    Column("id", "bigint", "row id"),
    Column("instance", "text", "slug of the VOS3000 switch"),
    Column("instance_uuid", "uuid", "stable id of the switch"),
    Column("statistic_type", "text", "vos (whole switch), account or gateway (routing gateway)"),
    Column("dimension_value", "text", "'' for vos, the account, or the routing gateway name"),
    Column("dimension_name", "text", "latest account name for the account level, else ''"),
    Column("period_type", "text", "day, month, quarter or year"),
    Column("period_start", "date", "first call day of the period"),
    Column("period_end", "date", "first call day after the period"),
    Column("total_calls", "bigint", "CDRs"),
    Column("connected_calls", "bigint", "CDRs with hold_time > 0"),
    Column("total_duration", "bigint", "talk seconds of connected calls"),
    Column("total_billed_seconds", "bigint", "fee_time summed over all CDRs"),
    Column("total_fee", "numeric", "fee summed over all CDRs, in currency"),
    Column("currency", "text", "ISO 4217 code of the switch's money values"),
    Column("connection_rate", "numeric", "connected / total x 100, 2 places (ASR)"),
    Column("days_in_period", "integer", "call days in the period"),
    Column("days_elapsed", "integer", "days of the period that have ended in the switch's zone"),
    Column("days_loaded", "integer", "ended days with a successful CDR load"),
    Column("is_complete", "boolean", "every ended day of the period is loaded"),
    Column("computed_at", "timestamp with time zone", "when the row was written"),
)

# The ClickHouse lookup table `destination_prefixes`, in table order.
DESTINATION_PREFIXES_COLUMNS: tuple[Column, ...] = (
    Column("default_region", "LowCardinality(String)", "region numbers in national form belong to"),
    Column(
        "number_prefix", "String", "leading digits of the dialled number, routing prefix stripped"
    ),
    Column("number_length", "UInt16", "length of the dialled number, routing prefix stripped"),
    Column("status", "LowCardinality(String)", "ok, invalid (length) or unparseable"),
    Column("country", "LowCardinality(String)", "ISO 3166 code of the destination, ZZ if unknown"),
    Column("country_code", "UInt16", "E.164 country calling code, 0 if unparseable"),
    Column("destination_prefix", "String", "+, country code and national destination code"),
    Column("sample_number", "String", "the number parsed for this key"),
    Column("parsed_with", "String", "phonenumbers version"),
    Column("parsed_at", "DateTime64(3, 'UTC')", "when the key was parsed"),
)


@dataclass(frozen=True)
class Leader:
    """One account or gateway among the busiest of a partition."""

    key: str
    name: str
    attempts: int
    answered: int
    revenue: Decimal

    @property
    def asr_percent(self) -> Decimal:
        if self.attempts == 0:
            return Decimal("0.00")
        return (Decimal(self.answered) * 100 / self.attempts).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )


def _markdown_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render a GitHub-flavoured Markdown table, escaping `|` and line breaks in cells."""
    lines = [
        "| " + " | ".join(_markdown_cell(header) for header in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_markdown_cell(value) for value in row) + " |")
    return "\n".join(lines)


def leaders_markdown(sections: Sequence[tuple[str, str, Sequence[Leader]]], currency: str) -> str:
    """Render one Markdown table per (title, key header, leaders) section.

    A section without leaders shows "No calls." instead of an empty table.
    """
    parts = []
    for title, key_header, leaders in sections:
        parts.append(f"**{title}**")
        if not leaders:
            parts.append("No calls.")
            continue
        rows = [
            (
                leader.key or "(none)",
                leader.name,
                leader.attempts,
                leader.answered,
                leader.asr_percent,
                f"{leader.revenue:.2f}",
            )
            for leader in leaders
        ]
        parts.append(
            markdown_table(
                [key_header, "name", "attempts", "answered", "ASR %", f"revenue ({currency})"],
                rows,
            )
        )
    return "\n\n".join(parts)


def statistics_leaders(rows: Sequence, statistic_type: str, limit: int = 10) -> list[Leader]:
    """Return the `limit` rows of one level of `cdr_statistics` rows with the most calls.

    `rows` are `warehouse.statistics.StatisticRow` objects.
    """
    level = [row for row in rows if row.statistic_type == statistic_type]
    level.sort(key=lambda row: (-row.total_calls, row.dimension_value))
    return [
        Leader(
            key=row.dimension_value,
            name=row.dimension_name,
            attempts=row.total_calls,
            answered=row.connected_calls,
            revenue=row.total_fee,
        )
        for row in level[:limit]
    ]
