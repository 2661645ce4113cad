"""Typed readers for the fields of VOS3000 reply records, and JSON text with exact decimals.

Replies are parsed with `parse_float=Decimal` (see `client.parse_reply`), so money arrives as
Decimal. The readers accept what real switches and public clients are seen to send: numbers as
JSON numbers or numeric strings, booleans as true/false or 0/1. An absent or null field reads as
None. A value of the wrong kind raises FieldError, naming the field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_INTEGER_TEXT = re.compile(r"\s*-?[0-9]+\s*")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class FieldError(ValueError):
    """A reply field whose value has the wrong type or format."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        super().__init__(f"field {field!r} is {_describe(value)}, expected {expected}")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text(record: Mapping[str, Any], key: str) -> str | None:
    """Read a String field. Numbers are accepted and written as their decimal text."""
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise FieldError(key, value, "a string")


def required_text(record: Mapping[str, Any], key: str) -> str:
    """Read a String field that identifies the record, so it must be present."""
    value = text(record, key)
    if value is None:
        raise FieldError(key, None, "a string (the field identifies the record)")
    return value


def integer(record: Mapping[str, Any], key: str) -> int | None:
    """Read an int or long field."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError(key, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    raise FieldError(key, value, "an integer")


def decimal(record: Mapping[str, Any], key: str) -> Decimal | None:
    """Read a double field (money, ratios) as an exact Decimal."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError(key, value, "a number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FieldError(key, value, "a finite number")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise FieldError(key, value, "a number") from None
        if parsed.is_finite():
            return parsed
    raise FieldError(key, value, "a number")


def boolean(record: Mapping[str, Any], key: str) -> bool | None:
    """Read a boolean field. 0/1 and "true"/"false" are accepted too."""
    value = record.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise FieldError(key, value, "a boolean")


def instant(
    record: Mapping[str, Any], key: str, *, zero_is_none: bool = True
) -> dt.datetime | None:
    """Read a UTC epoch-milliseconds field as an aware datetime in UTC.

    With `zero_is_none`, 0 reads as None: VOS3000 writes 0 for "never" (registerTime of static
    gateways) and for "use the system default" (validTime).
    """
    milliseconds = integer(record, key)
    if milliseconds is None or (zero_is_none and milliseconds == 0):
        return None
    try:
        return _EPOCH + dt.timedelta(milliseconds=milliseconds)
    except OverflowError:
        raise FieldError(key, milliseconds, "epoch milliseconds") from None


def strings(record: Mapping[str, Any], key: str) -> list[str] | None:
    """Read a String[] field."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise FieldError(key, value, "a list of strings")


def objects(record: Mapping[str, Any], key: str) -> list[dict] | None:
    """Read a list-of-objects field (rate sections, gift times)."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise FieldError(key, value, "a list of objects")


def json_text(value: Any) -> str:
    """Encode a parsed reply value as compact JSON, writing each Decimal with its exact digits.

    The standard encoder writes Decimal only through float, which would change values such as
    0.0125. PostgreSQL `jsonb` keeps the digits as written here.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write the non-finite number {value} as JSON")
        return format(value, "f")
    if isinstance(value, dict):
        members = (
            f"{json.dumps(str(key), ensure_ascii=False)}:{json_text(item)}"
            for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_text(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)
