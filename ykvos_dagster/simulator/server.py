"""HTTP server that replies like the JSP layer of a VOS3000 Web API.

The server implements GetAllCustomers, GetCustomer, GetCdr and GetReportCustomerFee, and the
inventory and live-state interfaces of ``simulator/inventory.py``, under the configured path
prefix, at ``<prefix>/<Interface>`` and ``<prefix>/<Interface>.jsp``, and follows the behaviour
of the real JSP pages:

- Only POST is accepted. The request Content-Type is ignored and the body is decoded as
  UTF-8.
- A body that is empty, not valid UTF-8 or JSON, or not a JSON object gets HTTP 200 with an
  empty body, because the JSP writes nothing when it cannot bind the request.
- Every reply is HTTP 200 with ``Content-Type: text/html; charset=utf-8`` and one JSON
  object. Members whose value is null are left out, and ``exception`` is present only when
  ``retCode`` is not 0.
- Money is written as a JSON number with the exact decimal text of its ``Decimal`` value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import logging
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from json.encoder import encode_basestring
from typing import Any

from ykvos_dagster.simulator import reports
from ykvos_dagster.simulator.cdr_cache import PregeneratedCdrs
from ykvos_dagster.simulator.data import SimulatedSwitch
from ykvos_dagster.simulator.faults import (
    BACKEND_TIMEOUT_RET_CODE,
    FaultPlan,
    FaultSpecError,
    TransportFault,
    parse_rules,
    sleep_for,
    transform_cdrs,
)
from ykvos_dagster.simulator.inventory import INVENTORY_HANDLERS

logger = logging.getLogger(__name__)

INTERFACES = (
    "GetAllCustomers",
    "GetCustomer",
    "GetCdr",
    "GetReportCustomerFee",
    *INVENTORY_HANDLERS,
)
"""Interfaces that the simulator serves. Any other name gets HTTP 404."""

RET_OK = 0
RET_NOT_FOUND = -10007
RET_OVER_INQUIRY_INTERVAL = -10033
RET_INPUT_PARAMETER_ERROR = -10124

# ``exception`` texts that real VOS3000 servers and the vendor manual give for these codes.
_EXCEPTION_TEXTS = {
    RET_NOT_FOUND: "Not found, operation failed.",
    RET_OVER_INQUIRY_INTERVAL: (
        "Over the limitation of inquiry interval, please contact system administrator"
    ),
    RET_INPUT_PARAMETER_ERROR: "Input parameter error",
    # Invented text for the backend-timeout placeholder code; real switches' text is unknown.
    BACKEND_TIMEOUT_RET_CODE: "Backend timeout, operation failed.",
}

_CONTENT_TYPE = "text/html; charset=utf-8"
# Maximum request body that the server reads. Larger requests get HTTP 413.
_MAX_REQUEST_BYTES = 16 * 1024 * 1024
# A GetCdr reply that fits in this many bytes is sent with Content-Length. A larger one is
# streamed with chunked transfer encoding.
_STREAM_THRESHOLD_BYTES = 1024 * 1024
# Seconds that a connection may stay idle, or blocked on one read or write, before the
# server closes it.
_SOCKET_TIMEOUT_SECONDS = 120
_DAY_PATTERN = re.compile(r"[0-9]{8}")
_CDR_FILTERS = ("callerE164", "calleeE164", "callerGateway", "calleeGateway")


class SimulatorServer:
    """A VOS3000 Web API server for one simulated switch, served from a daemon thread.

    The socket is bound when the object is created, so ``url`` is valid at once. Use it as
    a context manager, or call ``start`` and ``stop``::

        with SimulatorServer(SimulatedSwitch()) as server:
            httpx.post(f"{server.url}/external/server/GetAllCustomers", content=b"{}")

    Attributes:
        switch: The simulated switch whose data the server returns.
    """

    def __init__(
        self,
        switch: SimulatedSwitch,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        pregenerated: PregeneratedCdrs | None = None,
    ) -> None:
        self.switch = switch
        self.faults = faults or FaultPlan()
        # Unfiltered single-day GetCdr requests for these days are served from encoded files.
        self.pregenerated = pregenerated
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        server_class = _IPv6Server if ":" in host else _Server
        self._httpd = server_class((host, port), _RequestHandler)
        self._httpd.simulator = self
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)

    @property
    def url(self) -> str:
        """Base URL without the path prefix and without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The same value as ``url``."""
        return self.url

    def interface_url(self, interface: str) -> str:
        """Return the URL of an interface, for example ``.../external/server/GetCdr``."""
        return f"{self.url}{self.switch.config.path_prefix}/{interface}"

    @property
    def request_counts(self) -> Counter[str]:
        """A copy of the number of requests received per interface name.

        Requests to paths that name no served interface are not counted.
        """
        with self._counts_lock:
            return Counter(self._counts)

    def start(self) -> SimulatorServer:
        """Start serving requests in a daemon thread and return the server."""
        if self._stopped:
            raise RuntimeError("the simulator server was stopped and cannot be started again")
        if self._thread is not None:
            raise RuntimeError(f"the simulator server at {self.url} is already running")
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"vos3000-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        config = self.switch.config
        logger.info(
            "VOS3000 simulator started at %s%s (instance %s, seed %d, time zone %s)",
            self.url,
            config.path_prefix,
            config.instance,
            config.seed,
            config.timezone,
        )
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket and all client connections.

        Calling it again does nothing.
        """
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.close_connections()
        self._httpd.server_close()
        logger.info("VOS3000 simulator at %s stopped", self.url)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _count_request(self, interface: str) -> None:
        with self._counts_lock:
            self._counts[interface] += 1


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that can close its open client connections on stop."""

    daemon_threads = True
    simulator: SimulatorServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection, including idle keep-alive ones."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # shutdown() raises OSError when the client has already closed the connection.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: tuple) -> None:
        logger.exception("unhandled error while serving a request from %s", client_address[0])


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


@dataclass
class _CdrStream:
    """A GetCdr success reply whose rows are encoded while they are sent."""

    rows: Iterator[dict]
    days: list[dt.date] | None = None
    accounts: list[str] | None = None
    filters: list[tuple[str, str]] | None = None


_Reply = dict | _CdrStream | None


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "VOS3000-simulator"
    sys_version = ""
    timeout = _SOCKET_TIMEOUT_SECONDS
    # The headers and a short body go out in two writes. With Nagle's algorithm the body waits
    # for the client's delayed ACK of the headers, 40 ms on Linux, on every kept-alive request.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        interface = _interface_name(path, self.server.simulator.switch.config.path_prefix)
        if interface is None:
            self._send_page(404, "Not Found", f"The requested resource {path} is not available.")
            return

        body = self._read_body()
        if body is None:
            return
        simulator = self.server.simulator
        simulator._count_request(interface)

        try:
            extra = parse_rules(self.headers.get("X-Simulator-Fault", ""))
        except FaultSpecError as error:
            self._send_page(400, "Bad Request", str(error))
            return
        rules = simulator.faults.active_rules(interface, body, extra)
        fault = simulator.faults.transport_fault(rules)
        sleep_for(fault)
        if fault is not None and self._send_fault(interface, fault):
            return

        payload = _parse_payload(body)
        reply: _Reply = None
        if payload is not None:
            try:
                reply = _HANDLERS[interface](simulator.switch, payload)
            except Exception:
                # The JSP logs an exception and writes nothing, so the client sees an empty body.
                logger.exception("%s failed, replying with an empty body", interface)
                reply = None
        if isinstance(reply, _CdrStream) and rules:
            reply = _CdrStream(_faulted_rows(simulator.switch, payload, rules, reply.rows))
        if fault is not None and fault.kind in ("truncated_json", "array_wrap"):
            reply = _materialise(reply)

        try:
            if fault is not None and fault.kind == "truncated_json" and reply is not None:
                text = _encode_json(reply).encode("utf-8")
                self._send_bytes(text[: max(1, len(text) // 2)])
            elif fault is not None and fault.kind == "array_wrap" and reply is not None:
                self._send_bytes(b"[" + _encode_json(reply).encode("utf-8") + b"]")
            else:
                self._send_reply(interface, reply)
        except (ConnectionError, TimeoutError) as error:
            self.close_connection = True
            logger.info(
                "%s: the client connection failed while sending the reply: %s", interface, error
            )

    def _send_fault(self, interface: str, fault: TransportFault) -> bool:
        """Send the reply of a transport fault; return False when a normal reply follows."""
        logger.debug("%s: injecting fault %s", interface, fault.kind)
        if fault.kind == "http_status":
            self._send_page(fault.status or 503, "Injected failure", "Simulated server error.")
        elif fault.kind == "empty_body":
            self._send_bytes(b"")
        elif fault.kind == "html_error":
            page = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
            self._send_bytes(page)
        elif fault.kind in ("ret_code", "backend_timeout"):
            reply = _error(fault.ret_code or RET_NOT_FOUND)
            if interface == "GetCdr":
                reply["infoCdrs"] = []
            self._send_bytes(_encode_json(reply).encode("utf-8"))
        else:
            return False
        return True

    def _send_reply(self, interface: str, reply: _Reply) -> None:
        if reply is None:
            self._send_bytes(b"")
            logger.debug("%s: HTTP 200, empty body, 0 rows", interface)
        elif isinstance(reply, _CdrStream) and self._pregenerated_ranges(reply) is not None:
            self._send_ranges(*self._pregenerated_ranges(reply))
            logger.debug("%s: HTTP 200, retCode 0, pre-generated rows", interface)
        elif isinstance(reply, _CdrStream):
            rows = self._send_cdr_stream(interface, reply.rows)
            if rows is not None:
                logger.debug("%s: HTTP 200, retCode 0, %d rows", interface, rows)
        else:
            self._send_bytes(_encode_json(reply).encode("utf-8"))
            logger.debug(
                "%s: HTTP 200, retCode %s, %d rows", interface, reply["retCode"], _row_count(reply)
            )

    def do_GET(self) -> None:
        self._reject_method()

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: object) -> None:
        # http.server writes these messages to stderr by default.
        logger.debug("HTTP %s: %s", self.client_address[0], format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log line of http.server, because each reply logs its own line."""

    # Request and response plumbing.

    def _reject_method(self) -> None:
        self._send_page(
            405,
            "Method Not Allowed",
            f"HTTP method {self.command} is not supported by this URL. Use POST.",
            headers={"Allow": "POST"},
        )

    def _read_body(self) -> bytes | None:
        """Read the request body, or reply with an error page and return None."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked_body()
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self._send_page(400, "Bad Request", "The Content-Length header is not a number.")
            return None
        if length < 0:
            self._send_page(400, "Bad Request", "The Content-Length header is negative.")
            return None
        if length > _MAX_REQUEST_BYTES:
            self._send_too_large()
            return None
        return self.rfile.read(length)

    def _read_chunked_body(self) -> bytes | None:
        parts = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                chunk_size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                chunk_size = -1
            if chunk_size < 0:
                self._send_page(400, "Bad Request", "The chunked request body is malformed.")
                return None
            if chunk_size == 0:
                break
            size += chunk_size
            if size > _MAX_REQUEST_BYTES:
                self._send_too_large()
                return None
            parts.append(self.rfile.read(chunk_size))
            self.rfile.readline(1024)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(parts)

    def _send_too_large(self) -> None:
        self._send_page(
            413,
            "Payload Too Large",
            f"The request body exceeds {_MAX_REQUEST_BYTES} bytes.",
        )

    def _send_json_headers(self, content_length: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", _CONTENT_TYPE)
        self.send_header("Pragma", "no-cache")
        self.send_header("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
        if content_length is not None:
            self.send_header("Content-Length", str(content_length))
        elif self.request_version == "HTTP/1.1":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            # An HTTP/1.0 client learns where the body ends when the connection closes.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _send_bytes(self, body: bytes) -> None:
        self._send_json_headers(len(body))
        self.wfile.write(body)

    def _send_page(
        self, status: int, reason: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        page = (
            f"<html><head><title>{status} {reason}</title></head><body>"
            f"<h1>HTTP Status {status} - {reason}</h1><p>{html.escape(message)}</p>"
            "</body></html>"
        ).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", _CONTENT_TYPE)
        self.send_header("Content-Length", str(len(page)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # The request body may still be unread, so the connection cannot be reused.
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(page)
        logger.debug(
            "%s %s: HTTP %d, %s", self.command, self.path.split("?", 1)[0], status, message
        )

    def _send_cdr_stream(self, interface: str, rows: Iterator[dict]) -> int | None:
        """Send a GetCdr success reply and return the number of rows sent.

        Rows are encoded as they are generated. A reply larger than the stream threshold
        goes out in chunks, so the server never keeps a whole large reply in memory. If
        generating the rows fails, the reply is an empty body when nothing was sent yet,
        and otherwise the connection is closed before the end of the body. Either way the
        return value is None.
        """
        pending = ['{"retCode":0,"infoCdrs":[']
        pending_size = len(pending[0])
        streaming = False
        count = 0

        def flush() -> None:
            nonlocal pending, pending_size, streaming
            data = "".join(pending).encode("utf-8")
            pending = []
            pending_size = 0
            if not streaming:
                self._send_json_headers(None)
                streaming = True
            self._write_chunk(data)

        try:
            for row in rows:
                text = _encode_record(row)
                if count:
                    text = "," + text
                pending.append(text)
                pending_size += len(text)
                count += 1
                if pending_size >= _STREAM_THRESHOLD_BYTES:
                    flush()
        except (ConnectionError, TimeoutError):
            raise
        except Exception:
            if streaming:
                logger.exception(
                    "%s failed after %d rows, closing the connection before the end of the reply",
                    interface,
                    count,
                )
                self.close_connection = True
            else:
                logger.exception("%s failed, replying with an empty body", interface)
                self._send_bytes(b"")
            return None
        pending.append("]}")

        if not streaming:
            self._send_bytes("".join(pending).encode("utf-8"))
            return count
        flush()
        if self.request_version == "HTTP/1.1":
            self.wfile.write(b"0\r\n\r\n")
        return count

    def _pregenerated_ranges(self, reply: _CdrStream):
        pregenerated = self.server.simulator.pregenerated
        if pregenerated is None or reply.days is None:
            return None
        return pregenerated.ranges(reply.days, reply.accounts or [], reply.filters or [])

    def _send_ranges(self, path, ranges: list[tuple[int, int]]) -> None:
        """Send a GetCdr success reply made of byte ranges of a pre-generated file."""
        prefix = b'{"retCode":0,"infoCdrs":['
        suffix = b"]}"
        length = len(prefix) + sum(size for _, size in ranges) + max(0, len(ranges) - 1)
        self._send_json_headers(length + len(suffix))
        self.wfile.write(prefix)
        self.wfile.flush()
        with open(path, "rb") as source:
            for index, (offset, size) in enumerate(ranges):
                if index:
                    self.wfile.write(b",")
                    self.wfile.flush()
                self.connection.sendfile(source, offset, size)
        self.wfile.write(suffix)

    def _write_chunk(self, data: bytes) -> None:
        if not data:
            return
        if self.request_version == "HTTP/1.1":
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)


def _interface_name(path: str, prefix: str) -> str | None:
    """Return the interface named by a request path, or None if the path names none."""
    if not path.startswith(prefix + "/"):
        return None
    name = path[len(prefix) + 1 :]
    name = name.removesuffix(".jsp")
    return name if name in INTERFACES else None


def _parse_payload(body: bytes) -> dict | None:
    """Return the JSON object of a request body, or None if the JSP could not bind it."""
    if not body.strip():
        return None
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _row_count(reply: dict) -> int:
    """Return the length of the reply's first list, the records it carries."""
    for value in reply.values():
        if isinstance(value, list):
            return len(value)
    return 0


def _error(ret_code: int, **extra: object) -> dict:
    text = _EXCEPTION_TEXTS.get(ret_code, "Operation failed.")
    return {"retCode": ret_code, "exception": text, **extra}


# Interfaces.


def _get_all_customers(switch: SimulatedSwitch, payload: dict) -> _Reply:
    """Reply to GetAllCustomers: ``type`` 1 lists InfoCustomerBrief records, else account names.

    A ``type`` that is not an integer (or a string of one) cannot be bound, so the reply
    is an empty body.
    """
    kind = _optional_int(payload.get("type"))
    if kind is None:
        return None
    if kind == 1:
        return {"retCode": RET_OK, "infoCustomerBriefs": switch.customer_briefs()}
    return {"retCode": RET_OK, "accounts": switch.accounts()}


def _get_customer(switch: SimulatedSwitch, payload: dict) -> _Reply:
    """Reply to GetCustomer with the accounts that match every filter given.

    The filters are ``accounts``, ``e164s`` (numbers bound to the account) and
    ``filterAgentAccount`` (accounts directly below an agent), optionally narrowed by
    ``type``. Without any of the first three the reply is retCode -10007.
    """
    matches: list[list[dict]] = []
    accounts = _string_list(payload.get("accounts"))
    if accounts:
        matches.append(switch.customers(accounts))
    e164s = _string_list(payload.get("e164s"))
    if e164s:
        matches.append(switch.customers_by_e164(e164s))
    agent_filter = payload.get("filterAgentAccount")
    if isinstance(agent_filter, dict):
        agent_account = agent_filter.get("filterAgentAccount")
        if isinstance(agent_account, str) and agent_account:
            matches.append(switch.customers_of_agent(agent_account))
    if not matches:
        return _error(RET_NOT_FOUND)

    selected = {customer["account"] for customer in matches[0]}
    for match in matches[1:]:
        selected &= {customer["account"] for customer in match}
    customers = [customer for customer in matches[0] if customer["account"] in selected]

    kind = _optional_int(payload.get("type"))
    if payload.get("type") is not None and kind is not None:
        customers = [customer for customer in customers if customer["type"] == kind]
    return {"retCode": RET_OK, "infoCustomers": customers}


def _get_cdr(switch: SimulatedSwitch, payload: dict) -> _Reply:
    """Reply to GetCdr with every CDR of the listed accounts on the requested days.

    ``beginTime`` and ``endTime`` are inclusive server-local days as ``yyyyMMdd``. The
    optional filters ``callerE164``, ``calleeE164``, ``callerGateway`` and ``calleeGateway``
    match exactly; null or "" means no filter.
    """
    invalid = _error(RET_INPUT_PARAMETER_ERROR, infoCdrs=[])
    # NOTE: how real switches handle an empty ``accounts`` list is undocumented. The
    # simulator treats it as an input error so that a client bug cannot pass as "no calls".
    accounts = _string_list(payload.get("accounts"))
    if not accounts:
        return invalid
    begin = _parse_day(payload.get("beginTime"))
    end = _parse_day(payload.get("endTime"))
    if begin is None or end is None or end < begin:
        return invalid

    filters = []
    for key in _CDR_FILTERS:
        value = payload.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            return invalid
        filters.append((key, value))

    days = (end - begin).days + 1
    if days > switch.config.max_span_days:
        return _error(RET_OVER_INQUIRY_INTERVAL, infoCdrs=[])

    unique_accounts = list(dict.fromkeys(accounts))
    day_list = [begin + dt.timedelta(days=offset) for offset in range(days)]
    return _CdrStream(
        _matching_cdrs(switch, day_list, unique_accounts, filters),
        days=day_list,
        accounts=unique_accounts,
        filters=filters,
    )


def _matching_cdrs(
    switch: SimulatedSwitch,
    days: list[dt.date],
    accounts: list[str],
    filters: list[tuple[str, str]],
) -> Iterator[dict]:
    for day in days:
        for account in accounts:
            for row in switch.iter_cdrs(day, account):
                if all(row[key] == value for key, value in filters):
                    yield row


def _faulted_rows(
    switch: SimulatedSwitch, payload: dict, rules: list, rows: Iterator[dict]
) -> Iterator[dict]:
    begin = _parse_day(payload.get("beginTime"))
    end = _parse_day(payload.get("endTime"))
    days = [begin + dt.timedelta(days=offset) for offset in range((end - begin).days + 1)]
    accounts = list(dict.fromkeys(_string_list(payload.get("accounts")) or []))
    account_list = switch.accounts()
    positions = {account: index for index, account in enumerate(account_list)}

    def next_account(account: str) -> str | None:
        index = positions.get(account)
        if index is None or index + 1 >= len(account_list):
            return None
        return account_list[index + 1]

    return transform_cdrs(
        rules,
        rows,
        day_rows=switch.iter_cdrs,
        days=days,
        accounts=accounts,
        day_end_ms=lambda day: switch.day_bounds_ms(day)[1],
        next_account=next_account,
    )


def _materialise(reply: _Reply) -> _Reply:
    if isinstance(reply, _CdrStream):
        return {"retCode": RET_OK, "infoCdrs": list(reply.rows)}
    return reply


def _get_report_customer_fee(switch: SimulatedSwitch, payload: dict) -> _Reply:
    """Reply to GetReportCustomerFee with per-account totals (see ``simulator.reports``)."""
    invalid = _error(RET_INPUT_PARAMETER_ERROR, infoReportCustomerFees=[])
    accounts = _string_list(payload.get("accounts"))
    begin = _parse_day(payload.get("beginTime"))
    end = _parse_day(payload.get("endTime"))
    period = _optional_int(payload.get("period")) if payload.get("period") is not None else None
    if not accounts or begin is None or end is None or end < begin:
        return invalid
    if period is None or (period < 1 and period != reports.PERIOD_MONTH):
        return invalid
    if (end - begin).days + 1 > switch.config.max_span_days:
        return _error(RET_OVER_INQUIRY_INTERVAL, infoReportCustomerFees=[])
    rows = reports.report_customer_fee(switch, accounts, begin, end, period)
    return {"retCode": RET_OK, "infoReportCustomerFees": rows}


_HANDLERS: dict[str, Callable[[SimulatedSwitch, dict], _Reply]] = {
    "GetAllCustomers": _get_all_customers,
    "GetCustomer": _get_customer,
    "GetCdr": _get_cdr,
    "GetReportCustomerFee": _get_report_customer_fee,
    **INVENTORY_HANDLERS,
}


# Request field parsing.


def _string_list(value: object) -> list[str] | None:
    """Return a JSON array of strings as a list, or None for any other value."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return value


def _optional_int(value: object) -> int | None:
    """Return an integer field, 0 when it is null or absent, None when it is not an integer.

    Numeric strings are accepted. Public clients send them and report success, so the real
    JSON binder most likely converts them.
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    return None


def _parse_day(value: object) -> dt.date | None:
    """Return the date of a ``yyyyMMdd`` string, or None if it is not a valid date."""
    if not isinstance(value, str) or not _DAY_PATTERN.fullmatch(value):
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


# JSON encoding. The standard json module writes Decimal only through float, which would
# change values such as 0.0125, so these functions write the decimal text themselves.


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot write the non-finite number {value} as JSON")
    return format(value, "f")


class _OmittedMember(Exception):
    """A record contains a null member, which the fast record encoder cannot leave out."""


def _encode_scalar(value: object) -> str:
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if kind is Decimal:
        return _decimal_text(value)
    if value is None:
        raise _OmittedMember
    return _encode_json(value)


@lru_cache(maxsize=64)
def _record_template(keys: tuple[str, ...]) -> str:
    members = (encode_basestring(key).replace("%", "%%") + ":%s" for key in keys)
    return "{" + ",".join(members) + "}"


def _encode_record(record: dict) -> str:
    """Encode a flat dict as a JSON object, reusing one template per key sequence."""
    try:
        values = tuple(map(_encode_scalar, record.values()))
    except _OmittedMember:
        return _encode_json(record)
    return _record_template(tuple(record)) % values


def _encode_json(value: object) -> str:
    """Encode a value as compact JSON, keeping non-ASCII text and exact Decimal values.

    Dict members whose value is None are left out, as the VOS3000 JSON writer does.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, float):
        return _encode_json(Decimal(repr(value)))
    if isinstance(value, dict):
        members = (
            f"{encode_basestring(str(key))}:{_encode_json(item)}"
            for key, item in value.items()
            if item is not None
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, Iterable):
        return "[" + ",".join(map(_encode_json, value)) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")
