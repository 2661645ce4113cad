"""Removal of secrets from VOS3000 replies before any other code reads them.

GetPhone, GetGatewayMapping and GetGatewayRouting send the SIP/H.323 passwords of phones and
gateways (`password`) and of their self-service logins (`customerPassword`) in clear text.
Replies pass through `redact` right after the envelope check, so no table, cache row, log line
or metadata value can contain them.
"""

from __future__ import annotations

from typing import Any

SECRET_FIELDS = frozenset(
    {
        "password",
        "customerPassword",
        # Identity-document number of the account holder (InfoCustomerAdditional).
        "cardNumber",
        # Phone-card PINs (GetActivePhoneCard, GetBindedE164).
        "pin",
        "pins",
    }
)
"""Field names removed wherever they occur. Any other field whose name contains "password" or
"secret", in any case, is removed too."""


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return name in SECRET_FIELDS or "password" in lowered or "secret" in lowered


def redact(value: Any) -> Any:
    """Return a copy of a parsed reply without secret fields, at any depth."""
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items() if not is_secret_field(str(key))}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
