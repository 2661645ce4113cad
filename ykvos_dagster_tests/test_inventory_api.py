"""Decoding of the inventory and live-state interfaces, against the simulator over HTTP, and of
malformed replies served by a mock transport."""

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from ykvos_dagster.vos3000 import fields
from ykvos_dagster.vos3000.client import VosClient, VosEndpoint
from ykvos_dagster.vos3000.errors import VosDecodeError, VosReturnCodeError, VosTransportError
from ykvos_dagster.vos3000.inventory import InventoryApi, format_local_time, request_hash
from ykvos_dagster.vos3000.redaction import redact

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2025, 3, 14)


@pytest.fixture
def api(simulator):
    with VosClient(VosEndpoint(instance="test", base_url=simulator.url, retries=0)) as client:
        yield InventoryApi(client)


def post(simulator, interface: str, payload) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(simulator.interface_url(interface), content=body, timeout=30)


def cdrs_of_day(simulator) -> list[dict]:
    switch = simulator.switch
    return [row for account in switch.accounts() for row in switch.cdrs(DAY, account)]


# Customers.


def test_all_accounts(api, simulator):
    assert api.all_accounts() == simulator.switch.accounts()


def test_customer_briefs_money_is_decimal(api, simulator):
    briefs = api.customer_briefs()
    assert [brief.account for brief in briefs] == simulator.switch.accounts()
    assert all(isinstance(brief.money, Decimal) for brief in briefs)


def test_customers_debt_flag(api, simulator):
    customers = api.customers(simulator.switch.accounts())
    assert len(customers) == len(simulator.switch.accounts())
    for customer in customers:
        assert customer.is_in_debt == (customer.money < 0)
    assert any(customer.is_in_debt for customer in customers)


def test_customer_times_are_utc(api, simulator):
    customer = api.customers(simulator.switch.accounts()[:1])[0]
    assert customer.start_time.tzinfo == dt.UTC
    assert customer.name


def test_customer_card_number_removed(api, simulator):
    customer = api.customers(simulator.switch.accounts()[:1])[0]
    assert "cardNumber" not in customer.raw["infoCustomerAdditional"]
    assert "email" in customer.raw["infoCustomerAdditional"]


# Phones.


def test_phones_by_accounts(api, simulator):
    phones = api.phones(simulator.switch.accounts())
    assert phones
    assert all(phone.account in simulator.switch.accounts() for phone in phones)
    assert all(phone.protocol == 1 for phone in phones)


def test_phone_passwords_removed(api, simulator):
    phones = api.phones(simulator.switch.accounts())
    for phone in phones:
        assert "password" not in phone.raw
        assert "customerPassword" not in phone.raw


def test_get_phone_without_filters_error(simulator, api):
    reply = post(simulator, "GetPhone", {}).json()
    assert reply == {"retCode": -12103, "exception": "Miss parameters"}
    with pytest.raises(VosReturnCodeError) as raised:
        api.call("GetPhone", {})
    assert raised.value.ret_code == -12103


def test_get_phone_unknown_account_empty(api):
    assert api.phones(["no-such-account"]) == []


def test_online_phone_numbers_are_strings(api, simulator):
    numbers = api.online_phone_numbers()
    assert numbers
    assert all(isinstance(number, str) for number in numbers)
    reply = post(simulator, "GetAllPhoneOnline", {}).json()
    assert set(reply) == {"retCode", "e164s"}


def test_online_phones_are_configured_phones(api, simulator):
    configured = {phone.e164 for phone in api.phones(simulator.switch.accounts())}
    online = api.online_phone_numbers()
    assert set(online) <= configured
    assert len(online) < len(configured)


def test_phones_online_detail(api):
    numbers = api.online_phone_numbers()
    states = api.phones_online(numbers)
    assert sorted(state.e164 for state in states) == sorted(numbers)
    for state in states:
        assert state.register_time is not None
        assert state.update_time >= state.register_time


def test_phones_online_without_numbers_sends_nothing(api):
    assert api.phones_online([]) == []
    assert api.replies == []


def test_get_phone_online_requires_e164s(simulator):
    reply = post(simulator, "GetPhoneOnline", {}).json()
    assert reply["retCode"] == -12103


def test_phones_online_filters_offline(api, simulator):
    configured = {phone.e164 for phone in api.phones(simulator.switch.accounts())}
    offline = sorted(configured - set(api.online_phone_numbers()))
    assert offline
    assert api.phones_online(offline) == []


# Gateways.


def test_mapping_gateways_cover_cdr_gateways(api, simulator):
    names = {gateway.name for gateway in api.mapping_gateways()}
    assert {row["callerGateway"] for row in cdrs_of_day(simulator)} <= names


def test_routing_gateways_cover_cdr_gateways(api, simulator):
    names = {gateway.name for gateway in api.routing_gateways()}
    used = {row["calleeGateway"] for row in cdrs_of_day(simulator)} - {""}
    assert used <= names


def test_mapping_gateway_fields(api, simulator):
    gateway = api.mapping_gateways()[0]
    assert gateway.gateway_type == "mapping"
    assert gateway.account in simulator.switch.accounts()
    assert gateway.remote_ips
    assert "password" not in gateway.raw
    assert "customerPassword" not in gateway.raw


def test_routing_gateway_fields(api):
    gateway = api.routing_gateways()[0]
    assert gateway.gateway_type == "routing"
    assert gateway.prefix
    assert gateway.protocol == 1
    assert "password" not in gateway.raw


def test_gateway_online_result_keys(simulator):
    mapping = post(simulator, "GetGatewayMappingOnline", {}).json()
    routing = post(simulator, "GetGatewayRoutingOnline", {}).json()
    assert "infoGatewayMappingOnlines" in mapping
    assert "infoGatewayRoutingOnlines" in routing


def test_online_gateways_subset_of_configured(api):
    configured = {(g.gateway_type, g.name) for g in api.mapping_gateways() + api.routing_gateways()}
    online = api.mapping_gateways_online() + api.routing_gateways_online()
    online_keys = {(state.gateway_type, state.name) for state in online}
    assert online_keys <= configured
    assert online_keys != configured


def test_online_gateway_state_decoded(api):
    states = api.mapping_gateways_online() + api.routing_gateways_online()
    for state in states:
        assert state.current_calls is not None
        assert isinstance(state.asr, Decimal)
        assert state.acd_seconds > 0
    static = [state for state in states if state.keep_time_seconds == 0]
    assert static
    assert all(state.register_time is None for state in static)


def test_routing_online_register_name(api):
    states = api.routing_gateways_online()
    assert sum(state.register_name is not None for state in states) == 1


def test_gateway_empty_names_returns_none(simulator):
    reply = post(simulator, "GetGatewayMapping", {"names": []}).json()
    assert reply == {"retCode": 0, "infoGatewayMappings": []}


def test_gateway_names_filter(simulator, api):
    name = api.routing_gateways()[0].name
    reply = post(simulator, "GetGatewayRouting", {"names": [name]}).json()
    assert [record["name"] for record in reply["infoGatewayRoutings"]] == [name]


def test_gateway_unbindable_names_empty_body(simulator, api):
    assert post(simulator, "GetGatewayMapping", {"names": "all"}).content == b""
    with pytest.raises(VosTransportError, match="empty reply body"):
        api.call("GetGatewayMapping", {"names": "all"})


def test_online_softswitch_filter(simulator):
    reply = post(simulator, "GetGatewayRoutingOnline", {"softswitchName": "none"}).json()
    assert reply["infoGatewayRoutingOnlines"] == []


# Rates and suites.


def test_fee_rate_groups_have_memo(api, simulator):
    groups = api.fee_rate_groups()
    assert all(group.memo for group in groups)
    used = {
        customer["feeRateGroup"]
        for customer in simulator.switch.customers(simulator.switch.accounts())
    }
    assert used <= {group.name for group in groups}


def test_fee_rates_price_cdrs(api, simulator):
    customers = {
        customer["account"]: customer["feeRateGroup"]
        for customer in simulator.switch.customers(simulator.switch.accounts())
    }
    rates = {}
    for group in api.fee_rate_groups():
        for rate in api.fee_rates(group.name):
            rates[(group.name, rate.fee_prefix)] = rate
    answered = [row for row in cdrs_of_day(simulator) if row["feeTime"] > 0]
    assert answered
    for row in answered:
        rate = rates[(customers[row["account"]], row["feePrefix"])]
        expected = (Decimal(row["feeTime"]) * rate.fee / rate.period_seconds).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )
        assert Decimal(row["fee"]) == expected
        assert rate.rate_type == row["callLevel"]


def test_fee_rate_requires_group(simulator, api):
    reply = post(simulator, "GetFeeRate", {}).json()
    assert reply["retCode"] == -12103
    with pytest.raises(VosReturnCodeError):
        api.call("GetFeeRate", {})


def test_fee_rate_unknown_group_empty(api):
    assert api.fee_rates("no-such-group") == []


def test_fee_rate_area_code_filter(simulator):
    reply = post(simulator, "GetFeeRate", {"feeRateGroup": "批发A", "areaCodes": ["2221"]}).json()
    assert [rate["feePrefix"] for rate in reply["infoFeeRates"]] == ["2221"]


def test_suites_documented_fields(api):
    suites = api.suites()
    assert [suite.suite_id for suite in suites] == [1, 2, 3]
    assert all(suite.rent_fee is not None for suite in suites)
    assert {suite.rent_type for suite in suites} == {0, 1, 3}
    assert suites[0].gift_times[0]["giftTime"] == 30_000


def test_suite_ids_as_strings(simulator):
    reply = post(simulator, "GetSuite", {"ids": ["2"]}).json()
    assert [suite["id"] for suite in reply["infoSuites"]] == [2]


def test_suite_empty_ids_returns_none(simulator):
    assert post(simulator, "GetSuite", {"ids": []}).json()["infoSuites"] == []


# Soft switches, live state.


def test_soft_switches_optional_fields(api):
    primary, standby = api.soft_switches()
    assert primary.access_time is not None
    assert primary.access_address
    assert standby.access_time is None
    assert standby.access_address is None


def test_performance_object(api, simulator):
    sample = api.performance()
    assert sample.call_size >= 0
    assert sample.cdr_queue_size >= 0
    assert set(post(simulator, "GetPerformance", {}).json()) == {"retCode", "infoPerformance"}


def test_alarms_decoded(api):
    alarms = api.alarms()
    assert alarms
    assert all(alarm.start_time is not None for alarm in alarms)
    confirmed = [alarm for alarm in alarms if alarm.confirm_user]
    assert confirmed[0].stop_time is not None
    assert {alarm.alarm_type for alarm in alarms} >= {20003}


def test_current_calls_decoded(api):
    calls = api.current_calls()
    for call in calls:
        assert (call.keep_time_ms is None) != (call.call_state is None)
        assert call.caller_gateway
        assert call.callee_gateway


def test_current_call_filter(simulator):
    reply = post(simulator, "GetCurrentCall", {"gatewayRoutingName": "none"}).json()
    assert reply == {"retCode": 0, "infoCurrentCalls": []}


# Payments.


def test_pay_history_local_times(api, simulator):
    account = simulator.switch.accounts()[0]
    begin = dt.datetime(2025, 1, 1, tzinfo=SHANGHAI)
    end = dt.datetime(2025, 4, 1, tzinfo=SHANGHAI)
    payments = api.pay_history(begin, end, SHANGHAI, account=account)
    assert payments
    assert all(begin <= payment.pay_time < end for payment in payments)
    assert api.replies[-1].request["beginTime"] == "20250101000000"


def test_pay_history_of_agent(api, simulator):
    agents = {
        customer["agentAccount"]
        for customer in simulator.switch.customers(simulator.switch.accounts())
        if customer["agentAccount"]
    }
    agent = sorted(agents)[0]
    begin = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    payments = api.pay_history(begin, begin + dt.timedelta(days=366), SHANGHAI, agent_account=agent)
    below = {c["account"] for c in simulator.switch.customers_of_agent(agent)}
    assert payments
    assert {payment.account for payment in payments} <= below


def test_pay_history_day_format_rejected(simulator):
    reply = post(
        simulator, "GetPayHistory", {"account": "x", "beginTime": "20250101", "endTime": "20250102"}
    ).json()
    assert reply == {"retCode": -10124, "exception": "Input parameter error"}


def test_pay_history_requires_account(simulator):
    reply = post(
        simulator, "GetPayHistory", {"beginTime": "20250101000000", "endTime": "20250102000000"}
    ).json()
    assert reply == {"retCode": -12103, "exception": "Miss parameters"}


def test_pay_history_requires_one_owner(api):
    moment = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        api.pay_history(moment, moment, SHANGHAI)


def test_format_local_time_in_zone():
    moment = dt.datetime(2025, 3, 14, 16, 0, tzinfo=dt.UTC)
    assert format_local_time(moment, SHANGHAI) == "20250315000000"


def test_format_local_time_rejects_naive():
    with pytest.raises(ValueError):
        format_local_time(dt.datetime(2025, 3, 14), SHANGHAI)


# Replies kept for the cache.


def test_replies_recorded_without_secrets(api, simulator):
    api.phones(simulator.switch.accounts())
    api.mapping_gateways()
    text = json.dumps([reply.reply for reply in api.replies], default=str)
    assert "password" not in text.lower()
    assert [reply.interface for reply in api.replies][-1] == "GetGatewayMapping"


def test_request_hash_ignores_key_order():
    first = request_hash("GetFeeRate", {"feeRateGroup": "a", "areaCodes": ["1"]})
    second = request_hash("GetFeeRate", {"areaCodes": ["1"], "feeRateGroup": "a"})
    assert first == second
    assert first != request_hash("GetFeeRate", {"feeRateGroup": "b", "areaCodes": ["1"]})


def test_redact_nested():
    reply = {"a": [{"password": "x", "b": {"customerPassword": "y", "sipPassword": "z", "c": 1}}]}
    assert redact(reply) == {"a": [{"b": {"c": 1}}]}


# Malformed replies, from a mock transport.


def mock_api(reply: dict | list | bytes) -> InventoryApi:
    body = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    endpoint = VosEndpoint(instance="mock", base_url="http://127.0.0.1:9", retries=0)
    return InventoryApi(VosClient(endpoint, http=httpx.Client(transport=transport)))


def test_missing_result_key_fails():
    with pytest.raises(VosDecodeError, match="no infoGatewayMappings list"):
        mock_api({"retCode": 0}).mapping_gateways()


def test_record_without_name_fails():
    with pytest.raises(VosDecodeError, match="record 1.*'name'"):
        mock_api({"retCode": 0, "infoSoftSwitches": [{"name": "a"}, {"memo": ""}]}).soft_switches()


def test_record_not_object_fails():
    with pytest.raises(VosDecodeError, match="record 0 is a JSON str"):
        mock_api({"retCode": 0, "infoSuites": ["x"]}).suites()


def test_wrong_field_type_names_field():
    reply = {"retCode": 0, "infoPerformance": {"callSize": "many", "cdrQueueSize": 0}}
    with pytest.raises(VosDecodeError, match="callSize") as raised:
        mock_api(reply).performance()
    assert raised.value.instance == "mock"


def test_array_wrapped_reply_accepted():
    api = mock_api([{"retCode": 0, "infoFeeRateGroups": [{"name": "0.01", "memo": ""}]}])
    assert [group.name for group in api.fee_rate_groups()] == ["0.01"]


def test_error_reply_without_list_key():
    with pytest.raises(VosReturnCodeError) as raised:
        mock_api({"retCode": -12103, "exception": "Miss parameters"}).phones(["a"])
    assert raised.value.vos_message == "Miss parameters"


# Field readers.

INTEGER_CASES = [(5, 5), ("5", 5), (Decimal("5"), 5), (None, None), ("-3", -3)]
BAD_INTEGERS = [True, "5.5", Decimal("5.5"), "x", [1]]


@pytest.mark.parametrize(("value", "expected"), INTEGER_CASES)
def test_integer_field(value, expected):
    assert fields.integer({"k": value}, "k") == expected


@pytest.mark.parametrize("value", BAD_INTEGERS)
def test_integer_field_rejects(value):
    with pytest.raises(fields.FieldError, match="'k'"):
        fields.integer({"k": value}, "k")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Decimal("0.0125"), Decimal("0.0125")), (3, Decimal(3)), ("-1.5", Decimal("-1.5"))],
)
def test_decimal_field(value, expected):
    assert fields.decimal({"k": value}, "k") == expected


@pytest.mark.parametrize("value", [True, "abc", "NaN", {}])
def test_decimal_field_rejects(value):
    with pytest.raises(fields.FieldError):
        fields.decimal({"k": value}, "k")


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (0, False), (1, True), ("false", False), (None, None)]
)
def test_boolean_field(value, expected):
    assert fields.boolean({"k": value}, "k") is expected


def test_instant_zero_is_none():
    assert fields.instant({"k": 0}, "k") is None


def test_instant_is_utc():
    value = fields.instant({"k": 1760922383500}, "k")
    assert value == dt.datetime(2025, 10, 20, 1, 6, 23, 500000, tzinfo=dt.UTC)


def test_json_text_keeps_decimal_digits():
    assert (
        fields.json_text({"fee": Decimal("0.0125"), "n": [1, "华"]})
        == '{"fee":0.0125,"n":[1,"华"]}'
    )
