"""HTTP(S) to a target: one place where requests are sent, timed, rate-limited, classified and
recorded as `Exchange`s with secrets redacted.

Transport errors are classified so that the verdict can tell a target that refused (a TLS handshake
refusal is a valid answer to a request without a client certificate) from one that is unreachable
(INCOMPLETE) or one that hung or dropped the connection (ROB failures).
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from fibrecert.core.case import Case
from fibrecert.core.exchange import DROPPED, MAX_RESPONSE_BYTES, THROTTLED, TIMEOUT, TLS_REFUSED, UNREACHABLE, Exchange
from fibrecert.core.redaction import SecretRegistry
from fibrecert.throttle import MAX_SENDS, MAX_WAIT, MAX_WAIT_PER_REQUEST, Throttling, throttle_wait

__all__ = ["Transport", "RateLimiter"]


class RateLimiter:
    """Never more than `max_rps` requests per second, across every client of the run."""

    def __init__(self, max_rps: float | None):
        self.interval = 1.0 / max_rps if max_rps else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Transport:
    """Sends requests; one instance per run. Thread-safe: at most `max_in_flight` requests at once
    (the run's one concurrency bound), never faster than the rate limiter, keep-alive sessions per client
    identity (a certificate, or none) so connections are reused."""

    def __init__(self, *, secrets: SecretRegistry, limiter: RateLimiter, on_exchange: Any = None,
                 max_in_flight: int = 1, allowed_origins: Any = None):
        self.secrets = secrets
        # (scheme, host, port) of every endpoint of the target file: a URL elsewhere is never sent
        # (fibrecert/endpoints.py; None: no restriction, for the project's own tests of the transport).
        self.allowed_origins = frozenset(allowed_origins) if allowed_origins is not None else None
        self.limiter = limiter
        self.on_exchange = on_exchange
        self.max_in_flight = max(1, int(max_in_flight))
        self._slots = threading.BoundedSemaphore(self.max_in_flight)
        self._sessions: dict[Any, requests.Session] = {}
        self._lock = threading.Lock()
        self.sent = 0  # HTTP requests sent, each throttled one sent again included
        self.throttling = Throttling()
        self._stop = threading.Event()
        # What requests would read from the environment on every request (proxies, the CA bundle that
        # overrides verify=True), read once here instead: requests iterates os.environ, and briefly
        # rewrites it, per request, while pytest rewrites PYTEST_CURRENT_TEST in the run's main thread;
        # a request that lost that race failed with KeyError and counted as dropped. .netrc is never read.
        self._env_ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}

    def prime(self, urls: Any) -> None:
        """Read the proxy settings for these URLs now (from the thread that owns the environment)."""
        for url in urls:
            if url:
                self._proxies_for(url)

    def _proxies_for(self, url: str) -> dict[str, str]:
        origin = tuple(urlsplit(url)[:2])
        with self._lock:
            known = self._proxies.get(origin)  # type: ignore[arg-type]
        if known is not None:
            return known
        for attempt in range(5):  # an origin not primed: read here, retrying a read that met a writer
            try:
                found = requests.utils.get_environ_proxies(url)
                break
            except (KeyError, RuntimeError):
                if attempt == 4:
                    raise
                time.sleep(0.001)
        with self._lock:
            return self._proxies.setdefault(origin, dict(found))  # type: ignore[arg-type]

    def _session(self, key: Any) -> requests.Session:
        with self._lock:
            if key not in self._sessions:
                s = requests.Session()
                s.trust_env = False  # see __init__: the environment is read once, never per request
                s.headers["User-Agent"] = "fibrecert"
                adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=self.max_in_flight,
                                                        max_retries=0)
                s.mount("https://", adapter)
                s.mount("http://", adapter)
                self._sessions[key] = s
            return self._sessions[key]

    def _drop_session(self, key: Any) -> None:
        with self._lock:
            self._sessions.pop(key, None)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.close()

    def send(self, case: Case, *, url: str, headers: dict[str, str], body: bytes | str = b"", verify: Any = True,
             cert: tuple[str, str] | None = None, timeout: float = 10.0) -> Exchange:
        """Send a Case (fibrecert/core/case.py): what it is (API, operation, identity, method, id, whether a
        refusal is its point) comes from the case; what goes on the wire is given (the URL the endpoint
        guard checked, the headers and body with the credentials the dialect added)."""
        if self.allowed_origins is not None:
            from fibrecert.endpoints import require_origin

            require_origin(url, self.allowed_origins, f"{case.api} {case.operation}")
        data = body.encode("utf-8") if isinstance(body, str) else body
        for name, value in headers.items():  # a Basic pair is base64(id:secret): as good as the secret
            scheme, _, credential = str(value).partition(" ")
            if name.lower() in ("authorization", "proxy-authorization") and scheme.lower() == "basic":
                self.secrets.add(credential.strip())
        ex = Exchange(case=case, url=url, request_headers=dict(headers),
                      request_body=data.decode("utf-8", errors="replace"))
        waited, throttled = 0.0, 0
        while True:
            self._send_once(ex, data, verify, cert, timeout)
            asked = None if ex.error else throttle_wait(ex.status, ex.response_headers)
            if asked is None:
                break
            # A documented throttle (429/503 with Retry-After): not an answer; wait and send it again,
            # within the bounds (fibrecert/throttle.py)
            self.throttling.throttled(ex.status, asked, first=not throttled)
            throttled += 1
            bound = (f"over the {MAX_WAIT:g} s fibrecert waits" if asked > MAX_WAIT else
                     f"after {waited:g} s of waits, over the {MAX_WAIT_PER_REQUEST:g} s one request may wait"
                     if waited + asked > MAX_WAIT_PER_REQUEST else
                     f"on all {MAX_SENDS} sends fibrecert makes of one request" if throttled >= MAX_SENDS else "")
            if bound:
                self.throttling.give_up()
                ex.throttle_bound = f"HTTP {ex.status} with Retry-After {asked:g} s {bound}: not sent again"
                if ex.status == 429:  # "too many requests" is no answer to the request itself
                    ex.error, ex.error_detail = THROTTLED, ex.throttle_bound
                # a 503 still 503 past the bounds is kept as the answer: a 5xx, judged by ROB-001/ROB-011
                break
            if self._stop.wait(asked):  # interrupted: no answer
                ex.error, ex.error_detail = THROTTLED, f"HTTP {ex.status} with Retry-After {asked:g} s: the run was interrupted"
                ex.throttle_bound = ex.error_detail
                break
            waited += asked
            self.throttling.waited_for(asked)
            for name in ("status", "server_certificate", "error"):
                setattr(ex, name, None)
            ex.response_headers, ex.response_body, ex.error_detail = {}, b"", ""
        ex.throttled, ex.throttle_wait = throttled, waited
        if self.on_exchange is not None:
            self.on_exchange(ex)
        return ex

    def interrupt(self) -> None:
        """Stop waiting out throttles (the run was interrupted): a waiting request ends at once."""
        self._stop.set()

    def _send_once(self, ex: Exchange, data: bytes, verify: Any, cert: tuple[str, str] | None,
                   timeout: float) -> None:
        with self._slots:
            self.limiter.wait()
            with self._lock:
                self.sent += 1
            started = ex.started = time.monotonic()
            key = (cert, str(verify))
            session = self._session(key)
            scratch = dataclasses.replace(ex)  # the worker writes here; adopted only if it finished in time
            worker = threading.Thread(target=self._exchange, name=f"fibrecert-send-{ex.id}", daemon=True,
                                      args=(session, scratch, data, verify, cert, timeout, started + timeout))
            worker.start()
            # A hard deadline: a target that trickles bytes defeats per-read socket timeouts, so the wait
            # is bounded here; an abandoned worker dies with its socket (or the process), never the run.
            worker.join(timeout + 0.2)
            if worker.is_alive():
                ex.error, ex.error_detail = TIMEOUT, f"no complete answer within {timeout:g} s"
                self._drop_session(key)
            else:
                for name in ("status", "response_headers", "response_body", "error", "error_detail", "server_certificate"):
                    setattr(ex, name, getattr(scratch, name))
            ex.elapsed = time.monotonic() - started

    def _exchange(self, session: requests.Session, ex: Exchange, data: bytes, verify: Any,
                  cert: tuple[str, str] | None, timeout: float, deadline: float) -> None:
        response = None
        try:
            prepared = session.prepare_request(requests.Request(ex.method, ex.url, headers=ex.request_headers,
                                                                data=data))
            # verify, cert and proxies are passed per request, as requests itself would settle them from
            # the environment (read once, in __init__ and prime). Sent through the adapter, so that
            # redirects are neither followed nor read (requests reads a 3xx body).
            response = session.get_adapter(prepared.url).send(
                prepared, stream=True, timeout=(min(5.0, timeout), timeout),
                verify=(self._env_ca or True) if verify is True else verify,
                cert=cert, proxies=self._proxies_for(prepared.url))
            # Read before the body: once the body is read the connection goes back to the pool (no socket here).
            ex.server_certificate = _peer_fingerprint(response)
            chunks, size = [], 0
            for chunk in response.raw.stream(16384, decode_content=True):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise _TooLarge()
                if time.monotonic() > deadline:
                    raise requests.exceptions.ReadTimeout("the answer did not complete within the deadline")
            ex.status = response.status_code
            ex.response_headers = dict(response.headers)
            ex.response_body = b"".join(chunks)
        except _TooLarge:
            ex.status = response.status_code if response is not None else None
            ex.response_headers = dict(response.headers) if response is not None else {}
            ex.error, ex.error_detail = DROPPED, f"answer larger than {MAX_RESPONSE_BYTES} bytes; not read"
        except requests.exceptions.SSLError as exc:
            ex.error, ex.error_detail = TLS_REFUSED, _reason(exc)
        except requests.exceptions.ConnectTimeout as exc:
            ex.error, ex.error_detail = UNREACHABLE, _reason(exc)
        except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError) as exc:
            ex.error, ex.error_detail = TIMEOUT, _reason(exc)
        except requests.exceptions.ConnectionError as exc:
            ex.error, ex.error_detail = _classify_connection_error(exc), _reason(exc)
        except (urllib3.exceptions.ProtocolError, ConnectionError, OSError) as exc:
            ex.error, ex.error_detail = DROPPED, _reason(exc)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            ex.error, ex.error_detail = DROPPED, _reason(exc)
        except Exception as exc:  # anything else a hostile answer provokes ends this exchange, not the run
            ex.error, ex.error_detail = DROPPED, f"{type(exc).__name__}: {_reason(exc)}"
        finally:
            if response is not None:
                response.close()


def _peer_fingerprint(response: Any) -> str | None:
    """The SHA-256 of the certificate the server presented on this connection ("SHA256:" + hex)."""
    import hashlib

    try:
        sock = response.raw.connection.sock
        der = sock.getpeercert(binary_form=True) if sock is not None else None
    except (AttributeError, ValueError, OSError):
        return None
    return "SHA256:" + hashlib.sha256(der).hexdigest() if der else None


class _TooLarge(Exception):
    pass


def _classify_connection_error(exc: requests.exceptions.ConnectionError) -> str:
    text = repr(exc)
    if any(s in text for s in ("NewConnectionError", "NameResolutionError", "Connection refused",
                               "Failed to establish", "No route to host", "Network is unreachable")):
        return UNREACHABLE
    if any(s in text for s in ("SSL", "TLS", "certificate")):
        return TLS_REFUSED
    return DROPPED


def _reason(exc: BaseException) -> str:
    """A short, one-line, secret-free reason for a transport error (never the target's raw bytes)."""
    if "BadStatusLine" in repr(exc) or "RemoteDisconnected" in repr(exc):
        return "not an HTTP answer (no valid status line)" if "BadStatusLine" in repr(exc) \
            else "the connection was closed without an answer"
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    text = re.sub(r"<urllib3\.[^>]*>:?\s*", "", text)
    return text.splitlines()[0][:300] if text else type(exc).__name__
