"""A real threaded HTTPS server for the sandbox's WSGI apps (Werkzeug's server, TLS per connection).

The TLS handshake runs in the connection's own thread with a timeout, so a client that stalls in the
handshake cannot stop the server from accepting others. The client certificate, when one was sent
and verified, reaches the app as `environ["SSL_CLIENT_CERT"]` (PEM), as Werkzeug provides it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger("fibrecert.sandbox")

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0


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


class _Handler(WSGIRequestHandler):
    timeout = IDLE_TIMEOUT

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path, code)

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - Werkzeug's signature
        log.debug("%s: " + message, type, *args)


class TLSServer(ThreadedWSGIServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, app: Any, tls: ssl.SSLContext):
        super().__init__(host, port, app, handler=_Handler, ssl_context=None)
        self._tls = tls
        self.ssl_context = tls  # so that environ["wsgi.url_scheme"] is "https"
        self._thread: threading.Thread | None = None

    def finish_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        request.settimeout(HANDSHAKE_TIMEOUT)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn = self._tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake with %s refused: %s", client_address, exc)
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
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"https://{'localhost' if host in ('127.0.0.1', '::1', 'localhost') else host}:{self.port}"

    def start(self) -> "TLSServer":
        self._thread = threading.Thread(target=self.serve_forever, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)
