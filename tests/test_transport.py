"""The transport (fibrecert/transport.py): redaction of secrets, rate limiting, and the
classification of what a target did, against real servers on loopback.

Every server here is a real socket on 127.0.0.1 served from daemon threads and closed by its
fixture. Timing bounds are generous: the checks are behavioural (it waited / it did not hang).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import ssl
import threading
import time
from typing import Any, Callable, Iterator

import pytest
import requests
from helpers import a_case, serving

from fibrecert.core.exchange import (DROPPED, EVIDENCE_BODY_LIMIT, MAX_RESPONSE_BYTES, TIMEOUT, TLS_REFUSED,
                                     UNREACHABLE, Exchange, redact_headers, redact_text)
from fibrecert.core.redaction import REDACTED, SecretRegistry, redact
from fibrecert.pki import ensure_sandbox_pki
from fibrecert.transport import RateLimiter, Transport

CLIENT_SECRET = "cs-4Hq9Lz2Wv7Np1Xk8"
OTHER_SECRET = "cs-other-Yt6Rb3Mn0Qw5"
ACCESS_TOKEN = "at-eyJhbGciOiJIUzI1NiJ9.payload.sig-77Zx"


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture
def registry() -> SecretRegistry:
    return SecretRegistry([CLIENT_SECRET, OTHER_SECRET])


@pytest.fixture
def transport(registry: SecretRegistry) -> Iterator[Transport]:
    t = Transport(secrets=registry, limiter=RateLimiter(None))
    yield t
    t.close()


class RawServer:
    """A TCP server on loopback whose every connection is handled by `handler(conn, server)` in a
    daemon thread. Closing it shuts every connection down, which also ends any client blocked on it."""

    def __init__(self, handler: Callable[[socket.socket, "RawServer"], None], backlog: int = 16):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.bytes_sent = 0
        self.received = b""
        self.conns: list[socket.socket] = []
        self.closed = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self)
        except OSError:
            pass

    def read_request(self, conn: socket.socket) -> bytes:
        """Read one request's head (and a small body if it came with it)."""
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        self.received += data
        return data

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.bytes_sent += len(data)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/resource"

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def make(handler: Callable[[socket.socket, RawServer], None], **kw: Any) -> RawServer:
        server = RawServer(handler, **kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def send(transport: Transport, url: str, *, timeout: float = 1.0, method: str = "POST", case: Any = None, **kw: Any):
    kw.setdefault("headers", {"Content-Type": "text/plain"})
    kw.setdefault("body", "hello")
    return transport.send(case or a_case(method=method), url=url, timeout=timeout, **kw)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: list[dict[str, Any]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append({"method": self.command, "path": self.path,  # type: ignore[attr-defined]
                                     "headers": dict(self.headers), "body": body})
        if self.path.startswith("/status/"):
            status = int(self.path.rsplit("/", 1)[1])
            out = b'{"status": %d}' % status
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", "/elsewhere")
        elif self.path == "/token":
            out = json.dumps({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}).encode()
            self.send_response(200)
            self.send_header("Set-Cookie", f"session={ACCESS_TOKEN}")
        else:
            out = b"echo:" + body
            self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Test-Header", "present")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[http.server.ThreadingHTTPServer]:
    with serving(_Handler, requests=[]) as server:
        yield server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    return ensure_sandbox_pki(tmp_path_factory.mktemp("pki") / "pki", {"buyer": "SPDEV1"})


# --------------------------------------------------------------------------------- redaction


def test_registry_scrubs_every_known_secret(registry: SecretRegistry) -> None:
    registry.add(ACCESS_TOKEN)
    text = f"secret={CLIENT_SECRET}; other {OTHER_SECRET}, token {ACCESS_TOKEN}!"
    out = redact(text, registry)
    for secret in (CLIENT_SECRET, OTHER_SECRET, ACCESS_TOKEN):
        assert secret not in out
    assert out == f"secret={REDACTED}; other {REDACTED}, token {REDACTED}!"
    assert redact("nothing secret here", registry) == "nothing secret here"


def test_registry_scrubs_the_longest_secret_first() -> None:
    """A secret that extends another must not leave its tail behind."""
    registry = SecretRegistry(["abcd1234", "abcd1234-tail-XYZ"])
    assert redact("x abcd1234-tail-XYZ y abcd1234 z", registry) == f"x {REDACTED} y {REDACTED} z"


def test_registry_scrubs_a_secret_as_python_quotes_it() -> None:
    """A token a hostile target issued with control characters in it cannot be sent, and requests'
    error message quotes the whole header value with escapes: that form is a secret too."""
    token = 'tok3n-<script>"\x1b[31m\r\x00'
    registry = SecretRegistry([token])
    with pytest.raises(requests.exceptions.InvalidHeader) as caught:
        requests.Request("POST", "https://localhost/", headers={"Authorization": f"Bearer {token}"}).prepare()
    message = str(caught.value)
    assert "tok3n-" in message and "tok3n-" not in redact(message, registry)
    assert redact(f"Received {token!r} and {token}", registry) == f"Received '{REDACTED}' and {REDACTED}"


def test_registry_ignores_empty_values() -> None:
    registry = SecretRegistry()
    registry.add(None)
    registry.add("")
    assert registry.values() == ()
    assert redact("unchanged", registry) == "unchanged"


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION", "Proxy-Authorization"])
def test_redact_headers_authorization_bearer_and_basic(registry: SecretRegistry, name: str) -> None:
    basic = base64.b64encode(f"tenant-a:{CLIENT_SECRET}".encode()).decode()
    bearer = redact_headers({name: f"Bearer {ACCESS_TOKEN}", "Accept": "application/json"}, registry)
    assert bearer == {name: f"Bearer {REDACTED}", "Accept": "application/json"}
    assert redact_headers({name: f"Basic {basic}"}, registry) == {name: f"Basic {REDACTED}"}
    assert redact_headers({name: ACCESS_TOKEN}, registry) == {name: REDACTED}  # no scheme at all


def test_redact_headers_cookies_and_known_secrets_in_other_headers(registry: SecretRegistry) -> None:
    out = redact_headers({"Set-Cookie": f"session={ACCESS_TOKEN}", "Cookie": f"s={ACCESS_TOKEN}",
                          "X-Debug": f"client_secret was {CLIENT_SECRET}", "X-Plain": "fine"}, registry)
    dumped = json.dumps(out)
    assert ACCESS_TOKEN not in dumped and CLIENT_SECRET not in dumped
    assert out["Set-Cookie"] == REDACTED and out["Cookie"] == REDACTED
    assert out["X-Debug"] == f"client_secret was {REDACTED}"
    assert out["X-Plain"] == "fine"


@pytest.mark.parametrize("name,value", [
    ("Set-Cookie", f"session={ACCESS_TOKEN}; Path=/; HttpOnly; Secure"),
    ("Cookie", f"session={ACCESS_TOKEN}; theme=dark"),
], ids=["Set-Cookie", "Cookie"])
def test_redact_headers_cookie_values_with_attributes(name: str, value: str) -> None:
    out = redact_headers({name: value}, SecretRegistry())
    assert ACCESS_TOKEN not in json.dumps(out)


@pytest.mark.parametrize("body", [
    "grant_type=client_credentials&client_id=tenant-a&client_secret=UNREGISTERED-s3cr3t",
    "client_secret=UNREGISTERED-s3cr3t&grant_type=client_credentials",
    "grant_type=password&username=u&password=UNREGISTERED-s3cr3t",
    "refresh_token=UNREGISTERED-s3cr3t",
])
def test_redact_text_form_secret_fields(body: str) -> None:
    out = redact_text(body, SecretRegistry())
    assert "UNREGISTERED-s3cr3t" not in out
    assert REDACTED in out
    # the rest of the form survives
    for field in body.split("&"):
        if "UNREGISTERED" not in field:
            assert field in out


@pytest.mark.parametrize("body", [
    json.dumps({"access_token": "UNREGISTERED-tok3n", "token_type": "Bearer", "expires_in": 3600}),
    '{"access_token":"UNREGISTERED-tok3n","token_type":"Bearer"}',
    '{\n  "refresh_token" :  "UNREGISTERED-tok3n",\n  "token_type": "Bearer"\n}',
    '{"client_secret": "UNREGISTERED-tok3n", "token_type": "Bearer"}',
])
def test_redact_text_json_token_values(body: str) -> None:
    out = redact_text(body, SecretRegistry())
    assert "UNREGISTERED-tok3n" not in out
    assert REDACTED in out
    assert '"token_type"' in out and "Bearer" in out
    json.loads(out)  # still JSON


def test_redact_text_scrubs_registered_secrets_anywhere(registry: SecretRegistry) -> None:
    body = f"<fault><detail>bad credentials {CLIENT_SECRET}</detail></fault>"
    assert redact_text(body, registry) == f"<fault><detail>bad credentials {REDACTED}</detail></fault>"


def _secret_laden_exchange(**kw: Any) -> Exchange:
    basic = base64.b64encode(f"tenant-a:{CLIENT_SECRET}".encode()).decode()
    fields = dict(
        case=a_case(id="X000007", operation="POST /auth/tenant/access-token", endpoint="token", path=""),
        url=f"https://127.0.0.1:1/v1/auth?client_secret={CLIENT_SECRET}&x={OTHER_SECRET}",
        request_headers={"Authorization": f"Basic {basic}", "X-Other": f"Bearer {ACCESS_TOKEN}",
                         "Content-Type": "application/x-www-form-urlencoded"},
        request_body=f"grant_type=client_credentials&client_id=tenant-a&client_secret={CLIENT_SECRET}",
        status=200,
        response_headers={"Set-Cookie": f"sid={ACCESS_TOKEN}", "Content-Type": "application/json",
                          "X-Echo": OTHER_SECRET},
        response_body=json.dumps({"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                                  "note": f"issued for {CLIENT_SECRET}"}).encode(),
        elapsed=0.0123,
    )
    fields.update(kw)
    return Exchange(**fields)


def test_evidence_contains_no_secret(registry: SecretRegistry) -> None:
    registry.add(ACCESS_TOKEN)
    basic = base64.b64encode(f"tenant-a:{CLIENT_SECRET}".encode()).decode()
    evidence = _secret_laden_exchange().evidence(registry)
    dumped = json.dumps(evidence)
    for secret in (CLIENT_SECRET, OTHER_SECRET, ACCESS_TOKEN, basic):
        assert secret not in dumped
    # ...while what is not secret is still there to read
    assert evidence["exchange"] == "X000007"
    assert evidence["response"]["status"] == 200
    assert "grant_type=client_credentials" in evidence["request"]["body"]
    assert evidence["request"]["headers"]["Authorization"] == f"Basic {REDACTED}"
    assert json.loads(evidence["response"]["body"])["token_type"] == "Bearer"
    assert evidence["elapsed_ms"] == 12.3


def test_evidence_redacts_unregistered_tokens_by_field_name() -> None:
    """A token the run has not registered yet (the answer that issues it) is still redacted."""
    evidence = _secret_laden_exchange(url="https://127.0.0.1:1/v1/auth", request_headers={},
                                      response_headers={}).evidence(SecretRegistry())
    dumped = json.dumps(evidence)
    assert ACCESS_TOKEN not in dumped
    assert CLIENT_SECRET not in evidence["request"]["body"]


def test_evidence_of_a_transport_error_scrubs_the_detail(registry: SecretRegistry) -> None:
    ex = _secret_laden_exchange(status=None, response_body=b"", error=TIMEOUT,
                                error_detail=f"read timed out for {CLIENT_SECRET}")
    evidence = ex.evidence(registry)
    assert evidence["response"] == {"error": TIMEOUT, "detail": f"read timed out for {REDACTED}"}
    assert CLIENT_SECRET not in json.dumps(evidence)
    assert ex.describe() == f"timeout (read timed out for {CLIENT_SECRET})"  # in memory only


def test_evidence_truncates_large_bodies(registry: SecretRegistry) -> None:
    ex = _secret_laden_exchange(response_body=b"a" * (EVIDENCE_BODY_LIMIT + 10), request_body="b" * (EVIDENCE_BODY_LIMIT * 2))
    evidence = ex.evidence(registry)
    assert evidence["response"]["truncated"] is True
    assert len(evidence["response"]["body"]) == EVIDENCE_BODY_LIMIT
    assert len(evidence["request"]["body"]) == EVIDENCE_BODY_LIMIT


@pytest.mark.parametrize("where", ["response", "request"])
def test_evidence_truncation_does_not_leak_part_of_a_secret(registry: SecretRegistry, where: str) -> None:
    registry.add(ACCESS_TOKEN)
    head, middle = '{"padding": "', '", "access_token": "'
    pad = EVIDENCE_BODY_LIMIT - len(head) - len(middle) - (len(ACCESS_TOKEN) - 4)  # cut 4 characters before its end
    body = head + "p" * pad + middle + ACCESS_TOKEN + '", "token_type": "Bearer"}'
    assert body.index(ACCESS_TOKEN) + len(ACCESS_TOKEN) - 4 == EVIDENCE_BODY_LIMIT  # the cut is inside the token
    ex = (_secret_laden_exchange(response_body=body.encode()) if where == "response"
          else _secret_laden_exchange(request_body=body, response_body=b"{}"))
    dumped = json.dumps(ex.evidence(registry))
    assert ACCESS_TOKEN[:-4] not in dumped


def test_evidence_of_a_real_exchange_contains_no_secret(transport: Transport, registry: SecretRegistry,
                                                        http_server: http.server.ThreadingHTTPServer) -> None:
    basic = base64.b64encode(f"tenant-a:{CLIENT_SECRET}".encode()).decode()
    ex = send(transport, f"http://127.0.0.1:{http_server.server_port}/token",
              headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
              body=f"grant_type=client_credentials&client_secret={CLIENT_SECRET}")
    assert ex.error is None and ex.status == 200
    assert ACCESS_TOKEN in ex.text  # it came back...
    assert http_server.requests[0]["headers"]["Authorization"] == f"Basic {basic}"  # ...and went out
    dumped = json.dumps(ex.evidence(registry))  # ...but is written nowhere
    for secret in (CLIENT_SECRET, ACCESS_TOKEN, basic):
        assert secret not in dumped


def test_a_credential_the_target_echoes_back_is_written_nowhere(transport: Transport, registry: SecretRegistry,
                                                                raw_server) -> None:
    """The Basic pair is base64 of client_id:client_secret, as good as the secret: a target echoing the
    Authorization header (in a header or the body) must not put it in the evidence."""
    basic = base64.b64encode(f"tenant-a:{CLIENT_SECRET}".encode()).decode()

    def handler(conn: socket.socket, server: RawServer) -> None:
        head = server.read_request(conn).decode("latin-1")
        auth = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                    if line.lower().startswith("authorization:"))
        body = f'{{"you sent": "{auth}"}}'.encode()
        server.send(conn, b"HTTP/1.1 400 Bad Request\r\nX-Echo: %s\r\nContent-Length: %d\r\n"
                          b"Connection: close\r\n\r\n%s" % (auth.encode(), len(body), body))

    ex = send(transport, raw_server(handler).url(), headers={"Authorization": f"Basic {basic}"}, body="grant_type=x")
    assert ex.status == 400 and basic in ex.text and basic in ex.header("X-Echo")
    dumped = json.dumps(ex.evidence(registry))
    assert basic not in dumped and CLIENT_SECRET not in dumped


# ------------------------------------------------------------------------------ rate limiting


def test_rate_limiter_spaces_requests() -> None:
    limiter = RateLimiter(20)
    started = time.monotonic()
    for _ in range(10):
        limiter.wait()
    elapsed = time.monotonic() - started
    assert 0.43 <= elapsed < 1.0  # 9 intervals of 50 ms after the first, immediate, request


def test_rate_limiter_is_shared_across_threads() -> None:
    limiter = RateLimiter(20)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            limiter.wait()
            with lock:
                stamps.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert len(stamps) == 12
    assert max(stamps) - started >= 0.52  # 11 intervals of 50 ms, whatever the thread
    # The n-th request (in time, whichever thread sent it) went no earlier than n intervals after the start.
    for n, stamp in enumerate(sorted(stamps)):
        assert stamp - started >= n * 0.05 - 0.002, (n, stamp - started)
    assert max(stamps) - started < 1.0


@pytest.mark.parametrize("max_rps", [None, 0])
def test_no_rate_limit_does_not_wait(max_rps: float | None) -> None:
    limiter = RateLimiter(max_rps)
    started = time.monotonic()
    for _ in range(200):
        limiter.wait()
    assert time.monotonic() - started < 0.1


def test_transport_send_is_rate_limited(registry: SecretRegistry) -> None:
    closed = _closed_port()
    transport = Transport(secrets=registry, limiter=RateLimiter(20))
    try:
        started = time.monotonic()
        for _ in range(6):
            assert send(transport, f"http://127.0.0.1:{closed}/").error == UNREACHABLE
        elapsed = time.monotonic() - started
    finally:
        transport.close()
    assert transport.sent == 6
    assert 0.23 <= elapsed < 2.0


# ------------------------------------------------------------------------ transport outcomes


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_closed_port_is_unreachable(transport: Transport, scheme: str) -> None:
    started = time.monotonic()
    ex = send(transport, f"{scheme}://127.0.0.1:{_closed_port()}/x")
    assert ex.error == UNREACHABLE
    assert ex.status is None and ex.response_body == b""
    assert ex.error_detail and "\n" not in ex.error_detail
    assert ex.describe().startswith("unreachable (")
    assert time.monotonic() - started < 2


def test_connect_timeout_is_unreachable(transport: Transport) -> None:
    """A listener whose accept queue is full drops the SYN: the connection never establishes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(filler)
        time.sleep(0.05)
        started = time.monotonic()
        ex = send(transport, f"http://127.0.0.1:{port}/x", timeout=0.5)
        elapsed = time.monotonic() - started
    finally:
        for filler in fillers:
            filler.close()
        server.close()
    assert ex.error == UNREACHABLE, ex.describe()
    assert 0.4 <= elapsed < 5


def _silent(conn: socket.socket, server: RawServer) -> None:
    server.closed.wait(30)


@pytest.mark.parametrize("scheme,timeout", [("http", 1.0), ("https", 0.5)])
def test_server_that_never_answers_times_out(transport: Transport, raw_server, scheme: str, timeout: float) -> None:
    """Connected, then silence (for https: the TLS handshake is never answered)."""
    server = raw_server(_silent)
    started = time.monotonic()
    ex = send(transport, server.url(scheme), timeout=timeout)
    elapsed = time.monotonic() - started
    assert ex.error == TIMEOUT, ex.describe()
    assert server.accepted == 1
    assert timeout * 0.9 <= elapsed < 5
    assert timeout * 0.9 <= ex.elapsed < 5


def _read_then_close(conn: socket.socket, server: RawServer) -> None:
    conn.settimeout(5)
    server.received += conn.recv(65536)  # the request's head, or a TLS ClientHello
    conn.close()


@pytest.mark.parametrize("scheme,expected", [("http", DROPPED), ("https", TLS_REFUSED)])
def test_server_that_closes_without_answering(transport: Transport, raw_server, scheme: str, expected: str) -> None:
    server = raw_server(_read_then_close)
    ex = send(transport, server.url(scheme), timeout=2.0)
    assert ex.error == expected, ex.describe()
    assert ex.status is None
    assert server.accepted == 1 and server.received
    assert ex.elapsed < 2


def _partial_body_then_close(conn: socket.socket, server: RawServer) -> None:
    server.read_request(conn)
    server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\nonly a part")
    conn.close()


def test_server_that_closes_mid_answer_dropped(transport: Transport, raw_server) -> None:
    server = raw_server(_partial_body_then_close)
    ex = send(transport, server.url(), timeout=2.0)
    assert ex.error == DROPPED, ex.describe()
    assert ex.elapsed < 2


def _garbage(conn: socket.socket, server: RawServer) -> None:
    server.read_request(conn)
    server.send(conn, b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    conn.close()


def test_server_that_answers_garbage_is_dropped(transport: Transport, raw_server) -> None:
    ex = send(transport, raw_server(_garbage).url(), timeout=2.0)
    assert ex.error == DROPPED, ex.describe()
    assert ex.status is None


def _trickle_chunked(conn: socket.socket, server: RawServer) -> None:
    server.read_request(conn)
    server.send(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
    while not server.closed.is_set():
        server.send(conn, b"1\r\nx\r\n")
        time.sleep(0.1)


def _trickle_sized_body(conn: socket.socket, server: RawServer) -> None:
    server.read_request(conn)
    server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n")
    while not server.closed.is_set():
        server.send(conn, b"x")
        time.sleep(0.1)


def _trickle_headers(conn: socket.socket, server: RawServer) -> None:
    server.read_request(conn)
    server.send(conn, b"HTTP/1.1 200 OK\r\n")
    while not server.closed.is_set():
        server.send(conn, b"X")
        time.sleep(0.1)


def _trickle_chunked_redirect(conn: socket.socket, server: RawServer) -> None:
    server.read_request(conn)
    server.send(conn, b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not server.closed.is_set():
        server.send(conn, b"1\r\nx\r\n")
        time.sleep(0.1)


def _send_with_watchdog(transport: Transport, server: RawServer, timeout: float, grace: float):
    """Send in a thread; return (exchange or None if still running after timeout + grace, seconds)."""
    result: list[Exchange] = []
    thread = threading.Thread(target=lambda: result.append(send(transport, server.url(), timeout=timeout)),
                              daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout + grace)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        server.close()  # end the hostile server: the blocked client sees EOF and finishes
        thread.join(5)
        return None, elapsed
    return result[0], elapsed


def test_slow_endless_chunked_answer_times_out_within_deadline(transport: Transport, raw_server) -> None:
    server = raw_server(_trickle_chunked)
    ex, elapsed = _send_with_watchdog(transport, server, timeout=0.5, grace=1.0)
    assert ex is not None, "the transport hung on a slow target"
    assert ex.error == TIMEOUT, ex.describe()
    assert server.bytes_sent > 0  # it did trickle
    assert 0.45 <= elapsed < 0.5 + 1.0


@pytest.mark.parametrize("handler", [_trickle_sized_body, _trickle_headers, _trickle_chunked_redirect],
                         ids=["sized-body", "headers", "chunked-redirect"])
def test_slow_trickle_never_hangs_the_run(transport: Transport, raw_server, handler) -> None:
    server = raw_server(handler)
    ex, elapsed = _send_with_watchdog(transport, server, timeout=0.5, grace=1.0)
    assert ex is not None, f"the transport was still reading after {elapsed:.1f} s (timeout 0.5 s)"
    assert ex.error == TIMEOUT, ex.describe()


def _endless_large(conn: socket.socket, server: RawServer, head: bytes = b"HTTP/1.1 200 OK\r\n") -> None:
    server.read_request(conn)
    total = 64 * 1024 * 1024
    server.send(conn, head + b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % total)
    block = b"z" * 65536
    while server.bytes_sent < total and not server.closed.is_set():
        server.send(conn, block)


def test_over_large_answer_is_not_read_fully(transport: Transport, raw_server) -> None:
    server = raw_server(_endless_large)
    started = time.monotonic()
    ex = send(transport, server.url(), method="GET", timeout=5.0)
    elapsed = time.monotonic() - started
    assert ex.error == DROPPED
    assert str(MAX_RESPONSE_BYTES) in ex.error_detail and "not read" in ex.error_detail
    assert ex.status == 200
    assert ex.response_body == b""  # nothing kept in memory
    time.sleep(0.1)
    assert server.bytes_sent < 32 * 1024 * 1024  # the client stopped reading long before the end
    assert elapsed < 5


def test_answer_just_under_the_limit_is_read(transport: Transport, raw_server) -> None:
    size = MAX_RESPONSE_BYTES - 100

    def handler(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
        server.send(conn, b"y" * size)
        server.closed.wait(5)

    ex = send(transport, raw_server(handler).url(), method="GET", timeout=5.0)
    assert ex.error is None, ex.describe()
    assert len(ex.response_body) == size


# ------------------------------------------------------------------------------- success


def test_successful_plain_http_exchange(registry: SecretRegistry,
                                        http_server: http.server.ThreadingHTTPServer) -> None:
    seen: list[Exchange] = []
    transport = Transport(secrets=registry, limiter=RateLimiter(None), on_exchange=seen.append)
    url = f"http://127.0.0.1:{http_server.server_port}/v1/things?x=1"
    try:
        ex = transport.send(a_case(operation="POST /things"), url=url,
                            headers={"Content-Type": "application/json", "X-Request-Id": "r-1"},
                            body='{"a": 1}', timeout=2.0)
    finally:
        transport.close()
    assert ex.error is None and ex.error_detail == ""
    assert ex.status == 201
    assert ex.describe() == "HTTP 201"
    assert ex.header("x-test-header") == "present" and ex.header("CONTENT-TYPE") == "application/json"
    assert ex.response_body == b'echo:{"a": 1}' and ex.text == 'echo:{"a": 1}'
    assert 0 < ex.elapsed < 2
    assert ex.id == "X000001" and ex.api == "fibrecafe" and ex.operation == "POST /things"
    assert ex.method == "POST" and ex.url == url
    assert ex.request_headers == {"Content-Type": "application/json", "X-Request-Id": "r-1"}
    assert ex.request_body == '{"a": 1}'
    assert seen == [ex] and transport.sent == 1
    (request,) = http_server.requests
    assert request["method"] == "POST" and request["path"] == "/v1/things?x=1"
    assert request["body"] == b'{"a": 1}' and request["headers"]["X-Request-Id"] == "r-1"


@pytest.mark.parametrize("status", [400, 404, 503])
def test_error_statuses_are_answers(transport: Transport, status: int,
                                                  http_server: http.server.ThreadingHTTPServer) -> None:
    ex = send(transport, f"http://127.0.0.1:{http_server.server_port}/status/{status}", method="GET", timeout=2.0)
    assert ex.error is None
    assert ex.status == status
    assert json.loads(ex.text) == {"status": status}
    assert len(http_server.requests) == 1


def test_redirects_are_not_followed(transport: Transport, http_server: http.server.ThreadingHTTPServer) -> None:
    ex = send(transport, f"http://127.0.0.1:{http_server.server_port}/status/302", method="GET", timeout=2.0)
    assert ex.error is None
    assert ex.status == 302 and ex.header("Location") == "/elsewhere"
    assert [r["path"] for r in http_server.requests] == ["/status/302"]  # the target's own answer is recorded


# Regression: requests' Session.send(allow_redirects=False) still reads a 3xx body (to compute
# response.next) before streaming, so redirect bodies escaped MAX_RESPONSE_BYTES and the deadline.


def test_redirect_answer_body_is_recorded(transport: Transport, http_server: http.server.ThreadingHTTPServer) -> None:
    ex = send(transport, f"http://127.0.0.1:{http_server.server_port}/status/302", method="GET", timeout=2.0)
    assert ex.status == 302
    assert ex.response_body == b'{"status": 302}'


def _endless_large_redirect(conn: socket.socket, server: RawServer) -> None:
    _endless_large(conn, server, head=b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n")


def test_over_large_redirect_answer_is_not_read_fully(transport: Transport, raw_server) -> None:
    server = raw_server(_endless_large_redirect)
    ex = send(transport, server.url(), method="GET", timeout=5.0)
    time.sleep(0.1)
    assert server.bytes_sent < 32 * 1024 * 1024, "the whole 64 MiB answer was read into memory"
    assert ex.error == DROPPED


def test_an_exchange_is_its_cases(transport: Transport, http_server: http.server.ThreadingHTTPServer) -> None:
    """What an exchange is (id, API, operation, identity, method, constraint, whether a refusal is its
    point) is read from the Case it was sent for; what went on the wire is kept as sent."""
    cases = [a_case(id=f"X{n:03d}.1", operation="POST /service-orders", identity="no-token", constraint="c.x")
             for n in range(1, 4)]
    sent = [send(transport, f"http://127.0.0.1:{http_server.server_port}/", timeout=2.0, case=c) for c in cases]
    assert [ex.id for ex in sent] == ["X001.1", "X002.1", "X003.1"]
    assert transport.sent == 3
    ex = sent[0]
    assert ex.case is cases[0]
    assert (ex.api, ex.operation, ex.method, ex.constraint) == ("fibrecafe", "POST /service-orders", "POST", "c.x")
    assert ex.identity == cases[0].identity and ex.refusal_expected is True  # no token: refused by design
    assert ex.evidence(None)["identity"] == "no-token" and ex.request_body == "hello"


# --------------------------------------------------------------------------------- mutual TLS


@pytest.fixture
def mtls_server(pki) -> Iterator[int]:
    """An HTTPS server that requires a client certificate issued by the PKI's CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(str(pki.ca))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=True)
    server.daemon_threads = True
    server.requests = []  # type: ignore[attr-defined]
    plain_get_request = server.get_request

    def get_request():
        sock, addr = plain_get_request()
        sock.settimeout(5)
        return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    server.get_request = get_request  # type: ignore[method-assign]
    server.handle_error = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=2)


def test_mutual_tls_with_and_without_a_client_certificate(transport: Transport, pki, mtls_server: int) -> None:
    url = f"https://localhost:{mtls_server}/"
    good = send(transport, url, verify=str(pki.ca), cert=(str(pki.clients["SPDEV1"].cert),
                                                         str(pki.clients["SPDEV1"].key)), timeout=3.0)
    assert good.error is None, good.describe()
    assert good.status == 201
    refused = send(transport, url, verify=str(pki.ca), timeout=3.0, case=a_case(may_be_refused=True))
    assert refused.error == TLS_REFUSED, refused.describe()
    assert refused.refusal_expected is True


def test_untrusted_server_certificate_is_tls_refused(transport: Transport, mtls_server: int) -> None:
    """The sandbox CA is in no default trust store: the client refuses the server."""
    ex = send(transport, f"https://localhost:{mtls_server}/", verify=True, timeout=3.0)
    assert ex.error == TLS_REFUSED
    assert "certificate" in ex.error_detail.lower()


def test_sending_never_walks_the_environment(transport, http_server, monkeypatch):
    """pytest rewrites PYTEST_CURRENT_TEST in the run's main thread while the tests' threads send; requests
    walked os.environ on every request (proxy settings, .netrc), and a walk that met the rewrite failed
    with KeyError: a "dropped" answer, a false ROB-002 failure (seen once in ~16,000 requests). Once the
    target's URLs are primed, sending walks the environment not once."""
    import collections.abc

    class Watched(collections.abc.MutableMapping):
        def __init__(self, real):  # noqa: ANN001
            self.real, self.walks = real, 0

        def __getitem__(self, key):  # noqa: ANN001
            return self.real[key]

        def __setitem__(self, key, value):  # noqa: ANN001
            self.real[key] = value

        def __delitem__(self, key):  # noqa: ANN001
            del self.real[key]

        def __iter__(self):
            self.walks += 1
            return iter(self.real)

        def __len__(self):
            return len(self.real)

    url = f"http://127.0.0.1:{http_server.server_address[1]}/x"
    transport.prime([url])
    watched = Watched(os.environ)
    monkeypatch.setattr(os, "environ", watched)
    results = [send(transport, url) for _ in range(20)]
    monkeypatch.undo()
    assert {ex.status for ex in results} == {201}, [ex.error_detail for ex in results]
    assert watched.walks == 0


def test_the_proxy_and_ca_bundle_from_the_environment_still_apply(registry, monkeypatch):
    """Read once, the environment still means what requests makes of it: HTTPS_PROXY (unless NO_PROXY
    names the host) and REQUESTS_CA_BUNDLE in place of verify=True; .netrc is never consulted."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "direct.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    t = Transport(secrets=registry, limiter=RateLimiter(None))
    try:
        assert t._proxies_for("https://vendor.example/x").get("https") == "http://proxy.invalid:3128"
        assert not t._proxies_for("https://direct.example/x").get("https")
        ex = send(t, "https://direct.example:9/x", timeout=2)
        assert ex.error is not None and "bundle.pem" in ex.error_detail
    finally:
        t.close()
