"""The sandbox's HTTPS server: HTTP/1.1 over TLS for its WSGI apps, built not to be the bottleneck and
not to be stopped by slow or hostile clients.

- Concurrent: every connection is served by its own thread, at most `Limits.connections` at once.
  When that many are open, the connection that has waited longest without sending a complete request
  head (still in its TLS handshake, idle between requests, or trickling a head) is closed to make room;
  when none is waiting, the newcomer is closed. A flood can neither exhaust the process nor lock out
  clients that are doing real work.
- Keep-alive: HTTP/1.1 connections are reused (pipelined requests too) until the client says
  `Connection: close`, the app answers with it, or the connection has been idle `Limits.idle` seconds.
- Deadlines per connection, each a total for the phase (bytes trickled one at a time do not extend
  it): the TLS handshake, reading a request head, reading a body, writing an answer.
- One write per answer: the status line, headers and body are built in one buffer and sent with one
  send (one TLS record up to 16 KiB), and TCP_NODELAY is set on every accepted socket, so there is no
  Nagle / delayed-ACK stall between headers and body.
- `latency` (seconds) holds every answer that long before it is sent, and every TLS handshake that long
  before the server's first flight, as if the client were across the internet. The wait is in the
  connection's own thread: it holds no lock and delays no other connection.

The client certificate, when one was sent and verified, reaches the app as
`environ["SSL_CLIENT_CERT"]` (PEM); the other environ keys are those Werkzeug's development server gives
(but `werkzeug.socket`: an app never touches the connection).
"""

from __future__ import annotations

import email.utils
import logging
import re
import selectors
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlsplit

log = logging.getLogger("fibrecert.sandbox")

SERVER_SOFTWARE = "fibrecert-sandbox"
MAX_HEAD = 64 * 1024          # request line and headers
MAX_HEADERS = 100
DRAIN_LIMIT = 16 * 1024 * 1024  # an unread body up to this size is read and dropped, so the client sees the answer
RECV_SIZE = 256 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-server bounds (seconds are totals for the phase, not per read)."""

    connections: int = 256   # open connections (one thread each)
    handshake: float = 10.0  # the TLS handshake
    head: float = 10.0       # a request head, from its first byte (the first request: from the handshake)
    idle: float = 15.0       # a kept-alive connection waiting for its next request
    body: float = 30.0       # a request body, from the end of its head
    write: float = 20.0      # an answer, from the first byte sent


def server_tls_context(cert: Path, key: Path, *, client_ca: Path | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        # OPTIONAL: a connection without a certificate gets a 401 fault (profile rule 10 allows it);
        # a certificate that does not verify against client_ca still fails the handshake.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(str(client_ca))
    return ctx


class _Closed(BaseException):
    """The connection ended (closed by the peer, a deadline, or evicted): stop serving it quietly.

    A BaseException, because it can be raised inside the app (reading the body), whose own
    `except Exception` would otherwise take the client's departure for a bug of its own (a 500)."""

    def __init__(self, reason: str, deadline: bool = False):
        super().__init__(reason)
        self.deadline = deadline


class _BadRequest(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION = re.compile(r"^HTTP/1\.[0-9]$")
_REASONS = {400: "Bad Request", 404: "Not Found", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
            431: "Request Header Fields Too Large", 500: "Internal Server Error",
            505: "HTTP Version Not Supported"}

_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


def _wsgi_str(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


class _Body:
    """`wsgi.input`: the request body, read from the connection under the body deadline. As a file
    (not a socket): read(n) returns n bytes unless the body ends first; at its end, b"" (so
    `wsgi.input_terminated` holds). Content-Length or chunked."""

    def __init__(self, conn: "_Connection", length: int | None, chunked: bool, deadline: float):
        self.conn, self.left, self.chunked, self.deadline = conn, length or 0, chunked, deadline
        self.done = not chunked and not length
        self._chunk_left = 0        # data bytes left in the current chunk
        self._crlf_due = False      # a chunk's data ended: its CRLF comes next

    def _take(self, n: int) -> bytes:
        conn = self.conn
        if not conn.buf:
            conn.fill(self.deadline, "body")
        data = bytes(conn.buf[:n])
        del conn.buf[:n]
        return data

    def _line(self, limit: int = 4096) -> bytes:
        conn = self.conn
        while True:
            i = conn.buf.find(b"\n")
            if i >= 0:
                line = bytes(conn.buf[: i + 1])
                del conn.buf[: i + 1]
                return line
            if len(conn.buf) > limit:
                raise _Closed("a chunk-size or trailer line is too long")
            conn.fill(self.deadline, "body")

    def _next_chunk(self) -> None:
        if self._crlf_due:
            if self._line().strip():
                raise _Closed("a chunk's data is not followed by CRLF")
            self._crlf_due = False
        size_text = self._line().split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", size_text):
            raise _Closed("an unreadable chunk size")
        size = int(size_text, 16)
        if size == 0:
            for _ in range(MAX_HEADERS + 1):  # trailers, ignored
                if not self._line().strip():
                    break
            else:
                raise _Closed("too many trailers")
            self.done = True
            return
        self._chunk_left, self._crlf_due = size, True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            out = bytearray()
            while not self.done:
                out += self.read(RECV_SIZE)
            return bytes(out)
        out = bytearray()
        while len(out) < size and not self.done:
            if self.chunked:
                if self._chunk_left == 0:
                    self._next_chunk()
                    continue
                data = self._take(min(size - len(out), self._chunk_left))
                self._chunk_left -= len(data)
            else:
                data = self._take(min(size - len(out), self.left))
                self.left -= len(data)
                self.done = self.left == 0
            out += data
        return bytes(out)

    def readline(self, size: int | None = -1) -> bytes:
        out = bytearray()
        while not self.done and (size is None or size < 0 or len(out) < size):
            ch = self.read(1)
            out += ch
            if ch == b"\n":
                break
        return bytes(out)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Any:
        return iter(self.readline, b"")

    def drain(self, limit: int) -> bool:
        """Read and drop what is left, up to `limit` bytes: True when the body was read to its end."""
        dropped = 0
        while not self.done:
            if dropped > limit:
                return False
            dropped += len(self.read(RECV_SIZE))
        return True


class _Connection:
    """One accepted connection and the thread serving it."""

    def __init__(self, server: "TLSServer", raw: socket.socket, addr: Any):
        self.server, self.addr = server, addr
        self.sock: socket.socket = raw
        self.buf = bytearray()
        self.waiting_since: float | None = time.monotonic()  # waiting for a request head: may be evicted
        self.client_cert: str | None = None
        self.served = 0
        self.thread: threading.Thread | None = None
        self._gone = False

    # -------------------------------------------------------------------------- socket helpers
    def evict(self) -> None:
        """Close from another thread (a full server, or stop()): wakes the connection's thread."""
        self._gone = True
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def fill(self, deadline: float, phase: str) -> None:
        """Read what has arrived (at least one byte) into buf, or raise _Closed at the deadline."""
        left = deadline - time.monotonic()
        if left <= 0 or self._gone:
            self.server.count(f"{phase}_deadline" if left <= 0 else "evicted")
            raise _Closed(f"{phase} deadline", deadline=left <= 0)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(RECV_SIZE)
        except socket.timeout:
            self.server.count(f"{phase}_deadline")
            raise _Closed(f"{phase} deadline", deadline=True) from None
        except (OSError, ssl.SSLError) as exc:
            raise _Closed(str(exc)) from None
        if not data:
            raise _Closed("closed by the client")
        self.buf += data

    def send(self, data: bytes) -> None:
        deadline = time.monotonic() + self.server.limits.write
        view, sent = memoryview(data), 0
        while sent < len(data):
            left = deadline - time.monotonic()
            if left <= 0 or self._gone:
                self.server.count("write_deadline")
                raise _Closed("write deadline")
            self.sock.settimeout(left)
            try:
                sent += self.sock.send(view[sent: sent + RECV_SIZE])
            except socket.timeout:
                self.server.count("write_deadline")
                raise _Closed("write deadline") from None
            except (OSError, ssl.SSLError) as exc:
                raise _Closed(str(exc)) from None

    # -------------------------------------------------------------------------- the connection's life
    def run(self) -> None:
        try:
            self._handshake()
            while self._one_request():
                self.served += 1
        except _Closed as exc:
            log.debug("connection from %s closed: %s", self.addr, exc)
        except Exception:  # a bug of the server's own: never let it pass silently
            log.exception("sandbox server error (connection from %s)", self.addr)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            self.server.forget(self)

    def _handshake(self) -> None:
        server = self.server
        if server.latency:
            time.sleep(server.latency)
        self.sock.settimeout(server.limits.handshake)  # a total: CPython bounds the whole handshake by it
        try:
            tls = server.tls.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ssl.SSLError) as exc:
            raise _Closed(f"TLS: {exc}") from None
        self.sock = tls
        if self._gone:
            raise _Closed("evicted")
        try:
            tls.do_handshake()
        except socket.timeout:
            server.count("handshake_deadline")
            raise _Closed("handshake deadline") from None
        except (OSError, ssl.SSLError, ValueError) as exc:
            server.count("evicted" if self._gone else "handshake_refused")
            raise _Closed(f"TLS handshake refused: {exc}") from None
        der = tls.getpeercert(binary_form=True)
        if der:
            self.client_cert = ssl.DER_cert_to_PEM_cert(der)

    def _read_head(self) -> bytes | None:
        limits = self.server.limits
        first = self.served == 0
        self.waiting_since = time.monotonic()
        # waiting for the first byte: idle between requests, or the first request's head
        deadline = self.waiting_since + (limits.head if first else limits.idle)
        while not self.buf.lstrip(b"\r\n"):
            self.buf.clear()
            try:
                self.fill(deadline, "head" if first else "idle")
            except _Closed:
                if first or self._gone:
                    raise
                return None  # an idle kept-alive connection, closed quietly
        if not first:
            deadline = time.monotonic() + limits.head
        start = len(self.buf) - len(self.buf.lstrip(b"\r\n"))
        scanned = start  # never scan the same bytes twice: a head trickled byte by byte stays linear
        while True:
            match = _HEAD_END.search(self.buf, max(start, scanned - 3))
            if match and match.start() - start > MAX_HEAD:
                match = None
            if match:
                head = bytes(self.buf[start: match.start()])
                del self.buf[: match.end()]
                self.waiting_since = None
                return head
            if len(self.buf) - start > MAX_HEAD:
                self.waiting_since = None
                raise _BadRequest("431", "the request head is over 64 KiB")
            scanned = len(self.buf)
            self.fill(deadline, "head")

    def _one_request(self) -> bool:
        """Serve one request; False when the connection is to be closed."""
        try:
            head = self._read_head()
        except _BadRequest as bad:
            self._error(bad)
            return False
        if head is None:
            return False
        started = time.monotonic()
        try:
            method, target, version, headers, header_list = self._parse(head)
            environ, body = self._environ(method, target, version, headers, header_list, started)
        except _BadRequest as bad:
            self._error(bad)
            return False
        keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if "100-continue" in headers.get("expect", "").lower() and version == "HTTP/1.1" and not body.done:
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            status, answer_headers, chunks = self._call_app(environ)
        except _Closed as exc:
            if exc.deadline:  # the body did not arrive in time: say so, then close
                self._error(_BadRequest("408", "the request body did not arrive in time"))
                return False
            raise
        if any(k.lower() == "connection" and "close" in v.lower() for k, v in answer_headers):
            keep = False
        if not body.done:  # what the app did not read is read and dropped (bounded) before the answer
            # is sent: the next request starts after it, and a client still sending is never reset
            try:
                keep = body.drain(DRAIN_LIMIT) and keep
            except _Closed:
                keep = False
        wire = self._answer(method, status, answer_headers, chunks, keep)
        if self.server.latency:
            time.sleep(self.server.latency)
        self.send(wire)
        log.debug("%s %s -> %s", method, target[:200], status.split(" ", 1)[0])
        return keep and not self._gone

    # -------------------------------------------------------------------------- HTTP
    def _parse(self, head: bytes) -> tuple[str, str, str, dict[str, str], list[tuple[str, str]]]:
        text = head.decode("latin-1")
        lines = text.split("\n")
        request_line = lines[0].rstrip("\r")
        parts = request_line.split(" ")
        if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
            raise _BadRequest("400", "a malformed request line")
        method, target, version = parts
        if not _VERSION.match(version):
            if version.startswith("HTTP/") and re.match(r"^HTTP/[0-9]+\.[0-9]+$", version):
                raise _BadRequest("505", f"{version} is not supported")
            raise _BadRequest("400", "a malformed request line")
        if len(lines) - 1 > MAX_HEADERS:
            raise _BadRequest("431", "too many header fields")
        headers: dict[str, str] = {}
        header_list: list[tuple[str, str]] = []
        for line in lines[1:]:
            line = line.rstrip("\r")
            name, sep, value = line.partition(":")
            if not sep or not _TOKEN.match(name):  # also obs-fold (a line starting with a space)
                raise _BadRequest("400", "a malformed header field")
            value = value.strip(" \t")
            if "\r" in value or "\x00" in value:
                raise _BadRequest("400", "a control character in a header field")
            key = name.lower()
            if key in headers and key == "content-length" and headers[key] != value:
                raise _BadRequest("400", "conflicting Content-Length fields")
            headers[key] = f"{headers[key]},{value}" if key in headers and key != "content-length" else value
            header_list.append((name, value))
        return method, target, version, headers, header_list

    def _environ(self, method: str, target: str, version: str, headers: dict[str, str],
                 header_list: list[tuple[str, str]], started: float) -> tuple[dict[str, Any], _Body]:
        server = self.server
        te = headers.get("transfer-encoding")
        length: int | None = None
        chunked = False
        if te is not None:
            if "content-length" in headers:
                raise _BadRequest("400", "both Transfer-Encoding and Content-Length")
            codings = [c.strip().lower() for c in te.split(",")]
            if codings != ["chunked"]:  # the only coding the sandbox reads; a refusal, never a 5xx
                raise _BadRequest("400", f"unsupported Transfer-Encoding {te[:50]!r}")
            chunked = True
        elif "content-length" in headers:
            value = headers["content-length"]
            if not value.isdigit() or len(value) > 18:
                raise _BadRequest("400", "an invalid Content-Length")
            length = int(value)
        body = _Body(self, length, chunked, started + server.limits.body)
        url = urlsplit(target)
        path = f"/{url.netloc}{url.path}" if not url.scheme and url.netloc else url.path
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https",
            "wsgi.input": body,
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _wsgi_str(unquote(path)),
            "QUERY_STRING": _wsgi_str(url.query),
            "REQUEST_URI": _wsgi_str(target),
            "RAW_URI": _wsgi_str(target),
            "REMOTE_ADDR": self.addr[0] if isinstance(self.addr, tuple) else "",
            "REMOTE_PORT": self.addr[1] if isinstance(self.addr, tuple) else 0,
            "SERVER_NAME": server.server_address[0],
            "SERVER_PORT": str(server.server_address[1]),
            "SERVER_PROTOCOL": version,
        }
        for name, value in header_list:
            if "_" in name:  # as Werkzeug: never let a header pose as another (X_Forwarded vs X-Forwarded)
                continue
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = f"HTTP_{key}"
                if key in environ:
                    value = f"{environ[key]},{value}"
            environ[key] = value
        if chunked:
            environ.pop("CONTENT_LENGTH", None)
        if url.scheme and url.netloc:
            environ["HTTP_HOST"] = url.netloc
        if self.client_cert:
            environ["SSL_CLIENT_CERT"] = self.client_cert
        # the header names as spelled on the wire (WSGI keeps only their upper-cased form): the defect
        # switches that read names case-sensitively, as a naive proxy would, need them
        environ["fibrecert.header_names"] = tuple(name for name, _ in header_list)
        return environ, body

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
        state: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info is None and "status" in state:
                raise AssertionError("headers already set")
            state["status"], state["headers"] = status, headers
            chunks.clear()
            return chunks.append

        iterable: Iterable[bytes] | None = None
        try:
            iterable = self.server.app(environ, start_response)
            for data in iterable:
                if data:
                    chunks.append(data)
            if "status" not in state:
                raise AssertionError("the app returned without start_response()")
        except _Closed:
            raise
        except Exception:
            log.exception("sandbox app error")
            return "500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")], [b"internal error"]
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        return state["status"], state["headers"], chunks

    def _answer(self, method: str, status: str, headers: list[tuple[str, str]], chunks: list[bytes],
                keep: bool) -> bytes:
        body = b"".join(chunks)
        code = status.split(" ", 1)[0]
        no_body = method == "HEAD" or code in ("204", "304") or code.startswith("1")
        lines = [f"HTTP/1.1 {status}"]
        seen = set()
        for name, value in headers:
            key = name.lower()
            if key in ("connection", "keep-alive", "transfer-encoding"):
                continue
            seen.add(key)
            lines.append(f"{name}: {value}")
        if "content-length" not in seen and code not in ("204", "304") and not code.startswith("1"):
            lines.append(f"Content-Length: {len(body)}")
        if "date" not in seen:
            lines.append(f"Date: {_http_date()}")
        if "server" not in seen:
            lines.append(f"Server: {SERVER_SOFTWARE}")
        lines.append("Connection: keep-alive" if keep else "Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if no_body else head + body

    def _error(self, bad: _BadRequest) -> None:
        code = int(bad.status)
        body = f"{code} {_REASONS.get(code, 'Bad Request')}: {bad.reason}\n".encode()
        status = f"{code} {_REASONS.get(code, 'Bad Request')}"
        self.server.count(f"http_{code}")
        if self.server.latency:
            time.sleep(self.server.latency)
        try:
            self.send(self._answer("GET", status, [("Content-Type", "text/plain; charset=utf-8")], [body], False))
            self._linger()
        except _Closed:
            pass

    def _linger(self) -> None:
        """Before closing on a client still sending: read and drop for a moment (at most 1 MiB, 1 s),
        so that the answer is not lost to a reset."""
        deadline, dropped = time.monotonic() + 1.0, 0
        while dropped < 1024 * 1024:
            self.buf.clear()
            self.fill(deadline, "linger")
            dropped += len(self.buf)


class TLSServer:
    """An HTTPS server for one WSGI app on (host, port); port 0 picks a free one."""

    def __init__(self, host: str, port: int, app: Any, tls: ssl.SSLContext, *, latency: float = 0.0,
                 limits: Limits | None = None):
        self.app, self.tls = app, tls
        self.latency = max(0.0, float(latency))
        self.limits = limits or Limits()
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(address)
            self._listener.listen(1024)
        except OSError:
            self._listener.close()
            raise
        self.server_address = self._listener.getsockname()[:2]
        self.port = int(self.server_address[1])
        self.counters: dict[str, int] = {}
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"https://{'localhost' if host in ('127.0.0.1', '::1', 'localhost') else host}:{self.port}"

    def count(self, what: str) -> None:
        with self._lock:
            self.counters[what] = self.counters.get(what, 0) + 1

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def start(self) -> "TLSServer":
        self._thread = threading.Thread(target=self._accept_loop, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        raw, addr = self._listener.accept()
                    except OSError:
                        continue
                    self._admit(raw, addr)
        finally:
            sel.close()

    def _admit(self, raw: socket.socket, addr: Any) -> None:
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        conn = _Connection(self, raw, addr)
        with self._lock:
            if len(self._connections) >= self.limits.connections:
                waiting = [c for c in self._connections if c.waiting_since is not None and not c._gone]
                victim = min(waiting, key=lambda c: c.waiting_since or 0.0) if waiting else None
                if victim is None:
                    self.counters["refused_full"] = self.counters.get("refused_full", 0) + 1
                    raw.close()
                    return
                self.counters["evicted"] = self.counters.get("evicted", 0) + 1
                victim.evict()
                self._connections.discard(victim)  # its thread is ending; count the newcomer instead
            self._connections.add(conn)
            self.counters["accepted"] = self.counters.get("accepted", 0) + 1
        conn.thread = threading.Thread(target=conn.run, name=f"sandbox:{self.port}:conn", daemon=True)
        try:
            conn.thread.start()
        except RuntimeError:  # no thread to be had: drop this connection, keep accepting
            self.count("refused_no_thread")
            self.forget(conn)
            raw.close()

    def forget(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread:
            self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            open_now = list(self._connections)
        for conn in open_now:
            conn.evict()
        deadline = time.monotonic() + 2.0  # let requests in progress end before the app's store closes
        for conn in open_now:
            if conn.thread is not None and conn.thread.is_alive():
                conn.thread.join(max(0.0, deadline - time.monotonic()))
        self._wake_r.close()
        self._wake_w.close()
