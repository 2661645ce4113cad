import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ykvos_dagster.vos3000.cdr import (
    CDR_FIELDS,
    CdrDecodeError,
    decode_cdr,
    local_date,
    parse_int,
    parse_money,
)
from ykvos_dagster.vos3000.client import parse_reply
from ykvos_dagster_tests.cdr_samples import REAL_FAILED_CALL, REAL_SERVER_REJECT, SHANGHAI, epoch_ms

# (InfoCdr field, value sent, column, value expected in the row)
FIELD_CASES = [
    ("flowNo", 330455246, "flow_no", 330455246),
    ("account", "华信数科", "account", "华信数科"),
    ("accountName", "华信", "account_name", "华信"),
    ("callerE164", "202509241816", "caller_e164", "202509241816"),
    ("callerAccessE164", "202509241816", "caller_access_e164", "202509241816"),
    ("callerToGatewayE164", "90713102", "caller_to_gateway_e164", "90713102"),
    ("callerProductId", "FreeSWITCH-mod_sofia", "caller_product_id", "FreeSWITCH-mod_sofia"),
    ("callerGateway", "华信对接01", "caller_gateway", "华信对接01"),
    ("callerip", "192.0.2.10", "caller_ip", "192.0.2.10"),
    ("calleeE164", "22217000001234", "callee_e164", "22217000001234"),
    ("calleeAccessE164", "17000001234", "callee_access_e164", "17000001234"),
    ("calleeToGatewayE164", "17000001234", "callee_to_gateway_e164", "17000001234"),
    ("calleeProductId", "", "callee_product_id", ""),
    ("calleeGateway", "落地网关A", "callee_gateway", "落地网关A"),
    ("calleeip", "198.51.100.7", "callee_ip", "198.51.100.7"),
    ("start", 1760922383500, "start", "1760922383.500"),
    ("stop", 1760922383500, "stop", "1760922383.500"),
    ("holdTime", 0, "hold_time", 0),
    ("feeTime", 0, "fee_time", 0),
    ("fee", 0, "fee", "0.000000"),
    ("feePrefix", "2", "fee_prefix", "2"),
    ("suiteFee", 0, "suite_fee", "0.000000"),
    ("suiteFeeTime", 0, "suite_fee_time", 0),
    ("agentAccount", "落地网关A", "agent_account", "落地网关A"),
    ("agentName", "", "agent_name", ""),
    ("agentFee", 0, "agent_fee", "0.000000"),
    ("agentFeeTime", 0, "agent_fee_time", 0),
    ("agentFeePrefix", "2", "agent_fee_prefix", "2"),
    ("agentSuiteFee", 0, "agent_suite_fee", "0.000000"),
    ("agentSuiteFeeTime", 0, "agent_suite_fee_time", 0),
    ("callLevel", 4, "call_level", 4),
    ("endDirection", 1, "end_direction", 1),
    ("endReason", 503, "end_reason", 503),
    ("calleeBilling", 1, "callee_billing", 1),
    ("billingMode", 1, "billing_mode", 1),
    ("billingType", 0, "billing_type", 0),
]


def test_field_cases_cover_every_infocdr_field():
    assert {case[0] for case in FIELD_CASES} == {field.api_name for field in CDR_FIELDS}


@pytest.mark.parametrize(("api_name", "sent", "column", "expected"), FIELD_CASES)
def test_field_decoding(api_name, sent, column, expected):
    record = {**REAL_FAILED_CALL, "calleeBilling": 0, api_name: sent}
    row = decode_cdr(record, SHANGHAI)
    assert row[column] == expected


def test_real_failed_call_sample():
    row = decode_cdr(REAL_FAILED_CALL, SHANGHAI)
    assert row["flow_no"] == 330455246
    assert row["callee_gateway"] == "落地网关A"
    assert row["end_reason"] == 503
    assert row["callee_billing"] is None
    assert row["start_day"] == "2025-10-20"


def test_real_server_reject_sample():
    row = decode_cdr(REAL_SERVER_REJECT, SHANGHAI)
    assert row["callee_gateway"] == ""
    assert row["callee_ip"] == ""
    assert row["end_direction"] == 2
    assert row["end_reason"] == -69


def test_raw_keeps_the_record():
    row = decode_cdr(REAL_FAILED_CALL, SHANGHAI)
    assert json.loads(row["raw"]) == REAL_FAILED_CALL


def test_raw_keeps_money_text():
    record = parse_reply(
        json.dumps({**REAL_FAILED_CALL, "fee": 0}).replace('"fee": 0', '"fee": 0.0125').encode()
    )
    row = decode_cdr(record, SHANGHAI)
    assert '"fee":0.0125' in row["raw"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0125", "0.012500"),
        ("1E-7", "0.000000"),
        ("5E-7", "0.000000"),
        ("1.5E-6", "0.000002"),
        ("0.0000025", "0.000002"),
        ("0.0000035", "0.000004"),
        ("123456.1234565", "123456.123456"),
        ("2.5e2", "250.000000"),
        ("-0.3", "-0.300000"),
    ],
)
def test_money_parsed_from_json_text(text, expected):
    reply = parse_reply(f'{{"fee": {text}}}'.encode())
    assert str(parse_money(reply["fee"])) == expected


def test_money_from_numeric_string():
    assert parse_money(" 0.25 ") == Decimal("0.250000")


@pytest.mark.parametrize("bad", [0.1, True, "abc", "NaN", "Infinity", [1], None])
def test_money_rejects_non_decimal(bad):
    with pytest.raises(CdrDecodeError):
        parse_money(bad)


def test_money_rejects_overflow():
    with pytest.raises(CdrDecodeError):
        parse_money(Decimal("1e13"))


@pytest.mark.parametrize(("value", "expected"), [(5, 5), ("5", 5), (" -69 ", -69), ("7.0", 7)])
def test_int_accepts_numbers_and_numeric_strings(value, expected):
    assert parse_int(value) == expected


@pytest.mark.parametrize("bad", [True, "7.5", "x", 1.5, None])
def test_int_rejects_non_integers(bad):
    with pytest.raises(CdrDecodeError):
        parse_int(bad)


@pytest.mark.parametrize("field", ["flowNo", "start", "stop", "account", "holdTime", "fee"])
def test_missing_required_field_rejected(field):
    record = {key: value for key, value in REAL_FAILED_CALL.items() if key != field}
    with pytest.raises(CdrDecodeError, match=field):
        decode_cdr(record, SHANGHAI)


@pytest.mark.parametrize("field", ["calleeBilling", "billingType"])
def test_missing_optional_field_is_null(field):
    record = {key: value for key, value in REAL_FAILED_CALL.items() if key != field}
    row = decode_cdr(record, SHANGHAI)
    column = "callee_billing" if field == "calleeBilling" else "billing_type"
    assert row[column] is None


def test_stop_before_start_rejected():
    record = {**REAL_FAILED_CALL, "stop": REAL_FAILED_CALL["start"] - 1}
    with pytest.raises(CdrDecodeError, match="before start"):
        decode_cdr(record, SHANGHAI)


def test_negative_hold_time_rejected():
    with pytest.raises(CdrDecodeError, match="holdTime"):
        decode_cdr({**REAL_FAILED_CALL, "holdTime": -5}, SHANGHAI)


def test_seconds_timestamp_rejected():
    with pytest.raises(CdrDecodeError, match="start"):
        decode_cdr({**REAL_FAILED_CALL, "start": 1760922383}, SHANGHAI)


def test_string_field_with_number_rejected():
    with pytest.raises(CdrDecodeError, match="account"):
        decode_cdr({**REAL_FAILED_CALL, "account": 12345}, SHANGHAI)


def test_non_object_rejected():
    with pytest.raises(CdrDecodeError):
        decode_cdr(["not", "a", "cdr"], SHANGHAI)


@pytest.mark.timezone
@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        (dt.datetime(2024, 3, 1, 0, 0, 0), "Asia/Shanghai", dt.date(2024, 3, 1)),
        (dt.datetime(2024, 2, 29, 23, 59, 59, 999000), "Asia/Shanghai", dt.date(2024, 2, 29)),
        (dt.datetime(2024, 1, 1, 0, 0, 0), "America/New_York", dt.date(2024, 1, 1)),
        (dt.datetime(2023, 12, 31, 23, 59, 59, 999000), "America/New_York", dt.date(2023, 12, 31)),
        (dt.datetime(2024, 7, 1, 0, 0, 0), "UTC", dt.date(2024, 7, 1)),
    ],
)
def test_start_day_in_instance_zone(local, zone, expected):
    assert local_date(epoch_ms(local, ZoneInfo(zone)), ZoneInfo(zone)) == expected


@pytest.mark.timezone
def test_start_day_ignores_host_zone():
    # 2025-10-20 01:06:23.5 UTC is 09:06 in Shanghai and 21:06 the day before in New York.
    assert local_date(1760922383500, ZoneInfo("America/New_York")) == dt.date(2025, 10, 19)
    assert local_date(1760922383500, SHANGHAI) == dt.date(2025, 10, 20)
