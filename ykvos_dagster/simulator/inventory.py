"""Inventory and live-state interfaces of the simulated VOS3000 server.

GetPhone, GetPhoneOnline, GetAllPhoneOnline, GetGatewayMapping(Online),
GetGatewayRouting(Online), GetFeeRateGroup, GetFeeRate, GetSuite, GetCurrentCall,
GetPerformance, GetSoftSwitch, GetAlarmCurrent and GetPayHistory reply from the data of
``simulator/inventory_data.py``. Request handling follows the JSP layer:

- A field of the wrong JSON type cannot be bound, so the reply is an empty body.
- A missing mandatory field gets a retCode. GetPhone and GetPayHistory leave their list out of
  error replies, the other interfaces send an empty list.
- Gateway, rate-group and suite queries treat an absent filter as "all" and an empty list as
  "none", which is what makes ``{}`` the request for everything.

NOTE: only GetPhone's -12103 for missing filters is observed on real switches. The simulator
replies with -12103 for the other missing mandatory fields too, and -10124 for malformed times.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable

from ykvos_dagster.simulator.data import SimulatedSwitch, _epoch_ms
from ykvos_dagster.simulator.inventory_data import SimulatedInventory, inventory_for

RET_OK = 0
RET_INPUT_PARAMETER_ERROR = -10124
RET_MISS_PARAMETERS = -12103

_EXCEPTION_TEXTS = {
    RET_INPUT_PARAMETER_ERROR: "Input parameter error",
    RET_MISS_PARAMETERS: "Miss parameters",
}
_PAY_TIME_PATTERN = re.compile(r"[0-9]{14}")


class _Unbindable(Exception):
    """A request field has a JSON type that the JSP's request class cannot bind."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# Request handlers. Each takes the inventory and the request object and returns the reply
# object. A field that cannot be bound raises _Unbindable, which ``_bind`` turns into None, the
# empty body.


def _error(ret_code: int, **extra: object) -> dict:
    return {"retCode": ret_code, "exception": _EXCEPTION_TEXTS[ret_code], **extra}


def _optional_strings(payload: dict, key: str) -> list[str] | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise _Unbindable(key)


def _optional_string(payload: dict, key: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise _Unbindable(key)


def _optional_ints(payload: dict, key: str) -> list[int] | None:
    """Return an int[] field. Numeric strings are accepted, as the vendor's test pages send them."""
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _Unbindable(key)
    numbers = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            numbers.append(item)
        elif isinstance(item, str) and re.fullmatch(r"\s*-?[0-9]+\s*", item):
            numbers.append(int(item))
        else:
            raise _Unbindable(key)
    return numbers


def _by_names(records: list[dict], names: list[str] | None) -> list[dict]:
    """Filter by `names`: None (absent) keeps all, an empty list keeps none."""
    if names is None:
        return records
    requested = set(names)
    return [record for record in records if record["name"] in requested]


def _get_phone(inventory: SimulatedInventory, payload: dict) -> dict:
    e164s = _optional_strings(payload, "e164s") or []
    accounts = _optional_strings(payload, "accounts") or []
    if not e164s and not accounts:
        return _error(RET_MISS_PARAMETERS)
    return {"retCode": RET_OK, "infoPhones": inventory.phones(accounts, e164s)}


def _get_phone_online(inventory: SimulatedInventory, payload: dict) -> dict:
    e164s = _optional_strings(payload, "e164s")
    if e164s is None:
        return _error(RET_MISS_PARAMETERS, infoPhoneOnlines=[])
    return {"retCode": RET_OK, "infoPhoneOnlines": inventory.phones_online(e164s, _now_ms())}


def _get_all_phone_online(inventory: SimulatedInventory, payload: dict) -> dict:
    return {"retCode": RET_OK, "e164s": inventory.online_phone_numbers()}


def _get_gateway_mapping(inventory: SimulatedInventory, payload: dict) -> dict:
    names = _optional_strings(payload, "names")
    return {"retCode": RET_OK, "infoGatewayMappings": _by_names(inventory.mapping_gateways, names)}


def _get_gateway_routing(inventory: SimulatedInventory, payload: dict) -> dict:
    names = _optional_strings(payload, "names")
    return {"retCode": RET_OK, "infoGatewayRoutings": _by_names(inventory.routing_gateways, names)}


def _online_filter(records: list[dict], payload: dict) -> list[dict]:
    records = _by_names(records, _optional_strings(payload, "names"))
    softswitch = _optional_string(payload, "softswitchName")
    if softswitch is not None:
        records = [record for record in records if record["softswitchName"] == softswitch]
    return records


def _get_gateway_mapping_online(inventory: SimulatedInventory, payload: dict) -> dict:
    records = _online_filter(inventory.mapping_gateways_online(_now_ms()), payload)
    return {"retCode": RET_OK, "infoGatewayMappingOnlines": records}


def _get_gateway_routing_online(inventory: SimulatedInventory, payload: dict) -> dict:
    records = _online_filter(inventory.routing_gateways_online(_now_ms()), payload)
    return {"retCode": RET_OK, "infoGatewayRoutingOnlines": records}


def _get_fee_rate_group(inventory: SimulatedInventory, payload: dict) -> dict:
    names = _optional_strings(payload, "names")
    return {"retCode": RET_OK, "infoFeeRateGroups": _by_names(inventory.fee_rate_groups, names)}


def _get_fee_rate(inventory: SimulatedInventory, payload: dict) -> dict:
    group = _optional_string(payload, "feeRateGroup")
    area_codes = _optional_strings(payload, "areaCodes")
    if group is None:
        return _error(RET_MISS_PARAMETERS, infoFeeRates=[])
    return {"retCode": RET_OK, "infoFeeRates": inventory.fee_rates(group, area_codes)}


def _get_suite(inventory: SimulatedInventory, payload: dict) -> dict:
    ids = _optional_ints(payload, "ids")
    suites = inventory.suites
    if ids is not None:
        suites = [suite for suite in suites if suite["id"] in set(ids)]
    return {"retCode": RET_OK, "infoSuites": suites}


def _get_current_call(inventory: SimulatedInventory, payload: dict) -> dict:
    callers = _optional_strings(payload, "callerE164s")
    callees = _optional_strings(payload, "calleeE164s")
    mapping = _optional_string(payload, "gatewayMappingName")
    routing = _optional_string(payload, "gatewayRoutingName")
    calls = inventory.current_calls(_now_ms())
    if callers:
        calls = [call for call in calls if call["callerE164"] in callers]
    if callees:
        calls = [call for call in calls if call["calleeE164"] in callees]
    if mapping is not None:
        calls = [call for call in calls if call["callerGatewayId"] == mapping]
    if routing is not None:
        calls = [call for call in calls if call["calleeGatewayId"] == routing]
    return {"retCode": RET_OK, "infoCurrentCalls": calls}


def _get_performance(inventory: SimulatedInventory, payload: dict) -> dict:
    return {"retCode": RET_OK, "infoPerformance": inventory.performance(_now_ms())}


def _get_soft_switch(inventory: SimulatedInventory, payload: dict) -> dict:
    return {"retCode": RET_OK, "infoSoftSwitches": inventory.soft_switches}


def _get_alarm_current(inventory: SimulatedInventory, payload: dict) -> dict:
    return {"retCode": RET_OK, "infoAlarmCurrents": inventory.alarms(_now_ms())}


def _get_pay_history(inventory: SimulatedInventory, payload: dict) -> dict:
    """Reply to GetPayHistory: payments of `account`, or of the accounts below `agentAccount`.

    ``beginTime`` and ``endTime`` are server-local ``yyyyMMddHHmmss`` bounds of a half-open
    range. Error replies have no ``infoPayHistorys`` key.
    """
    account = _optional_string(payload, "account")
    agent = _optional_string(payload, "agentAccount")
    if account is None and agent is None:
        return _error(RET_MISS_PARAMETERS)
    zone = inventory.switch.config.zone
    begin = _parse_local_time(payload.get("beginTime"), zone)
    end = _parse_local_time(payload.get("endTime"), zone)
    if begin is None or end is None or end < begin:
        return _error(RET_INPUT_PARAMETER_ERROR)
    accounts = [account] if account is not None else inventory.accounts_of_agent(agent)
    return {"retCode": RET_OK, "infoPayHistorys": inventory.pay_history(accounts, begin, end)}


def _parse_local_time(value: object, zone) -> int | None:
    if not isinstance(value, str) or not _PAY_TIME_PATTERN.fullmatch(value):
        return None
    try:
        moment = dt.datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=zone)
    except ValueError:
        return None
    return _epoch_ms(moment)


def _bind(
    handler: Callable[[SimulatedInventory, dict], dict],
) -> Callable[[SimulatedSwitch, dict], dict | None]:
    def reply(switch: SimulatedSwitch, payload: dict) -> dict | None:
        try:
            return handler(inventory_for(switch), payload)
        except _Unbindable:
            return None

    reply.__doc__ = handler.__doc__
    return reply


INVENTORY_HANDLERS: dict[str, Callable[[SimulatedSwitch, dict], dict | None]] = {
    "GetPhone": _bind(_get_phone),
    "GetPhoneOnline": _bind(_get_phone_online),
    "GetAllPhoneOnline": _bind(_get_all_phone_online),
    "GetGatewayMapping": _bind(_get_gateway_mapping),
    "GetGatewayMappingOnline": _bind(_get_gateway_mapping_online),
    "GetGatewayRouting": _bind(_get_gateway_routing),
    "GetGatewayRoutingOnline": _bind(_get_gateway_routing_online),
    "GetFeeRateGroup": _bind(_get_fee_rate_group),
    "GetFeeRate": _bind(_get_fee_rate),
    "GetSuite": _bind(_get_suite),
    "GetCurrentCall": _bind(_get_current_call),
    "GetPerformance": _bind(_get_performance),
    "GetSoftSwitch": _bind(_get_soft_switch),
    "GetAlarmCurrent": _bind(_get_alarm_current),
    "GetPayHistory": _bind(_get_pay_history),
}
"""Handlers of the inventory interfaces, by interface name, for ``server._HANDLERS``."""
