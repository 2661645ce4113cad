"""Destination parsing and the numbering rules of an instance, without engines."""

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from ykvos_dagster.numbering import (
    STATUS_INVALID,
    STATUS_OK,
    STATUS_UNPARSEABLE,
    UNKNOWN_COUNTRY,
    international_prefixes,
    lookup_key,
    normalize_strip_prefixes,
    parse_destination,
    validate_region,
)


@pytest.mark.parametrize(
    ("number", "region", "status", "country", "prefix"),
    [
        ("13812345678", "CN", STATUS_OK, "CN", "+86138"),
        ("075512345678", "CN", STATUS_OK, "CN", "+86755"),
        ("01012345678", "CN", STATUS_OK, "CN", "+8610"),
        ("00442071234567", "CN", STATUS_OK, "GB", "+4420"),
        ("+4915112345678", "CN", STATUS_OK, "DE", "+491511"),
        ("0012125550123", "CN", STATUS_OK, "US", "+1212"),
        ("0084912345678", "CN", STATUS_OK, "VN", "+84912"),
        ("0912345678", "VN", STATUS_OK, "VN", "+84912"),
        ("011442071234567", "US", STATUS_OK, "GB", "+4420"),
        ("12", "CN", STATUS_INVALID, "CN", "+86"),
        ("001212555", "CN", STATUS_INVALID, UNKNOWN_COUNTRY, "+1"),
        ("", "CN", STATUS_UNPARSEABLE, UNKNOWN_COUNTRY, ""),
        ("anonymous", "CN", STATUS_UNPARSEABLE, UNKNOWN_COUNTRY, ""),
        ("0011", "CN", STATUS_UNPARSEABLE, UNKNOWN_COUNTRY, ""),
    ],
)
def test_parse_destination(number, region, status, country, prefix):
    destination = parse_destination(number, region)
    assert destination.status == status
    assert destination.country == country
    assert destination.destination_prefix == prefix


def test_unparseable_has_no_country_code():
    assert parse_destination("not a number", "CN").country_code == 0


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("CN", ("+", "00")),
        ("US", ("+", "011")),
        ("AU", ("+", "0011")),
        ("BR", ("+", "00")),
        ("CL", ("+",)),
    ],
)
def test_international_prefixes(region, expected):
    assert international_prefixes(region) == expected


def test_validate_region_rejects_unknown():
    with pytest.raises(ValueError, match="unknown region 'XX'"):
        validate_region("XX")


def test_validate_region_rejects_lowercase():
    with pytest.raises(ValueError):
        validate_region("cn")


def test_strip_prefixes_longest_first_without_duplicates():
    assert normalize_strip_prefixes(["9", "222", "2222", "222"]) == ("2222", "222", "9")


@pytest.mark.parametrize("prefix", ["", "22a", "2" * 21, " 222"])
def test_strip_prefix_rejects_invalid(prefix):
    with pytest.raises(ValueError, match="invalid strip prefix"):
        normalize_strip_prefixes([prefix])


def example_numbers() -> list[tuple[str, str]]:
    """(dialled number, default region) for the fixed-line and mobile example numbers of every
    region: in national form from that region, and in international form dialled from CN."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is None:
                continue
            national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
            numbers.append(("".join(filter(str.isdigit, national)), region))
            numbers.append((f"00{example.country_code}{example.national_number}", "CN"))
    return numbers


def test_key_decides_destination_of_valid_numbers():
    rng = random.Random(20240601)
    disagreements = []
    for number, region in example_numbers():
        key = lookup_key(number, international_prefixes(region))
        tail_length = len(number) - len(key)
        expected = parse_destination(number, region)
        if tail_length == 0 or expected.status != STATUS_OK:
            continue
        for _ in range(3):
            variant = key + "".join(rng.choice("0123456789") for _ in range(tail_length))
            if not phonenumbers.is_valid_number(phonenumbers.parse(variant, region)):
                continue
            if parse_destination(variant, region) != expected:
                disagreements.append((number, variant, region))
    assert disagreements == []


@pytest.mark.parametrize(
    ("dialled", "region", "key"),
    [
        ("13812345678", "CN", "138123"),
        ("00442071234567", "CN", "0044207123"),
        ("+442071234567", "CN", "+44207123"),
        ("011442071234567", "US", "01144207123"),
        ("12", "CN", "12"),
    ],
)
def test_lookup_key(dialled, region, key):
    assert lookup_key(dialled, international_prefixes(region)) == key
