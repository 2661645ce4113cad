"""Tests of the VOS3000 simulator, mostly through its HTTP interface."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from ykvos_dagster.simulator import SimulatedSwitch, SimulatorConfig, SimulatorServer
from ykvos_dagster.simulator.cli import main as simulator_main

WEEKDAY = dt.date(2025, 3, 4)  # a Tuesday
NEXT_DAY = dt.date(2025, 3, 5)
SMALL_CONFIG = SimulatorConfig(seed=7, instance="test-vos", accounts=40, daily_cdrs=4_000)

INFO_CDR_TYPES = {
    "flowNo": int,
    "account": str,
    "accountName": str,
    "callerE164": str,
    "callerAccessE164": str,
    "callerToGatewayE164": str,
    "callerProductId": str,
    "callerGateway": str,
    "callerip": str,
    "calleeE164": str,
    "calleeAccessE164": str,
    "calleeToGatewayE164": str,
    "calleeProductId": str,
    "calleeGateway": str,
    "calleeip": str,
    "start": int,
    "stop": int,
    "holdTime": int,
    "feeTime": int,
    "fee": (int, Decimal),
    "feePrefix": str,
    "suiteFee": (int, Decimal),
    "suiteFeeTime": int,
    "agentAccount": str,
    "agentName": str,
    "agentFee": (int, Decimal),
    "agentFeeTime": int,
    "agentFeePrefix": str,
    "agentSuiteFee": (int, Decimal),
    "agentSuiteFeeTime": int,
    "callLevel": int,
    "endDirection": int,
    "endReason": int,
    "calleeBilling": int,
    "billingMode": int,
    "billingType": int,
}
INFO_CUSTOMER_FIELDS = {
    "account",
    "name",
    "money",
    "limitMoney",
    "feeRateGroup",
    "type",
    "lockType",
    "agentAccount",
    "phoneBookLimit",
    "canceled",
    "startTime",
    "validTime",
    "todayConsumption",
    "ctdBillingType",
    "category",
    "bindedE164s",
    "memo",
    "infoCustomerAdditional",
}
MONEY_FIELDS = ("fee", "suiteFee", "agentFee", "agentSuiteFee")
SIP_FAILURE_REASONS = {486, 487, 480, 503, 404, 408}


@pytest.fixture(scope="module")
def default_server():
    with SimulatorServer(SimulatedSwitch(SimulatorConfig())) as server:
        yield server


@pytest.fixture(scope="module")
def small_server():
    with SimulatorServer(SimulatedSwitch(SMALL_CONFIG)) as server:
        yield server


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=120) as http_client:
        yield http_client


@pytest.fixture(scope="module")
def default_day_rows(default_server, client):
    """All CDRs of WEEKDAY on the default switch, fetched in one GetCdr request."""
    return get_cdrs(client, default_server, default_server.switch.accounts(), WEEKDAY)


@pytest.fixture(scope="module")
def small_rows(small_server, client):
    """All CDRs of WEEKDAY and NEXT_DAY on the small switch, one request per account-day."""
    rows = []
    for day in (WEEKDAY, NEXT_DAY):
        for account in small_server.switch.accounts():
            rows.extend(get_cdrs(client, small_server, [account], day))
    return rows


def post(client: httpx.Client, server: SimulatorServer, interface: str, payload) -> httpx.Response:
    """POST a payload the way VOS3000 clients do: JSON text as UTF-8 with a text/html type."""
    if isinstance(payload, bytes):
        body = payload
    else:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return client.post(
        server.interface_url(interface),
        content=body,
        headers={"Content-Type": "text/html;charset=UTF-8"},
    )


def get_cdrs(
    client: httpx.Client,
    server: SimulatorServer,
    accounts: list[str],
    begin: dt.date,
    end: dt.date | None = None,
    **filters: str | None,
) -> list[dict]:
    """Return the infoCdrs of a successful GetCdr request, with money parsed as Decimal."""
    payload = {
        "accounts": accounts,
        "beginTime": begin.strftime("%Y%m%d"),
        "endTime": (end or begin).strftime("%Y%m%d"),
        **filters,
    }
    reply = post(client, server, "GetCdr", payload).json(parse_float=Decimal)
    assert reply["retCode"] == 0, reply
    return reply["infoCdrs"]


def by_flow_no(rows: list[dict]) -> dict[int, dict]:
    return {row["flowNo"]: row for row in rows}


def day_bounds(day: dt.date, zone: str) -> tuple[int, int]:
    """Return the local day in a zone as UTC epoch milliseconds [start, end)."""
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def totals_of(rows: list[dict]) -> dict:
    connected = [row for row in rows if row["holdTime"] > 0]
    return {
        "calls": len(rows),
        "connected": len(connected),
        "duration": sum(row["holdTime"] for row in connected),
        "billed_seconds": sum(row["feeTime"] for row in rows),
        "fee": sum((Decimal(row["fee"]) for row in rows), Decimal(0)),
    }


# Configuration and accounts.


def test_config_rejects_invalid_timezone():
    with pytest.raises(ValueError, match="invalid time zone 'Mars/Olympus'"):
        SimulatorConfig(timezone="Mars/Olympus")


def test_config_rejects_too_many_accounts():
    with pytest.raises(ValueError, match="accounts must be between"):
        SimulatorConfig(accounts=100_001)


def test_accounts_unique_and_named():
    accounts = SimulatedSwitch().accounts()
    chinese = [account for account in accounts if not account.isascii()]

    assert len(accounts) == 200
    assert len(set(accounts)) == len(accounts)
    assert all(accounts)
    assert len(chinese) > len(accounts) // 2
    assert len(chinese) < len(accounts)


def test_accounts_depend_on_seed_and_instance():
    base = SimulatedSwitch(SimulatorConfig(seed=3, instance="a")).accounts()

    assert SimulatedSwitch(SimulatorConfig(seed=3, instance="a")).accounts() == base
    assert SimulatedSwitch(SimulatorConfig(seed=4, instance="a")).accounts() != base
    assert SimulatedSwitch(SimulatorConfig(seed=3, instance="b")).accounts() != base


def test_accounts_longer_list_extends_shorter():
    short = SimulatedSwitch(SimulatorConfig(accounts=50)).accounts()
    long = SimulatedSwitch(SimulatorConfig(accounts=500)).accounts()

    assert long[:50] == short
    assert len(set(long)) == 500


# GetAllCustomers and GetCustomer.


@pytest.mark.parametrize("payload", [{}, {"type": 0}, {"type": None}, {"type": "0"}])
def test_all_customers_accounts(small_server, client, payload):
    reply = post(client, small_server, "GetAllCustomers", payload).json()

    assert reply == {"retCode": 0, "accounts": small_server.switch.accounts()}


def test_all_customers_briefs(small_server, client):
    reply = post(client, small_server, "GetAllCustomers", {"type": 1}).json(parse_float=Decimal)
    briefs = reply["infoCustomerBriefs"]

    assert reply["retCode"] == 0
    assert "accounts" not in reply
    assert [brief["account"] for brief in briefs] == small_server.switch.accounts()
    assert all(set(brief) == {"account", "money", "limitMoney"} for brief in briefs)
    assert any(brief["money"] < 0 for brief in briefs)


def test_customer_fields(small_server, client):
    accounts = small_server.switch.accounts()[:3]
    reply = post(client, small_server, "GetCustomer", {"accounts": accounts}).json()
    customers = reply["infoCustomers"]

    assert reply["retCode"] == 0
    assert [customer["account"] for customer in customers] == accounts
    assert all(set(customer) == INFO_CUSTOMER_FIELDS for customer in customers)
    assert all(isinstance(customer["canceled"], bool) for customer in customers)
    assert all(isinstance(customer["bindedE164s"], list) for customer in customers)
    assert all("companyName" in customer["infoCustomerAdditional"] for customer in customers)


def test_customer_money_below_zero_within_limit():
    briefs = SimulatedSwitch().customer_briefs()
    negative = [brief for brief in briefs if brief["money"] < 0]

    assert negative
    assert all(-brief["money"] <= brief["limitMoney"] for brief in negative)


def test_customer_without_filter(small_server, client):
    reply = post(client, small_server, "GetCustomer", {}).json()

    assert reply == {"retCode": -10007, "exception": "Not found, operation failed."}


def test_customer_unknown_account(small_server, client):
    reply = post(client, small_server, "GetCustomer", {"accounts": ["no-such-account"]}).json()

    assert reply == {"retCode": 0, "infoCustomers": []}


def test_customer_by_agent(client):
    switch = SimulatedSwitch(SimulatorConfig(accounts=400))
    customers = switch.customers(switch.accounts())
    agent = next(customer["account"] for customer in customers if customer["category"] == 1)
    expected = [customer["account"] for customer in customers if customer["agentAccount"] == agent]

    with SimulatorServer(switch) as server:
        payload = {"filterAgentAccount": {"filterAgentAccount": agent, "querySonMode": 1}}
        reply = post(client, server, "GetCustomer", payload).json()

    assert expected
    assert [customer["account"] for customer in reply["infoCustomers"]] == expected


# Chinese text and encoding.


def test_chinese_account_round_trips(default_server, client):
    switch = default_server.switch
    account = next(
        account
        for account in switch.accounts()
        if not account.isascii() and switch.cdrs(WEEKDAY, account)
    )
    response = post(
        client,
        default_server,
        "GetCdr",
        {"accounts": [account], "beginTime": "20250304", "endTime": "20250304"},
    )
    rows = response.json()["infoCdrs"]

    assert rows
    assert {row["account"] for row in rows} == {account}
    assert account.encode("utf-8") in response.content
    assert b"\\u" not in response.content


def test_chinese_gateway_names(default_day_rows):
    mapping = {row["callerGateway"] for row in default_day_rows}
    routing = {row["calleeGateway"] for row in default_day_rows} - {""}

    assert any(not name.isascii() for name in mapping)
    assert all(not name.isascii() for name in routing)


def test_reply_headers(small_server, client):
    response = post(client, small_server, "GetAllCustomers", {})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["pragma"] == "no-cache"


def test_success_has_no_exception(small_server, client):
    reply = post(
        client,
        small_server,
        "GetCdr",
        {"accounts": ["no-such-account"], "beginTime": "20250304", "endTime": "20250304"},
    ).json()

    assert reply == {"retCode": 0, "infoCdrs": []}


def test_money_exact_decimal_text(small_server, client):
    account = max(
        small_server.switch.accounts(), key=lambda a: len(small_server.switch.cdrs(WEEKDAY, a))
    )
    response = post(
        client,
        small_server,
        "GetCdr",
        {"accounts": [account], "beginTime": "20250304", "endTime": "20250304"},
    )
    texts = response.json(parse_float=str, parse_int=str)["infoCdrs"]
    expected = small_server.switch.cdrs(WEEKDAY, account)
    four_decimal_fees = [row for row in expected if row["fee"].as_tuple().exponent == -4]

    assert four_decimal_fees
    for sent, row in zip(texts, expected, strict=True):
        for field in MONEY_FIELDS:
            assert sent[field] == format(row[field], "f")


def test_money_is_decimal(small_server):
    switch = small_server.switch
    rows = [row for account in switch.accounts() for row in switch.cdrs(WEEKDAY, account)]

    assert rows
    assert all(isinstance(row[field], Decimal) for row in rows for field in MONEY_FIELDS)
    assert all(row["fee"].as_tuple().exponent >= -4 for row in rows)


# CDR fields and shapes.


def test_cdr_fields_and_types(default_day_rows):
    assert default_day_rows
    for row in default_day_rows:
        assert set(row) == set(INFO_CDR_TYPES)
        for field, kind in INFO_CDR_TYPES.items():
            assert isinstance(row[field], kind), (field, row[field])
            assert not isinstance(row[field], bool), field


def test_answer_ratio(default_day_rows):
    answered = sum(1 for row in default_day_rows if row["holdTime"] > 0)

    assert 0.40 <= answered / len(default_day_rows) <= 0.60


def test_answered_calls_shape(default_day_rows):
    answered = [row for row in default_day_rows if row["holdTime"] > 0]

    assert answered
    for row in answered:
        assert row["start"] < row["stop"]
        assert row["feeTime"] >= row["holdTime"]
        assert row["feeTime"] % 6 == 0
        assert row["fee"] > 0
        assert row["endReason"] in (0, 200)
        assert row["endDirection"] in (0, 1)
        assert row["calleeGateway"] != ""


def test_billing_periods_6_and_60(default_day_rows):
    fee_times: dict[str, list[int]] = {}
    for row in default_day_rows:
        if row["holdTime"] > 0:
            fee_times.setdefault(row["account"], []).append(row["feeTime"])
    six_second = [account for account, times in fee_times.items() if any(t % 60 for t in times)]

    assert six_second
    assert len(six_second) < len(fee_times)


def test_fee_proportional_to_fee_time(default_day_rows):
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in default_day_rows:
        if row["holdTime"] > 0:
            groups.setdefault((row["account"], row["callLevel"]), []).append(row)
    for rows in groups.values():
        longest = max(rows, key=lambda row: row["feeTime"])
        # Whole-number fees arrive as JSON integers, so convert before dividing.
        rate_per_second = Decimal(longest["fee"]) / longest["feeTime"]
        for row in rows:
            # Both fees are rounded to 4 decimal places, so they may differ by one unit in the
            # last place after scaling.
            tolerance = Decimal("0.00005") * (1 + row["feeTime"] / Decimal(longest["feeTime"]))
            assert abs(row["fee"] - row["feeTime"] * rate_per_second) <= tolerance


def test_failed_calls_shape(default_day_rows):
    failed = [row for row in default_day_rows if row["holdTime"] == 0]

    assert failed
    for row in failed:
        assert row["feeTime"] == 0
        assert row["fee"] == 0
        assert row["agentFee"] == 0
        assert row["start"] == row["stop"]
        if row["endReason"] < 0:
            assert row["endDirection"] == 2
            assert row["calleeGateway"] == ""
            assert row["calleeip"] == ""
        else:
            assert row["endReason"] in SIP_FAILURE_REASONS
            assert row["endDirection"] == 1
            assert row["calleeGateway"] != ""


def test_failure_reasons_mixed(default_day_rows):
    reasons = Counter(row["endReason"] for row in default_day_rows if row["holdTime"] == 0)

    assert set(reasons) >= SIP_FAILURE_REASONS
    assert reasons[-69] > 0


def test_callee_numbers_carry_prefix(default_day_rows):
    for row in default_day_rows:
        assert row["calleeE164"].endswith(row["calleeAccessE164"])
        assert len(row["calleeE164"]) > len(row["calleeAccessE164"])
        assert row["calleeE164"].startswith(row["feePrefix"])


def test_no_null_strings(default_day_rows):
    text_fields = [field for field, kind in INFO_CDR_TYPES.items() if kind is str]

    assert all(row[field] is not None for row in default_day_rows for field in text_fields)


def test_unknown_account_has_no_cdrs(small_server):
    assert small_server.switch.cdrs(WEEKDAY, "no-such-account") == []


# Times.


def test_stop_inside_local_day(default_day_rows):
    start, end = day_bounds(WEEKDAY, "Asia/Shanghai")

    assert all(start <= row["stop"] < end for row in default_day_rows)


def test_start_inside_local_day_except_straddling(default_day_rows):
    start, _ = day_bounds(WEEKDAY, "Asia/Shanghai")
    early = [row for row in default_day_rows if row["start"] < start]

    for row in early:
        assert row["holdTime"] > 0
        assert row["start"] >= start - 2 * 3_600_000
        assert row["stop"] - start < 2 * 3_600_000


def test_straddling_calls_exist(default_day_rows):
    start, _ = day_bounds(WEEKDAY, "Asia/Shanghai")
    straddling = [row for row in default_day_rows if row["start"] < start <= row["stop"]]

    assert 1 <= len(straddling) <= 50


def test_traffic_curve(default_day_rows):
    zone = ZoneInfo("Asia/Shanghai")
    hours = Counter(
        dt.datetime.fromtimestamp(row["stop"] / 1000, tz=zone).hour for row in default_day_rows
    )

    assert hours[3] * 5 < hours[10]
    assert hours[3] * 5 < hours[15]
    assert hours[12] < hours[10]


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("UTC", WEEKDAY, 24),
        ("America/New_York", dt.date(2025, 3, 9), 23),
        ("America/New_York", dt.date(2025, 11, 2), 25),
        ("Asia/Kathmandu", WEEKDAY, 24),
    ],
)
def test_other_timezones(client, zone, day, hours):
    switch = SimulatedSwitch(SimulatorConfig(timezone=zone, accounts=30, daily_cdrs=3_000))
    start, end = day_bounds(day, zone)
    with SimulatorServer(switch) as server:
        rows = get_cdrs(client, server, switch.accounts(), day)

    assert switch.day_bounds_ms(day) == (start, end)
    assert end - start == hours * 3_600_000
    assert rows
    assert all(start <= row["stop"] < end for row in rows)


def test_host_zone_does_not_matter():
    script = (
        "import datetime, hashlib, json\n"
        "from ykvos_dagster.simulator import SimulatedSwitch, SimulatorConfig\n"
        f"switch = SimulatedSwitch(SimulatorConfig(seed={SMALL_CONFIG.seed}, "
        f"instance={SMALL_CONFIG.instance!r}, accounts={SMALL_CONFIG.accounts}, "
        f"daily_cdrs={SMALL_CONFIG.daily_cdrs}))\n"
        f"day = datetime.date({WEEKDAY.year}, {WEEKDAY.month}, {WEEKDAY.day})\n"
        "rows = [row for account in switch.accounts() for row in switch.cdrs(day, account)]\n"
        "text = json.dumps(rows, default=str, ensure_ascii=False, sort_keys=True)\n"
        "print(hashlib.sha256(text.encode()).hexdigest())\n"
    )
    switch = SimulatedSwitch(SMALL_CONFIG)
    rows = [row for account in switch.accounts() for row in switch.cdrs(WEEKDAY, account)]
    text = json.dumps(rows, default=str, ensure_ascii=False, sort_keys=True)
    expected = hashlib.sha256(text.encode()).hexdigest()

    for zone in ("UTC", "Asia/Shanghai", "America/Los_Angeles"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "TZ": zone, "PYTHONHASHSEED": "random"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == expected, zone


# Determinism and flowNo.


def test_same_rows_whatever_grouping(small_server, client, small_rows):
    accounts = small_server.switch.accounts()
    one_request_per_day = [
        row for day in (WEEKDAY, NEXT_DAY) for row in get_cdrs(client, small_server, accounts, day)
    ]
    two_day_range = get_cdrs(client, small_server, accounts, WEEKDAY, NEXT_DAY)
    reversed_accounts = get_cdrs(client, small_server, accounts[::-1], WEEKDAY, NEXT_DAY)

    assert len(small_rows) > 1_000
    assert by_flow_no(one_request_per_day) == by_flow_no(small_rows)
    assert by_flow_no(two_day_range) == by_flow_no(small_rows)
    assert by_flow_no(reversed_accounts) == by_flow_no(small_rows)


def test_same_rows_in_new_switch(small_rows):
    switch = SimulatedSwitch(SMALL_CONFIG)
    rows = [
        row
        for account in reversed(switch.accounts())
        for day in (NEXT_DAY, WEEKDAY)
        for row in switch.cdrs(day, account)
    ]

    assert by_flow_no(rows) == by_flow_no(small_rows)


def test_other_seed_other_rows(small_rows):
    switch = SimulatedSwitch(SimulatorConfig(seed=8, instance="test-vos", accounts=40))
    rows = [row for account in switch.accounts() for row in switch.cdrs(WEEKDAY, account)]

    assert by_flow_no(rows) != by_flow_no(small_rows)


def test_flow_no_unique(small_rows):
    flow_numbers = [row["flowNo"] for row in small_rows]

    assert len(set(flow_numbers)) == len(flow_numbers)


def test_flow_no_unique_across_days():
    switch = SimulatedSwitch(SMALL_CONFIG)
    days = [WEEKDAY + dt.timedelta(days=offset) for offset in range(7)]
    flow_numbers = [
        row["flowNo"]
        for day in days
        for account in switch.accounts()
        for row in switch.cdrs(day, account)
    ]

    assert len(set(flow_numbers)) == len(flow_numbers)


def test_flow_no_positive_int64(small_rows):
    assert all(0 < row["flowNo"] < 2**63 for row in small_rows)


def test_flow_no_layout(small_server, small_rows):
    accounts = small_server.switch.accounts()
    for row in small_rows:
        day = dt.date.fromordinal(row["flowNo"] // 10**11)

        assert day in (WEEKDAY, NEXT_DAY)
        assert (row["flowNo"] // 10**6) % 10**5 == accounts.index(row["account"])


def test_flow_no_fits_int64_until_9999():
    largest = (dt.date.max.toordinal() * 10**5 + 10**5 - 1) * 10**6 + 10**6 - 1

    assert largest < 2**63


# Totals and volume.


def test_day_totals_match_get_cdr(small_server, small_rows):
    rows = [row for row in small_rows if row["stop"] < day_bounds(NEXT_DAY, "Asia/Shanghai")[0]]

    assert small_server.switch.day_totals(WEEKDAY) == totals_of(rows)


def test_per_account_match_get_cdr(small_server, small_rows):
    start, end = day_bounds(WEEKDAY, "Asia/Shanghai")
    grouped: dict[str, list[dict]] = {}
    for row in small_rows:
        if start <= row["stop"] < end:
            grouped.setdefault(row["account"], []).append(row)
    expected = {account: totals_of(rows) for account, rows in grouped.items()}

    assert small_server.switch.per_account(WEEKDAY) == expected


def test_default_weekday_volume(default_day_rows):
    assert 17_000 <= len(default_day_rows) <= 23_000


def test_idle_account_share():
    switch = SimulatedSwitch()
    days = [WEEKDAY + dt.timedelta(days=offset) for offset in range(7)]
    idle_shares = [1 - len(switch.per_account(day)) / len(switch.accounts()) for day in days]
    mean_idle = sum(idle_shares) / len(idle_shares)

    assert 0.25 <= mean_idle <= 0.35


def test_heavy_accounts_skewed(default_day_rows):
    counts = sorted(Counter(row["account"] for row in default_day_rows).values(), reverse=True)
    top_tenth = sum(counts[: len(counts) // 10])

    assert top_tenth > 0.3 * len(default_day_rows)
    assert counts[-1] < counts[0] / 50


def test_weekend_quieter_than_weekdays():
    switch = SimulatedSwitch(SimulatorConfig(daily_cdrs=2_000))
    days = [dt.date(2025, 3, 3) + dt.timedelta(days=offset) for offset in range(28)]
    calls = {day: switch.day_totals(day)["calls"] for day in days}
    weekdays = [count for day, count in calls.items() if day.weekday() < 5]
    weekends = [count for day, count in calls.items() if day.weekday() >= 5]

    assert sum(weekends) / len(weekends) < sum(weekdays) / len(weekdays)


def test_generation_time():
    switch = SimulatedSwitch()
    started = time.perf_counter()
    count = sum(len(switch.cdrs(WEEKDAY, account)) for account in switch.accounts())
    elapsed = time.perf_counter() - started

    assert count > 17_000
    # Measured at about 0.4 s on a two-core VM. The limit leaves room for busy test machines.
    assert elapsed < 1.5


# GetCdr filters and errors.


def test_filters_match_exactly(default_server, client, default_day_rows):
    account = Counter(row["account"] for row in default_day_rows).most_common(1)[0][0]
    rows = [row for row in default_day_rows if row["account"] == account]
    sample = rows[len(rows) // 2]
    for field in ("callerE164", "calleeE164", "callerGateway", "calleeGateway"):
        expected = [row for row in rows if row[field] == sample[field]]
        filtered = get_cdrs(client, default_server, [account], WEEKDAY, **{field: sample[field]})

        assert filtered == expected, field


def test_null_filters_ignored(small_server, client, small_rows):
    account = small_rows[0]["account"]
    null_filters = dict.fromkeys(("callerE164", "calleeE164", "callerGateway", "calleeGateway"))
    rows = get_cdrs(client, small_server, [account], WEEKDAY, **null_filters)

    assert rows == small_server.switch.cdrs(WEEKDAY, account)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"beginTime": "20250304", "endTime": "20250304"},
        {"accounts": [], "beginTime": "20250304", "endTime": "20250304"},
        {"accounts": "a", "beginTime": "20250304", "endTime": "20250304"},
        {"accounts": [1], "beginTime": "20250304", "endTime": "20250304"},
        {"accounts": ["a"], "endTime": "20250304"},
        {"accounts": ["a"], "beginTime": "20250304"},
        {"accounts": ["a"], "beginTime": "2025-03-04", "endTime": "2025-03-04"},
        {"accounts": ["a"], "beginTime": "20250230", "endTime": "20250301"},
        {"accounts": ["a"], "beginTime": 20250304, "endTime": 20250304},
        {"accounts": ["a"], "beginTime": "20250305", "endTime": "20250304"},
        {"accounts": ["a"], "beginTime": "20250304", "endTime": "20250304", "calleeE164": 5},
    ],
)
def test_get_cdr_input_error(small_server, client, payload):
    reply = post(client, small_server, "GetCdr", payload).json()

    assert reply == {"retCode": -10124, "exception": "Input parameter error", "infoCdrs": []}


def test_get_cdr_span_limit(small_server, client):
    payload = {"accounts": ["no-such-account"], "beginTime": "20250101", "endTime": "20250201"}
    reply = post(client, small_server, "GetCdr", payload).json()

    assert reply == {
        "retCode": -10033,
        "exception": "Over the limitation of inquiry interval, please contact system administrator",
        "infoCdrs": [],
    }


def test_get_cdr_span_at_limit(small_server, client):
    payload = {"accounts": ["no-such-account"], "beginTime": "20250101", "endTime": "20250131"}
    reply = post(client, small_server, "GetCdr", payload).json()

    assert reply == {"retCode": 0, "infoCdrs": []}


@pytest.mark.parametrize("body", [b"", b"   ", b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe{}"])
def test_unparsable_body_empty_reply(small_server, client, body):
    response = post(client, small_server, "GetCdr", body)

    assert response.status_code == 200
    assert response.content == b""


def test_unknown_interface_404(small_server, client):
    response = post(client, small_server, "GetNothing", {})

    assert response.status_code == 404
    assert "<html>" in response.text


def test_outside_prefix_404(small_server, client):
    response = client.post(f"{small_server.url}/external_new/server/GetCdr", content=b"{}")

    assert response.status_code == 404


def test_get_method_405(small_server, client):
    response = client.get(small_server.interface_url("GetCdr"))

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_jsp_suffix_accepted(small_server, client):
    reply = post(client, small_server, "GetAllCustomers.jsp", {}).json()

    assert reply["accounts"] == small_server.switch.accounts()


def test_any_content_type(small_server, client):
    for content_type in ("application/json", "application/x-www-form-urlencoded;charset=UTF-8"):
        response = client.post(
            small_server.interface_url("GetAllCustomers"),
            content=b'{"type":1}',
            headers={"Content-Type": content_type},
        )

        assert response.json()["retCode"] == 0, content_type


def test_chunked_request_body(small_server, client):
    response = client.post(
        small_server.interface_url("GetAllCustomers"), content=iter([b'{"type"', b":1}"])
    )

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.json()["retCode"] == 0
    assert len(response.json()["infoCustomerBriefs"]) == SMALL_CONFIG.accounts


def test_oversized_body_rejected(small_server):
    # httpx refuses to send a Content-Length that does not match the body, so use a socket.
    request = (
        f"POST {small_server.switch.config.path_prefix}/GetCdr HTTP/1.1\r\n"
        f"Host: {small_server.host}\r\nContent-Length: {64 * 1024 * 1024}\r\n\r\n{{}}"
    ).encode()
    with socket.create_connection((small_server.host, small_server.port), timeout=10) as sock:
        sock.sendall(request)
        status_line = sock.makefile("rb").readline()

    assert status_line.startswith(b"HTTP/1.1 413 ")


def test_custom_path_prefix(client):
    switch = SimulatedSwitch(SimulatorConfig(path_prefix="/external_new/server/", accounts=5))
    with SimulatorServer(switch) as server:
        served = client.post(f"{server.url}/external_new/server/GetAllCustomers", content=b"{}")
        default = client.post(f"{server.url}/external/server/GetAllCustomers", content=b"{}")

    assert served.json()["accounts"] == switch.accounts()
    assert default.status_code == 404


def test_large_reply_is_chunked(default_server, client):
    payload = {
        "accounts": default_server.switch.accounts(),
        "beginTime": "20250304",
        "endTime": "20250304",
    }
    response = post(client, default_server, "GetCdr", payload)

    assert response.headers.get("transfer-encoding") == "chunked"
    assert len(response.json()["infoCdrs"]) > 17_000


def test_request_counts(client):
    with SimulatorServer(SimulatedSwitch(SimulatorConfig(accounts=5))) as server:
        post(client, server, "GetAllCustomers", {})
        post(client, server, "GetCdr", {})
        post(client, server, "GetCdr", b"")
        post(client, server, "GetNothing", {})
        counts = server.request_counts

    assert counts == Counter({"GetCdr": 2, "GetAllCustomers": 1})


def test_server_url_format(small_server):
    assert small_server.url.startswith("http://127.0.0.1:")
    assert not small_server.url.endswith("/")
    assert small_server.base_url == small_server.url


def test_server_stop_frees_port(client):
    server = SimulatorServer(SimulatedSwitch(SimulatorConfig(accounts=5))).start()
    url = server.interface_url("GetAllCustomers")
    server.stop()

    with pytest.raises(httpx.ConnectError):
        client.post(url, content=b"{}")


def test_server_stop_closes_connections():
    server = SimulatorServer(SimulatedSwitch(SimulatorConfig(accounts=5))).start()
    with httpx.Client(timeout=10) as keep_alive_client:
        first = keep_alive_client.post(server.interface_url("GetAllCustomers"), content=b"{}")
        server.stop()

        assert first.status_code == 200
        with pytest.raises(httpx.TransportError):
            keep_alive_client.post(server.interface_url("GetAllCustomers"), content=b"{}")


# Command line.


def test_cli_rejects_remote_host():
    with pytest.raises(SystemExit) as raised:
        simulator_main(["--host", "0.0.0.0", "--port", "0"])

    assert raised.value.code == 2


def test_cli_rejects_invalid_timezone():
    with pytest.raises(SystemExit) as raised:
        simulator_main(["--timezone", "Nowhere/Town", "--port", "0"])

    assert raised.value.code == 2


def test_cli_serves_until_sigterm(client):
    process = subprocess.Popen(
        [sys.executable, "-m", "ykvos_dagster.simulator.cli", "--port", "0", "--accounts", "7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        line = process.stdout.readline()
        url = next(word for word in line.split() if word.startswith("http://"))
        reply = client.post(f"{url}/external/server/GetAllCustomers", content=b"{}").json()
        process.send_signal(signal.SIGTERM)
        return_code = process.wait(timeout=30)
    finally:
        watchdog.cancel()
        process.kill()
        process.communicate()

    assert url.startswith("http://127.0.0.1:")
    assert len(reply["accounts"]) == 7
    assert return_code == 0
