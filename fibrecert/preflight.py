"""Preflight: probe each API's endpoints once, before any suite, and explain a failure in one line.

For every endpoint of a loaded target the probe climbs the same stages a run depends on:

    tcp    a TCP connection to the URL's host and port (through an http:// proxy when the environment
           names one for it, as the run's transport does)
    tls    a TLS handshake that verifies the server certificate against ca_bundle (or, without one,
           the trust store the run uses: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else certifi's) and the
           host name
    mtls   ALA only: the client certificate is presented and one harmless request (GET of an
           operation's path) must get any HTTP answer; a refused certificate shows up as a TLS alert
           (under TLS 1.3 on the first read, not in the handshake)
    token  Fibre Cafe only: a client-credentials grant with client_id / client_secret must answer
           200 with an access_token

and stops at the first stage that fails. Each stage gives a `Finding`: ok or not, the cause in one
line and the fix in one line (raw OpenSSL text only ever in `detail`), and, once a handshake happened,
the SHA-256 fingerprint of the server certificate seen on the wire. Endpoints are probed in parallel
and every stage has a deadline (`timeout`) that a server trickling bytes cannot stretch, so the whole
probe ends within about `timeout` seconds per stage even against a port that accepts and never
answers. No secret (client secret, access token, private key, proxy password) is ever put in a
Finding: the access token is not kept at all.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote, unquote, urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from fibrecert import endpoints, wirejson
from fibrecert.apis import DIALECTS, MtlsStage, TokenStage
from fibrecert.apis import section as target_section
from fibrecert.target import ClientIdentity, Target

__all__ = ["Finding", "probe", "failures", "fingerprints", "STAGES"]

STAGES = ("tcp", "tls", "mtls", "token")

# How long past a stage's deadline the watchdog waits for the stage's own timeout to report first.
_GRACE = 0.3
# Diagnostic connections made after a failure (to fetch the certificate, to try plain HTTP).
_DIAGNOSTIC_TIMEOUT = 2.0
_MAX_BODY = 64 * 1024
_USER_AGENT = "fibrecert-preflight"

# TLS alerts by which a server refuses the client certificate it was shown.
_CERT_ALERTS = {
    "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA", "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_CERTIFICATE_EXPIRED", "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "TLSV1_ALERT_ACCESS_DENIED", "TLSV1_ALERT_DECRYPT_ERROR",
}
_NO_COMMON_VERSION = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"}


@dataclass(frozen=True)
class Finding:
    """The outcome of one stage of one endpoint's probe."""

    api: str                   # the API (a dialect name)
    key: str                   # the target-file key of the endpoint: base_url, buyer_base_url, token_url
    url: str                   # the URL probed
    stage: str                 # tcp, tls, mtls, token
    ok: bool
    cause: str                 # one line: what was observed
    fix: str = ""              # one line: what to change (empty when ok)
    detail: str = ""           # the underlying error text (e.g. OpenSSL's), for the curious
    server_cert_sha256: str | None = None  # lowercase hex SHA-256 of the server certificate (DER)

    def line(self) -> str:
        """One line for a terminal or a report: `[api] key: cause: fix`."""
        head = f"[{self.api}] {self.key}: {self.cause}"
        return f"{head}: {self.fix}" if self.fix else head

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def failures(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that stop a run (at most one per endpoint)."""
    return [f for f in findings if not f.ok]


def fingerprints(findings: Iterable[Finding]) -> dict[str, str]:
    """URL -> SHA-256 (hex) of the server certificate seen there, for each endpoint that handshook."""
    out: dict[str, str] = {}
    for f in findings:
        if f.server_cert_sha256:
            out[f.url] = f.server_cert_sha256
    return out


# ------------------------------------------------------------------------------------------ API
def probe(target: Target, apis: Iterable[str], *, timeout: float = 5.0) -> list[Finding]:
    """Probe every endpoint of `apis` (a subset of target.apis) once; return the findings in order
    (API, then endpoint, then stage). Never raises for what a server does; ends within about
    `timeout` seconds per stage reached, the endpoints being probed in parallel."""
    if not (timeout > 0):
        raise ValueError("timeout must be positive")
    probes: list[_EndpointProbe] = []
    for api in apis:
        if api not in DIALECTS:
            raise ValueError(f"unknown API {api!r}")
        section = target_section(target, api)
        if section is None:
            continue
        planned = DIALECTS[api].probes(section)
        for plan in planned:
            if isinstance(plan.last, TokenStage):  # a credential goes only to its own endpoint (endpoints.py)
                endpoints.check_credentials(api, plan.last.identity, plan.endpoint)
            if plan.last is None and any(other is not plan and _netloc(other.url) == _netloc(plan.url)
                                         for other in planned):
                continue  # reached by another endpoint's probe at the same origin
            probes.append(_EndpointProbe(api=api, key=plan.key, url=plan.url, ca_bundle=plan.ca_bundle,
                                         timeout=timeout, last=plan.last))
    for p in probes:
        p.start()
    while any(p.alive() for p in probes):
        now = time.monotonic()
        for p in probes:
            p.watch(now)
        time.sleep(0.02)
    out: list[Finding] = []
    for p in probes:
        out.extend(p.results())
    return out


# ------------------------------------------------------------------------------------------ stages
def _netloc(url: str) -> tuple[str, int]:
    from fibrecert.endpoints import EndpointError, origin

    try:
        _, host, port = origin(url)
    except EndpointError:  # reported by the endpoint's tcp stage
        return (urlsplit(url).hostname or "").lower(), -1
    return host, port


class _Abandoned(Exception):
    """The watchdog gave up on this probe; the worker stops quietly."""


class _StageFailed(Exception):
    def __init__(self, finding: Finding):
        self.finding = finding


class _EndpointProbe:
    """The stages of one endpoint, run in a worker thread and watched by the caller's thread."""

    def __init__(self, *, api: str, key: str, url: str, ca_bundle: Path | None, timeout: float,
                 last: MtlsStage | TokenStage | None):
        self.api, self.key, self.url, self.timeout, self.last = api, key, url, timeout, last
        self.ca_bundle = ca_bundle
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        try:
            self.port = parts.port or 443
            self.bad_port = False
        except ValueError:  # e.g. :99999 (the target loader checks scheme and host only)
            self.port, self.bad_port = 443, True
        self.hostport = f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"
        self.path = parts.path.rstrip("/")
        self.host_header = parts.netloc.rpartition("@")[2]
        self.fingerprint: str | None = None
        self._findings: list[Finding] = []
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._stage = "tcp"
        self._deadline = 0.0
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name=f"fibrecert-preflight-{api}-{key}", daemon=True)

    # ---------------------------------------------------------------------- thread plumbing
    def start(self) -> None:
        self._enter("tcp")
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._abandoned

    def results(self) -> list[Finding]:
        with self._lock:
            return list(self._findings)

    def watch(self, now: float) -> None:
        """Called by the caller's thread: give up on a stage that overran its deadline (a server
        trickling bytes defeats per-read socket timeouts)."""
        with self._lock:
            if self._abandoned or not self._thread.is_alive() or now <= self._deadline + _GRACE:
                return
            self._abandoned = True
            self._findings.append(self._timeout_finding(self._stage))
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            _close(s)

    def _enter(self, stage: str, extra: float = 0.0) -> None:
        with self._lock:
            if self._abandoned:
                raise _Abandoned()
            self._stage = stage
            self._deadline = time.monotonic() + self.timeout + extra

    def _extend(self, seconds: float) -> None:
        with self._lock:
            if self._abandoned:
                raise _Abandoned()
            self._deadline = max(self._deadline, time.monotonic() + seconds)

    def _add(self, finding: Finding) -> None:
        with self._lock:
            if self._abandoned:
                raise _Abandoned()
            self._findings.append(finding)

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            if self._abandoned:
                _close(sock)
                raise _Abandoned()
            self._sockets.append(sock)
        return sock

    def _finding(self, stage: str, ok: bool, cause: str, fix: str = "", detail: str = "") -> Finding:
        return Finding(api=self.api, key=self.key, url=self.url, stage=stage, ok=ok, cause=_one_line(cause),
                       fix=_one_line(fix), detail=_one_line(self._scrub(detail)),
                       server_cert_sha256=self.fingerprint)

    def _fail(self, stage: str, cause: str, fix: str, detail: str = "") -> _StageFailed:
        return _StageFailed(self._finding(stage, False, cause, fix, detail))

    def _scrub(self, text: str) -> str:
        if isinstance(self.last, TokenStage):
            secret = self.last.secret()
            if secret:
                text = text.replace(secret, "[REDACTED]")
        return text

    def _timeout_finding(self, stage: str) -> Finding:
        t = f"{self.timeout:g} s"
        if stage == "tcp":
            return self._finding("tcp", False, f"no TCP connection to {self.hostport} within {t}",
                                 f"check {self.key}'s host and port, and any firewall on the way")
        if stage == "tls":
            return self._finding("tls", False, f"no TLS handshake within {t} from {self.hostport}",
                                 f"check that {self.key} points at a TLS listener that answers")
        if stage == "mtls":
            return self._finding("mtls", False, f"no HTTP answer within {t} after the TLS handshake with "
                                 f"{self.hostport}",
                                 f"check that {self.key} is the {DIALECTS[self.api].short_name} endpoint and that it answers")
        return self._finding("token", False, f"the token endpoint gave no answer within {t}",
                             "check token_url and that the token endpoint answers")

    def _run(self) -> None:
        try:
            self._stages()
        except _Abandoned:
            pass
        except _StageFailed as failed:
            try:
                self._add(failed.finding)
            except _Abandoned:
                pass
        except Exception as exc:  # a bug here must not stop the run with a traceback
            try:
                self._add(self._finding(self._stage, False, f"the preflight could not probe {self.hostport}",
                                        "report this to the fibrecert maintainers",
                                        f"{type(exc).__name__}: {exc}"))
            except _Abandoned:
                pass
        finally:
            with self._lock:
                sockets, self._sockets = self._sockets, []
            for s in sockets:
                _close(s)

    # ---------------------------------------------------------------------- the stages
    def _stages(self) -> None:
        raw = self._tcp()
        tls, alert = self._tls(raw)
        if self.last is None:
            return
        if isinstance(self.last, MtlsStage):
            self._mtls(tls, alert)
        else:
            self._token(tls)

    def _tcp(self) -> socket.socket:
        self._enter("tcp")
        if self.bad_port:
            raise self._fail("tcp", f"{self.key} has no valid port number", f"check {self.key}'s port")
        proxy = _proxy_for(self.url)
        if proxy is not None:
            return self._tcp_via_proxy(proxy)
        try:
            sock = self._connect(self.host, self.port, self.timeout)
        except (socket.timeout, TimeoutError):
            raise _StageFailed(self._timeout_finding("tcp")) from None
        except socket.gaierror as exc:
            raise self._fail("tcp", f"the host name {self.host} does not resolve",
                             f"check {self.key}'s host name", str(exc)) from None
        except ConnectionRefusedError as exc:
            raise self._fail("tcp", f"nothing listens at {self.hostport} (connection refused)",
                             f"check {self.key}'s host and port", str(exc)) from None
        except OSError as exc:
            raise self._fail("tcp", f"cannot reach {self.hostport} ({_os_reason(exc)})",
                             f"check {self.key}'s host and port, and the network on the way", str(exc)) from None
        self._add(self._finding("tcp", True, f"{self.hostport} accepts TCP connections"))
        return sock

    def _connect(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout=timeout)
        return self._track(sock)

    def _tcp_via_proxy(self, proxy: tuple[str, int, str | None]) -> socket.socket:
        phost, pport, auth = proxy
        where = f"{phost}:{pport}"
        try:
            sock = self._connect(phost, pport, self.timeout)
        except (socket.timeout, TimeoutError):
            raise self._fail("tcp", f"no TCP connection to the proxy {where} within {self.timeout:g} s",
                             "check HTTPS_PROXY / NO_PROXY in the environment") from None
        except OSError as exc:
            raise self._fail("tcp", f"cannot reach the proxy {where} ({_os_reason(exc)})",
                             "check HTTPS_PROXY / NO_PROXY in the environment", str(exc)) from None
        request = f"CONNECT {self.hostport} HTTP/1.1\r\nHost: {self.hostport}\r\nUser-Agent: {_USER_AGENT}\r\n"
        if auth:
            request += f"Proxy-Authorization: Basic {auth}\r\n"
        try:
            sock.sendall((request + "\r\n").encode("latin-1"))
            status = _read_connect_answer(sock)
        except (socket.timeout, TimeoutError):
            raise self._fail("tcp", f"the proxy {where} did not answer CONNECT within {self.timeout:g} s",
                             "check HTTPS_PROXY / NO_PROXY in the environment") from None
        except (OSError, ValueError) as exc:
            raise self._fail("tcp", f"the proxy {where} gave no usable answer to CONNECT {self.hostport}",
                             "check HTTPS_PROXY / NO_PROXY in the environment", str(exc)) from None
        if status != 200:
            raise self._fail("tcp", f"the proxy {where} refused CONNECT to {self.hostport} (HTTP {status})",
                             f"check that the proxy may reach {self.key}, or NO_PROXY")
        self._add(self._finding("tcp", True, f"{self.hostport} reached through the proxy {where}"))
        return sock

    def _context(self, identity: ClientIdentity | None, *, verify: bool = True) -> ssl.SSLContext:
        from urllib3.util.ssl_ import create_urllib3_context  # the run's own TLS settings

        ctx = create_urllib3_context()
        if verify:
            cafile, capath = _trust(self.ca_bundle)
            ctx.load_verify_locations(cafile=cafile, capath=capath)
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if identity is not None:
            ctx.load_cert_chain(str(identity.cert), str(identity.key))
        return ctx

    def _identity(self) -> ClientIdentity | None:
        return self.last.identity if isinstance(self.last, MtlsStage) else None

    def _tls(self, raw: socket.socket) -> tuple[ssl.SSLSocket | None, ssl.SSLError | None]:
        """The handshake; returns the TLS socket, or (None, alert) when the server refused the client
        certificate inside the handshake (TLS 1.2) after the server certificate had verified."""
        self._enter("tls")
        identity = self._identity()
        try:
            ctx = self._context(identity)
        except (ssl.SSLError, OSError) as exc:  # the files were checked when the target loaded
            raise self._fail("tls", "the trust store or the client certificate cannot be loaded",
                             "check ca_bundle and the client certificate files", str(exc)) from None
        raw.settimeout(self.timeout)
        try:
            tls = self._track(ctx.wrap_socket(raw, server_hostname=self.host, do_handshake_on_connect=False))
            tls.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            raise self._verification_failed(exc) from None
        except (socket.timeout, TimeoutError):
            raise _StageFailed(self._timeout_finding("tls")) from None
        except ssl.SSLError as exc:
            if identity is not None and exc.reason in _CERT_ALERTS:
                # TLS 1.2: the server certificate verified, then the server refused ours.
                self._fetch_certificate()
                self._add(self._finding("tls", True, f"the server certificate of {self.hostport} is trusted"))
                return None, exc
            raise self._handshake_failed(exc) from None
        except OSError as exc:  # reset, closed
            raise self._handshake_failed(exc) from None
        der = tls.getpeercert(binary_form=True) or b""
        self.fingerprint = hashlib.sha256(der).hexdigest() if der else None
        cert = _load_der(der)
        about = f" {_subject(cert)} (issuer {_issuer(cert)})" if cert is not None else ""
        self._add(self._finding("tls", True, f"{tls.version()} with {self.hostport}, server certificate{about} "
                                "trusted"))
        return tls, None

    def _verification_failed(self, exc: ssl.SSLCertVerificationError) -> _StageFailed:
        code = getattr(exc, "verify_code", None)
        message = getattr(exc, "verify_message", "") or ""
        cert = self._fetch_certificate()
        trust = f"ca_bundle ({self.ca_bundle.name})" if self.ca_bundle else "the default CA store"
        if code == 62 or "hostname mismatch" in message.lower() or "ip address mismatch" in message.lower():
            names = _names(cert) if cert is not None else "other names"
            return self._fail("tls", f"the server certificate of {self.hostport} is for {names}, not {self.host}",
                              f"use a host name the certificate names in {self.key}, or reissue the "
                              f"certificate for {self.host}", str(exc))
        if code == 10:
            when = f" on {cert.not_valid_after_utc:%Y-%m-%d}" if cert is not None else ""
            return self._fail("tls", f"the server certificate of {self.hostport} expired{when}",
                              "renew the server certificate", str(exc))
        if code == 9:
            return self._fail("tls", f"the server certificate of {self.hostport} is not valid yet",
                              "check the server's certificate dates and both clocks", str(exc))
        issuer = _issuer(cert) if cert is not None else "an unknown issuer"
        return self._fail("tls", f"the server certificate (issuer {issuer}) is not trusted by {trust}",
                          "set ca_bundle to the CA that issued it", str(exc))

    def _handshake_failed(self, exc: BaseException) -> _StageFailed:
        reason = getattr(exc, "reason", None)
        if reason in _NO_COMMON_VERSION:
            return self._fail("tls", f"{self.hostport} offers no TLS version fibrecert accepts (1.2 or 1.3)",
                              "enable TLS 1.2 or 1.3 on the server", str(exc))
        if self._speaks_plain_http():
            return self._fail("tls", f"{self.hostport} answers in plain HTTP, not TLS",
                              f"use the HTTPS port in {self.key}, or https:// on a TLS listener", str(exc))
        if reason == "SSLV3_ALERT_HANDSHAKE_FAILURE" or reason == "TLSV1_ALERT_INSUFFICIENT_SECURITY":
            return self._fail("tls", f"{self.hostport} refused the TLS handshake (no cipher or certificate "
                              "in common)", "check the server's TLS settings (TLS 1.2+, modern ciphers)", str(exc))
        if isinstance(exc, (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError, ssl.SSLZeroReturnError)) \
                or reason == "UNEXPECTED_EOF_WHILE_READING":
            return self._fail("tls", f"{self.hostport} closed the connection during the TLS handshake",
                              f"check that {self.key} points at a TLS listener", str(exc))
        return self._fail("tls", f"no TLS handshake with {self.hostport}: it does not speak TLS as expected",
                          f"check that {self.key} points at a TLS listener", str(exc))

    def _fetch_certificate(self) -> x509.Certificate | None:
        """The server certificate, from a second handshake that verifies nothing (diagnosis and the
        fingerprint only; nothing is sent over it)."""
        self._extend(_DIAGNOSTIC_TIMEOUT + 0.1)
        limit = min(_DIAGNOSTIC_TIMEOUT, self.timeout)
        try:
            raw = self._connect(self.host, self.port, limit) if _proxy_for(self.url) is None else None
            if raw is None:
                return None
            raw.settimeout(limit)
            tls = self._track(self._context(self._identity(), verify=False).wrap_socket(
                raw, server_hostname=self.host, do_handshake_on_connect=False))
            tls.do_handshake()
            der = tls.getpeercert(binary_form=True) or b""
            _close(tls)
        except _Abandoned:
            raise
        except (OSError, ValueError):
            return None
        if not der:
            return None
        self.fingerprint = hashlib.sha256(der).hexdigest()
        return _load_der(der)

    def _speaks_plain_http(self) -> bool:
        if _proxy_for(self.url) is not None:
            return False
        self._extend(_DIAGNOSTIC_TIMEOUT + 0.1)
        try:
            sock = self._connect(self.host, self.port, min(_DIAGNOSTIC_TIMEOUT, self.timeout))
            sock.sendall(f"HEAD / HTTP/1.0\r\nHost: {self.host_header}\r\nUser-Agent: {_USER_AGENT}\r\n\r\n"
                         .encode("latin-1"))
            head = sock.recv(5)
        except _Abandoned:
            raise
        except OSError:
            return False
        return head == b"HTTP/"

    def _mtls(self, tls: ssl.SSLSocket | None, alert: ssl.SSLError | None) -> None:
        assert isinstance(self.last, MtlsStage)
        stage = self.last
        self._enter("mtls")
        cn = _cert_cn(stage.identity.cert)
        refused = self._fail("mtls", f"the server refused {stage.cert_key} ({cn})",
                             f"check that the {DIALECTS[self.api].short_name} endpoint at {self.key} trusts the CA of {stage.cert_key}",
                             str(alert) if alert else "")
        if tls is None:
            raise refused
        path = f"{self.path}/{stage.operation}"
        try:
            tls.settimeout(self.timeout)
            status = _http(tls, "GET", path, self.host_header, {}, b"")[0]
        except (socket.timeout, TimeoutError):
            raise _StageFailed(self._timeout_finding("mtls")) from None
        except ssl.SSLError as exc:
            if exc.reason in _CERT_ALERTS or isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                raise _StageFailed(Finding(**{**refused.finding.to_json(), "detail": _one_line(str(exc))})) from None
            raise self._fail("mtls", f"the TLS connection to {self.hostport} failed after the handshake",
                             "check the server's logs for the connection", str(exc)) from None
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
            raise _StageFailed(Finding(**{**refused.finding.to_json(), "detail": _one_line(str(exc))})) from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail("mtls", f"{self.hostport} gave no HTTP answer over TLS",
                             f"check that {self.key} is the {DIALECTS[self.api].short_name} endpoint", f"{type(exc).__name__}: {exc}") from None
        self._add(self._finding("mtls", True, f"{stage.cert_key} ({cn}) accepted: GET {path} answered "
                                f"HTTP {status}"))

    def _token(self, tls: ssl.SSLSocket | None) -> None:
        assert isinstance(self.last, TokenStage) and tls is not None
        stage = self.last
        self._enter("token")
        secret = stage.secret()
        basic = base64.b64encode(f"{quote(stage.client_id, safe='')}:{quote(secret, safe='')}".encode()).decode()
        form = "grant_type=client_credentials" + (f"&scope={quote(stage.scope)}" if stage.scope else "")
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json"}
        who = f"client_id {stage.client_id}"
        try:
            tls.settimeout(self.timeout)
            status, body = _http(tls, "POST", self.path or "/", self.host_header, headers, form.encode("ascii"))
        except (socket.timeout, TimeoutError):
            raise _StageFailed(self._timeout_finding("token")) from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail("token", f"the token endpoint closed the connection without an answer to {who}",
                             "check token_url and the token endpoint's logs", f"{type(exc).__name__}: {exc}") from None
        data: Any = None
        try:
            data = wirejson.loads(body)
        except ValueError:
            pass
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", error) else None
        if status == 200:
            token = data.get("access_token") if isinstance(data, dict) else None
            if isinstance(token, str) and token:
                self._add(self._finding("token", True, f"the token endpoint issued an access token to {who}"))
                return
            raise self._fail("token", "the token endpoint answered HTTP 200 without an access_token",
                             "check token_url: it must be the OAuth2 client-credentials endpoint")
        label = f"HTTP {status}" + (f" {error}" if error else "")
        if status == 429:  # throttled: the endpoint is there; the run waits out throttles (fibrecert/throttle.py)
            self._add(self._finding("token", True, f"the token endpoint throttled the request for {who} (HTTP 429); "
                                    "the run checks the credentials"))
            return
        if status in (400, 401) and error not in ("unsupported_grant_type", "invalid_request", "invalid_scope"):
            raise self._fail("token", f"the token endpoint refused {who} ({label})",
                             "check client_id and client_secret (or client_secret_env)")
        if error == "invalid_scope":
            raise self._fail("token", f"the token endpoint refused the scope for {who} ({label})",
                             "check scope")
        if status in (404, 405) or error in ("unsupported_grant_type", "invalid_request"):
            raise self._fail("token", f"the token endpoint did not take a client-credentials grant ({label})",
                             "check token_url: it must be the OAuth2 client-credentials endpoint")
        if status >= 500:
            raise self._fail("token", f"the token endpoint failed ({label})",
                             "check the token endpoint's logs, then retry")
        raise self._fail("token", f"the token endpoint refused {who} ({label})",
                         "check client_id, client_secret (or client_secret_env) and token_url")


# ------------------------------------------------------------------------------------------ helpers
def _http(sock: ssl.SSLSocket, method: str, path: str, host: str, headers: dict[str, str],
          body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request over an open socket; returns the status and (at most 64 KiB of) the body."""
    lines = [f"{method} {path or '/'} HTTP/1.1", f"Host: {host}", f"User-Agent: {_USER_AGENT}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    response = http.client.HTTPResponse(sock, method=method)  # type: ignore[arg-type]
    try:
        response.begin()
        data = response.read(_MAX_BODY) if method != "HEAD" else b""
    finally:
        response.close()
    return response.status, data


def _read_connect_answer(sock: socket.socket) -> int:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("the proxy closed the connection")
        buf += chunk
        if len(buf) > 16384:
            raise ValueError("the proxy's answer is too long")
    status_line = buf.split(b"\r\n", 1)[0].decode("latin-1")
    match = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
    if not match:
        raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
    return int(match.group(1))


def _proxy_for(url: str) -> tuple[str, int, str | None] | None:
    """The http:// proxy the run's transport would use for `url` (requests reads the same environment),
    as (host, port, basic credentials or None); None for a direct connection."""
    import requests.utils

    proxies = requests.utils.get_environ_proxies(url)
    proxy = requests.utils.select_proxy(url, proxies)
    if not proxy:
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        return None  # https:// or SOCKS proxies are not probed through; the connection goes direct
    auth = None
    if parts.username is not None:
        auth = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
    return parts.hostname, parts.port or 80, auth


def _trust(ca_bundle: Path | None) -> tuple[str | None, str | None]:
    """The trust store: ca_bundle, else what the run's transport (requests) would use."""
    if ca_bundle is not None:
        return str(ca_bundle), None
    env = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if env:
        return (None, env) if os.path.isdir(env) else (env, None)
    import requests.utils

    return requests.utils.DEFAULT_CA_BUNDLE_PATH, None


def _load_der(der: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(der) if der else None
    except ValueError:
        return None


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return f"CN={attrs[0].value}" if attrs else (name.rfc4514_string() or "(empty name)")


def _subject(cert: x509.Certificate) -> str:
    return _cn(cert.subject)


def _issuer(cert: x509.Certificate) -> str:
    return _cn(cert.issuer)


def _names(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return _subject(cert)
    names = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
    names += [f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress)]
    return ", ".join(names[:6]) + (", …" if len(names) > 6 else "") if names else _subject(cert)


def _cert_cn(path: Path) -> str:
    try:
        return _subject(x509.load_pem_x509_certificate(Path(path).read_bytes()))
    except (OSError, ValueError):
        return "an unreadable certificate"


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 300 else text[:299] + "…"


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
