"""Inventory and live state of a simulated VOS3000 server, derived from its accounts.

Gateways, phones, rate groups, suites, soft switches, alarms, payments and calls in progress
follow from the accounts of a ``SimulatedSwitch``, so that they agree with its CDRs:

- Every ``callerGateway`` of a CDR is a mapping gateway and every ``calleeGateway`` a routing
  gateway.
- The rates of a rate group price the CDRs of its accounts: a CDR's ``fee`` is its ``feeTime``
  in minutes times the ``fee`` of the rate whose ``feePrefix`` the CDR names.
- Online lists (phones, mapping and routing gateways) contain only online entities. Calls in
  progress go only through online gateways and online phones, each online gateway's
  ``currentCall`` counts the calls through it, and GetPerformance ``callSize`` counts them all.

Configuration is fixed per (seed, instance). Live state (calls in progress, registration
times, the CDR queue) is a pure function of the wall-clock minute, so that all interfaces agree
within one minute. Everything here is a pure function of its arguments and performs no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from ykvos_dagster.simulator.data import (
    _COUNTRY_CODES,
    _HOURLY_VOLUME,
    _INTERNATIONAL_GATEWAYS,
    _LEVEL_RATE_FACTOR,
    _RATE_GROUPS,
    _ROUTING_PREFIXES,
    SimulatedSwitch,
    _epoch_ms,
    _money,
    _stable_random,
)

_MS_PER_MINUTE = 60_000
_MS_PER_DAY = 86_400_000

# Soft switches. The first one carries the traffic and is the one that online gateways name.
_SOFT_SWITCHES = (("SS-主用", "192.0.2.1"), ("SS-备用", "192.0.2.2"))
# Names of international destinations by country code.
_AREA_NAMES = {
    "852": "香港",
    "853": "澳门",
    "886": "台湾",
    "65": "新加坡",
    "60": "马来西亚",
    "84": "越南",
    "63": "菲律宾",
    "1": "北美",
    "44": "英国",
    "81": "日本",
}
_CODECS = ("G729", "PCMA", "PCMU")
# Call states of calls that are not answered yet (InfoCurrentCall keepTime < 0): setup,
# alerting, invite, trying, ringing.
_RINGING_STATES = (-1, -5, -7, -8, -11)
# Mean talk time of answered calls in seconds (log-normal, median 40 s, sigma 1.1, as in the
# CDRs) and mean time from arrival to answer or release.
_MEAN_HOLD_SECONDS = 40.0 * math.exp(1.1**2 / 2)
_MEAN_RING_SECONDS = 15.0
_ANSWERED_SHARE = 0.5
_HOURLY_TOTAL = sum(_HOURLY_VOLUME)

_PHONE_ACCOUNT_SHARE = 0.25
_MAX_PHONES_PER_ACCOUNT = 8
_PHONE_ONLINE_SHARE = 0.75
_PAYMENT_SHARE_PER_DAY = 0.08


@dataclass(frozen=True)
class _Phone:
    e164: str
    account: str
    online: bool
    record: dict


class SimulatedInventory:
    """Configuration and live state of one simulated switch, derived from its accounts.

    Use ``inventory_for(switch)`` to share one instance per switch. Methods that describe live
    state take ``now_ms``, the current time in UTC epoch milliseconds.
    """

    def __init__(self, switch: SimulatedSwitch) -> None:
        self.switch = switch
        self._config = switch.config
        self._zone = switch.config.zone
        self._accounts = switch.account_profiles()
        self._customers = {
            customer["account"]: customer for customer in switch.customers(switch.accounts())
        }

    # Fixed configuration.

    @cached_property
    def soft_switches(self) -> list[dict]:
        """Return the InfoSoftSwitch records. Only the first one has been accessed."""
        rng = self._random("soft-switches")
        records = []
        for position, (name, address) in enumerate(_SOFT_SWITCHES):
            created = dt.datetime(2019, 6, 1, tzinfo=self._zone) + dt.timedelta(
                days=rng.randrange(700)
            )
            record = {
                "name": name,
                "identification": f"{rng.getrandbits(48):012X}",
                "createTime": _epoch_ms(created),
                "memo": "主用软交换" if position == 0 else "备用软交换",
            }
            if position == 0:
                record["accessTime"] = _epoch_ms(created + dt.timedelta(days=30))
                record["accessAddress"] = address
            records.append(record)
        return records

    @cached_property
    def mapping_gateways(self) -> list[dict]:
        """Return the InfoGatewayMapping records: every callerGateway that CDRs name."""
        records = []
        for account in self._accounts:
            customer = self._customers[account.account]
            for number, name in enumerate(account.mapping_gateways):
                rng = self._random("mapping-gateway", name)
                records.append(
                    {
                        "name": name,
                        "account": account.account,
                        "accountName": customer["name"],
                        "password": _secret(rng),
                        "customerPassword": _secret(rng),
                        "memo": "",
                        "softswitchName": "" if rng.random() < 0.7 else _SOFT_SWITCHES[0][0],
                        "lockType": 3 if account.locked else 0,
                        "callLevel": 4,
                        "capacity": rng.choice((30, 60, 100, 200, 500)),
                        "priority": rng.randrange(10),
                        "gatewayGroups": "",
                        "routingGatewayGroupsAllow": False,
                        "routingGatewayGroups": "",
                        "registerType": 1 if rng.random() < 0.3 else 0,
                        "remoteIps": account.caller_ips[number],
                        "calloutCallerPrefixes": "",
                        "calloutCalleePrefixes": "",
                        "rewriteRulesOutCallee": "",
                        "rewriteRulesOutCaller": "",
                        "rtpForwardType": rng.randrange(3),
                        "maxCallDurationLower": 0,
                        "maxCallDurationUpper": 0,
                        "sipCodecs": list(_CODECS[: 1 + rng.randrange(3)]),
                        "h323Codecs": ["G729"],
                        "allowPhoneBilling": account.billing_mode == 0,
                        "calculateRouteQuality": True,
                    }
                )
        return records

    @cached_property
    def routing_gateways(self) -> list[dict]:
        """Return the InfoGatewayRouting records: every calleeGateway that CDRs name."""
        records = []
        for profile in self.switch.routing_gateway_profiles():
            rng = self._random("routing-gateway", profile.name)
            international = profile.name in _INTERNATIONAL_GATEWAYS
            prefixes = [f"{prefix}00" if international else prefix for prefix in _ROUTING_PREFIXES]
            records.append(
                {
                    "name": profile.name,
                    "prefix": ",".join(prefixes),
                    "prefixStyle": 0,
                    "password": _secret(rng),
                    "customerPassword": _secret(rng),
                    "gatewayGroups": "",
                    "capacity": rng.choice((200, 500, 1000)),
                    "lockType": 0,
                    "priority": rng.randrange(10),
                    "registerType": 2 if profile.name == self._registering_gateway else 0,
                    "remoteIp": profile.ip,
                    "rtpForwardType": 1,
                    "encrypt": False,
                    "protocol": 1,
                    "signalPort": 5060,
                    "localIp": _SOFT_SWITCHES[0][1],
                    "rewriteRulesInCaller": profile.caller_rewrite,
                    "rewriteRulesInCallee": profile.tech_prefix,
                    "timeoutSetup": 0,
                    "timeoutInvite": 0,
                    "clearingAccount": "",
                    "softswitchName": "",
                    "memo": "国际线路" if international else "",
                    "scheduledCallinPrefixes": [],
                    "calculateRouteQuality": True,
                }
            )
        return records

    @cached_property
    def _registering_gateway(self) -> str:
        # One domestic routing gateway registers to the carrier's platform (registerType 2),
        # so its online record has a registerName.
        return self.switch.routing_gateway_profiles()[1].name

    @cached_property
    def _offline_routing_gateway(self) -> str:
        # The last domestic gateway is offline: CDRs of earlier days may name it, the online
        # list and calls in progress do not.
        domestic = [
            profile.name
            for profile in self.switch.routing_gateway_profiles()
            if profile.name not in _INTERNATIONAL_GATEWAYS
        ]
        return domestic[-1]

    @cached_property
    def _phones(self) -> list[_Phone]:
        # Accounts billed by phone (billingMode 0) and a quarter of the others own phones: their
        # first caller numbers.
        phones = []
        numbers = set()
        for account in self._accounts:
            if account.is_agent:
                continue
            rng = self._random("phones", account.account)
            if account.billing_mode != 0 and rng.random() >= _PHONE_ACCOUNT_SHARE:
                continue
            for e164 in account.caller_numbers[:_MAX_PHONES_PER_ACCOUNT]:
                if e164 in numbers:
                    continue
                numbers.add(e164)
                online = not account.locked and rng.random() < _PHONE_ONLINE_SHARE
                phones.append(
                    _Phone(e164, account.account, online, self._phone_record(account, e164, rng))
                )
        return phones

    def _phone_record(self, account, e164: str, rng) -> dict:
        return {
            "e164": e164,
            "password": _secret(rng),
            "displayNumber": e164,
            "lockType": 3 if account.locked else 0,
            "callLevel": 4,
            "feerateGroup": "",
            "monthlyMoneyMinimum": Decimal(0),
            "monthlyMoneyMaximum": Decimal(0),
            "monthlyRentFee": Decimal(rng.choice((0, 0, 10, 20))),
            "rewriteRulesOutCallee": "",
            "rewriteRulesInCallee": "",
            "rewriteRulesInCaller": "",
            "routingGatewayGroupsAllow": False,
            "routingGatewayGroups": "",
            "account": account.account,
            "equipment": "",
            "calleeBilling": False,
            "customerPassword": _secret(rng),
            "lineCallIn": 1,
            "lineCallOut": 1,
            "lineCapacity": rng.choice((1, 2, 4)),
            "phonebookLimit": 0,
            "callerLimitE164GroupsAllow": False,
            "callerLimitE164Groups": "",
            "calleeLimitE164Allow": False,
            "calleeLimitE164Groups": "",
            "dids": "",
            "memo": "",
            "infoPhoneValueAdded": {"forwardType": 0, "voiceMail": False, "colorRing": False},
            "infoPhoneAdditional": {
                "registerType": 1,
                "protocol": 1,
                "ip": "",
                "port": 5060,
                "localIp": _SOFT_SWITCHES[0][1],
                "rtpRelay": True,
                "maxCallDuration": 0,
            },
        }

    def phones(self, accounts: Iterable[str] = (), e164s: Iterable[str] = ()) -> list[dict]:
        """Return the InfoPhone records of phones owned by `accounts` or numbered `e164s`."""
        account_filter = set(accounts)
        number_filter = set(e164s)
        return [
            phone.record
            for phone in self._phones
            if phone.account in account_filter or phone.e164 in number_filter
        ]

    def online_phone_numbers(self) -> list[str]:
        """Return the numbers of all online phones."""
        return [phone.e164 for phone in self._phones if phone.online]

    @cached_property
    def fee_rate_groups(self) -> list[dict]:
        """Return the InfoFeeRateGroup records of the rate groups that customers use."""
        return [
            {"name": name, "memo": f"国内长途 {rate.normalize()} 元/分钟"}
            for name, rate in _RATE_GROUPS
        ]

    def fee_rates(self, group: str, area_codes: list[str] | None = None) -> list[dict]:
        """Return the InfoFeeRate records of a rate group, none for an unknown group.

        Each rate prices one CDR ``feePrefix`` of the group's accounts. ``fee`` is the price of
        one ``period`` of 60 seconds, while the switch bills each account in its own increments.
        """
        group_rate = dict(_RATE_GROUPS).get(group)
        if group_rate is None:
            return []
        records = []
        for prefix in _ROUTING_PREFIXES:
            destinations = [
                (1, prefix[0], "网内"),
                (2, f"{prefix}0", "本地"),
                (4, f"{prefix}1", "国内手机"),
            ]
            destinations += [
                (5, f"{prefix}00{country}", _AREA_NAMES[country]) for country in _COUNTRY_CODES
            ]
            for level, fee_prefix, area_name in destinations:
                if area_codes is not None and fee_prefix not in area_codes:
                    continue
                fee = _money(group_rate * _LEVEL_RATE_FACTOR[level])
                records.append(
                    {
                        "feePrefix": fee_prefix,
                        "areaCode": fee_prefix,
                        "type": level,
                        "areaName": area_name,
                        "infoFeeRateSections": [],
                        "fee": fee,
                        "period": 60,
                        "lockType": 0,
                        "ivrFee": fee,
                        "ivrPeriod": 60,
                    }
                )
        return records

    @cached_property
    def suites(self) -> list[dict]:
        """Return the InfoSuite records."""
        whole_day = {"startTime": 0, "endTime": 86_399, "billingTime": 60, "memo": ""}
        return [
            {
                "id": 1,
                "name": "包月500分钟",
                "rentPeriod": 1,
                "rentType": 1,
                "nonholonomicOrder": True,
                "rentFee": Decimal(25),
                "minConsumption": Decimal(0),
                "lowerConsumption": Decimal(0),
                "giftMoney": Decimal(0),
                "infoGiftTimes": [{"prefix": "1", "giftTime": 30_000, **whole_day}],
                "memo": "手机号码包月",
            },
            {
                "id": 2,
                "name": "日租套餐",
                "rentPeriod": 1,
                "rentType": 0,
                "nonholonomicOrder": False,
                "rentFee": Decimal("1.5"),
                "minConsumption": Decimal(0),
                "lowerConsumption": Decimal(0),
                "giftMoney": Decimal("0.5"),
                "infoGiftTimes": [],
                "memo": "",
            },
            {
                "id": 3,
                "name": "一次性体验包",
                "rentPeriod": 3_600,
                "rentType": 3,
                "nonholonomicOrder": False,
                "rentFee": Decimal(0),
                "minConsumption": Decimal(10),
                "lowerConsumption": Decimal(5),
                "giftMoney": Decimal(0),
                "infoGiftTimes": [{"prefix": "", "giftTime": 3_600, **whole_day}],
                "memo": "新客户",
            },
        ]

    # Live state.

    def current_calls(self, now_ms: int) -> list[dict]:
        """Return the InfoCurrentCall records of the calls in progress at `now_ms`.

        The number of calls follows the CDR traffic curve of the local hour: calls per hour
        times the mean time a call stays on the switch (ringing, then talking if answered).
        """
        minute = now_ms // _MS_PER_MINUTE
        minute_start = minute * _MS_PER_MINUTE
        rng = self._random("current-calls", minute)
        hour = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).astimezone(self._zone).hour
        calls_per_hour = self._config.daily_cdrs * _HOURLY_VOLUME[hour] / _HOURLY_TOTAL
        seconds_on_switch = _MEAN_RING_SECONDS + _ANSWERED_SHARE * _MEAN_HOLD_SECONDS
        count = _poisson(rng, calls_per_hour * seconds_on_switch / 3600)

        callers = self._calling_accounts
        if not callers:
            return []
        accounts = [account for account, _, _ in callers]
        weights = [share for _, share, _ in callers]
        gateways = self.switch.routing_gateway_profiles()
        routable = self._online_routing_gateways
        calls = []
        for sequence in range(count):
            account, _, numbers = callers[rng.choices(range(len(accounts)), weights=weights)[0]]
            mapping = rng.randrange(len(account.mapping_gateways))
            caller = rng.choice(numbers)
            routes = [
                gateways[index]
                for index in account.routing_gateways
                if gateways[index].name in routable
            ]
            gateway = rng.choice(routes or self._international_gateways)
            callee = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            # A call's answer (or arrival) time is fixed within the minute, and its elapsed time
            # grows with now_ms.
            if rng.random() < 0.8:
                connected_time = minute_start - int(
                    rng.expovariate(1 / (_MEAN_HOLD_SECONDS * 1000))
                )
                keep_time = now_ms - connected_time
                audio_seconds = keep_time / 1000
            else:
                connected_time = minute_start - rng.randrange(20_000)
                keep_time = rng.choice(_RINGING_STATES)
                audio_seconds = 0.0
            calls.append(
                {
                    "callerE164": caller,
                    "calleeE164": f"{account.routing_prefix}{callee}",
                    "callerGatewayId": account.mapping_gateways[mapping],
                    "calleeGatewayId": gateway.name,
                    "connectedTime": connected_time,
                    "keepTime": keep_time,
                    "callCodec": "G729" if audio_seconds else "",
                    "callerCodec": "G729,PCMA",
                    "calleeCodec": "G729,PCMA,PCMU",
                    "callerRtpIp": account.caller_ips[mapping],
                    "calleeRtpIp": gateway.ip,
                    "callerReceiveDtmf": 10,
                    "callerSendDtmf": 10,
                    "calleeReceiveDtmf": 10,
                    "calleeSendDtmf": 10,
                    "callerInfoRtpFlowAudio": _rtp_flow(audio_seconds),
                    "calleeInfoRtpFlowAudio": _rtp_flow(audio_seconds),
                    "callerInfoRtpFlowVideo": _rtp_flow(0.0),
                    "calleeInfoRtpFlowVideo": _rtp_flow(0.0),
                    "callerTerminal": account.caller_products[mapping],
                    "calleeTerminal": gateway.product_id,
                    "callerCryptoType": 0,
                    "calleeCryptoType": 0,
                    "callerLocalIp": _SOFT_SWITCHES[0][1],
                    "calleeLocalIp": _SOFT_SWITCHES[0][1],
                    "callId": (minute % 2_000_000) * 1_000 + sequence,
                }
            )
        return calls

    def performance(self, now_ms: int) -> dict:
        """Return the InfoPerformance object at `now_ms`."""
        rng = self._random("cdr-queue", now_ms // _MS_PER_MINUTE)
        return {"callSize": len(self.current_calls(now_ms)), "cdrQueueSize": rng.randrange(30)}

    def mapping_gateways_online(self, now_ms: int) -> list[dict]:
        """Return the InfoGatewayMappingOnline records of the online mapping gateways.

        A mapping gateway is online when its account places calls (not locked, not an agent).
        """
        calls = _count_by(self.current_calls(now_ms), "callerGatewayId")
        records = []
        for gateway_id, record in enumerate(self.mapping_gateways, start=1):
            account = self._profile(record["account"])
            if account.locked or account.is_agent:
                continue
            online = {
                "id": gateway_id,
                "name": record["name"],
                "currentCall": calls.get(record["name"], 0),
                "capacity": record["capacity"],
                "asr": _ratio_percent(account.answer_ratio),
                "acd": self._acd(record["name"]),
                "remoteIps": record["remoteIps"],
                "localIp": _SOFT_SWITCHES[0][1],
                "cryptoType": 0,
                "softswitchName": _SOFT_SWITCHES[0][0],
                "softswitchIp": _SOFT_SWITCHES[0][1],
            }
            online.update(self._registration(record["name"], record["registerType"], now_ms))
            if record["registerType"] == 1:
                online["natIp"] = f"172.16.{gateway_id % 256}.{10 + gateway_id % 200}"
            records.append(online)
        return records

    def routing_gateways_online(self, now_ms: int) -> list[dict]:
        """Return the InfoGatewayRoutingOnline records of the online routing gateways."""
        calls = _count_by(self.current_calls(now_ms), "calleeGatewayId")
        records = []
        for gateway_id, record in enumerate(self.routing_gateways, start=1):
            if record["name"] == self._offline_routing_gateway:
                continue
            rng = self._random("routing-quality", record["name"])
            asr = rng.uniform(0.35, 0.65)
            online = {
                "id": gateway_id,
                "name": record["name"],
                "prefix": record["prefix"],
                "currentCall": calls.get(record["name"], 0),
                "capacity": record["capacity"],
                "asr": _ratio_percent(asr),
                "responseRatio": _ratio_percent(min(1.0, asr + rng.uniform(0.2, 0.35))),
                "connectedRatio": _ratio_percent(asr * rng.uniform(0.9, 1.0)),
                "acd": self._acd(record["name"]),
                "remoteIp": record["remoteIp"],
                "localIp": record["localIp"],
                "cryptoType": 0,
                "retryAfter": 0,
                "softswitchName": _SOFT_SWITCHES[0][0],
                "softswitchIp": _SOFT_SWITCHES[0][1],
            }
            online.update(self._registration(record["name"], record["registerType"], now_ms))
            if record["registerType"] == 2:
                online["registerName"] = f"reg{gateway_id:04d}"
            records.append(online)
        return records

    def phones_online(self, e164s: Iterable[str], now_ms: int) -> list[dict]:
        """Return the InfoPhoneOnline records of those of `e164s` that are online."""
        requested = set(e164s)
        calls = _count_by(self.current_calls(now_ms), "callerE164")
        records = []
        for phone in self._phones:
            if not phone.online or phone.e164 not in requested:
                continue
            rng = self._random("phone-online", phone.e164)
            account = self._profile(phone.account)
            record = {
                "e164": phone.e164,
                "currentCall": calls.get(phone.e164, 0),
                "remoteIp": account.caller_ips[0],
                "localIp": _SOFT_SWITCHES[0][1],
                "protocol": 1,
                "cryptoType": 0,
                "productId": rng.choice(("Yealink SIP-T46S", "Grandstream GXP1625", "MicroSIP")),
            }
            registration = self._registration(phone.e164, 1, now_ms)
            record["registerTime"] = registration["registerTime"]
            record["updateTime"] = registration["updateTime"]
            records.append(record)
        return records

    def alarms(self, now_ms: int) -> list[dict]:
        """Return the InfoAlarmCurrent records at `now_ms`.

        Accounts that have used half of their overdraft limit raise a balance alarm (type
        20007), the routing gateway with the lowest ASR an ASR alarm (20000), and a CPU alarm
        (20003) has ended and been confirmed. Every alarm started during the previous
        server-local day, so the list changes once a day.
        """
        today = _local_day(now_ms, self._zone)
        day_start = _epoch_ms(dt.datetime.combine(today, dt.time(), tzinfo=self._zone))
        rng = self._random("alarms", day_start)
        alarms = []
        for customer in self._customers.values():
            money, limit = customer["money"], customer["limitMoney"]
            if limit and money < 0 and -money >= limit / 2:
                alarms.append(
                    {
                        "id": 1_000 + len(alarms),
                        "type": 20007,
                        "level": 2,
                        "name": f"账户余额告警 {customer['account']}",
                        "startTime": day_start - rng.randrange(1, _MS_PER_DAY),
                        "value": money,
                        "lower": -limit,
                        "memo": "",
                    }
                )
        routing = self.routing_gateways_online(now_ms)
        if routing:
            worst = min(routing, key=lambda record: record["asr"])
            alarms.append(
                {
                    "id": 2_000,
                    "type": 20000,
                    "level": 1,
                    "name": f"落地网关接通率告警 {worst['name']}",
                    "startTime": day_start - rng.randrange(1, _MS_PER_DAY),
                    "value": worst["asr"],
                    "lower": Decimal(40),
                    "memo": "",
                }
            )
        started = day_start - rng.randrange(1, 6) * 3_600_000
        alarms.append(
            {
                "id": 3_000,
                "type": 20003,
                "level": 1,
                "name": "CPU占用率告警",
                "startTime": started,
                "stopTime": started + 600_000,
                "value": Decimal("91.5"),
                "upper": Decimal(90),
                "confirmUser": "admin",
                "confirmTime": started + 900_000,
                "memo": "已处理",
            }
        )
        return alarms

    def pay_history(self, accounts: list[str], begin_ms: int, end_ms: int) -> list[dict]:
        """Return the InfoPayHistory records of `accounts` in [begin_ms, end_ms).

        An account gets its opening payment at its start time and, on about 8% of the
        server-local days, a top-up.
        """
        records = []
        for account in accounts:
            customer = self._customers.get(account)
            if customer is None:
                continue
            opening = customer["startTime"]
            if begin_ms <= opening < end_ms:
                records.append(_payment(account, Decimal(0), 2, 0, customer["money"], opening))
            first_day = _local_day(max(begin_ms, opening), self._zone)
            last_day = _local_day(end_ms - 1, self._zone)
            day = first_day
            while day <= last_day:
                rng = self._random("payments", account, day.isoformat())
                if rng.random() < _PAYMENT_SHARE_PER_DAY:
                    day_start = _epoch_ms(dt.datetime.combine(day, dt.time(), tzinfo=self._zone))
                    paid_at = day_start + rng.randrange(8 * 3_600_000, 20 * 3_600_000)
                    if begin_ms <= paid_at < end_ms and paid_at > opening:
                        amount = Decimal(rng.choice((100, 200, 500, 1000, 2000, 5000)))
                        balance = Decimal(rng.randrange(0, 1_000_000)) / 100 + amount
                        pay_type = rng.choice((0, 0, 2, 5))
                        records.append(_payment(account, amount, 0, pay_type, balance, paid_at))
                day += dt.timedelta(days=1)
        return records

    def accounts_of_agent(self, agent_account: str) -> list[str]:
        return [customer["account"] for customer in self.switch.customers_of_agent(agent_account)]

    # Helpers.

    def _random(self, *parts: object):
        return _stable_random(self._config.seed, self._config.instance, "inventory", *parts)

    def _profile(self, account: str):
        return self._profiles_by_name[account]

    @cached_property
    def _profiles_by_name(self) -> dict:
        return {account.account: account for account in self._accounts}

    @cached_property
    def _calling_accounts(self) -> list[tuple]:
        """Return (profile, traffic share, caller numbers) of the accounts that can call now.

        An account that owns phones calls only from its online phones, so an account whose
        phones are all offline has no calls in progress.
        """
        owned: dict[str, list[str]] = {}
        online: dict[str, list[str]] = {}
        for phone in self._phones:
            owned.setdefault(phone.account, []).append(phone.e164)
            if phone.online:
                online.setdefault(phone.account, []).append(phone.e164)
        callers = []
        for account in self._accounts:
            share = self.switch.traffic_share(account.account)
            numbers = online.get(account.account, []) if account.account in owned else None
            if share > 0 and numbers != []:
                callers.append((account, share, numbers or list(account.caller_numbers)))
        return callers

    @cached_property
    def _online_routing_gateways(self) -> frozenset[str]:
        return frozenset(
            profile.name
            for profile in self.switch.routing_gateway_profiles()
            if profile.name != self._offline_routing_gateway
        )

    @cached_property
    def _international_gateways(self) -> list:
        return [
            profile
            for profile in self.switch.routing_gateway_profiles()
            if profile.name in _INTERNATIONAL_GATEWAYS
        ]

    def _acd(self, name: str) -> int:
        return int(self._random("acd", name).uniform(45, 95))

    def _registration(self, name: str, register_type: int, now_ms: int) -> dict:
        """Return registerTime, updateTime and keepTime, which are 0 for static gateways."""
        if register_type == 0:
            return {"registerTime": 0, "updateTime": 0, "keepTime": 0}
        rng = self._random("registration", name)
        # Registrations last 1 to 30 days and are refreshed every 60 seconds.
        lifetime = rng.randrange(1, 30) * _MS_PER_DAY
        registered = now_ms - (now_ms + rng.randrange(lifetime)) % lifetime
        updated = now_ms - (now_ms + rng.randrange(60_000)) % 60_000
        return {
            "registerTime": registered,
            "updateTime": max(registered, updated),
            "keepTime": (now_ms - registered) // 1000,
        }


_inventories: weakref.WeakKeyDictionary[SimulatedSwitch, SimulatedInventory] = (
    weakref.WeakKeyDictionary()
)
_inventories_lock = threading.Lock()


def inventory_for(switch: SimulatedSwitch) -> SimulatedInventory:
    """Return the inventory of `switch`, built once per switch."""
    with _inventories_lock:
        inventory = _inventories.get(switch)
        if inventory is None:
            inventory = _inventories[switch] = SimulatedInventory(switch)
        return inventory


def _secret(rng) -> str:
    return f"pw-{rng.getrandbits(64):016x}"


def _ratio_percent(ratio: float) -> Decimal:
    return Decimal(round(ratio * 100, 2)).quantize(Decimal("0.01"))


def _rtp_flow(seconds: float) -> dict:
    # 50 G.729 packets of 20 bytes per second.
    packets = int(seconds * 50)
    return {"rtpPackets": packets, "rtpBytes": packets * 20, "rtpDuration": int(seconds * 1e6)}


def _count_by(records: list[dict], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record[key]] = counts.get(record[key], 0) + 1
    return counts


def _poisson(rng, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _payment(account, fee, kind, pay_type, balance, paid_at) -> dict:
    return {
        "account": account,
        "fee": fee,
        "type": kind,
        "payType": pay_type,
        "customerMoney": balance,
        "payTime": paid_at,
        "memo": "开户" if kind == 2 else "",
    }


def _local_day(epoch_ms: int, zone) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC).astimezone(zone).date()
