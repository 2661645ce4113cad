"""The decoding of InfoCdr records against the rules of `decode_cdr`.

Every case of test_cdr_decoding goes through the production load path on chDB twice: once with the
typed decoder (`vos3000.cdr_native`) in front of the SQL decoding (`vos3000.cdr_sql`), and once
with the SQL decoding alone."""

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ykvos_dagster.vos3000 import cdr_native
from ykvos_dagster.vos3000.cdr import decode_cdr
from ykvos_dagster.warehouse.cdr_store import LoadContext, load_cdr_spool
from ykvos_dagster_tests.cdr_samples import (
    REAL_FAILED_CALL,
    REAL_SERVER_REJECT,
    SHANGHAI,
    epoch_ms,
)
from ykvos_dagster_tests.test_cdr_decoding import FIELD_CASES

DAY = dt.date(2025, 10, 20)
COLUMNS = [
    "flow_no",
    "account",
    "account_name",
    "caller_e164",
    "caller_access_e164",
    "caller_to_gateway_e164",
    "caller_product_id",
    "caller_gateway",
    "caller_ip",
    "callee_e164",
    "callee_access_e164",
    "callee_to_gateway_e164",
    "callee_product_id",
    "callee_gateway",
    "callee_ip",
    "toString(start)",
    "toString(stop)",
    "toString(start_day)",
    "hold_time",
    "fee_time",
    "toString(fee)",
    "fee_prefix",
    "toString(suite_fee)",
    "suite_fee_time",
    "agent_account",
    "agent_name",
    "toString(agent_fee)",
    "agent_fee_time",
    "agent_fee_prefix",
    "toString(agent_suite_fee)",
    "agent_suite_fee_time",
    "call_level",
    "end_direction",
    "end_reason",
    "callee_billing",
    "billing_mode",
    "billing_type",
    "raw",
]


@pytest.fixture(autouse=True, params=["typed", "sql"])
def decoder(request) -> str:
    """The decoding path of every test here; `load_texts` reads it from DECODER."""
    if request.param == "typed" and not cdr_native.available():
        pytest.fail("the C extension ykvos_dagster.vos3000._cdr_native is not built")
    DECODER[0] = request.param
    return request.param


DECODER = ["typed"]


def load_texts(ch, tmp_path: Path, slug: str, texts: list[str], zone: str = "Asia/Shanghai"):
    """Load record texts through `load_cdr_spool` with the decoder of the `decoder` fixture;
    return stored rows by flow_no and the quarantine as (account, reason, raw) tuples."""
    spool = tmp_path / f"{slug}.json"
    spool.write_text("[" + ",".join(texts) + "]", encoding="utf-8")
    context = LoadContext(
        instance=slug,
        instance_uuid=uuid.uuid4(),
        timezone=zone,
        day=DAY,
        loaded_at=dt.datetime(2025, 10, 21, tzinfo=dt.UTC),
    )
    load_cdr_spool(
        ch,
        context=context,
        spool_path=spool,
        allow_shrink=True,
        typed_decoder=DECODER[0] == "typed",
    )
    rows = ch.query(
        f"SELECT {', '.join(COLUMNS)} FROM cdrs WHERE instance = {{i:String}}",
        parameters={"i": slug},
    ).result_rows
    quarantine = ch.query(
        "SELECT account, reason, raw FROM cdrs_quarantine WHERE instance = {i:String} ORDER BY raw",
        parameters={"i": slug},
    ).result_rows
    return {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows}, quarantine


def text(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


def python_row(record: dict) -> dict:
    """The row `decode_cdr` produces, in the shapes the query above returns."""
    row = decode_cdr(record, SHANGHAI)
    return {
        **row,
        "toString(start)": _datetime_text(row["start"]),
        "toString(stop)": _datetime_text(row["stop"]),
        "toString(start_day)": row["start_day"],
    }


def _datetime_text(seconds_text: str) -> str:
    seconds, millis = seconds_text.split(".")
    moment = dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{millis}"


def test_field_cases_match_python(ch, tmp_path, unique_slug):
    records = []
    for number, (api_name, sent, _, _) in enumerate(FIELD_CASES):
        record = {**REAL_FAILED_CALL, "calleeBilling": 0, api_name: sent}
        if api_name != "flowNo":
            record["flowNo"] = 1000 + number
        records.append(record)
    stored, quarantine = load_texts(ch, tmp_path, unique_slug, [text(r) for r in records])
    assert quarantine == []
    for record, (api_name, _, column, expected) in zip(records, FIELD_CASES, strict=True):
        row = stored[record["flowNo"]]
        if column in ("start", "stop"):
            assert row[f"toString({column})"] == _datetime_text(expected), api_name
        elif column in ("fee", "suite_fee", "agent_fee", "agent_suite_fee"):
            assert Decimal(row[f"toString({column})"]) == Decimal(expected), api_name
        else:
            assert row[column] == expected, api_name


def test_real_samples_match_python(ch, tmp_path, unique_slug):
    texts = [text(REAL_FAILED_CALL), text(REAL_SERVER_REJECT)]
    stored, _ = load_texts(ch, tmp_path, unique_slug, texts)
    for record in (REAL_FAILED_CALL, REAL_SERVER_REJECT):
        expected = python_row(record)
        row = stored[record["flowNo"]]
        for column in COLUMNS:
            if column == "raw" or column.startswith("toString(") and "fee" in column:
                continue
            assert row[column] == expected[column], column


def test_raw_is_record_text(ch, tmp_path, unique_slug, decoder):
    sent = text(REAL_FAILED_CALL).replace('"fee":0', '"fee":0.0125')
    stored, _ = load_texts(ch, tmp_path, unique_slug, [sent])
    # The typed decoder keeps no text for a record whose every member has a column.
    assert stored[REAL_FAILED_CALL["flowNo"]]["raw"] == ("" if decoder == "typed" else sent)


@pytest.mark.parametrize(
    "change",
    [
        ('"fee":0', '"fee":0.01250001'),
        ('"fee":0', '"fee":0,"newField":"x"'),
        ('"fee":0', '"fee":0,"nested":{"a":[1]}'),
        ('"account":"', '"account":"\\u00e9'),
        ('"endReason":503', '"endReason":"503"'),
    ],
)
def test_raw_kept_when_columns_miss_text(ch, tmp_path, unique_slug, change):
    # Money rounded at the sixth decimal, a member without a column, or a value the typed decoder
    # leaves to the SQL decoding: the columns do not give the record text back, so raw keeps it.
    sent = text({**REAL_FAILED_CALL, "fee": 0}).replace(*change)
    stored, quarantine = load_texts(ch, tmp_path, unique_slug, [sent])
    assert quarantine == []
    assert stored[REAL_FAILED_CALL["flowNo"]]["raw"] == sent


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("0.0125", "0.0125"),
        ("1E-7", "0"),
        ("5E-7", "0"),
        ("1.5E-6", "0.000002"),
        ("0.0000025", "0.000002"),
        ("0.0000035", "0.000004"),
        ("123456.1234565", "123456.123456"),
        ("2.5e2", "250"),
        ("-0.3", "-0.3"),
        # Above the tie only in its 20th decimal: a float would round it to even, 0.000002.
        ("0.00000250000000000001", "0.000003"),
        ('" 0.25 "', "0.25"),
    ],
)
def test_money_from_json_text(ch, tmp_path, unique_slug, number, expected):
    sent = text({**REAL_FAILED_CALL, "fee": 0}).replace('"fee":0', f'"fee":{number}')
    stored, quarantine = load_texts(ch, tmp_path, unique_slug, [sent])
    assert quarantine == []
    assert Decimal(stored[REAL_FAILED_CALL["flowNo"]]["toString(fee)"]) == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "expected"), [("5", 5), ('"5"', 5), ('" -69 "', -69), ('"7.0"', 7), ("7.0", 7)]
)
def test_integers_as_numbers_or_strings(ch, tmp_path, unique_slug, value, expected):
    sent = text(REAL_FAILED_CALL).replace('"endReason":503', f'"endReason":{value}')
    stored, quarantine = load_texts(ch, tmp_path, unique_slug, [sent])
    assert quarantine == []
    assert stored[REAL_FAILED_CALL["flowNo"]]["end_reason"] == expected


# (description, record text changes, text expected in the reason)
REJECTED = [
    ("missing flowNo", {"flowNo": None}, "flowNo is missing"),
    ("missing start", {"start": None}, "start is missing"),
    ("missing stop", {"stop": None}, "stop is missing"),
    ("missing account", {"account": None}, "account is missing"),
    ("missing holdTime", {"holdTime": None}, "holdTime is missing"),
    ("missing fee", {"fee": None}, "fee is missing"),
    ("stop before start", {"stop": REAL_FAILED_CALL["start"] - 1}, "before start"),
    ("negative holdTime", {"holdTime": -5}, "holdTime"),
    ("seconds timestamp", {"start": 1760922383, "stop": 1760922383}, "start"),
    ("number as account", {"account": 12345}, "account"),
    ("number as callerE164", {"callerE164": 202509241816}, "callerE164"),
    ("fractional endReason", {"endReason": 7.5}, "endReason"),
    ("text endReason", {"endReason": "x"}, "endReason"),
    ("boolean holdTime", {"holdTime": True}, "holdTime"),
    ("money NaN text", {"fee": "NaN"}, "fee"),
    ("money Infinity text", {"fee": "Infinity"}, "fee"),
    ("money boolean", {"fee": True}, "fee"),
    ("money array", {"fee": [1]}, "fee"),
    ("money overflow", {"fee": 10**13}, "fee"),
    ("money text", {"fee": "abc"}, "fee"),
    ("fractional text endReason", {"endReason": "7.5"}, "endReason"),
    ("flowNo overflow", {"flowNo": 2**64}, "flowNo"),
]


def test_invalid_records_quarantined(ch, tmp_path, unique_slug):
    texts = []
    for number, (description, changes, _) in enumerate(REJECTED):
        record = {**REAL_FAILED_CALL, "flowNo": 2000 + number, "accountName": description}
        for key, value in changes.items():
            if value is None:
                del record[key]
            else:
                record[key] = value
        texts.append(text(record))
    texts.append(text({**REAL_FAILED_CALL, "flowNo": 3000}))
    stored, quarantine = load_texts(ch, tmp_path, unique_slug, texts)

    assert list(stored) == [3000]
    reasons = {json.loads(raw)["accountName"]: reason for _, reason, raw in quarantine}
    for description, _, expected in REJECTED:
        assert expected in reasons[description], description


def test_quarantine_keeps_raw_and_account(ch, tmp_path, unique_slug):
    sent = text({**REAL_FAILED_CALL, "holdTime": -5})
    _, quarantine = load_texts(ch, tmp_path, unique_slug, [sent])
    (account, reason, raw), *others = quarantine
    assert others == []
    assert account == REAL_FAILED_CALL["account"]
    assert raw == sent
    assert "holdTime" in reason


def test_empty_spool_loads_no_rows(ch, tmp_path, unique_slug):
    stored, quarantine = load_texts(ch, tmp_path, unique_slug, [])
    assert stored == {}
    assert quarantine == []


@pytest.mark.parametrize("element", ['["not", "a", "cdr"]', "12", '"text"', "null"])
def test_non_object_record_fails_load(ch, tmp_path, unique_slug, element):
    from ykvos_dagster.warehouse.cdr_store import CdrLoadError

    with pytest.raises(CdrLoadError, match=unique_slug):
        load_texts(ch, tmp_path, unique_slug, [text(REAL_FAILED_CALL), element])


@pytest.mark.parametrize("field", ["calleeBilling", "billingType"])
def test_missing_optional_field_is_null(ch, tmp_path, unique_slug, field):
    record = {key: value for key, value in REAL_FAILED_CALL.items() if key != field}
    stored, _ = load_texts(ch, tmp_path, unique_slug, [text(record)])
    column = "callee_billing" if field == "calleeBilling" else "billing_type"
    assert stored[REAL_FAILED_CALL["flowNo"]][column] is None


@pytest.mark.timezone
@pytest.mark.parametrize(
    ("zone", "expected"), [("Asia/Shanghai", "2025-10-20"), ("America/New_York", "2025-10-19")]
)
def test_start_day_in_instance_zone(ch, tmp_path, unique_slug, zone, expected):
    # 2025-10-20 01:06:23.5 UTC is 09:06 in Shanghai and 21:06 the day before in New York.
    stored, _ = load_texts(ch, tmp_path, unique_slug, [text(REAL_FAILED_CALL)], zone=zone)
    assert stored[REAL_FAILED_CALL["flowNo"]]["toString(start_day)"] == expected


@pytest.mark.timezone
@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        (dt.datetime(2024, 3, 1, 0, 0, 0), "Asia/Shanghai", "2024-03-01"),
        (dt.datetime(2024, 2, 29, 23, 59, 59, 999000), "Asia/Shanghai", "2024-02-29"),
        (dt.datetime(2024, 1, 1, 0, 0, 0), "America/New_York", "2024-01-01"),
        (dt.datetime(2023, 12, 31, 23, 59, 59, 999000), "America/New_York", "2023-12-31"),
        (dt.datetime(2024, 7, 1, 0, 0, 0), "UTC", "2024-07-01"),
    ],
)
def test_start_day_at_midnight(ch, tmp_path, unique_slug, local, zone, expected):
    start = epoch_ms(local, ZoneInfo(zone))
    record = {**REAL_FAILED_CALL, "start": start, "stop": start}
    stored, _ = load_texts(ch, tmp_path, unique_slug, [text(record)], zone=zone)
    assert stored[REAL_FAILED_CALL["flowNo"]]["toString(start_day)"] == expected


def test_inlined_parameters_match_bound(ch, tmp_path, unique_slug):
    # The INSERT sent to a ClickHouse server carries its values as literals; decoding with them
    # must give the rows that the bound parameters give on chDB.
    from ykvos_dagster.vos3000.cdr_sql import FAST_DECODE_SETTINGS, fast_decode_select
    from ykvos_dagster.warehouse.cdr_store import _inline_parameters

    spool = tmp_path / "spool.json"
    spool.write_text("[" + text(REAL_FAILED_CALL) + "]", encoding="utf-8")
    context = LoadContext(
        instance=unique_slug,
        instance_uuid=uuid.uuid4(),
        timezone="America/New_York",
        day=DAY,
        loaded_at=dt.datetime(2025, 10, 21, 1, 2, 3, 456000, tzinfo=dt.UTC),
    )
    source = f"file('{spool}', 'JSONAsString', 'json String')"
    columns = "instance, toString(instance_uuid), call_day, start_day, loaded_at, reason"
    inlined = _inline_parameters(fast_decode_select(source), context.parameters(), dt.UTC)
    bound = ch.query(
        f"SELECT {columns} FROM ({fast_decode_select(source)})",
        parameters=context.parameters(),
        settings=FAST_DECODE_SETTINGS,
    ).result_rows
    literal = ch.query(f"SELECT {columns} FROM ({inlined})", settings=FAST_DECODE_SETTINGS)
    assert literal.result_rows == bound
    assert bound[0][0] == unique_slug
    assert bound[0][1] == str(context.instance_uuid)
    assert bound[0][5] == ""
