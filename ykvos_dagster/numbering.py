"""Destination of a dialled number: country and E.164 prefix, parsed with `phonenumbers`.

VOS3000 reports the dialled callee number (`calleeAccessE164`) as the caller typed it: in national
form (`13812345678`, `075512345678`), in international form with the region's international
prefix (`00442071234567`) or with `+`, and on some switches behind a routing prefix. Each
instance therefore has a default region and a list of routing prefixes to strip.

Parsing runs in Python, but not per CDR: `phonenumbers` parses about 1,000 to 4,000 numbers a
second here. Numbers are grouped by a lookup key, the number's first digits plus its length, and
one sample number per key is parsed. The key has `NATIONAL_KEY_DIGITS` digits for a national
number, and the international prefix plus `INTERNATIONAL_KEY_DIGITS` digits for an international
one. `test_numbering.py` checks this on the example numbers of every region with random trailing
digits: valid numbers that share a key do not differ in status, country or destination prefix.
With phonenumbers 9.0 and one digit fewer, 0.25% of the international ones did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneMetadata, ValidationResult

NATIONAL_KEY_DIGITS = 6
INTERNATIONAL_KEY_DIGITS = 8

# Destination status of a number. Views add "pending" for numbers whose key is not parsed yet.
STATUS_OK = "ok"
STATUS_INVALID = "invalid"
STATUS_UNPARSEABLE = "unparseable"
# ISO 3166 code that libphonenumber uses for an unknown region.
UNKNOWN_COUNTRY = "ZZ"

_STRIP_PREFIX_PATTERN = re.compile(r"^[0-9#*]{1,20}$")
_PLAIN_DIGITS = re.compile(r"^\d+$")
_LEADING_DIGITS = re.compile(r"^\d+(?![\d|?*])")


@dataclass(frozen=True)
class Destination:
    """The parsed destination of one lookup key."""

    status: str
    country: str
    country_code: int
    destination_prefix: str


def validate_region(region: str) -> str:
    """Return `region` if `phonenumbers` supports it as a default region, else raise ValueError."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown region {region!r}: use an ISO 3166-1 alpha-2 code that phonenumbers "
            "supports, such as CN, VN or US"
        )
    return region


def normalize_strip_prefixes(prefixes: Iterable[str]) -> tuple[str, ...]:
    """Validate routing prefixes and return them without duplicates, longest first.

    The views strip the first prefix of this order that a number starts with, so a longer prefix
    wins over a shorter one that it begins with.
    """
    unique = set()
    for prefix in prefixes:
        if not _STRIP_PREFIX_PATTERN.match(prefix):
            raise ValueError(
                f"invalid strip prefix {prefix!r}: use 1 to 20 characters of 0-9, # and *"
            )
        unique.add(prefix)
    return tuple(sorted(unique, key=lambda prefix: (-len(prefix), prefix)))


def international_prefixes(region: str) -> tuple[str, ...]:
    """Return the prefixes that mark a number as international when dialled from `region`.

    Always `+`, plus the region's international call prefix when the metadata gives it as plain
    digits (`00` for CN, `011` for US). Otherwise the preferred prefix is used, else the first
    plain alternative or the literal digits that the prefix pattern starts with.
    """
    metadata = PhoneMetadata.metadata_for_region(validate_region(region))
    prefixes = ["+"]
    pattern = metadata.international_prefix or ""
    if _PLAIN_DIGITS.match(pattern):
        prefixes.append(pattern)
    elif metadata.preferred_international_prefix:
        prefixes.append(metadata.preferred_international_prefix)
    elif _PLAIN_DIGITS.match(pattern.split("|")[0]):
        prefixes.append(pattern.split("|")[0])
    else:
        # NOTE: a pattern such as '00(?:1[245]|...)' (BR) gives '00' here; numbers dialled with
        # the longer carrier-select prefixes then get shorter keys than the check above used.
        leading = _LEADING_DIGITS.match(pattern)
        if leading:
            prefixes.append(leading.group(0))
    return tuple(prefixes)


def lookup_key(dialled: str, prefixes: tuple[str, ...]) -> str:
    """Return the lookup key prefix of a dialled number whose routing prefix is stripped.

    `prefixes` are the region's `international_prefixes`. The view `cdr_calls` computes the same
    key in SQL. The key row also carries the number's length.
    """
    international = next((prefix for prefix in prefixes if dialled.startswith(prefix)), "")
    if international:
        return dialled[: len(international) + INTERNATIONAL_KEY_DIGITS]
    return dialled[:NATIONAL_KEY_DIGITS]


def parse_destination(number: str, region: str) -> Destination:
    """Parse a dialled number (routing prefix already stripped) with `region` as default.

    `destination_prefix` is `+`, the country code and the national destination code (the mobile
    block or area code: `+86138`, `+86755`, `+4420`). A number that parses but whose length does
    not fit the country's numbering plan is `invalid` and keeps only `+` and the country code.
    """
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return Destination(STATUS_UNPARSEABLE, UNKNOWN_COUNTRY, 0, "")

    country_code = parsed.country_code
    country = phonenumbers.region_code_for_number(parsed)
    if country is None:
        regions = phonenumbers.region_codes_for_country_code(country_code)
        country = regions[0] if len(regions) == 1 else UNKNOWN_COUNTRY

    if phonenumbers.is_possible_number_with_reason(parsed) != ValidationResult.IS_POSSIBLE:
        return Destination(STATUS_INVALID, country, country_code, f"+{country_code}")

    national = phonenumbers.national_significant_number(parsed)
    destination_code_length = phonenumbers.length_of_national_destination_code(parsed)
    return Destination(
        STATUS_OK,
        country,
        country_code,
        f"+{country_code}{national[:destination_code_length]}",
    )
