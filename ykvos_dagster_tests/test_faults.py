"""The VOS client against every fault the simulator injects, over HTTP."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
from ykvos_dagster.simulator.faults import FaultPlan, FaultSpecError, parse_rules
from ykvos_dagster.simulator.server import SimulatorServer
from ykvos_dagster.vos3000.cdr import CdrDecodeError, decode_cdr
from ykvos_dagster.vos3000.client import VosClient, VosEndpoint
from ykvos_dagster.vos3000.errors import (
    RET_CODE_BACKEND_TIMEOUT,
    VosReturnCodeError,
    VosTransportError,
)

DAY = dt.date(2025, 3, 14)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def server():
    switch = SimulatedSwitch(SimulatorConfig(seed=11, accounts=12, daily_cdrs=600))
    with SimulatorServer(switch) as running:
        yield running


@pytest.fixture
def faults(server):
    """Set the server's fault plan for one test and clear it afterwards."""

    def _set(spec: str) -> FaultPlan:
        server.faults = FaultPlan.parse(spec, seed=3)
        return server.faults

    yield _set
    server.faults = FaultPlan()


def client_for(server, **endpoint_options) -> VosClient:
    options = {"retries": 2, "backoff_seconds": 0.01, "timeout_seconds": 5.0}
    options.update(endpoint_options)
    return VosClient(VosEndpoint(instance="sim", base_url=server.url, **options))


def busiest_account(server) -> str:
    per_account = server.switch.per_account(DAY)
    return max(per_account, key=lambda account: per_account[account]["calls"])


@pytest.mark.parametrize(
    "spec",
    ["http_status=503", "http_status=502", "empty_body", "html_error", "truncated_json"],
)
def test_transient_fault_retried_once(server, faults, spec):
    faults(f"{spec},times=1")
    with client_for(server) as client:
        assert client.get_all_accounts() == server.switch.accounts()
        assert client.retries_done == 1


def test_backend_timeout_retcode_retried(server, faults):
    faults("backend_timeout,times=1")
    with client_for(server) as client:
        assert client.get_all_accounts() == server.switch.accounts()
        assert client.retries_done == 1


def test_array_wrapped_reply_unwrapped(server, faults):
    faults("array_wrap")
    with client_for(server) as client:
        assert client.get_all_accounts() == server.switch.accounts()
        assert client.retries_done == 0


def test_persistent_fault_names_everything(server, faults):
    faults("http_status=503")
    account = busiest_account(server)
    with client_for(server) as client, pytest.raises(VosTransportError) as raised:
        client.get_cdrs([account], DAY)
    message = str(raised.value)
    assert "instance=sim" in message
    assert "interface=GetCdr" in message
    assert f"account={account!r}" in message
    assert "day=2025-03-14" in message
    assert "HTTP 503" in message
    assert client.retries_done == 2


def test_retcode_error_names_code_and_is_not_retried(server, faults):
    faults("ret_code=-10007")
    with client_for(server) as client, pytest.raises(VosReturnCodeError) as raised:
        client.get_cdrs(["x"], DAY)
    assert raised.value.ret_code == -10007
    assert "retCode=-10007" in str(raised.value)
    assert "Not found" in str(raised.value)
    assert client.retries_done == 0


def test_backend_timeout_persisting_names_code(server, faults):
    faults("backend_timeout")
    with client_for(server) as client, pytest.raises(VosReturnCodeError) as raised:
        client.get_cdrs(["x"], DAY)
    assert raised.value.ret_code == RET_CODE_BACKEND_TIMEOUT
    assert client.retries_done == 2


def test_validation_error_not_retried(server):
    with client_for(server) as client, pytest.raises(VosReturnCodeError) as raised:
        client.call("GetCdr", {})
    assert raised.value.ret_code == -10124
    assert client.retries_done == 0


def test_http_404_not_retried(server):
    with client_for(server, path_prefix="/nowhere") as client, pytest.raises(VosTransportError):
        client.get_all_accounts()
    assert client.retries_done == 0


def test_read_timeout_retried_then_fails(server, faults):
    faults("latency=1.0")
    with (
        client_for(server, timeout_seconds=0.2) as client,
        pytest.raises(VosTransportError) as raised,
    ):
        client.get_all_accounts()
    assert "timed out" in str(raised.value)
    assert client.retries_done == 2


def test_budget_stops_retries(server, faults):
    faults("http_status=503")
    client = client_for(server, backoff_seconds=1.0, budget_seconds=0.5)
    with client, pytest.raises(VosTransportError):
        client.get_all_accounts()
    assert client.retries_done == 0


def test_overload_adds_latency(server, faults):
    plan = faults("overload=2")
    with client_for(server) as client:
        for _ in range(6):
            client.get_all_accounts()
    assert plan.injected["overload"] == 6
    assert client.request_seconds > 0.5


def test_connection_refused_is_transport_error():
    endpoint = VosEndpoint(instance="down", base_url="http://127.0.0.1:9", retries=0)
    with VosClient(endpoint) as client, pytest.raises(VosTransportError) as raised:
        client.get_all_accounts()
    assert "instance=down" in str(raised.value)


def test_numbers_as_strings_decode_identically(server, faults):
    account = busiest_account(server)
    with client_for(server) as client:
        plain = client.get_cdrs([account], DAY)
        faults("numbers_as_strings")
        as_strings = client.get_cdrs([account], DAY)
    assert isinstance(as_strings[0]["fee"], str)
    decoded_plain = [decode_cdr(record, SHANGHAI) for record in plain]
    decoded_strings = [decode_cdr(record, SHANGHAI) for record in as_strings]
    for row in (*decoded_plain, *decoded_strings):
        row.pop("raw")
    assert decoded_plain == decoded_strings


def test_missing_optional_fields_become_null(server, faults):
    faults("missing_optional")
    with client_for(server) as client:
        records = client.get_cdrs([busiest_account(server)], DAY)
    row = decode_cdr(records[0], SHANGHAI)
    assert row["callee_billing"] is None
    assert row["billing_type"] is None


def test_unknown_fields_ignored_but_kept_in_raw(server, faults):
    faults("unknown_fields")
    with client_for(server) as client:
        records = client.get_cdrs([busiest_account(server)], DAY)
    row = decode_cdr(records[0], SHANGHAI)
    assert "extTrunkGroup" in row["raw"]
    assert "extTrunkGroup" not in row


def test_missing_flow_no_rejected(server, faults):
    faults("missing_field=flowNo")
    with client_for(server) as client:
        records = client.get_cdrs([busiest_account(server)], DAY)
    with pytest.raises(CdrDecodeError, match="flowNo"):
        decode_cdr(records[0], SHANGHAI)


def test_duplicate_cdr_in_one_reply(server, faults):
    faults("duplicate_cdr")
    with client_for(server) as client:
        records = client.get_cdrs([busiest_account(server)], DAY)
    flow_numbers = [record["flowNo"] for record in records]
    assert len(flow_numbers) == len(set(flow_numbers)) + 1


def test_midnight_shift_moves_without_copying(server, faults):
    accounts = server.switch.accounts()
    days = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]
    with client_for(server) as client:
        plain = {day: {r["flowNo"] for r in client.get_cdrs(accounts, day)} for day in days}
        faults("midnight_shift=120")
        shifted = {day: {r["flowNo"] for r in client.get_cdrs(accounts, day)} for day in days}
    assert shifted[DAY] != plain[DAY]
    assert not shifted[DAY] & shifted[DAY + dt.timedelta(days=1)]
    moved_out = plain[DAY] - shifted[DAY]
    assert moved_out
    assert moved_out <= shifted[DAY + dt.timedelta(days=1)]


def test_late_cdrs_arrive_on_second_pull(server, faults):
    faults("late_cdrs=2,times=1")
    account = busiest_account(server)
    with client_for(server) as client:
        first = client.get_cdrs([account], DAY)
        second = client.get_cdrs([account], DAY)
    assert len(second) == len(first) + 2


def test_fault_header_selects_per_request(server):
    url = server.interface_url("GetAllCustomers")
    faulted = httpx.post(url, content=b"{}", headers={"X-Simulator-Fault": "http_status=500"})
    normal = httpx.post(url, content=b"{}")
    assert faulted.status_code == 500
    assert normal.status_code == 200


@pytest.mark.parametrize(
    "spec", ["explode", "latency,rate=2", "latency,times=0", "latency,when=now"]
)
def test_bad_fault_spec_rejected(spec):
    with pytest.raises(FaultSpecError):
        parse_rules(spec)


def test_money_survives_numbers_as_strings(server, faults):
    faults("numbers_as_strings")
    with client_for(server) as client:
        records = client.get_cdrs([busiest_account(server)], DAY)
    total = sum(Decimal(decode_cdr(r, SHANGHAI)["fee"]) for r in records)
    assert total == server.switch.per_account(DAY)[busiest_account(server)]["fee"]
