"""The sandbox's HTTPS server (sandbox/server.py) on its own: one write per answer, keep-alive,
deadlines for slow clients, a bound on connections, added latency. Real TLS on loopback, a trivial
WSGI app; small limits so that every deadline fires within a second.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from fibrecert.pki import SandboxPKI, ensure_sandbox_pki
from fibrecert.sandbox.server import Limits, TLSServer, server_tls_context

FAST = Limits(connections=64, handshake=0.5, head=0.5, idle=0.5, body=0.5, write=0.5)


@pytest.fixture(scope="module")
def pki(pki_dir: Path) -> SandboxPKI:
    return ensure_sandbox_pki(pki_dir, {"buyer": "SPDEV1", "other": "SPDEV2", "seller": "CITYFIBRE"})


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Echoes what it read; /big answers 256 KiB; /block waits for app.release; /boom raises."""
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("a bug")
    if path == "/block":
        app.release.wait(10)  # type: ignore[attr-defined]
    body = environ["wsgi.input"].read() if path != "/unread" else b""
    answer = b"x" * (256 * 1024) if path == "/big" else b"read %d bytes at %s" % (len(body), path.encode())
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


app.release = threading.Event()  # type: ignore[attr-defined]


@contextmanager
def serve(pki: SandboxPKI, limits: Limits = FAST, latency: float = 0.0) -> Iterator[TLSServer]:
    server = TLSServer("127.0.0.1", 0, app, server_tls_context(pki.server.cert, pki.server.key, client_ca=None),
                       limits=limits, latency=latency).start()
    try:
        yield server
    finally:
        server.stop()


def client_context(pki: SandboxPKI, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def connect(server: TLSServer, pki: SandboxPKI) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return client_context(pki).wrap_socket(raw, server_hostname="localhost")


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data[:200]!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return int(lines[0].split(" ")[1]), headers, rest[:length]


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection (EOF or reset) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True
    return False


# ====================================================================== one write, TCP_NODELAY
def test_an_answer_leaves_in_one_tls_record(pki: SandboxPKI) -> None:
    """Status line, headers and a 2 KiB body arrive as one TLS application-data record (TLS 1.2, so
    that no session ticket or other post-handshake record is mixed in)."""
    with serve(pki) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_context(pki, ssl.TLSVersion.TLSv1_2).wrap_bio(incoming, outgoing, server_hostname="localhost")
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        raw.sendall(outgoing.read())
        body = b"y" * 2000
        tls.write(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        raw.sendall(outgoing.read())
        records, plain, pending = [], b"", b""
        while b"\r\n\r\n" not in plain or not plain.endswith(b"at /echo"):
            pending += raw.recv(65536)
            while len(pending) >= 5 and len(pending) >= 5 + int.from_bytes(pending[3:5], "big"):
                size = 5 + int.from_bytes(pending[3:5], "big")
                record, pending = pending[:size], pending[size:]
                records.append(record[0])
                incoming.write(record)
                try:
                    plain += tls.read(65536)
                except ssl.SSLWantReadError:
                    pass
        raw.close()
    assert plain.startswith(b"HTTP/1.1 200 OK\r\n")
    assert records == [23], f"the answer came in {len(records)} TLS records (types {records})"


def test_accepted_sockets_have_tcp_nodelay(pki: SandboxPKI) -> None:
    with serve(pki) as server:
        sock = connect(server, pki)
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        read_answer(sock)
        conns = list(server._connections)
        assert conns and all(c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in conns)
        sock.close()


# ====================================================================== keep-alive
def test_keep_alive_connections_are_reused_and_pipelining_works(pki: SandboxPKI) -> None:
    with serve(pki) as server:
        conn = http.client.HTTPSConnection("localhost", server.port, context=client_context(pki), timeout=5)
        for n in range(20):
            conn.request("POST", f"/n{n}", body=b"abc")
            answer = conn.getresponse()
            assert answer.status == 200 and answer.read() == f"read 3 bytes at /n{n}".encode()
            assert answer.getheader("Connection") == "keep-alive"
        conn.close()
        assert server.counters["accepted"] == 1
        sock = connect(server, pki)  # two requests in one write: two answers, in order
        sock.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiPOST /b HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        assert read_answer(sock)[2] == b"read 2 bytes at /a"
        assert read_answer(sock)[2] == b"read 5 bytes at /b"
        sock.close()


def test_an_idle_keep_alive_connection_times_out(pki: SandboxPKI) -> None:
    with serve(pki) as server:
        sock = connect(server, pki)
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_answer(sock)[0] == 200
        started = time.monotonic()
        assert closed_within(sock, 3)
        assert 0.4 < time.monotonic() - started < 2
        sock.close()


def test_a_body_the_app_did_not_read_is_skipped_and_the_connection_kept(pki: SandboxPKI) -> None:
    with serve(pki) as server:
        sock = connect(server, pki)
        body = b"z" * (2 * 1024 * 1024)
        sock.sendall(b"POST /unread HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        assert read_answer(sock)[2] == b"read 0 bytes at /unread"
        sock.sendall(b"POST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nq")
        assert read_answer(sock)[2] == b"read 1 bytes at /next"
        sock.close()


# ====================================================================== slow clients
def trickle(sock: socket.socket, data: bytes, stop: threading.Event, every: float = 0.05) -> None:
    for i in range(len(data)):
        if stop.wait(every):
            return
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return


@pytest.mark.parametrize("phase", ["handshake", "head", "body"])
def test_a_slow_client_is_cut_at_the_deadline_however_it_trickles(pki: SandboxPKI, phase: str) -> None:
    with serve(pki) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        stop = threading.Event()
        if phase == "handshake":  # the start of a ClientHello, one byte at a time, never finished
            sock: socket.socket = raw
            data = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 500
        else:
            sock = client_context(pki).wrap_socket(raw, server_hostname="localhost")
            if phase == "head":
                data = b"POST /x HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 500
            else:
                sock.sendall(b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n")
                data = b"b" * 1000
        feeder = threading.Thread(target=trickle, args=(sock, data, stop), daemon=True)
        started = time.monotonic()
        feeder.start()
        try:
            cut = closed_within(sock, 5)
        finally:
            stop.set()
            feeder.join(2)
            sock.close()
        assert cut, f"a client trickling its {phase} was never cut"
        # the deadline (0.5 s), then at most 1 s of reading what is still sent before closing, so that
        # a refusal (408 for a late body) is not lost to a reset; the trickle alone would last 25 s
        assert time.monotonic() - started < 3.0
        assert server.counters.get(f"{phase}_deadline", 0) >= 1, server.counters


def test_a_client_that_never_reads_is_cut_by_the_write_deadline(pki: SandboxPKI) -> None:
    with serve(pki) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock = client_context(pki).wrap_socket(raw, server_hostname="localhost")
        sock.settimeout(0.2)
        started = time.monotonic()
        try:
            while time.monotonic() - started < 5 and not server.counters.get("write_deadline"):
                try:
                    sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * 4)  # 1 MiB of answers, never read
                except socket.timeout:
                    time.sleep(0.05)
                except OSError:
                    break
        finally:
            sock.close()
        assert server.counters.get("write_deadline", 0) >= 1, server.counters
        assert time.monotonic() - started < 4


def test_a_normal_request_is_served_while_slow_clients_hold_connections(pki: SandboxPKI) -> None:
    limits = Limits(connections=64)  # the real deadlines: the slow clients stay for the whole test
    with serve(pki, limits) as server:
        stop = threading.Event()
        slow = []
        for _ in range(20):
            sock = connect(server, pki)
            threading.Thread(target=trickle, args=(sock, b"POST /x HTTP/1.1\r\nX: " + b"a" * 500, stop, 0.2),
                             daemon=True).start()
            slow.append(sock)
        try:
            while server.open_connections < 20:
                time.sleep(0.01)
            started = time.monotonic()
            conn = http.client.HTTPSConnection("localhost", server.port, context=client_context(pki), timeout=5)
            conn.request("POST", "/normal", body=b"hello")
            assert conn.getresponse().read() == b"read 5 bytes at /normal"
            assert time.monotonic() - started < 1.0
            assert server.open_connections >= 21
            conn.close()
        finally:
            stop.set()
            for sock in slow:
                sock.close()


# ====================================================================== a bounded number of connections
def test_a_flood_of_idle_connections_cannot_lock_out_a_client(pki: SandboxPKI) -> None:
    limits = Limits(connections=8)
    with serve(pki, limits) as server:
        flood = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(30)]
        try:
            conn = http.client.HTTPSConnection("localhost", server.port, context=client_context(pki), timeout=5)
            conn.request("GET", "/through")
            assert conn.getresponse().read() == b"read 0 bytes at /through"
            conn.close()
            assert server.open_connections <= 8
            assert server.counters.get("evicted", 0) >= 22, server.counters
        finally:
            for s in flood:
                s.close()


def test_when_every_connection_is_busy_a_newcomer_is_closed_not_queued_forever(pki: SandboxPKI) -> None:
    limits = Limits(connections=4)
    app.release.clear()  # type: ignore[attr-defined]
    with serve(pki, limits) as server:
        answers: list[int] = []

        def blocked() -> None:
            conn = http.client.HTTPSConnection("localhost", server.port, context=client_context(pki), timeout=10)
            conn.request("GET", "/block")
            answers.append(conn.getresponse().status)
            conn.close()

        threads = [threading.Thread(target=blocked) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 5
            while (server.open_connections < 4 or any(c.waiting_since is not None for c in list(server._connections))) \
                    and time.monotonic() < deadline:
                time.sleep(0.01)
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            assert closed_within(raw, 2)
            raw.close()
            assert server.counters.get("refused_full") == 1
        finally:
            app.release.set()  # type: ignore[attr-defined]
            for t in threads:
                t.join(10)
        assert answers == [200] * 4


# ====================================================================== bad requests
@pytest.mark.parametrize("request_bytes, status", [
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\n folded: header\r\n\r\n", 400),
    (b"GET /x HTTP/2.0\r\n\r\n", 505),
    (b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n", 500),
])
def test_malformed_requests_get_an_answer_and_the_server_goes_on(pki: SandboxPKI, request_bytes: bytes,
                                                                 status: int) -> None:
    with serve(pki) as server:
        sock = connect(server, pki)
        sock.sendall(request_bytes)
        assert read_answer(sock)[0] == status
        sock.close()
        conn = http.client.HTTPSConnection("localhost", server.port, context=client_context(pki), timeout=5)
        conn.request("GET", "/after")
        assert conn.getresponse().status == 200
        conn.close()


def test_random_bytes_on_the_tls_port_are_dropped(pki: SandboxPKI) -> None:
    import random

    rng = random.Random(7)
    with serve(pki) as server:
        for size in (5, 300, 4096):
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            raw.sendall(rng.randbytes(size))
            assert closed_within(raw, 2)
            raw.close()
        conn = http.client.HTTPSConnection("localhost", server.port, context=client_context(pki), timeout=5)
        conn.request("GET", "/after")
        assert conn.getresponse().status == 200


# ====================================================================== latency
def test_latency_is_added_to_every_answer_without_serialising_requests(pki: SandboxPKI) -> None:
    latency, n = 0.3, 8
    with serve(pki, Limits(), latency=latency) as server:
        conns = [http.client.HTTPSConnection("localhost", server.port, context=client_context(pki), timeout=10)
                 for _ in range(n)]
        times: list[float] = []
        barrier = threading.Barrier(n + 1)

        def one(c: http.client.HTTPSConnection) -> None:
            c.request("GET", "/warm")  # connect (the handshake is held too) and warm up
            c.getresponse().read()
            barrier.wait()
            started = time.monotonic()
            c.request("GET", "/timed")
            c.getresponse().read()
            times.append(time.monotonic() - started)

        threads = [threading.Thread(target=one, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        barrier.wait()
        started = time.monotonic()
        for t in threads:
            t.join(10)
        wall = time.monotonic() - started
        for c in conns:
            c.close()
    assert len(times) == n and min(times) >= latency  # each round trip waits the latency
    assert wall < 2 * latency, f"{n} concurrent requests took {wall:.2f} s: serialised ({n * latency:.1f} s)"


def test_the_sandbox_hands_its_latency_to_every_server(start_sandbox: Any) -> None:
    sb = start_sandbox(latency_ms=25, services=3)
    assert [s.latency for s in sb.servers] == [0.025] * 3


@pytest.mark.parametrize("value", ["-1", "nan", "abc", "60001"])
def test_a_bad_latency_option_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from fibrecert.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["sandbox", "--latency-ms", value])
    assert exc.value.code == 2
    assert "--latency-ms" in capsys.readouterr().err
