"""Streaming GetCdr replies into a spool: the envelope scanner and the client over HTTP."""

import base64
import datetime as dt
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ykvos_dagster.vos3000.cdr_stream import CdrSpool, ReplyFormatError, ReplyScanner
from ykvos_dagster.vos3000.client import VosClient, VosEndpoint, environment_proxy
from ykvos_dagster.vos3000.errors import VosReturnCodeError, VosTransportError

DAY = dt.date(2025, 3, 14)
RECORDS = [{"flowNo": number, "account": "a]b}" if number % 2 else "x"} for number in range(5)]


def scan(spool: CdrSpool, body: bytes, chunk_size: int):
    scanner = ReplyScanner(spool)
    for start in range(0, len(body), chunk_size):
        scanner.feed(body[start : start + chunk_size])
    return scanner.finish(), scanner


@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
def test_spool_collects_arrays_of_replies(tmp_path, chunk_size):
    replies = [
        json.dumps({"retCode": 0, "infoCdrs": RECORDS}).encode(),
        b'{"retCode":0,"infoCdrs":[]}',
        b'[ {"retCode":0,"infoCdrs":[ {"flowNo":9} ] } ]',
        b'{"infoCdrs":[{"flowNo":10}],"retCode":0,"extra":[1,2]}',
    ]
    spool = CdrSpool(tmp_path / "spool.json")
    members = [scan(spool, body, chunk_size)[0] for body in replies]
    spool.close()

    assert json.loads(spool.path.read_bytes()) == [*RECORDS, {"flowNo": 9}, {"flowNo": 10}]
    assert members[0] == {"retCode": 0}
    assert members[3] == {"retCode": 0, "extra": [1, 2]}


def test_large_reply_streams_through(tmp_path):
    records = [{"flowNo": number, "account": "华信" * 20} for number in range(20_000)]
    body = json.dumps({"retCode": 0, "infoCdrs": records}, ensure_ascii=False).encode()
    spool = CdrSpool(tmp_path / "spool.json")
    members, scanner = scan(spool, body, 65536)
    spool.close()
    assert members == {"retCode": 0}
    assert json.loads(spool.path.read_bytes()) == records
    assert scanner.bytes_received == len(body)


def test_error_reply_members_parsed(tmp_path):
    body = b'{"retCode":-10124,"exception":"Input parameter error","infoCdrs":[]}'
    members, _ = scan(CdrSpool(tmp_path / "spool.json"), body, 5)
    assert members == {"retCode": -10124, "exception": "Input parameter error"}


def test_reply_without_array_kept_whole(tmp_path):
    members, scanner = scan(CdrSpool(tmp_path / "spool.json"), b'{"retCode":0}', 3)
    assert members is None
    assert scanner.small_body == b'{"retCode":0}'


@pytest.mark.parametrize(
    "body",
    [
        b"<html>error</html>",
        b'{"retCode":0,"infoCdrs":[{"flowNo":1}',
        b'{"retCode":0,"infoCdrs":[{"flowNo":1}]',
        b'[{"retCode":0,"infoCdrs":[]},{"retCode":0}]',
    ],
)
def test_malformed_reply_rejected(tmp_path, body):
    with pytest.raises(ReplyFormatError):
        scan(CdrSpool(tmp_path / "spool.json"), body, 4)


def test_rollback_drops_failed_reply(tmp_path):
    spool = CdrSpool(tmp_path / "spool.json")
    scan(spool, b'{"retCode":0,"infoCdrs":[{"flowNo":1}]}', 100)
    mark = spool.mark()
    scan(spool, b'{"infoCdrs":[{"flowNo":2}],"retCode":-10006}', 100)
    spool.rollback(mark)
    scan(spool, b'{"retCode":0,"infoCdrs":[{"flowNo":3}]}', 100)
    spool.close()
    assert json.loads(spool.path.read_bytes()) == [{"flowNo": 1}, {"flowNo": 3}]


class _FixedReplies(BaseHTTPRequestHandler):
    """Replies with the next body of `server.bodies` to every POST."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, self.headers.get("Proxy-Authorization")))
        body = self.server.bodies.pop(0)
        encoding = None
        if isinstance(body, tuple):
            body, encoding = body
        self.send_response(200)
        if encoding == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 7):
                piece = body[start : start + 7]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if encoding is not None:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fixed_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FixedReplies)
    server.bodies = []
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def stream(server, bodies, tmp_path: Path, retries=0, base_url=None):
    server.bodies = list(bodies)
    endpoint = VosEndpoint(
        instance="sw-1",
        base_url=base_url or f"http://127.0.0.1:{server.server_address[1]}",
        retries=retries,
        backoff_seconds=0.01,
    )
    spool = CdrSpool(tmp_path / "spool.json")
    with VosClient(endpoint) as client:
        try:
            client.stream_cdrs(["acct-1", "acct-2"], DAY, spool)
        finally:
            spool.close()
    return json.loads(spool.path.read_bytes())


def test_stream_ret_code_error_names_context(fixed_server, tmp_path):
    body = b'{"retCode":-10033,"exception":"Over the limitation","infoCdrs":[]}'
    with pytest.raises(VosReturnCodeError) as raised:
        stream(fixed_server, [body], tmp_path)
    message = str(raised.value)
    assert "instance=sw-1" in message
    assert "account='acct-1,acct-2'" in message
    assert "day=2025-03-14" in message
    assert "retCode=-10033" in message


@pytest.mark.parametrize("body", [b"", b"<html>500</html>", b'{"retCode":0,"infoCdrs":[{"a":1}'])
def test_stream_invalid_body_is_transport_error(fixed_server, tmp_path, body):
    with pytest.raises(VosTransportError, match="acct-1,acct-2"):
        stream(fixed_server, [body], tmp_path)


def test_stream_retry_leaves_one_copy(fixed_server, tmp_path):
    truncated = b'{"retCode":0,"infoCdrs":[{"flowNo":1},{"flowNo":2}'
    complete = b'{"retCode":0,"infoCdrs":[{"flowNo":1},{"flowNo":2}]}'
    assert stream(fixed_server, [truncated, complete], tmp_path, retries=1) == [
        {"flowNo": 1},
        {"flowNo": 2},
    ]


def test_stream_unwraps_one_element_array(fixed_server, tmp_path):
    body = b'[{"retCode":0,"infoCdrs":[{"flowNo":1}]}]'
    assert stream(fixed_server, [body], tmp_path) == [{"flowNo": 1}]


def test_stream_decodes_gzip_reply(fixed_server, tmp_path):
    # The request accepts no encoding, but a proxy or a newer server may compress anyway.
    body = gzip.compress(b'{"retCode":0,"infoCdrs":[{"flowNo":1},{"flowNo":2}]}')
    assert stream(fixed_server, [(body, "gzip")], tmp_path) == [{"flowNo": 1}, {"flowNo": 2}]


def test_stream_reads_chunked_reply(fixed_server, tmp_path):
    body = b'{"retCode":0,"infoCdrs":[{"flowNo":1},{"flowNo":2}]}'
    assert stream(fixed_server, [(body, "chunked")], tmp_path) == [{"flowNo": 1}, {"flowNo": 2}]


def test_stream_unknown_encoding_is_transport_error(fixed_server, tmp_path):
    with pytest.raises(VosTransportError, match="Content-Encoding 'br'"):
        stream(fixed_server, [(b"\x00\x01", "br")], tmp_path)


def test_stream_reuses_connection_after_full_reply(fixed_server, tmp_path):
    body = b'{"retCode":0,"infoCdrs":[{"flowNo":1}]}'
    fixed_server.bodies = [body, body]
    endpoint = VosEndpoint(
        instance="sw-1", base_url=f"http://127.0.0.1:{fixed_server.server_address[1]}"
    )
    spool = CdrSpool(tmp_path / "spool.json")
    with VosClient(endpoint) as client:
        client.stream_cdrs(["acct-1"], DAY, spool)
        first = client._streams._connection
        client.stream_cdrs(["acct-2"], DAY, spool)
        assert first is not None
        assert client._streams._connection is first
    spool.close()
    assert json.loads(spool.path.read_bytes()) == [{"flowNo": 1}, {"flowNo": 1}]


@pytest.fixture
def no_proxy_environment(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_stream_goes_through_http_proxy(fixed_server, tmp_path, no_proxy_environment):
    proxy_port = fixed_server.server_address[1]
    no_proxy_environment.setenv("HTTP_PROXY", f"http://ops:s%40cret@127.0.0.1:{proxy_port}")
    body = b'{"retCode":0,"infoCdrs":[{"flowNo":1}]}'
    # Nothing listens on port 9, so only the proxy can reply.
    assert stream(fixed_server, [body], tmp_path, base_url="http://127.0.0.1:9") == [{"flowNo": 1}]
    path, authorization = fixed_server.requests[0]
    assert path == "http://127.0.0.1:9/external/server/GetCdr"
    assert authorization == "Basic " + base64.b64encode(b"ops:s@cret").decode()


def test_stream_no_proxy_goes_direct(fixed_server, tmp_path, no_proxy_environment):
    no_proxy_environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    no_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    body = b'{"retCode":0,"infoCdrs":[{"flowNo":1}]}'
    assert stream(fixed_server, [body], tmp_path) == [{"flowNo": 1}]
    assert fixed_server.requests == [("/external/server/GetCdr", None)]


def test_environment_proxy_by_scheme(no_proxy_environment):
    no_proxy_environment.setenv("HTTPS_PROXY", "proxy.example:3128")
    assert environment_proxy(urlsplit("http://192.0.2.10:9090")) is None
    proxy = environment_proxy(urlsplit("https://192.0.2.10:9090"))
    assert (proxy.hostname, proxy.port) == ("proxy.example", 3128)


def test_environment_socks_proxy_rejected(no_proxy_environment):
    no_proxy_environment.setenv("ALL_PROXY", "socks5://proxy.example:1080")
    with pytest.raises(ValueError, match="socks5://proxy.example:1080 .* not supported"):
        environment_proxy(urlsplit("http://192.0.2.10:9090"))


def test_stream_https_proxy_fails_getcdr_only(tmp_path, no_proxy_environment):
    # httpx, which sends the other requests, accepts an https:// proxy.
    no_proxy_environment.setenv("HTTP_PROXY", "https://proxy.example:3128")
    endpoint = VosEndpoint(instance="sw-1", base_url="http://127.0.0.1:9")
    with VosClient(endpoint) as client:
        spool = CdrSpool(tmp_path / "spool.json")
        with pytest.raises(ValueError, match="http:// proxies only"):
            client.stream_cdrs(["acct-1"], DAY, spool)
        spool.close()
