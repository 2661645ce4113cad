"""InfoCdr records for tests: the two real samples from a production switch, and a builder."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

# A failed call captured from a production switch (flowNo 330455246).
REAL_FAILED_CALL = {
    "flowNo": 330455246,
    "account": "华信数科",
    "accountName": "华信",
    "callerE164": "202509241816",
    "callerAccessE164": "202509241816",
    "callerToGatewayE164": "90713102",
    "callerProductId": "FreeSWITCH-mod_sofia",
    "callerGateway": "华信对接01",
    "callerip": "192.0.2.10",
    "calleeE164": "22217000001234",
    "calleeAccessE164": "17000001234",
    "calleeToGatewayE164": "17000001234",
    "calleeProductId": "",
    "calleeGateway": "落地网关A",
    "calleeip": "198.51.100.7",
    "start": 1760922383500,
    "stop": 1760922383500,
    "holdTime": 0,
    "feeTime": 0,
    "fee": 0,
    "feePrefix": "2",
    "suiteFee": 0,
    "suiteFeeTime": 0,
    "agentAccount": "落地网关A",
    "agentName": "",
    "agentFee": 0,
    "agentFeeTime": 0,
    "agentFeePrefix": "2",
    "agentSuiteFee": 0,
    "agentSuiteFeeTime": 0,
    "endDirection": 1,
    "endReason": 503,
    "callLevel": 4,
    "billingType": 0,
    "billingMode": 1,
}

# The second captured sample (flowNo 330455275): rejected by the server before routing.
REAL_SERVER_REJECT = {
    **REAL_FAILED_CALL,
    "flowNo": 330455275,
    "calleeGateway": "",
    "calleeip": "",
    "endDirection": 2,
    "endReason": -69,
}

SHANGHAI = ZoneInfo("Asia/Shanghai")


def epoch_ms(local: dt.datetime, zone: ZoneInfo = SHANGHAI) -> int:
    """Return the UTC epoch milliseconds of a wall-clock time in `zone`."""
    aware = local.replace(tzinfo=zone)
    return int(aware.timestamp()) * 1000 + aware.microsecond // 1000


def make_cdr(
    flow_no: int,
    *,
    account: str = "acct-1",
    account_name: str = "Account One",
    callee_gateway: str = "gw-1",
    start: dt.datetime = dt.datetime(2024, 5, 10, 12, 0, 0),
    hold_time: int = 60,
    fee_time: int | None = None,
    fee: str = "0.5",
    zone: ZoneInfo = SHANGHAI,
) -> dict:
    """Build an InfoCdr record; `start` is a wall-clock time in `zone`."""
    record = copy.deepcopy(REAL_FAILED_CALL)
    start_ms = epoch_ms(start, zone)
    record.update(
        flowNo=flow_no,
        account=account,
        accountName=account_name,
        calleeGateway=callee_gateway,
        start=start_ms,
        stop=start_ms + hold_time * 1000,
        holdTime=hold_time,
        feeTime=hold_time if fee_time is None else fee_time,
        fee=Decimal(fee) if hold_time > 0 else 0,
        endReason=200 if hold_time > 0 else 486,
    )
    return record
