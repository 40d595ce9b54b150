"""HTTP(S) to a target: one place where requests are sent, timed, rate-limited, classified and
recorded as `Exchange`s with secrets redacted.

Transport errors are classified so that the verdict can tell a target that refused (a TLS handshake
refusal is a valid answer to a request without a client certificate) from one that is unreachable
(INCOMPLETE) or one that hung or dropped the connection (ROB failures).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

# Transport outcomes (Exchange.error). None = an HTTP response was received.
UNREACHABLE = "unreachable"        # no TCP connection (refused, DNS, connect timeout)
TLS_REFUSED = "tls_refused"        # the TLS handshake failed or was refused by the server
TIMEOUT = "timeout"                # connected, but no complete answer within the deadline
DROPPED = "dropped"                # the connection was closed without an answer

MAX_RESPONSE_BYTES = 4 * 1024 * 1024
EVIDENCE_BODY_LIMIT = 64 * 1024
REDACTED = "[REDACTED]"


class SecretRegistry:
    """Every secret the run knows (client secrets, issued tokens); scrubbed from anything recorded."""

    def __init__(self, values: list[str] | None = None):
        self._values: set[str] = set()
        self._lock = threading.Lock()
        for v in values or []:
            self.add(v)

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for v in values:
            if v in text:
                text = text.replace(v, REDACTED)
        return text

    def values(self) -> list[str]:
        with self._lock:
            return list(self._values)


_SECRET_FORM_FIELDS = re.compile(r"((?:^|&)(?:client_secret|password|access_token|refresh_token)=)[^&]*")
_SECRET_JSON_FIELDS = re.compile(r'("(?:access_token|refresh_token|client_secret|id_token)"\s*:\s*")[^"]*(")')


def redact_headers(headers: dict[str, str], secrets: SecretRegistry) -> dict[str, str]:
    out = {}
    for k, v in headers.items():
        if k.lower() in ("cookie", "set-cookie"):
            out[k] = REDACTED
        elif k.lower() in ("authorization", "proxy-authorization"):
            scheme = v.split(" ", 1)[0] if " " in v else ""
            out[k] = f"{scheme} {REDACTED}".strip()
        else:
            out[k] = secrets.scrub(str(v))
    return out


def redact_text(text: str, secrets: SecretRegistry) -> str:
    text = _SECRET_FORM_FIELDS.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SECRET_JSON_FIELDS.sub(lambda m: m.group(1) + REDACTED + m.group(2), text)
    return secrets.scrub(text)


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


@dataclass
class Exchange:
    """One request sent to the target and what came back (or the transport outcome)."""

    id: str
    api: str
    operation: str
    identity: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    error: str | None = None
    error_detail: str = ""
    elapsed: float = 0.0
    refusal_expected: bool = False  # a deliberate request without valid credentials
    constraint: str | None = None   # the inventory constraint this request attacks (a negative case)

    @property
    def text(self) -> str:
        return self.response_body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        for k, v in self.response_headers.items():
            if k.lower() == name.lower():
                return v
        return None

    def describe(self) -> str:
        if self.error:
            return f"{self.error} ({self.error_detail})" if self.error_detail else self.error
        return f"HTTP {self.status}"

    def evidence(self, secrets: SecretRegistry) -> dict[str, Any]:
        body = redact_text(self.text, secrets)
        truncated = len(body) > EVIDENCE_BODY_LIMIT
        response: dict[str, Any]
        if self.error:
            response = {"error": self.error, "detail": secrets.scrub(self.error_detail)}
        else:
            response = {"status": self.status, "headers": redact_headers(self.response_headers, secrets),
                        "body": body[:EVIDENCE_BODY_LIMIT]}
            if truncated:
                response["truncated"] = True
        return {
            "exchange": self.id,
            "identity": self.identity,
            "request": {"method": self.method, "url": secrets.scrub(self.url),
                        "headers": redact_headers(self.request_headers, secrets),
                        "body": redact_text(self.request_body, secrets)[:EVIDENCE_BODY_LIMIT]},
            "response": response,
            "elapsed_ms": round(self.elapsed * 1000, 1),
        }


class TargetUnreachable(Exception):
    """The target could not be reached with valid credentials: the run cannot be completed."""


class Transport:
    """Sends requests; one instance per run. Thread-safe counters; sessions per client identity."""

    def __init__(self, *, secrets: SecretRegistry, limiter: RateLimiter, on_exchange: Any = None):
        self.secrets = secrets
        self.limiter = limiter
        self.on_exchange = on_exchange
        self._ids = itertools.count(1)
        self._sessions: dict[Any, requests.Session] = {}
        self.sent = 0

    def _session(self, key: Any) -> requests.Session:
        if key not in self._sessions:
            s = requests.Session()
            s.headers["User-Agent"] = "fibrecert"
            self._sessions[key] = s
        return self._sessions[key]

    def close(self) -> None:
        for s in self._sessions.values():
            s.close()
        self._sessions.clear()

    def send(self, *, api: str, operation: str, identity: str, method: str, url: str,
             headers: dict[str, str], body: bytes | str = b"", verify: Any = True,
             cert: tuple[str, str] | None = None, timeout: float = 10.0,
             refusal_expected: bool = False) -> Exchange:
        data = body.encode("utf-8") if isinstance(body, str) else body
        ex = Exchange(id=f"X{next(self._ids):06d}", api=api, operation=operation, identity=identity,
                      method=method, url=url, request_headers=dict(headers),
                      request_body=data.decode("utf-8", errors="replace"),
                      refusal_expected=refusal_expected)
        self.limiter.wait()
        self.sent += 1
        started = time.monotonic()
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
            self._sessions.pop(key, None)
        else:
            for name in ("status", "response_headers", "response_body", "error", "error_detail"):
                setattr(ex, name, getattr(scratch, name))
        ex.elapsed = time.monotonic() - started
        if self.on_exchange is not None:
            self.on_exchange(ex)
        return ex



    def _exchange(self, session: requests.Session, ex: Exchange, data: bytes, verify: Any,
                  cert: tuple[str, str] | None, timeout: float, deadline: float) -> None:
        response = None
        try:
            prepared = session.prepare_request(requests.Request(ex.method, ex.url, headers=ex.request_headers,
                                                                data=data))
            # verify and cert are passed per request: a Session's own `verify` is overridden by
            # REQUESTS_CA_BUNDLE in the environment (a long-standing requests behaviour). Sent through
            # the adapter, so that redirects are neither followed nor read (requests reads a 3xx body).
            settings = session.merge_environment_settings(prepared.url, {}, True, verify, cert)
            response = session.get_adapter(prepared.url).send(
                prepared, stream=True, timeout=(min(5.0, timeout), timeout), verify=settings["verify"],
                cert=cert, proxies=settings["proxies"])
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
    """A short, one-line, secret-free reason for a transport error."""
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    text = re.sub(r"<urllib3\.[^>]*>:?\s*", "", text)
    return text.splitlines()[0][:300] if text else type(exc).__name__
