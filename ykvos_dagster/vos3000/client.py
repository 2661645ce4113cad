"""A client for the VOS3000 Web API ("WebExternal", `POST <base URL><path prefix>/<Interface>`).

The API has no credentials (the switch allows caller IPs), no paging and one JSON envelope:
`retCode` (0 on success), `exception` (the reason, only on failure) and interface-specific keys.
Money arrives as JSON numbers and is parsed into `Decimal` from the JSON text, never through a
float.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import ssl
import time
import urllib.request
import zlib
from base64 import b64encode
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httpx

from ykvos_dagster.vos3000.cdr_stream import RecordSpool, ReplyFormatError, ReplyScanner
from ykvos_dagster.vos3000.errors import (
    TRANSIENT_RET_CODES,
    VosError,
    VosPermanentTransportError,
    VosReturnCodeError,
    VosTransportError,
)

logger = logging.getLogger(__name__)

DEFAULT_PATH_PREFIX = "/external/server"
# The vendor manual specifies this content type, but the server parses the raw body whatever the
# header is.
_REQUEST_HEADERS = {"Content-Type": "text/html;charset=UTF-8", "Accept": "*/*"}
# GetCdr replies are read in chunks of this size; see `_ReplyStream`.
_STREAM_READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class VosEndpoint:
    """Address, timeouts and retry policy of one VOS3000 instance."""

    instance: str
    base_url: str
    path_prefix: str = DEFAULT_PATH_PREFIX
    timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    retries: int = 2
    backoff_seconds: float = 1.0
    # Upper bound for one call including its retries and backoff; None means attempts x timeout.
    budget_seconds: float | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"instance {self.instance}: base URL {self.base_url!r} is not an http(s) URL "
                "with a host (expected for example http://192.0.2.10:9090)"
            )
        if not self.path_prefix.startswith("/"):
            raise ValueError(
                f"instance {self.instance}: path prefix {self.path_prefix!r} must start with '/'"
            )
        if self.timeout_seconds <= 0 or self.connect_timeout_seconds <= 0:
            raise ValueError(f"instance {self.instance}: timeouts must be positive")
        if self.retries < 0:
            raise ValueError(f"instance {self.instance}: retries must be >= 0")
        if self.budget_seconds is not None and self.budget_seconds <= 0:
            raise ValueError(f"instance {self.instance}: the request budget must be positive")

    def url(self, interface: str) -> str:
        return f"{self.base_url.rstrip('/')}{self.path_prefix.rstrip('/')}/{interface}"


def environment_proxy(url: SplitResult) -> SplitResult | None:
    """Return the proxy that the environment sets for `url`, as httpx reads it, or None.

    Raises:
        ValueError: the proxy URL is not http://, the only kind the GetCdr requests support.
    """
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(url.hostname or "", proxies):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(
            f"proxy {parts.scheme}://{parts.hostname}:{parts.port} for {url.scheme}:// URLs is not"
            " supported: GetCdr requests go through http:// proxies only"
        )
    return parts


def format_day(day: dt.date) -> str:
    """Format a server-local day as the API's `yyyyMMdd`."""
    return day.strftime("%Y%m%d")


def parse_reply(body: bytes) -> Any:
    """Parse a reply body, keeping every non-integer number as Decimal."""
    return json.loads(body, parse_float=Decimal)


class _ReplyStream:
    """POST requests whose reply bodies are read as large chunks, over one kept-alive connection.

    GetCdr replies run to hundreds of megabytes. httpx reads them 64 KiB at a time through
    several Python layers. For 845 MB of replies from the bench/cdr_bench.py simulator that took
    about 1.5 CPU seconds on one core, more than the typed decoding of the records. http.client
    read the same replies in 1 MiB chunks straight from the socket in about 0.4 s (Python 3.11).

    Like httpx, it goes through the proxy that HTTP_PROXY, HTTPS_PROXY or ALL_PROXY set for the
    URL's scheme unless NO_PROXY exempts the host: an http:// URL as a request to the proxy, an
    https:// URL through a CONNECT tunnel.
    """

    def __init__(self, url: str, connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._connection: http.client.HTTPConnection | None = None
        self._proxy: SplitResult | None = None
        self._proxy_headers: dict[str, str] = {}
        # Read when the first GetCdr connects, so that a proxy this class cannot use fails GetCdr
        # requests only.
        self._proxy_error: ValueError | None = None
        try:
            self._proxy = environment_proxy(parts)
        except ValueError as error:
            self._proxy_error = error
        if self._proxy is not None and self._proxy.username is not None:
            credentials = f"{unquote(self._proxy.username)}:{unquote(self._proxy.password or '')}"
            self._proxy_headers["Proxy-Authorization"] = (
                f"Basic {b64encode(credentials.encode()).decode('ascii')}"
            )

    def _connect(self) -> http.client.HTTPConnection:
        if self._proxy_error is not None:
            raise self._proxy_error
        host, port = self._host, self._port
        if self._proxy is not None:
            host, port = self._proxy.hostname or "", self._proxy.port or 80
        if self._https:
            connection = http.client.HTTPSConnection(
                host, port, timeout=self._connect_timeout, context=ssl.create_default_context()
            )
            if self._proxy is not None:
                # NOTE: the test suite covers proxies for http:// switches only.
                connection.set_tunnel(self._host, self._port, headers=self._proxy_headers)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        connection.connect()
        connection.sock.settimeout(self._read_timeout)
        return connection

    @contextmanager
    def post(self, url: str, body: bytes) -> Iterator[tuple[int, Iterator[bytes]]]:
        """Send the request; yield the status and an iterator of the decoded body's chunks.

        Raises:
            TimeoutError, OSError, http.client.HTTPException: the request or reply failed.
        """
        connection = self._connection or self._connect()
        self._connection = None
        headers = {**_REQUEST_HEADERS, "Accept-Encoding": "identity"}
        target = urlsplit(url).path
        if self._proxy is not None and not self._https:
            # A forward proxy takes the absolute URL.
            target = url
            headers.update(self._proxy_headers)
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            yield response.status, _body_chunks(response)
        except BaseException:
            connection.close()
            raise
        if response.isclosed() and not response.will_close:
            self._connection = connection  # the whole reply was read: reuse the connection
        else:
            connection.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _body_chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    """Yield the reply body in chunks, decompressed when the server sent it gzip or deflate
    encoded although the request accepted none."""
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "deflate"):
        raise http.client.HTTPException(f"unsupported Content-Encoding {encoding!r}")
    decoder = None
    if encoding != "identity":
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    while chunk := response.read(_STREAM_READ_SIZE):
        yield decoder.decompress(chunk) if decoder else chunk
    if decoder:
        yield decoder.flush()


class VosClient:
    """Sends requests to one VOS3000 instance and checks the envelope of every reply.

    Args:
        endpoint: the instance's address and timeouts.
        request_gate: a factory of context managers entered around each HTTP request. The pulls
            use it to keep one request in flight per instance and to pause between them.
        http: an httpx client to reuse (the caller then owns it).
    """

    def __init__(
        self,
        endpoint: VosEndpoint,
        *,
        request_gate: Callable[[], AbstractContextManager[None]] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._gate = request_gate or nullcontext
        self._owns_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(
                endpoint.timeout_seconds, connect=endpoint.connect_timeout_seconds
            ),
            follow_redirects=False,
        )
        self._streams = _ReplyStream(
            endpoint.base_url, endpoint.connect_timeout_seconds, endpoint.timeout_seconds
        )
        self.request_seconds = 0.0
        self.requests = 0
        self.requests_by_interface: Counter[str] = Counter()
        self.retries_done = 0

    def close(self) -> None:
        self._streams.close()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> VosClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, interface: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send `payload` to `interface` and return the reply object once retCode is 0.

        Transient failures (timeouts, connection errors, HTTP 5xx, empty or non-JSON bodies and
        the backend-timeout retCode) are retried with exponential backoff, up to
        `endpoint.retries` times and within `endpoint.budget_seconds`. Replies that reject the
        request itself (HTTP 4xx, validation retCodes) are not retried.

        Raises:
            VosReturnCodeError: the switch replied with a non-zero retCode.
            VosTransportError: no valid JSON object came back after all attempts.
        """
        return self._retrying(lambda: self._call_once(interface, payload))

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        """Run `attempt` until it succeeds, retrying transient failures as `call` describes."""
        attempts = self.endpoint.retries + 1
        budget = self.endpoint.budget_seconds
        deadline = None if budget is None else time.monotonic() + budget
        for attempt_number in range(1, attempts + 1):
            try:
                return attempt()
            except VosReturnCodeError as error:
                if error.ret_code not in TRANSIENT_RET_CODES:
                    raise
                last_error = error
            except VosTransportError as error:
                if not error.transient:
                    raise
                last_error = error
            if attempt_number == attempts:
                break
            delay = self.endpoint.backoff_seconds * 2 ** (attempt_number - 1)
            if deadline is not None and time.monotonic() + delay >= deadline:
                logger.warning(
                    "VOS request failed and its %.0f s budget is spent: %s", budget, last_error
                )
                break
            logger.warning(
                "VOS request failed, retry %d of %d in %.1f s: %s",
                attempt_number,
                attempts - 1,
                delay,
                last_error,
            )
            self.retries_done += 1
            time.sleep(delay)
        raise last_error

    def _call_once(self, interface: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        instance = self.endpoint.instance
        with self._gate():
            started = time.monotonic()
            try:
                response = self._http.post(
                    self.endpoint.url(interface), content=body, headers=_REQUEST_HEADERS
                )
            except httpx.TimeoutException as error:
                raise VosTransportError(
                    f"request timed out: {type(error).__name__}",
                    instance=instance,
                    interface=interface,
                ) from error
            except httpx.HTTPError as error:
                raise VosTransportError(
                    f"request failed: {type(error).__name__}: {error}",
                    instance=instance,
                    interface=interface,
                ) from error
            finally:
                self._count_request(interface, started)

        self._check_status(interface, response.status_code)
        return self._check_envelope(interface, response.content)

    def _count_request(self, interface: str, started: float) -> None:
        self.request_seconds += time.monotonic() - started
        self.requests += 1
        self.requests_by_interface[interface] += 1

    def _check_status(self, interface: str, status: int) -> None:
        if status == 200:
            return
        permanent = 400 <= status < 500 and status not in (408, 429)
        error_type = VosPermanentTransportError if permanent else VosTransportError
        raise error_type(
            f"HTTP {status} instead of 200", instance=self.endpoint.instance, interface=interface
        )

    def _check_envelope(self, interface: str, content: bytes) -> dict[str, Any]:
        instance = self.endpoint.instance
        if not content.strip():
            # The JSP layer returns 200 with no body when it cannot bind the request or fails.
            raise VosTransportError("empty reply body", instance=instance, interface=interface)
        try:
            reply = parse_reply(content)
        except ValueError as error:
            raise VosTransportError(
                f"reply is not JSON ({type(error).__name__} at byte {getattr(error, 'pos', '?')})",
                instance=instance,
                interface=interface,
            ) from None
        if isinstance(reply, list) and len(reply) == 1:
            # Some captured replies were wrapped in a one-element array.
            reply = reply[0]
        return self._check_reply_object(interface, reply)

    def _check_reply_object(self, interface: str, reply: Any) -> dict[str, Any]:
        instance = self.endpoint.instance
        if not isinstance(reply, dict):
            raise VosTransportError(
                f"reply is a JSON {type(reply).__name__}, not an object",
                instance=instance,
                interface=interface,
            )
        ret_code = _ret_code(reply)
        if ret_code is None:
            raise VosTransportError(
                "reply has no integer retCode", instance=instance, interface=interface
            )
        if ret_code != 0:
            message = reply.get("exception")
            raise VosReturnCodeError(
                "VOS returned an error",
                instance=instance,
                interface=interface,
                ret_code=ret_code,
                vos_message=str(message) if message is not None else None,
            )
        return reply

    def get_all_accounts(self) -> list[str]:
        """Return every account number (GetAllCustomers with type 0)."""
        reply = self.call("GetAllCustomers", {"type": 0})
        accounts = reply.get("accounts")
        if accounts is None:
            accounts = [brief.get("account") for brief in reply.get("infoCustomerBriefs") or []]
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise VosTransportError(
                "GetAllCustomers reply has no list of account strings",
                instance=self.endpoint.instance,
                interface="GetAllCustomers",
            )
        return accounts

    def get_cdrs(self, accounts: list[str], day: dt.date) -> list[dict[str, Any]]:
        """Return the InfoCdr records of `accounts` for one server-local day."""
        try:
            reply = self.call(
                "GetCdr",
                {"accounts": accounts, "beginTime": format_day(day), "endTime": format_day(day)},
            )
        except VosError as error:
            raise error.with_context(
                account=",".join(accounts) if len(accounts) != 1 else accounts[0], day=day
            ) from error
        records = reply.get("infoCdrs")
        if not isinstance(records, list):
            raise VosTransportError(
                "GetCdr reply has no infoCdrs list",
                instance=self.endpoint.instance,
                interface="GetCdr",
                account=accounts[0] if len(accounts) == 1 else ",".join(accounts),
                day=day,
            )
        return records

    def stream_cdrs(self, accounts: list[str], day: dt.date, spool: RecordSpool) -> int:
        """Append the InfoCdr records of `accounts` for one server-local day to `spool`.

        The reply is streamed: its `infoCdrs` array goes to the spool as it arrives and only the
        envelope is parsed here, so memory does not grow with the reply. Retries and errors are
        those of `call`; a failed attempt leaves nothing in the spool. Returns the reply size in
        bytes.

        Raises:
            VosReturnCodeError: the switch replied with a non-zero retCode.
            VosTransportError: no valid GetCdr reply came back after all attempts.
            ValueError: the environment sets a proxy that GetCdr requests cannot use.
        """
        account_text = ",".join(accounts) if len(accounts) != 1 else accounts[0]
        payload = {"accounts": accounts, "beginTime": format_day(day), "endTime": format_day(day)}
        try:
            return self._retrying(lambda: self._stream_cdrs_once(payload, spool))
        except VosError as error:
            raise error.with_context(account=account_text, day=day) from error

    def _stream_cdrs_once(self, payload: dict[str, Any], spool: RecordSpool) -> int:
        interface = "GetCdr"
        instance = self.endpoint.instance
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        mark = spool.mark()
        scanner = ReplyScanner(spool)
        try:
            with self._gate():
                started = time.monotonic()
                try:
                    with self._streams.post(self.endpoint.url(interface), body) as (status, chunks):
                        self._check_status(interface, status)
                        for chunk in chunks:
                            scanner.feed(chunk)
                except TimeoutError as error:
                    raise VosTransportError(
                        f"request timed out: {type(error).__name__}",
                        instance=instance,
                        interface=interface,
                    ) from error
                except (OSError, http.client.HTTPException) as error:
                    raise VosTransportError(
                        f"request failed: {type(error).__name__}: {error}",
                        instance=instance,
                        interface=interface,
                    ) from error
                finally:
                    self._count_request(interface, started)

            members = scanner.finish()
            if members is None:
                # The reply never reached an infoCdrs array: an error reply, an empty or a small
                # non-JSON body. Parse it whole for the usual messages.
                reply = self._check_envelope(interface, scanner.small_body or b"")
                if not isinstance(reply.get("infoCdrs"), list):
                    raise VosTransportError(
                        "GetCdr reply has no infoCdrs list", instance=instance, interface=interface
                    )
                return scanner.bytes_received
            self._check_reply_object(interface, members)
            return scanner.bytes_received
        except ReplyFormatError as error:
            spool.rollback(mark)
            raise VosTransportError(
                f"reply is not a GetCdr JSON object: {error}",
                instance=instance,
                interface=interface,
            ) from None
        except BaseException:
            spool.rollback(mark)
            raise


def _ret_code(reply: dict[str, Any]) -> int | None:
    value = reply.get("retCode")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return None


def iter_batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
