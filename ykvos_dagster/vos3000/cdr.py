"""Decoding of InfoCdr records (GetCdr `infoCdrs`) into rows of the ClickHouse table `cdrs`.

Nothing is invented: a record that lacks a field the table cannot leave empty, or carries a value
of the wrong type, raises `CdrDecodeError` naming the field and the flowNo. Only `calleeBilling`
and `billingType`, which some VOS versions leave out, become NULL.

`decode_cdr` is the reference for these rules. Pulls decode in ClickHouse with the same rules
(`cdr_sql`), and the tests check both against the same cases; this module serves hand-made loads
and the benchmark's baseline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import orjson

MONEY_QUANTUM = Decimal("0.000001")  # Decimal(18, 6) in ClickHouse
_MAX_MONEY = Decimal("999999999999.999999")


class CdrDecodeError(ValueError):
    """An InfoCdr record that cannot be stored without inventing or distorting a value."""


@dataclass(frozen=True)
class CdrField:
    api_name: str
    column: str
    kind: str  # "str", "int", "uint", "money", "time"
    nullable: bool = False


# Every documented InfoCdr field, in table column order.
CDR_FIELDS: tuple[CdrField, ...] = (
    CdrField("flowNo", "flow_no", "int"),
    CdrField("account", "account", "str"),
    CdrField("accountName", "account_name", "str"),
    CdrField("callerE164", "caller_e164", "str"),
    CdrField("callerAccessE164", "caller_access_e164", "str"),
    CdrField("callerToGatewayE164", "caller_to_gateway_e164", "str"),
    CdrField("callerProductId", "caller_product_id", "str"),
    CdrField("callerGateway", "caller_gateway", "str"),
    CdrField("callerip", "caller_ip", "str"),
    CdrField("calleeE164", "callee_e164", "str"),
    CdrField("calleeAccessE164", "callee_access_e164", "str"),
    CdrField("calleeToGatewayE164", "callee_to_gateway_e164", "str"),
    CdrField("calleeProductId", "callee_product_id", "str"),
    CdrField("calleeGateway", "callee_gateway", "str"),
    CdrField("calleeip", "callee_ip", "str"),
    CdrField("start", "start", "time"),
    CdrField("stop", "stop", "time"),
    CdrField("holdTime", "hold_time", "uint"),
    CdrField("feeTime", "fee_time", "uint"),
    CdrField("fee", "fee", "money"),
    CdrField("feePrefix", "fee_prefix", "str"),
    CdrField("suiteFee", "suite_fee", "money"),
    CdrField("suiteFeeTime", "suite_fee_time", "uint"),
    CdrField("agentAccount", "agent_account", "str"),
    CdrField("agentName", "agent_name", "str"),
    CdrField("agentFee", "agent_fee", "money"),
    CdrField("agentFeeTime", "agent_fee_time", "uint"),
    CdrField("agentFeePrefix", "agent_fee_prefix", "str"),
    CdrField("agentSuiteFee", "agent_suite_fee", "money"),
    CdrField("agentSuiteFeeTime", "agent_suite_fee_time", "uint"),
    CdrField("callLevel", "call_level", "int"),
    CdrField("endDirection", "end_direction", "int"),
    CdrField("endReason", "end_reason", "int"),
    CdrField("calleeBilling", "callee_billing", "int", nullable=True),
    CdrField("billingMode", "billing_mode", "int"),
    CdrField("billingType", "billing_type", "int", nullable=True),
)

_INT_LIMITS = {
    "flow_no": (-(2**63), 2**63 - 1),
    "call_level": (-(2**15), 2**15 - 1),
    "end_direction": (-(2**15), 2**15 - 1),
    "callee_billing": (-(2**15), 2**15 - 1),
    "billing_mode": (-(2**15), 2**15 - 1),
    "billing_type": (-(2**15), 2**15 - 1),
    "end_reason": (-(2**31), 2**31 - 1),
}
_UINT_MAX = 2**32 - 1
# 2001-09-09 to 2100-01-01 UTC, in ms: anything outside is a broken timestamp, not a call. The
# lower bound also keeps `seconds.mmm` at 10 integer digits, which ClickHouse reads as a Unix time
# and never as a date.
_MIN_EPOCH_MS = 1_000_000_000_000
_MAX_EPOCH_MS = 4_102_444_800_000


def parse_money(value: Any) -> Decimal:
    """Parse a money value (JSON number text or numeric string) into Decimal(18, 6).

    Rounds half to even at the 6th decimal. Accepts plain and exponent notation; rejects floats,
    booleans, NaN and infinities.
    """
    if isinstance(value, bool | float):
        raise CdrDecodeError(f"money value {value!r} is not exact decimal text")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise CdrDecodeError(f"money value {value!r} is not a number") from None
    else:
        raise CdrDecodeError(f"money value {value!r} is not a number")
    if not number.is_finite():
        raise CdrDecodeError(f"money value {value!r} is not finite")
    rounded = number.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)
    if abs(rounded) > _MAX_MONEY:
        raise CdrDecodeError(f"money value {value!r} does not fit Decimal(18, 6)")
    return rounded


def parse_int(value: Any) -> int:
    """Parse an integer sent as a JSON number or a numeric string."""
    if isinstance(value, bool):
        raise CdrDecodeError(f"{value!r} is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite() and number == number.to_integral_value():
            return int(number)
    raise CdrDecodeError(f"{value!r} is not an integer")


def format_epoch_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds as `seconds.mmm`, which ClickHouse reads into DateTime64(3)."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{seconds}.{millis:03d}"


def local_date(epoch_ms: int, zone: ZoneInfo) -> dt.date:
    """Return the date in `zone` of an instant given in UTC epoch milliseconds."""
    instant = dt.datetime.fromtimestamp(epoch_ms // 1000, tz=dt.UTC)
    return instant.astimezone(zone).date()


def _money_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value).encode())
    raise TypeError(f"cannot serialise {type(value).__name__}")


def raw_json(record: dict[str, Any]) -> str:
    """Serialise a record back to JSON, keeping Decimal numbers as their exact text."""
    return orjson.dumps(record, default=_money_default).decode()


def decode_cdr(record: Any, zone: ZoneInfo) -> dict[str, Any]:
    """Decode one InfoCdr record into a `cdrs` row without instance, call day and load time.

    Money becomes decimal text with 6 places and instants `seconds.mmm`, ready for
    JSONEachRow. `start_day` is the date of `start` in the instance's zone.

    Raises:
        CdrDecodeError: a required field is missing or a value has the wrong type or range.
    """
    if not isinstance(record, dict):
        raise CdrDecodeError(f"CDR is a JSON {type(record).__name__}, not an object")
    flow_no = record.get("flowNo")
    label = f"flowNo {flow_no!r}" if flow_no is not None else "CDR without flowNo"
    row: dict[str, Any] = {}
    for field in CDR_FIELDS:
        value = record.get(field.api_name)
        if value is None:
            if field.nullable:
                row[field.column] = None
                continue
            raise CdrDecodeError(f"{label}: field {field.api_name} is missing")
        try:
            row[field.column] = _decode_value(field, value)
        except CdrDecodeError as error:
            raise CdrDecodeError(f"{label}: field {field.api_name}: {error}") from None

    start_ms, stop_ms = row["start"], row["stop"]
    if stop_ms < start_ms:
        raise CdrDecodeError(f"{label}: stop {stop_ms} is before start {start_ms}")
    row["start_day"] = local_date(start_ms, zone).isoformat()
    row["start"] = format_epoch_ms(start_ms)
    row["stop"] = format_epoch_ms(stop_ms)
    for field in CDR_FIELDS:
        if field.kind == "money":
            row[field.column] = str(row[field.column])
    row["raw"] = raw_json(record)
    return row


def _decode_value(field: CdrField, value: Any) -> Any:
    if field.kind == "str":
        if not isinstance(value, str):
            raise CdrDecodeError(f"{value!r} is not a string")
        return value
    if field.kind == "money":
        return parse_money(value)
    number = parse_int(value)
    if field.kind == "time":
        if not _MIN_EPOCH_MS <= number <= _MAX_EPOCH_MS:
            raise CdrDecodeError(f"{number} is not an epoch-millisecond instant")
        return number
    if field.kind == "uint":
        if not 0 <= number <= _UINT_MAX:
            raise CdrDecodeError(f"{number} is outside 0..{_UINT_MAX}")
        return number
    low, high = _INT_LIMITS[field.column]
    if not low <= number <= high:
        raise CdrDecodeError(f"{number} is outside {low}..{high}")
    return number
