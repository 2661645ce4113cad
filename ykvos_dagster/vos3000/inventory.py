"""Typed reads of the VOS3000 inventory and live-state interfaces.

`InventoryApi` sends each request through `VosClient.call` (envelope check, retries), strips
secrets from the reply (`redaction.redact`), keeps the redacted reply for the reply cache, and
decodes the records under the interface's documented result key. Each record type keeps an
allow-list of decoded fields plus `raw`, the whole redacted record.

Rules of the API followed here, which the older platform got wrong:

- GetAllPhoneOnline returns `e164s`, a list of numbers, not `infoPhoneOnlines`.
- The online gateway lists are `infoGatewayMappingOnlines` and `infoGatewayRoutingOnlines`, and
  their load field is `currentCall`.
- InfoSuite has `rentFee`, `rentType` and `rentPeriod`; InfoFeeRateGroup has `memo`.
- GetPhoneOnline requires `e164s`; it is never sent empty.
- GetPayHistory takes `yyyyMMddHHmmss` times in the switch's own zone.
- "All gateways" (and all rate groups and suites) is the request `{}`, because an empty
  `names` list selects none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ykvos_dagster.vos3000 import fields
from ykvos_dagster.vos3000.client import VosClient, VosEndpoint
from ykvos_dagster.vos3000.errors import VosDecodeError
from ykvos_dagster.vos3000.redaction import redact

# Records per request of the interfaces that take a list of accounts or numbers. The manual
# documents no maximum.
# NOTE: these sizes are guesses that keep one reply below a few MB. Lower them if a switch
# is slow to reply to large requests.
CUSTOMER_BATCH_SIZE = 100
PHONE_ACCOUNT_BATCH_SIZE = 50
PHONE_ONLINE_BATCH_SIZE = 500

GATEWAY_TYPES = ("mapping", "routing")


def request_hash(interface: str, payload: dict[str, Any]) -> str:
    """Return the SHA-256 of the interface name and the payload with sorted keys."""
    canonical = fields.json_text(_sorted(payload))
    return hashlib.sha256(f"{interface}\n{canonical}".encode()).hexdigest()


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def format_local_time(moment: dt.datetime, zone: ZoneInfo) -> str:
    """Format an aware instant as the switch-local `yyyyMMddHHmmss` of GetPayHistory."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(zone).strftime("%Y%m%d%H%M%S")


@dataclass(frozen=True)
class Reply:
    """One successful request and its redacted reply, kept for `vos_data_cache`."""

    interface: str
    request: dict[str, Any]
    reply: dict[str, Any]
    fetched_at: dt.datetime
    seconds: float

    @property
    def request_hash(self) -> str:
        return request_hash(self.interface, self.request)


# Records. Field names are the column names of the PostgreSQL tables.


@dataclass(frozen=True)
class CustomerBrief:
    account: str
    money: Decimal | None
    limit_money: Decimal | None


@dataclass(frozen=True)
class Customer:
    account: str
    name: str | None
    money: Decimal | None
    limit_money: Decimal | None
    is_in_debt: bool
    fee_rate_group: str | None
    account_type: int | None
    lock_type: int | None
    agent_account: str | None
    category: int | None
    canceled: bool | None
    start_time: dt.datetime | None
    valid_time: dt.datetime | None
    today_consumption: Decimal | None
    binded_e164s: list[str] | None
    memo: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class Gateway:
    """A mapping (ingress) or routing (egress) gateway's configuration."""

    gateway_type: str
    name: str
    account: str | None
    account_name: str | None
    clearing_account: str | None
    prefix: str | None
    lock_type: int | None
    capacity: int | None
    priority: int | None
    call_level: int | None
    register_type: int | None
    protocol: int | None
    remote_ips: str | None
    softswitch_name: str | None
    gateway_groups: str | None
    memo: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class GatewayOnline:
    """The live state of an online gateway. Gateways missing from the list are offline."""

    gateway_type: str
    name: str
    online_id: int | None
    current_calls: int | None
    online_capacity: int | None
    asr: Decimal | None
    acd_seconds: int | None
    response_ratio: Decimal | None
    connected_ratio: Decimal | None
    online_remote_ips: str | None
    nat_ip: str | None
    local_ip: str | None
    register_time: dt.datetime | None
    update_time: dt.datetime | None
    keep_time_seconds: int | None
    register_name: str | None
    retry_after_ms: int | None
    crypto_type: int | None
    online_softswitch_name: str | None
    softswitch_ip: str | None
    online_raw: dict = field(repr=False)


@dataclass(frozen=True)
class Phone:
    e164: str
    account: str | None
    display_number: str | None
    lock_type: int | None
    call_level: int | None
    fee_rate_group: str | None
    line_capacity: int | None
    line_call_in: int | None
    line_call_out: int | None
    register_type: int | None
    protocol: int | None
    ip: str | None
    port: int | None
    memo: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class PhoneOnline:
    e164: str
    current_calls: int | None
    remote_ip: str | None
    local_ip: str | None
    register_time: dt.datetime | None
    update_time: dt.datetime | None
    protocol: int | None
    crypto_type: int | None
    product_id: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class FeeRateGroup:
    name: str
    memo: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class FeeRate:
    fee_rate_group: str
    fee_prefix: str
    area_code: str | None
    area_name: str | None
    rate_type: int | None
    fee: Decimal | None
    period_seconds: int | None
    lock_type: int | None
    ivr_fee: Decimal | None
    ivr_period: int | None
    sections: list[dict] | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class Suite:
    suite_id: int
    name: str | None
    rent_period: int | None
    rent_type: int | None
    nonholonomic_order: bool | None
    rent_fee: Decimal | None
    min_consumption: Decimal | None
    lower_consumption: Decimal | None
    gift_money: Decimal | None
    gift_times: list[dict] | None
    memo: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class SoftSwitch:
    name: str
    identification: str | None
    create_time: dt.datetime | None
    access_time: dt.datetime | None
    access_address: str | None
    memo: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class Performance:
    call_size: int | None
    cdr_queue_size: int | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class Alarm:
    alarm_id: int
    alarm_type: int | None
    level: int | None
    name: str | None
    start_time: dt.datetime | None
    stop_time: dt.datetime | None
    value: Decimal | None
    upper: Decimal | None
    lower: Decimal | None
    confirm_user: str | None
    confirm_time: dt.datetime | None
    memo: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class CurrentCall:
    call_id: int | None
    caller_e164: str | None
    callee_e164: str | None
    caller_gateway: str | None
    callee_gateway: str | None
    connected_time: dt.datetime | None
    # keepTime is the elapsed time in ms when >= 0, and a call state (-1 setup ... -17) below 0.
    keep_time_ms: int | None
    call_state: int | None
    call_codec: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class Payment:
    account: str | None
    fee: Decimal | None
    payment_type: int | None
    pay_type: int | None
    customer_money: Decimal | None
    pay_time: dt.datetime | None
    memo: str | None
    raw: dict = field(repr=False)


# Decoders: one redacted reply record to one typed record.


def _joined(record: dict, key: str) -> str | None:
    """Read a field that some switches send as a string and others as a list of strings."""
    value = record.get(key)
    if isinstance(value, list):
        items = fields.strings(record, key)
        return ",".join(items) if items is not None else None
    return fields.text(record, key)


def decode_customer_brief(record: dict) -> CustomerBrief:
    return CustomerBrief(
        account=fields.required_text(record, "account"),
        money=fields.decimal(record, "money"),
        limit_money=fields.decimal(record, "limitMoney"),
    )


def decode_customer(record: dict) -> Customer:
    money = fields.decimal(record, "money")
    return Customer(
        account=fields.required_text(record, "account"),
        name=fields.text(record, "name"),
        money=money,
        limit_money=fields.decimal(record, "limitMoney"),
        is_in_debt=money is not None and money < 0,
        fee_rate_group=fields.text(record, "feeRateGroup"),
        account_type=fields.integer(record, "type"),
        lock_type=fields.integer(record, "lockType"),
        agent_account=fields.text(record, "agentAccount"),
        category=fields.integer(record, "category"),
        canceled=fields.boolean(record, "canceled"),
        start_time=fields.instant(record, "startTime"),
        valid_time=fields.instant(record, "validTime"),
        today_consumption=fields.decimal(record, "todayConsumption"),
        binded_e164s=fields.strings(record, "bindedE164s"),
        memo=fields.text(record, "memo"),
        raw=record,
    )


def customer_from_brief(brief: CustomerBrief) -> Customer:
    """Return a customer row for an account that GetCustomer did not return."""
    return Customer(
        account=brief.account,
        name=None,
        money=brief.money,
        limit_money=brief.limit_money,
        is_in_debt=brief.money is not None and brief.money < 0,
        fee_rate_group=None,
        account_type=None,
        lock_type=None,
        agent_account=None,
        category=None,
        canceled=None,
        start_time=None,
        valid_time=None,
        today_consumption=None,
        binded_e164s=None,
        memo=None,
        raw={"account": brief.account, "money": brief.money, "limitMoney": brief.limit_money},
    )


def decode_mapping_gateway(record: dict) -> Gateway:
    return Gateway(
        gateway_type="mapping",
        name=fields.required_text(record, "name"),
        account=fields.text(record, "account"),
        account_name=fields.text(record, "accountName"),
        clearing_account=None,
        prefix=None,
        lock_type=fields.integer(record, "lockType"),
        capacity=fields.integer(record, "capacity"),
        priority=fields.integer(record, "priority"),
        call_level=fields.integer(record, "callLevel"),
        register_type=fields.integer(record, "registerType"),
        protocol=None,
        remote_ips=_joined(record, "remoteIps"),
        softswitch_name=fields.text(record, "softswitchName"),
        gateway_groups=_joined(record, "gatewayGroups"),
        memo=fields.text(record, "memo"),
        raw=record,
    )


def decode_routing_gateway(record: dict) -> Gateway:
    return Gateway(
        gateway_type="routing",
        name=fields.required_text(record, "name"),
        account=None,
        account_name=None,
        clearing_account=fields.text(record, "clearingAccount"),
        prefix=_joined(record, "prefix"),
        lock_type=fields.integer(record, "lockType"),
        capacity=fields.integer(record, "capacity"),
        priority=fields.integer(record, "priority"),
        call_level=None,
        register_type=fields.integer(record, "registerType"),
        protocol=fields.integer(record, "protocol"),
        remote_ips=_joined(record, "remoteIp"),
        softswitch_name=fields.text(record, "softswitchName"),
        gateway_groups=_joined(record, "gatewayGroups"),
        memo=fields.text(record, "memo"),
        raw=record,
    )


def _decode_gateway_online(gateway_type: str, record: dict, remote_ip_key: str) -> GatewayOnline:
    return GatewayOnline(
        gateway_type=gateway_type,
        name=fields.required_text(record, "name"),
        online_id=fields.integer(record, "id"),
        current_calls=fields.integer(record, "currentCall"),
        online_capacity=fields.integer(record, "capacity"),
        asr=fields.decimal(record, "asr"),
        acd_seconds=fields.integer(record, "acd"),
        response_ratio=fields.decimal(record, "responseRatio"),
        connected_ratio=fields.decimal(record, "connectedRatio"),
        online_remote_ips=_joined(record, remote_ip_key),
        nat_ip=fields.text(record, "natIp"),
        local_ip=fields.text(record, "localIp"),
        register_time=fields.instant(record, "registerTime"),
        update_time=fields.instant(record, "updateTime"),
        keep_time_seconds=fields.integer(record, "keepTime"),
        register_name=fields.text(record, "registerName"),
        retry_after_ms=fields.integer(record, "retryAfter"),
        crypto_type=fields.integer(record, "cryptoType"),
        online_softswitch_name=fields.text(record, "softswitchName"),
        softswitch_ip=fields.text(record, "softswitchIp"),
        online_raw=record,
    )


def decode_mapping_gateway_online(record: dict) -> GatewayOnline:
    return _decode_gateway_online("mapping", record, "remoteIps")


def decode_routing_gateway_online(record: dict) -> GatewayOnline:
    return _decode_gateway_online("routing", record, "remoteIp")


def decode_phone(record: dict) -> Phone:
    additional = record.get("infoPhoneAdditional")
    if additional is not None and not isinstance(additional, dict):
        raise fields.FieldError("infoPhoneAdditional", additional, "an object")
    additional = additional or {}
    return Phone(
        e164=fields.required_text(record, "e164"),
        account=fields.text(record, "account"),
        display_number=fields.text(record, "displayNumber"),
        lock_type=fields.integer(record, "lockType"),
        call_level=fields.integer(record, "callLevel"),
        fee_rate_group=fields.text(record, "feerateGroup"),
        line_capacity=fields.integer(record, "lineCapacity"),
        line_call_in=fields.integer(record, "lineCallIn"),
        line_call_out=fields.integer(record, "lineCallOut"),
        register_type=fields.integer(additional, "registerType"),
        protocol=fields.integer(additional, "protocol"),
        ip=fields.text(additional, "ip"),
        port=fields.integer(additional, "port"),
        memo=fields.text(record, "memo"),
        raw=record,
    )


def decode_phone_online(record: dict) -> PhoneOnline:
    return PhoneOnline(
        e164=fields.required_text(record, "e164"),
        current_calls=fields.integer(record, "currentCall"),
        remote_ip=fields.text(record, "remoteIp"),
        local_ip=fields.text(record, "localIp"),
        register_time=fields.instant(record, "registerTime"),
        update_time=fields.instant(record, "updateTime"),
        protocol=fields.integer(record, "protocol"),
        crypto_type=fields.integer(record, "cryptoType"),
        product_id=fields.text(record, "productId"),
        raw=record,
    )


def decode_fee_rate_group(record: dict) -> FeeRateGroup:
    return FeeRateGroup(
        name=fields.required_text(record, "name"), memo=fields.text(record, "memo"), raw=record
    )


def decode_fee_rate(group: str, record: dict) -> FeeRate:
    return FeeRate(
        fee_rate_group=group,
        fee_prefix=fields.required_text(record, "feePrefix"),
        area_code=fields.text(record, "areaCode"),
        area_name=fields.text(record, "areaName"),
        rate_type=fields.integer(record, "type"),
        fee=fields.decimal(record, "fee"),
        period_seconds=fields.integer(record, "period"),
        lock_type=fields.integer(record, "lockType"),
        ivr_fee=fields.decimal(record, "ivrFee"),
        ivr_period=fields.integer(record, "ivrPeriod"),
        sections=fields.objects(record, "infoFeeRateSections"),
        raw=record,
    )


def decode_suite(record: dict) -> Suite:
    suite_id = fields.integer(record, "id")
    if suite_id is None:
        raise fields.FieldError("id", None, "an integer (the field identifies the record)")
    return Suite(
        suite_id=suite_id,
        name=fields.text(record, "name"),
        rent_period=fields.integer(record, "rentPeriod"),
        rent_type=fields.integer(record, "rentType"),
        nonholonomic_order=fields.boolean(record, "nonholonomicOrder"),
        rent_fee=fields.decimal(record, "rentFee"),
        min_consumption=fields.decimal(record, "minConsumption"),
        lower_consumption=fields.decimal(record, "lowerConsumption"),
        gift_money=fields.decimal(record, "giftMoney"),
        gift_times=fields.objects(record, "infoGiftTimes"),
        memo=fields.text(record, "memo"),
        raw=record,
    )


def decode_soft_switch(record: dict) -> SoftSwitch:
    return SoftSwitch(
        name=fields.required_text(record, "name"),
        identification=fields.text(record, "identification"),
        create_time=fields.instant(record, "createTime"),
        access_time=fields.instant(record, "accessTime"),
        access_address=fields.text(record, "accessAddress"),
        memo=fields.text(record, "memo"),
        raw=record,
    )


def decode_performance(record: dict) -> Performance:
    return Performance(
        call_size=fields.integer(record, "callSize"),
        cdr_queue_size=fields.integer(record, "cdrQueueSize"),
        raw=record,
    )


def decode_alarm(record: dict) -> Alarm:
    alarm_id = fields.integer(record, "id")
    if alarm_id is None:
        raise fields.FieldError("id", None, "an integer (the field identifies the record)")
    return Alarm(
        alarm_id=alarm_id,
        alarm_type=fields.integer(record, "type"),
        level=fields.integer(record, "level"),
        name=fields.text(record, "name"),
        start_time=fields.instant(record, "startTime"),
        stop_time=fields.instant(record, "stopTime"),
        value=fields.decimal(record, "value"),
        upper=fields.decimal(record, "upper"),
        lower=fields.decimal(record, "lower"),
        confirm_user=fields.text(record, "confirmUser"),
        confirm_time=fields.instant(record, "confirmTime"),
        memo=fields.text(record, "memo"),
        raw=record,
    )


def decode_current_call(record: dict) -> CurrentCall:
    keep_time = fields.integer(record, "keepTime")
    return CurrentCall(
        call_id=fields.integer(record, "callId"),
        caller_e164=fields.text(record, "callerE164"),
        callee_e164=fields.text(record, "calleeE164"),
        caller_gateway=fields.text(record, "callerGatewayId"),
        callee_gateway=fields.text(record, "calleeGatewayId"),
        connected_time=fields.instant(record, "connectedTime"),
        keep_time_ms=keep_time if keep_time is not None and keep_time >= 0 else None,
        call_state=keep_time if keep_time is not None and keep_time < 0 else None,
        call_codec=fields.text(record, "callCodec"),
        raw=record,
    )


def decode_payment(record: dict) -> Payment:
    return Payment(
        account=fields.text(record, "account"),
        fee=fields.decimal(record, "fee"),
        payment_type=fields.integer(record, "type"),
        pay_type=fields.integer(record, "payType"),
        customer_money=fields.decimal(record, "customerMoney"),
        pay_time=fields.instant(record, "payTime"),
        memo=fields.text(record, "memo"),
        raw=record,
    )


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class InventoryApi:
    """Typed reads of one VOS3000 instance's inventory and live state.

    Every successful reply, with its secrets removed, is appended to `replies`, so that the
    caller can store it in `vos_data_cache` in the same transaction as the tables.

    Raises (from every method):
        VosReturnCodeError: the switch replied with a non-zero retCode.
        VosTransportError: no valid JSON object came back.
        VosDecodeError: the reply lacks its result key or a record breaks the documented
            format; the message names the instance, interface, record and field.
    """

    def __init__(self, client: VosClient, *, clock: Callable[[], dt.datetime] | None = None):
        self.client = client
        self.instance = client.endpoint.instance
        self.replies: list[Reply] = []
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    @property
    def endpoint(self) -> VosEndpoint:
        """The client's endpoint. With `call`, it lets functions written for a VosClient (such as
        `reports.get_customer_fee_reports`) send their requests through this API, so that their
        replies are redacted and recorded too."""
        return self.client.endpoint

    def call(self, interface: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its reply without secret fields."""
        started = time.monotonic()
        reply = redact(self.client.call(interface, payload))
        self.replies.append(
            Reply(interface, payload, reply, self._clock(), time.monotonic() - started)
        )
        return reply

    def records(self, interface: str, payload: dict[str, Any], result_key: str) -> list[Any]:
        """Send one request and return the list under `result_key` of its reply."""
        reply = self.call(interface, payload)
        records = reply.get(result_key)
        if not isinstance(records, list):
            raise VosDecodeError(
                f"reply has no {result_key} list", instance=self.instance, interface=interface
            )
        return records

    def decode(self, interface: str, records: list[Any], decoder: Callable[[dict], Any]) -> list:
        """Decode each record, naming the instance, interface and record index on failure."""
        decoded = []
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise VosDecodeError(
                    f"record {index} is a JSON {type(record).__name__}, not an object",
                    instance=self.instance,
                    interface=interface,
                )
            try:
                decoded.append(decoder(record))
            except fields.FieldError as error:
                raise VosDecodeError(
                    f"invalid record {index}: {error}", instance=self.instance, interface=interface
                ) from None
        return decoded

    def _fetch(self, interface: str, payload: dict, result_key: str, decoder) -> list:
        return self.decode(interface, self.records(interface, payload, result_key), decoder)

    # Customers.

    def all_accounts(self) -> list[str]:
        """Return every account number (GetAllCustomers type 0)."""
        accounts = self.records("GetAllCustomers", {"type": 0}, "accounts")
        if not all(isinstance(account, str) for account in accounts):
            raise VosDecodeError(
                "accounts is not a list of strings",
                instance=self.instance,
                interface="GetAllCustomers",
            )
        return accounts

    def customer_briefs(self) -> list[CustomerBrief]:
        """Return account, money and limitMoney of every account (GetAllCustomers type 1)."""
        return self._fetch(
            "GetAllCustomers", {"type": 1}, "infoCustomerBriefs", decode_customer_brief
        )

    def customers(self, accounts: list[str]) -> list[Customer]:
        """Return the details of `accounts` (GetCustomer), CUSTOMER_BATCH_SIZE per request."""
        customers = []
        for batch in _batches(accounts, CUSTOMER_BATCH_SIZE):
            customers += self._fetch(
                "GetCustomer", {"accounts": batch}, "infoCustomers", decode_customer
            )
        return customers

    # Phones.

    def phones(self, accounts: list[str]) -> list[Phone]:
        """Return the phones owned by `accounts` (GetPhone), in batches of accounts."""
        phones = []
        for batch in _batches(accounts, PHONE_ACCOUNT_BATCH_SIZE):
            phones += self._fetch("GetPhone", {"accounts": batch}, "infoPhones", decode_phone)
        return phones

    def online_phone_numbers(self) -> list[str]:
        """Return the numbers of every online phone (GetAllPhoneOnline, key `e164s`)."""
        numbers = self.records("GetAllPhoneOnline", {}, "e164s")
        if not all(isinstance(number, str) for number in numbers):
            raise VosDecodeError(
                "e164s is not a list of strings",
                instance=self.instance,
                interface="GetAllPhoneOnline",
            )
        return numbers

    def phones_online(self, e164s: list[str]) -> list[PhoneOnline]:
        """Return the registration state of `e164s` (GetPhoneOnline). Without numbers no
        request is sent, because the field is mandatory."""
        phones = []
        for batch in _batches(e164s, PHONE_ONLINE_BATCH_SIZE):
            phones += self._fetch(
                "GetPhoneOnline", {"e164s": batch}, "infoPhoneOnlines", decode_phone_online
            )
        return phones

    # Gateways.

    def mapping_gateways(self) -> list[Gateway]:
        return self._fetch("GetGatewayMapping", {}, "infoGatewayMappings", decode_mapping_gateway)

    def routing_gateways(self) -> list[Gateway]:
        return self._fetch("GetGatewayRouting", {}, "infoGatewayRoutings", decode_routing_gateway)

    def mapping_gateways_online(self) -> list[GatewayOnline]:
        return self._fetch(
            "GetGatewayMappingOnline",
            {},
            "infoGatewayMappingOnlines",
            decode_mapping_gateway_online,
        )

    def routing_gateways_online(self) -> list[GatewayOnline]:
        return self._fetch(
            "GetGatewayRoutingOnline",
            {},
            "infoGatewayRoutingOnlines",
            decode_routing_gateway_online,
        )

    # Rates, suites, soft switches.

    def fee_rate_groups(self) -> list[FeeRateGroup]:
        return self._fetch("GetFeeRateGroup", {}, "infoFeeRateGroups", decode_fee_rate_group)

    def fee_rates(self, group: str) -> list[FeeRate]:
        """Return every rate of one rate group (GetFeeRate)."""
        return self._fetch(
            "GetFeeRate",
            {"feeRateGroup": group},
            "infoFeeRates",
            lambda record: decode_fee_rate(group, record),
        )

    def suites(self) -> list[Suite]:
        return self._fetch("GetSuite", {}, "infoSuites", decode_suite)

    def soft_switches(self) -> list[SoftSwitch]:
        return self._fetch("GetSoftSwitch", {}, "infoSoftSwitches", decode_soft_switch)

    # Live state.

    def performance(self) -> Performance:
        """Return concurrent calls and the CDR write queue (GetPerformance)."""
        reply = self.call("GetPerformance", {})
        record = reply.get("infoPerformance")
        if not isinstance(record, dict):
            raise VosDecodeError(
                "reply has no infoPerformance object",
                instance=self.instance,
                interface="GetPerformance",
            )
        return self.decode("GetPerformance", [record], decode_performance)[0]

    def alarms(self) -> list[Alarm]:
        return self._fetch("GetAlarmCurrent", {}, "infoAlarmCurrents", decode_alarm)

    def current_calls(
        self,
        *,
        caller_e164s: list[str] | None = None,
        callee_e164s: list[str] | None = None,
        mapping_gateway: str | None = None,
        routing_gateway: str | None = None,
    ) -> list[CurrentCall]:
        """Return the calls in progress (GetCurrentCall). The manual warns that frequent calls
        of this interface load the switch."""
        payload: dict[str, Any] = {}
        if caller_e164s:
            payload["callerE164s"] = caller_e164s
        if callee_e164s:
            payload["calleeE164s"] = callee_e164s
        if mapping_gateway:
            payload["gatewayMappingName"] = mapping_gateway
        if routing_gateway:
            payload["gatewayRoutingName"] = routing_gateway
        return self._fetch("GetCurrentCall", payload, "infoCurrentCalls", decode_current_call)

    def pay_history(
        self,
        begin: dt.datetime,
        end: dt.datetime,
        zone: ZoneInfo,
        *,
        account: str | None = None,
        agent_account: str | None = None,
    ) -> list[Payment]:
        """Return the payments of `account`, or of the accounts below `agent_account`, between
        the aware instants `begin` and `end` (GetPayHistory, switch-local yyyyMMddHHmmss)."""
        if (account is None) == (agent_account is None):
            raise ValueError("pass exactly one of account and agent_account")
        payload: dict[str, Any] = {
            "beginTime": format_local_time(begin, zone),
            "endTime": format_local_time(end, zone),
        }
        if account is not None:
            payload["account"] = account
        else:
            payload["agentAccount"] = agent_account
        return self._fetch("GetPayHistory", payload, "infoPayHistorys", decode_payment)
