"""A hostile target for fibrecert's own tests: the reference sandbox, except that every Nth answer
(N = `every`, default 5; from answer `first` on, by default the Nth) is hostile in one way (`mode`).

Every request reaches the real sandbox apps (sandbox.AlaApp, sandbox.FibreCafeApp) over the same TLS
(and, for ALA, mutual TLS) as `fibrecert sandbox` serves: the sandbox's own servers are started, then
replaced by servers with the same apps and the same TLS contexts whose request handler may spoil the
answer. So the target keeps its state (orders, cancellations, tokens) like a real implementation, and
the suite reaches it like the sandbox. One counter counts the answers of all three endpoints.

Modes (what the Nth answer is):
  hang      the request is processed, no answer is ever sent (until the client goes away)
  trickle   the real answer, one byte every 0.5 s
  reset     the real status line, headers and half the body, then a TCP RST (SO_LINGER 0, close)
  random    random bytes instead of HTTP, then close
  huge      the real status and headers, Content-Length 300 MiB, a body streamed lazily
  chunked   the real status and headers, a chunked body that never ends
  bomb      ALA: the real answer with a billion-laughs DTD and two external entities (one fetching
            from the hit recorder over HTTPS, one a local file holding a canary); Fibre Cafe: the real
            JSON answer with a property nested 100,000 arrays deep
  utf8      invalid UTF-8 in every text of the body and in header values; Fibre Cafe answers also
            carry a JSON-escaped lone surrogate and a NaN
  redirect  302 or 307 (alternately, 302 first) to another local listener (the hit recorder: every TCP
            connection it accepts is recorded)
  short     Content-Length larger than the body sent, then close
  markup    every text of the answer (fault and error messages, every JSON string or XML text, the
            reason phrase, echoed and added header values) carries markup, and the answer echoes the
            request's Authorization header (a target reflecting what it got); control characters (ANSI
            escapes, BEL, CR, NUL) where the format allows them (JSON escapes; in XML only CR).
            Every second markup answer (the first is valid) has them raw in the body instead (no longer
            valid JSON/XML).

Use in tests: `HostileTarget(mode, state_dir, pki_dir=...).start()`, then `write_target(path)`.
By hand: `python tests/hostile.py --mode trickle` (prints the target file and a command to run).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import select
import signal
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from fibrecert.sandbox import Sandbox
from fibrecert.sandbox.ala import AlaApp
from fibrecert.sandbox.server import server_tls_context

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0


class _Handler(WSGIRequestHandler):
    """Werkzeug's request handler, quiet: the hostile target's base (the sandbox itself serves with a
    server of its own; this test server needs a handler it can take over byte by byte)."""
    timeout = IDLE_TIMEOUT

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - Werkzeug's signature
        pass


class TLSServer(ThreadedWSGIServer):
    """A threaded HTTPS server for WSGI apps, the TLS handshake in each connection's own thread."""
    daemon_threads = True

    def __init__(self, host: str, port: int, app: Any, tls: ssl.SSLContext):
        super().__init__(host, port, app, handler=_Handler, ssl_context=None)
        self._tls = tls
        self.ssl_context = tls  # so that environ["wsgi.url_scheme"] is "https"
        self._thread: threading.Thread | None = None

    def finish_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            conn = self._tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            conn.settimeout(IDLE_TIMEOUT)
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"https://{'localhost' if host in ('127.0.0.1', '::1', 'localhost') else host}:{self.port}"

    def start(self) -> "TLSServer":
        self._thread = threading.Thread(target=self.serve_forever, name=f"hostile:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)

MODES = ("hang", "trickle", "reset", "random", "huge", "chunked", "bomb", "utf8", "redirect", "short", "markup")

MARKUP_HTML = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
CONTROLS = "\x1b[31m\x1b]0;title\x07\r\x00"
MARKUP = MARKUP_HTML + CONTROLS          # where the format allows every character (JSON escapes them)
MARKUP_XML = MARKUP_HTML + "\r"          # XML 1.0 allows none of ESC, BEL, NUL, even as references
INVALID_UTF8 = b"\xff\xfe\xc3\x28\xed\xa0\x80\xf4\x90\x80\x80\x80"  # bad start, bad continuation, surrogate, > U+10FFFF
HUGE_BODY = 300 * 1024 * 1024
TRICKLE_INTERVAL = 0.5
HANG_LIMIT = 600.0                       # a hung answer is released at the latest after this (or at stop)
_PLACEHOLDER = "\ue001"                  # marks where raw bytes go once a body is serialised
_PLACEHOLDER_BYTES = _PLACEHOLDER.encode("utf-8")


# ------------------------------------------------------------------------------ bodies
def _decorate_json(body: bytes, suffix: str, **extra: Any) -> bytes | None:
    """The JSON body with `suffix` appended to every string (keys stay), plus `extra` properties."""
    try:
        data = json.loads(body)
    except ValueError:
        return None

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return value + suffix
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    data = walk(data)
    if extra and isinstance(data, dict):
        data.update(extra)
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _decorate_xml(body: bytes, suffix: str) -> bytes | None:
    """The XML body (the sandbox's own, trusted) with `suffix` appended to the text of every leaf."""
    try:
        root = etree.fromstring(body)
    except etree.XMLSyntaxError:
        return None
    for el in root.iter():
        if isinstance(el.tag, str) and len(el) == 0:
            el.text = (el.text or "") + suffix
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _decorate(body: bytes, suffix: str) -> bytes | None:
    head = body.lstrip()[:1]
    if head in (b"{", b"["):
        return _decorate_json(body, suffix)
    if head == b"<":
        return _decorate_xml(body, suffix)
    return None


def _with_raw(body: bytes | None, raw: bytes) -> bytes | None:
    return None if body is None else body.replace(_PLACEHOLDER_BYTES, raw)


def xml_bomb(body: bytes, recorder_url: str, canary: Path) -> bytes:
    """The real XML answer behind a billion-laughs DTD with two external entities, every leaf's text
    referring to all three. Expanded, it is gigabytes; resolved, it fetches from the recorder."""
    lol = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    dtd = ("<!DOCTYPE Envelope [\n  " + "\n  ".join(lol) +
           f'\n  <!ENTITY xxe SYSTEM "{recorder_url}/xxe">'
           f'\n  <!ENTITY canary SYSTEM "{canary.resolve().as_uri()}">\n]>\n')
    decorated = _decorate_xml(body, _PLACEHOLDER) or (b"<fault><faultcode>" + _PLACEHOLDER_BYTES +
                                                     b"</faultcode></fault>")
    decorated = decorated.replace(_PLACEHOLDER_BYTES, b"&lol9;&xxe;&canary;")
    if decorated.startswith(b"<?xml"):
        decl, rest = decorated.split(b"?>", 1)
        return decl + b"?>\n" + dtd.encode("ascii") + rest.lstrip()
    return dtd.encode("ascii") + decorated


def json_bomb(body: bytes, depth: int = 100_000) -> bytes:
    """The real JSON answer with one more property holding arrays nested `depth` deep."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {"answer": data}
    data["nested"] = _PLACEHOLDER
    return json.dumps(data, ensure_ascii=False).encode("utf-8").replace(
        json.dumps(_PLACEHOLDER, ensure_ascii=False).encode("utf-8"), b"[" * depth + b"]" * depth)


# ------------------------------------------------------------------------------ the hit recorder
class HitRecorder:
    """A TLS listener that records every TCP connection it accepts (and the request line, when one
    comes) and answers 200: the place redirects and external entities point to. No hit may happen."""

    def __init__(self, host: str, tls: ssl.SSLContext):
        self.tls = tls
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.hits: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="hostile-recorder", daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            hit = {"peer": addr, "at": time.time(), "request": None}
            with self._lock:
                self.hits.append(hit)
            threading.Thread(target=self._answer, args=(conn, hit), daemon=True).start()

    def _answer(self, conn: socket.socket, hit: dict[str, Any]) -> None:
        try:
            conn.settimeout(HANDSHAKE_TIMEOUT)
            with self.tls.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                hit["request"] = data.split(b"\r\n", 1)[0].decode("latin-1")
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
                            b"Connection: close\r\n\r\nrecorded: hit")
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


# ------------------------------------------------------------------------------ the server
class _Stop(Exception):
    """The hostile answer has ended the connection."""


class _HostileHandler(_Handler):
    server: "HostileServer"

    def run_wsgi(self) -> None:
        target = self.server.hostile
        n = target.next_answer()
        if not target.spoils(n):
            super().run_wsgi()
            return
        self.close_connection = True
        status, headers, body = self._real_answer()
        target.spoiled.append((n, target.mode, self.path))
        try:
            getattr(self, f"_{target.mode}")(n, status, headers, body)
        except (OSError, ValueError, _Stop):  # the client went away, or the answer closed the socket
            pass

    # -- the real answer, from the sandbox's app, into memory
    def _real_answer(self) -> tuple[str, list[tuple[str, str]], bytes]:
        environ = self.make_environ()
        length = int(self.headers.get("Content-Length") or 0)
        if length and "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(min(length, 16 * 1024 * 1024)))
        got: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            got["status"], got["headers"] = status, list(headers)
            return chunks.append

        result = self.server.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return got["status"], got["headers"], b"".join(chunks)

    # -- writing
    def _send(self, data: bytes) -> None:
        self.connection.sendall(data)

    @staticmethod
    def _head(status: str, headers: list[tuple[str, Any]], *, drop: tuple[str, ...] = (),
              add: list[tuple[str, Any]] | None = None) -> bytes:
        lines = [f"HTTP/1.1 {status}".encode("latin-1")]
        kept = [(k, v) for k, v in headers if k.lower() not in (*drop, "connection")]
        for k, v in [*kept, *(add or [])]:
            lines.append(k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else str(v).encode("latin-1")))
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def _answer(self, status: str, headers: list[tuple[str, Any]], body: bytes, **kw: Any) -> bytes:
        return self._head(status, headers, drop=("content-length", *kw.pop("drop", ())),
                          add=[("Content-Length", str(len(body))), *kw.pop("add", [])]) + body

    def _wait(self, seconds: float) -> None:
        if self.server.hostile.stopping.wait(seconds):
            raise _Stop()

    # -- the modes
    def _hang(self, n: int, status: str, headers: list, body: bytes) -> None:
        deadline = time.monotonic() + HANG_LIMIT
        while time.monotonic() < deadline and not self.server.hostile.stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.25)
            if not readable:
                continue
            try:
                if not self.connection.recv(1):
                    return  # the client went away
            except ssl.SSLWantReadError:
                continue

    def _trickle(self, n: int, status: str, headers: list, body: bytes) -> None:
        for byte in self._answer(status, headers, body):
            self._send(bytes([byte]))
            self._wait(TRICKLE_INTERVAL)

    def _reset(self, n: int, status: str, headers: list, body: bytes) -> None:
        answer = self._answer(status, headers, body)
        self._send(answer[: len(answer) - max(1, len(body) // 2)])
        time.sleep(0.05)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Closed now (an RST, not a FIN: SO_LINGER with a zero timeout), not when the handler's files
        # let go of the socket; detached first, so that nothing closes that descriptor number again.
        os.close(self.connection.detach())
        raise _Stop()

    def _random(self, n: int, status: str, headers: list, body: bytes) -> None:
        self._send(random.Random(n).randbytes(4096))

    def _huge(self, n: int, status: str, headers: list, body: bytes) -> None:
        self._send(self._head(status, headers, drop=("content-length",), add=[("Content-Length", str(HUGE_BODY))]))
        sent, block = 0, (body + b" " * 65536)[:65536]
        while sent < HUGE_BODY:  # lazily: one 64 KiB block at a time, never the whole body in memory
            part = block[: HUGE_BODY - sent]
            self._send(part)
            sent += len(part)
            if self.server.hostile.stopping.is_set():
                raise _Stop()

    def _chunked(self, n: int, status: str, headers: list, body: bytes) -> None:
        self._send(self._head(status, headers, drop=("content-length", "transfer-encoding"),
                              add=[("Transfer-Encoding", "chunked")]))
        if body:
            self._send(b"%x\r\n%s\r\n" % (len(body), body))
        filler = b" " * 4096
        while not self.server.hostile.stopping.is_set():  # never the last (empty) chunk
            self._send(b"%x\r\n%s\r\n" % (len(filler), filler))

    def _bomb(self, n: int, status: str, headers: list, body: bytes) -> None:
        target = self.server.hostile
        if isinstance(self.server.app, AlaApp):
            spoiled, ctype = xml_bomb(body, target.recorder.url, target.canary), "text/xml; charset=utf-8"
        else:
            spoiled, ctype = json_bomb(body), "application/json"
        self._send(self._answer(status, headers, spoiled, drop=("content-type",), add=[("Content-Type", ctype)]))

    def _utf8(self, n: int, status: str, headers: list, body: bytes) -> None:
        if isinstance(self.server.app, AlaApp):
            spoiled = _with_raw(_decorate_xml(body, _PLACEHOLDER), INVALID_UTF8)
        else:  # raw invalid bytes and an escaped lone surrogate in every string, and a NaN
            spoiled = _with_raw(_decorate_json(body, _PLACEHOLDER, score=float("nan")), INVALID_UTF8 + b"\\ud800")
        spoiled = body + INVALID_UTF8 if spoiled is None else spoiled
        headers = [(k, v.encode("latin-1") + INVALID_UTF8 if k.lower().startswith("x-") else v) for k, v in headers]
        self._send(self._answer(status, headers, spoiled, add=[("X-Hostile", b"caf\xc3\xa9 " + INVALID_UTF8)]))

    def _redirect(self, n: int, status: str, headers: list, body: bytes) -> None:
        code = "307 Temporary Redirect" if self.server.hostile.ordinal(n) % 2 else "302 Found"
        location = f"{self.server.hostile.recorder.url}{self.path}"
        self._send(self._answer(code, [(k, v) for k, v in headers if k.lower() == "content-type"], body,
                                add=[("Location", location)]))

    def _short(self, n: int, status: str, headers: list, body: bytes) -> None:
        self._send(self._head(status, headers, drop=("content-length",),
                              add=[("Content-Length", str(len(body) + 1000))]) + body)

    def _markup(self, n: int, status: str, headers: list, body: bytes) -> None:
        if self.server.hostile.ordinal(n) % 2:  # control characters raw in the body: not JSON or XML any more
            spoiled = _with_raw(_decorate(body, _PLACEHOLDER), MARKUP.encode("utf-8"))
        elif body.lstrip()[:1] == b"<":
            spoiled = _decorate_xml(body, MARKUP_XML)
        else:
            spoiled = _decorate(body, MARKUP)
        spoiled = body if spoiled is None else spoiled
        code = status.split(" ", 1)[0]
        headers = [(k, v + MARKUP_HTML if k.lower().startswith("x-") else v) for k, v in headers]
        echo = [("X-Echo-Authorization", self.headers["Authorization"])] if self.headers.get("Authorization") else []
        self._send(self._answer(f"{code} {MARKUP_HTML}", headers, spoiled, add=[("X-Hostile", MARKUP_HTML), *echo]))


class HostileServer(TLSServer):
    def __init__(self, host: str, port: int, app: Any, tls: ssl.SSLContext, hostile: "HostileTarget"):
        super().__init__(host, port, app, tls)
        self.RequestHandlerClass = _HostileHandler
        self.hostile = hostile


# ------------------------------------------------------------------------------ the target
@dataclass
class HostileTarget:
    mode: str
    state_dir: Path
    every: int = 5
    first: int | None = None  # the first answer spoiled (default: the Nth); then every Nth after it
    pki_dir: Path | None = None
    host: str = "127.0.0.1"
    services: int = 300
    sandbox: Sandbox | None = field(default=None, init=False)
    spoiled: list[tuple[int, str, str]] = field(default_factory=list, init=False)  # (answer, mode, path)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; one of {', '.join(MODES)}")
        if self.every < 1:
            raise ValueError("every must be at least 1")
        self.first = self.every if self.first is None else self.first
        self.stopping = threading.Event()
        self._count = 0
        self._lock = threading.Lock()

    def next_answer(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def spoils(self, n: int) -> bool:
        return n >= self.first and (n - self.first) % self.every == 0

    def ordinal(self, n: int) -> int:
        """0 for the first answer spoiled, 1 for the second, ... (modes that alternate use it)."""
        return (n - self.first) // self.every

    @property
    def answers(self) -> int:
        return self._count

    def start(self) -> "HostileTarget":
        self.state_dir = Path(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # record_tokens: the tokens issued are kept in memory, so a test can prove none leaks.
        sb = Sandbox(self.state_dir / "sandbox", pki_dir=self.pki_dir, host=self.host, services=self.services,
                     record_tokens=True).start()
        self.sandbox = sb
        self.canary = self.state_dir / "canary.txt"
        self.canary_text = f"fibrecert-canary-{random.Random(self.mode).getrandbits(64):016x}"
        self.canary.write_text(self.canary_text + "\n")
        self.recorder = HitRecorder(self.host, server_tls_context(sb.pki.server.cert, sb.pki.server.key,
                                                                  client_ca=None))
        hostile = []
        for server in sb.servers:  # same apps, same TLS contexts (mutual TLS for ALA), hostile handler
            hostile.append(HostileServer(self.host, 0, server.app, server.tls, self).start())
            server.stop()
        sb.servers = hostile
        return self

    def write_target(self, path: Path, *, timeout: float = 1.0, services: int | None = None) -> Path:
        assert self.sandbox is not None, "start() first"
        return self.sandbox.write_target(path, timeout=timeout, services=services)

    def secrets(self) -> list[str]:
        """Every secret of the run: tenant secrets, tokens issued, the lines of every client key."""
        assert self.sandbox is not None
        sb = self.sandbox
        out = [sb.tenant_secret("tenant-a"), sb.tenant_secret("tenant-b"), *sb.issued_tokens]
        for tenant in ("tenant-a", "tenant-b"):  # the Basic pair sent to the token endpoint decodes to one
            out.append(base64.b64encode(f"{tenant}:{sb.tenant_secret(tenant)}".encode()).decode())
        for ident in sb.pki.clients.values():
            out.extend(ln for ln in ident.key.read_text().splitlines() if ln and "PRIVATE KEY" not in ln)
        return out

    def stop(self) -> None:
        self.stopping.set()
        if self.sandbox is not None:
            self.sandbox.stop()
        if hasattr(self, "recorder"):
            self.recorder.close()

    def __enter__(self) -> "HostileTarget":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import tempfile

    p = argparse.ArgumentParser(description="Serve the reference sandbox with every Nth answer hostile.")
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--every", type=int, default=5, help="every Nth answer is hostile (default 5)")
    p.add_argument("--first", type=int, help="the first hostile answer (default: the Nth)")
    p.add_argument("--timeout", type=float, default=1.0, help="per-request timeout written to the target file")
    p.add_argument("--state-dir", help="where the database, PKI and target file go (default: a new temp folder)")
    args = p.parse_args(argv)
    state = Path(args.state_dir or tempfile.mkdtemp(prefix="fibrecert-hostile-"))
    target = HostileTarget(args.mode, state, every=args.every, first=args.first, pki_dir=state / "pki").start()
    path = target.write_target(state / "target.toml", timeout=args.timeout)
    print(f"Hostile target ({args.mode}, every {args.every}th answer); redirects and entities point to "
          f"{target.recorder.url}")
    print(f"Target file  {path}")
    print(f"Certify it:  python -m fibrecert run --target {path} --profile smoke")
    print("Ctrl-C stops it.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        target.stop()
        print(f"{target.answers} answers, {len(target.spoiled)} spoiled, {len(target.recorder.hits)} hits recorded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
