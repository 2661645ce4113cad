"""Consistency of the simulator's inventory and live state with each other and with its CDRs."""

import datetime as dt
from collections import Counter

import pytest

from ykvos_dagster.simulator import SimulatedSwitch, SimulatorConfig
from ykvos_dagster.simulator.inventory_data import inventory_for

CONFIG = SimulatorConfig(seed=3, instance="inventory", accounts=60, daily_cdrs=20_000)
# 10:30 in Shanghai, the busiest hour of the traffic curve.
BUSY_MOMENT = dt.datetime(2025, 3, 14, 2, 30, tzinfo=dt.UTC)


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def inventory():
    return inventory_for(SimulatedSwitch(CONFIG))


@pytest.fixture(scope="module")
def busy_ms(inventory) -> int:
    now = epoch_ms(BUSY_MOMENT)
    assert len(inventory.current_calls(now)) >= 5
    return now


def test_inventory_shared_per_switch():
    switch = SimulatedSwitch(CONFIG)
    assert inventory_for(switch) is inventory_for(switch)


def test_inventory_same_in_new_switch(inventory):
    other = inventory_for(SimulatedSwitch(CONFIG))
    assert other.mapping_gateways == inventory.mapping_gateways
    assert other.phones(inventory.switch.accounts()) == inventory.phones(
        inventory.switch.accounts()
    )


def call_identities(calls: list[dict]) -> list[tuple]:
    return [(call["callId"], call["callerGatewayId"], call["connectedTime"]) for call in calls]


def test_calls_fixed_within_minute(inventory, busy_ms):
    first = inventory.current_calls(busy_ms)
    later = inventory.current_calls(busy_ms + 30_000)
    next_minute = inventory.current_calls(busy_ms + 60_000)
    assert call_identities(first) == call_identities(later)
    assert call_identities(first) != call_identities(next_minute)


def test_answered_call_time_grows(inventory, busy_ms):
    first = inventory.current_calls(busy_ms)
    later = inventory.current_calls(busy_ms + 30_000)
    answered = [index for index, call in enumerate(first) if call["keepTime"] >= 0]
    assert answered
    for index in answered:
        assert later[index]["keepTime"] == first[index]["keepTime"] + 30_000
        assert first[index]["connectedTime"] + first[index]["keepTime"] == busy_ms


def test_calls_use_online_gateways(inventory, busy_ms):
    calls = inventory.current_calls(busy_ms)
    mapping = {record["name"] for record in inventory.mapping_gateways_online(busy_ms)}
    routing = {record["name"] for record in inventory.routing_gateways_online(busy_ms)}
    assert {call["callerGatewayId"] for call in calls} <= mapping
    assert {call["calleeGatewayId"] for call in calls} <= routing


def test_gateway_current_calls_sum(inventory, busy_ms):
    calls = inventory.current_calls(busy_ms)
    by_gateway = Counter(call["callerGatewayId"] for call in calls)
    online = inventory.mapping_gateways_online(busy_ms)
    assert {r["name"]: r["currentCall"] for r in online if r["currentCall"]} == dict(by_gateway)
    routing = inventory.routing_gateways_online(busy_ms)
    assert sum(record["currentCall"] for record in routing) == len(calls)


def test_performance_counts_calls(inventory, busy_ms):
    assert inventory.performance(busy_ms)["callSize"] == len(inventory.current_calls(busy_ms))


def test_phone_calls_only_from_online_phones(inventory, busy_ms):
    accounts = inventory.switch.accounts()
    phones = {record["e164"] for record in inventory.phones(accounts)}
    online = set(inventory.online_phone_numbers())
    callers = {call["callerE164"] for call in inventory.current_calls(busy_ms)}
    assert callers & phones <= online


def test_phone_online_current_calls(inventory, busy_ms):
    calls = Counter(call["callerE164"] for call in inventory.current_calls(busy_ms))
    for record in inventory.phones_online(inventory.online_phone_numbers(), busy_ms):
        assert record["currentCall"] == calls.get(record["e164"], 0)


def test_locked_accounts_gateways_offline(inventory, busy_ms):
    locked = {
        account.account
        for account in inventory.switch.account_profiles()
        if account.locked or account.is_agent
    }
    online = {record["name"] for record in inventory.mapping_gateways_online(busy_ms)}
    for record in inventory.mapping_gateways:
        if record["account"] in locked:
            assert record["name"] not in online


def test_one_routing_gateway_offline(inventory, busy_ms):
    configured = {record["name"] for record in inventory.routing_gateways}
    online = {record["name"] for record in inventory.routing_gateways_online(busy_ms)}
    assert len(configured - online) == 1


def test_phone_numbers_unique(inventory):
    numbers = [record["e164"] for record in inventory.phones(inventory.switch.accounts())]
    assert len(numbers) == len(set(numbers))


def test_balance_alarms_for_overdrawn_accounts(inventory, busy_ms):
    alarms = [alarm for alarm in inventory.alarms(busy_ms) if alarm["type"] == 20007]
    assert alarms
    for alarm in alarms:
        assert alarm["value"] < 0
        assert -alarm["value"] >= -alarm["lower"] / 2


def test_alarms_started_before_now(inventory, busy_ms):
    assert all(alarm["startTime"] < busy_ms for alarm in inventory.alarms(busy_ms))


def test_pay_history_half_open_range(inventory):
    account = inventory.switch.accounts()[0]
    begin = epoch_ms(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    end = epoch_ms(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    payments = inventory.pay_history([account], begin, end)
    assert payments
    assert all(begin <= payment["payTime"] < end for payment in payments)
    split = payments[len(payments) // 2]["payTime"]
    first = inventory.pay_history([account], begin, split)
    second = inventory.pay_history([account], split, end)
    assert first + second == payments
