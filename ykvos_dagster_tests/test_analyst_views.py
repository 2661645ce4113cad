"""The analyst views and their lookup tables on real chDB, with hand-made CDRs of known totals
loaded through the production load path."""

import datetime as dt
import uuid
from decimal import Decimal

import phonenumbers
import pytest

from ykvos_dagster.numbering import international_prefixes, lookup_key
from ykvos_dagster.warehouse.destinations import refresh_destinations, reparse_outdated
from ykvos_dagster.warehouse.instance_settings import sync_instance_settings, utc_offset_periods
from ykvos_dagster.warehouse.statistics import compute_statistics
from ykvos_dagster_tests.cdr_samples import make_cdr
from ykvos_dagster_tests.test_statistics import load_day

DAY = dt.date(2024, 5, 10)
NEXT_DAY = DAY + dt.timedelta(days=1)

AGGREGATE_VIEWS = {
    "cdr_kpi_daily": "call_day",
    "cdr_account_daily": "call_day, account",
    "cdr_account_totals": "account",
    "cdr_routing_gateway_daily": "call_day, routing_gateway",
    "cdr_mapping_gateway_daily": "call_day, mapping_gateway",
    "cdr_kpi_hourly": "call_day, start_hour_local",
    "cdr_destination_daily": "call_day, destination_country, destination_prefix",
}


def with_numbers(record: dict, callee: str, caller_gateway: str = "map-1") -> dict:
    record["calleeAccessE164"] = callee
    record["callerGateway"] = caller_gateway
    return record


def sample_day() -> list[dict]:
    """Seven CDRs: three answered, mixed accounts, gateways and dialled numbers."""
    return [
        with_numbers(
            make_cdr(
                1, account="a1", hold_time=60, fee="0.600000", start=dt.datetime(2024, 5, 10, 9)
            ),
            "13812345678",
        ),
        with_numbers(
            make_cdr(
                2,
                account="a1",
                hold_time=30,
                fee_time=60,
                fee="0.300000",
                start=dt.datetime(2024, 5, 10, 9, 30),
            ),
            "22213912345678",
        ),
        with_numbers(make_cdr(3, account="a1", hold_time=0), "075512345678"),
        with_numbers(
            make_cdr(
                4,
                account="a2",
                hold_time=125,
                fee="2.500000",
                callee_gateway="gw-2",
                start=dt.datetime(2024, 5, 10, 23, 59),
            ),
            "00442071234567",
            "map-2",
        ),
        with_numbers(make_cdr(5, account="a2", hold_time=0, callee_gateway=""), ""),
        with_numbers(make_cdr(6, account="a2", hold_time=0), "anonymous"),
        with_numbers(make_cdr(7, account="a3", hold_time=0), "12"),
    ]


def load_sample(ch, instance) -> None:
    load_day(ch, instance, DAY, sample_day())
    sync_instance_settings(ch, instance)
    refresh_destinations(ch, instance=instance.slug, region="CN", start=DAY, end=NEXT_DAY)


@pytest.fixture
def loaded(ch, register, unique_slug):
    """An instance of its own with the sample day loaded, its settings synced and destinations
    parsed, for tests that change its rows."""
    instance = register(unique_slug, strip_prefixes=["222"])
    load_sample(ch, instance)
    return instance


@pytest.fixture(scope="module")
def sample(postgres_dsn):
    """One instance with the sample day loaded, shared by the tests that only read it."""
    from ykvos_dagster.warehouse.clickhouse import open_client
    from ykvos_dagster.warehouse.postgres import connect
    from ykvos_dagster.warehouse.registry import add_instance

    with connect(postgres_dsn) as connection:
        instance = add_instance(
            connection,
            slug=f"views-{uuid.uuid4().hex[:8]}",
            name="analyst views sample",
            base_url="http://127.0.0.1:9",
            first_day=dt.date(2024, 1, 1),
            strip_prefixes=["222"],
        )
    with open_client() as ch:
        load_sample(ch, instance)
    return instance


def view_rows(ch, view: str, slug: str) -> list[tuple]:
    return ch.query(
        f"SELECT * FROM {view} WHERE instance = {{slug:String}} ORDER BY {AGGREGATE_VIEWS[view]}",
        parameters={"slug": slug},
    ).result_rows


def view_totals(ch, view: str, slug: str) -> tuple:
    return ch.query(
        f"SELECT sum(attempts), sum(answered), sum(revenue), sum(billed_seconds) FROM {view}"
        " WHERE instance = {slug:String}",
        parameters={"slug": slug},
    ).result_rows[0]


def calls_by_flow(ch, slug: str) -> dict[int, dict]:
    result = ch.query(
        "SELECT * FROM cdr_calls WHERE instance = {slug:String}", parameters={"slug": slug}
    )
    names = result.column_names
    return {
        row[names.index("flow_no")]: dict(zip(names, row, strict=True))
        for row in result.result_rows
    }


@pytest.mark.parametrize("view", sorted(AGGREGATE_VIEWS))
def test_view_totals_equal_cdrs(ch, sample, view):
    assert view_totals(ch, view, sample.slug) == (7, 3, Decimal("3.400000"), 245)


def test_kpi_daily_formulas(ch, sample):
    row = ch.query(
        "SELECT accounts, attempts, answered, asr_percent, talk_seconds, acd_seconds,"
        " billed_seconds, billed_minutes, revenue, currency FROM cdr_kpi_daily"
        " WHERE instance = {slug:String}",
        parameters={"slug": sample.slug},
    ).result_rows[0]
    assert row[0] == 3
    assert row[1:3] == (7, 3)
    assert row[3] == Decimal("42.86")
    assert row[4] == 215
    assert row[5] == Decimal("71.67")
    assert row[6] == 245
    assert row[7] == Decimal("4.08")
    assert row[8] == Decimal("3.4")
    assert row[9] == "CNY"


def test_acd_is_zero_without_answered_calls(ch, sample):
    row = ch.query(
        "SELECT asr_percent, acd_seconds FROM cdr_account_daily"
        " WHERE instance = {slug:String} AND account = 'a3'",
        parameters={"slug": sample.slug},
    ).result_rows[0]
    assert row == (Decimal("0"), Decimal("0"))


def test_asr_equals_statistics_connection_rate(ch, sample):
    statistics = {
        row.dimension_value: row.connection_rate
        for row in compute_statistics(ch, sample.slug, DAY, NEXT_DAY)
        if row.statistic_type == "account"
    }
    views = dict(
        ch.query(
            "SELECT account, asr_percent FROM cdr_account_daily WHERE instance = {slug:String}",
            parameters={"slug": sample.slug},
        ).result_rows
    )
    assert views == statistics


def test_rerun_keeps_view_rows(ch, loaded):
    before = {view: view_rows(ch, view, loaded.slug) for view in AGGREGATE_VIEWS}
    for _ in range(2):
        load_day(ch, loaded, DAY, sample_day())
        sync_instance_settings(ch, loaded)
        refresh_destinations(ch, instance=loaded.slug, region="CN", start=DAY, end=NEXT_DAY)
    after = {view: view_rows(ch, view, loaded.slug) for view in AGGREGATE_VIEWS}
    assert after == before


def test_smaller_repull_replaces_view_rows(ch, loaded):
    load_day(ch, loaded, DAY, sample_day()[:3], allow_shrink=True)
    assert view_totals(ch, "cdr_kpi_daily", loaded.slug)[0] == 3
    assert view_totals(ch, "cdr_destination_daily", loaded.slug)[0] == 3


def test_account_totals_span_days(ch, loaded):
    load_day(ch, loaded, NEXT_DAY, [make_cdr(11, account="a1", start=dt.datetime(2024, 5, 11, 8))])
    row = ch.query(
        "SELECT first_call_day, last_call_day, call_days, attempts FROM cdr_account_totals"
        " WHERE instance = {slug:String} AND account = 'a1'",
        parameters={"slug": loaded.slug},
    ).result_rows[0]
    assert row == (DAY, NEXT_DAY, 2, 4)


def test_gateway_views_keep_calls_without_gateway(ch, sample):
    routing = {row[2]: row[5] for row in view_rows(ch, "cdr_routing_gateway_daily", sample.slug)}
    mapping = {row[2]: row[5] for row in view_rows(ch, "cdr_mapping_gateway_daily", sample.slug)}
    assert routing == {"": 1, "gw-1": 5, "gw-2": 1}
    assert mapping == {"map-1": 6, "map-2": 1}


@pytest.mark.parametrize(
    ("flow_no", "status", "country", "prefix"),
    [
        (1, "ok", "CN", "+86138"),
        (2, "ok", "CN", "+86139"),
        (3, "ok", "CN", "+86755"),
        (4, "ok", "GB", "+4420"),
        (5, "unparseable", "ZZ", ""),
        (6, "unparseable", "ZZ", ""),
        (7, "invalid", "CN", "+86"),
    ],
)
def test_destination_of_each_call(ch, sample, flow_no, status, country, prefix):
    call = calls_by_flow(ch, sample.slug)[flow_no]
    assert call["destination_status"] == status
    assert call["destination_country"] == country
    assert call["destination_prefix"] == prefix


def test_routing_prefix_is_stripped(ch, sample):
    call = calls_by_flow(ch, sample.slug)[2]
    assert call["callee_number"] == "22213912345678"
    assert call["dialled_number"] == "13912345678"


def test_view_keys_match_python(ch, sample):
    calls = calls_by_flow(ch, sample.slug).values()
    prefixes = international_prefixes("CN")
    keys = {call["flow_no"]: call["destination_key"] for call in calls}
    expected = {call["flow_no"]: lookup_key(call["dialled_number"], prefixes) for call in calls}
    assert keys == expected
    assert keys[1] == "138123"
    assert keys[4] == "0044207123"


def test_unparseable_numbers_are_counted(ch, sample):
    rows = ch.query(
        "SELECT destination_status, sum(attempts) FROM cdr_destination_daily"
        " WHERE instance = {slug:String} GROUP BY destination_status ORDER BY destination_status",
        parameters={"slug": sample.slug},
    ).result_rows
    assert rows == [("invalid", 1), ("ok", 4), ("unparseable", 2)]


def test_destinations_pending_until_refreshed(ch, register, unique_slug):
    instance = register(unique_slug)
    load_day(ch, instance, DAY, [with_numbers(make_cdr(1), "13800000000")])
    sync_instance_settings(ch, instance)
    # A number prefix that no other test parses, so the shared lookup cannot have it yet.
    load_day(ch, instance, DAY, [with_numbers(make_cdr(1), "0086399123456789")])
    status = calls_by_flow(ch, instance.slug)[1]["destination_status"]
    assert status == "pending"
    refresh = refresh_destinations(ch, instance=instance.slug, region="CN", start=DAY, end=NEXT_DAY)
    assert refresh.keys_parsed == 1
    assert calls_by_flow(ch, instance.slug)[1]["destination_status"] != "pending"


def test_destination_refresh_is_idempotent(ch, sample):
    lookup_rows = ch.command("SELECT count() FROM destination_prefixes")
    refresh = refresh_destinations(ch, instance=sample.slug, region="CN", start=DAY, end=NEXT_DAY)
    assert refresh.keys_parsed == 0
    assert refresh.cdrs_by_status == {"ok": 4, "invalid": 1, "unparseable": 2}
    assert ch.command("SELECT count() FROM destination_prefixes") == lookup_rows


def test_outdated_keys_are_reparsed(ch, loaded):
    ch.command(
        "INSERT INTO destination_prefixes (default_region, number_prefix, number_length, status,"
        " country, country_code, destination_prefix, sample_number, parsed_with, parsed_at)"
        " VALUES ('AQ', '123456', 7, 'ok', 'XX', 1, '+1', '1234567', '0.0', now64(3))"
    )
    assert reparse_outdated(ch, "AQ") == 1
    row = ch.query(
        "SELECT parsed_with, country FROM destination_prefixes FINAL"
        " WHERE default_region = 'AQ' AND number_prefix = '123456'"
    ).result_rows
    assert row == [(phonenumbers.__version__, "ZZ")]


def test_currency_comes_from_instance(ch, register, unique_slug):
    instance = register(unique_slug, currency="USD")
    load_day(ch, instance, DAY, [make_cdr(1, fee="1.250000")])
    sync_instance_settings(ch, instance)
    row = ch.query(
        "SELECT currency, revenue FROM cdr_kpi_daily WHERE instance = {slug:String}",
        parameters={"slug": instance.slug},
    ).result_rows
    assert row == [("USD", Decimal("1.25"))]


def test_settings_sync_replaces_rows(ch, loaded):
    sync_instance_settings(ch, loaded)
    counts = ch.query(
        "SELECT (SELECT count() FROM vos_instance_settings WHERE instance = {slug:String}),"
        " (SELECT count() FROM instance_utc_offsets WHERE instance = {slug:String})",
        parameters={"slug": loaded.slug},
    ).result_rows[0]
    assert counts == (1, len(utc_offset_periods(loaded.zone)))


def test_hour_is_null_before_settings_sync(ch, register, unique_slug):
    instance = register(unique_slug)
    load_day(ch, instance, DAY, [make_cdr(1)])
    call = calls_by_flow(ch, instance.slug)[1]
    assert call["start_hour_local"] is None
    assert call["currency"] == ""


@pytest.mark.timezone
@pytest.mark.parametrize(
    ("timezone", "local_start", "hour"),
    [
        ("Asia/Shanghai", dt.datetime(2024, 5, 10, 0, 30), 0),
        ("Asia/Shanghai", dt.datetime(2024, 5, 10, 23, 59), 23),
        ("America/New_York", dt.datetime(2024, 3, 10, 1, 30), 1),
        ("America/New_York", dt.datetime(2024, 3, 10, 3, 30), 3),
        ("America/New_York", dt.datetime(2024, 11, 3, 23, 0), 23),
        ("UTC", dt.datetime(2024, 5, 10, 12, 0), 12),
    ],
)
def test_hour_in_instance_zone(ch, register, unique_slug, timezone, local_start, hour):
    from zoneinfo import ZoneInfo

    instance = register(unique_slug, timezone=timezone)
    record = make_cdr(1, start=local_start, zone=ZoneInfo(timezone))
    load_day(ch, instance, local_start.date(), [record])
    sync_instance_settings(ch, instance)
    rows = ch.query(
        "SELECT start_hour_local, attempts FROM cdr_kpi_hourly WHERE instance = {slug:String}",
        parameters={"slug": instance.slug},
    ).result_rows
    assert rows == [(hour, 1)]
