"""Preflight (fibrecert.preflight): each endpoint probed once, a failure explained in one line.

Every case is a real server on loopback: the reference sandbox, a closed port, a plain-HTTP listener,
TLS listeners with certificates from another CA / for another host / expired, a listener that accepts
and never answers, one that trickles bytes, a CONNECT proxy. Each probe has a stated time bound.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fibrecert.pki import CertificateAuthority, make_untrusted_identity
from fibrecert.preflight import Finding, failures, fingerprints, probe
from fibrecert.target import ClientIdentity, Secret, Target, load_target
from fibrecert.sandbox.server import TLSServer, server_tls_context

# Time bounds: a probe of reachable loopback servers takes well under a second; a stage that gets
# no answer ends at `timeout` (1 s here) plus the watchdog's grace.
FAST = 3.0
HUNG_TIMEOUT = 1.0
HUNG_BOUND = HUNG_TIMEOUT + 1.5


# ------------------------------------------------------------------------------------------ servers
def _accept_forever(listener: socket.socket, handle: Any) -> None:
    """Serve each connection `listener` accepts with `handle`, in a thread of its own, until it is closed."""
    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


@pytest.fixture(scope="module")
def sandbox_target(tmp_path_factory: pytest.TempPathFactory, pki_dir: Path):
    """One reference sandbox for the module (a probe changes nothing in it)."""
    from fibrecert.sandbox import Sandbox

    folder = tmp_path_factory.mktemp("preflight")
    with Sandbox(folder / "state", pki_dir=pki_dir, services=5) as sb:
        yield sb, load_target(sb.write_target(folder / "target.toml"))


def _with_ala(target: Target, **changes) -> Target:
    assert target.ala is not None
    return target.with_section("ala", dataclasses.replace(target.ala, **changes))


def _with_fc(target: Target, **changes) -> Target:
    assert target.fibrecafe is not None
    return target.with_section("fibrecafe", dataclasses.replace(target.fibrecafe, **changes))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ok_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.fixture
def tls_listener() -> Iterator:
    """Start a TLS server (any WSGI app answering 200) with the given certificate and key."""
    servers: list[TLSServer] = []

    def start(cert: Path, key: Path) -> TLSServer:
        server = TLSServer("127.0.0.1", 0, _ok_app, server_tls_context(cert, key, client_ca=None)).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts TCP connections (the kernel completes them) and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def trickling_tls_port(sandbox_target) -> Iterator[int]:
    """Completes the TLS handshake with the sandbox's server certificate, then answers any request
    one byte every 0.2 s: each read returns in time, so only a deadline on the whole stage ends it."""
    import ssl

    sb, _ = sandbox_target
    ctx = server_tls_context(sb.pki.server.cert, sb.pki.server.key, client_ca=None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 100:
                    if stop.is_set():
                        return
                    tls.send(bytes([byte]))
                    time.sleep(0.2)
        except (OSError, ssl.SSLError):
            pass

    _accept_forever(listener, handle)
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def _server_cert(ca: CertificateAuthority, folder: Path, *, names: list[str],
                 not_after: dt.datetime | None = None) -> tuple[Path, Path]:
    """A server certificate issued by `ca` for exactly `names` (DNS names or IP addresses)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(now, not_after or now) - dt.timedelta(days=30))
            .not_valid_after(not_after or now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(ca.key, hashes.SHA256()))
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _timed_probe(target: Target, apis, timeout: float = 5.0) -> tuple[list[Finding], float]:
    started = time.monotonic()
    findings = probe(target, apis, timeout=timeout)
    return findings, time.monotonic() - started


def _only_failure(findings: list[Finding]) -> Finding:
    failed = failures(findings)
    assert len(failed) == 1, [f.line() for f in findings]
    return failed[0]


def _assert_plain_words(f: Finding) -> None:
    """A cause and a fix in plain words: one line each, no raw OpenSSL text."""
    for text in (f.cause, f.fix):
        assert text and "\n" not in text
        assert "[SSL" not in text and "_ssl.c" not in text and "Errno" not in text


# ------------------------------------------------------------------------------------------ sandbox
def test_the_reference_sandbox_passes_every_stage(sandbox_target) -> None:
    sb, target = sandbox_target
    findings, took = _timed_probe(target, target.apis)
    assert took < FAST
    assert failures(findings) == []
    got = [(f.api, f.key, f.stage) for f in findings]
    assert got == [("ala", "base_url", "tcp"), ("ala", "base_url", "tls"), ("ala", "base_url", "mtls"),
                   ("ala", "buyer_base_url", "tcp"), ("ala", "buyer_base_url", "tls"),
                   ("ala", "buyer_base_url", "mtls"),
                   ("fibrecafe", "token_url", "tcp"), ("fibrecafe", "token_url", "tls"),
                   ("fibrecafe", "token_url", "token")]
    # The certificate seen on the wire: present from the handshake on, and it is the sandbox's.
    server_fp = _fingerprint(sb.pki.server.cert)
    for f in findings:
        assert f.server_cert_sha256 == (None if f.stage == "tcp" else server_fp)
        assert f.fix == ""
    assert fingerprints(findings) == {target.ala.base_url: server_fp, target.ala.buyer_base_url: server_fp,
                                      target.fibrecafe.token_url: server_fp}
    mtls = [f for f in findings if f.stage == "mtls"]
    assert "client_cert (CN=SPDEV1) accepted" in mtls[0].cause and "HTTP 405" in mtls[0].cause
    assert "seller_client_cert (CN=CITYFIBRE) accepted" in mtls[1].cause


def test_only_the_apis_asked_for_are_probed(sandbox_target) -> None:
    _, target = sandbox_target
    assert {f.api for f in probe(target, ["fibrecafe"])} == {"fibrecafe"}
    assert {f.api for f in probe(target, ["ala"])} == {"ala"}


def test_a_separate_api_host_is_probed_too(sandbox_target, tls_listener) -> None:
    sb, target = sandbox_target
    other = tls_listener(sb.pki.server.cert, sb.pki.server.key)
    target = _with_fc(target, base_url=f"{other.url}/v1")
    findings = probe(target, ["fibrecafe"])
    assert failures(findings) == []
    assert [(f.key, f.stage) for f in findings] == [("base_url", "tcp"), ("base_url", "tls"), ("token_url", "tcp"),
                                                    ("token_url", "tls"), ("token_url", "token")]


def test_findings_serialise_for_the_report(sandbox_target) -> None:
    _, target = sandbox_target
    data = json.loads(json.dumps([f.to_json() for f in probe(target, ["fibrecafe"])]))
    assert set(data[0]) == {"api", "key", "url", "stage", "ok", "cause", "fix", "detail", "server_cert_sha256"}


# ------------------------------------------------------------------------------------------ tcp
def test_closed_port(sandbox_target) -> None:
    _, target = sandbox_target
    port = _free_port()
    findings, took = _timed_probe(_with_ala(target, base_url=f"https://localhost:{port}"), ["ala"])
    assert took < FAST
    f = _only_failure(findings)
    assert (f.key, f.stage) == ("base_url", "tcp")
    assert f.cause == f"nothing listens at localhost:{port} (connection refused)"
    assert f.fix == "check base_url's host and port"
    assert f.server_cert_sha256 is None
    # The buyer endpoint was probed all the same, and passed.
    assert [x.stage for x in findings if x.key == "buyer_base_url" and x.ok] == ["tcp", "tls", "mtls"]


def test_host_name_that_does_not_resolve(sandbox_target) -> None:
    _, target = sandbox_target
    findings = probe(_with_ala(target, base_url="https://no-such-host.invalid:8443"), ["ala"])
    f = _only_failure(findings)
    assert (f.stage, f.cause) == ("tcp", "the host name no-such-host.invalid does not resolve")
    _assert_plain_words(f)


def test_a_port_number_out_of_range(sandbox_target) -> None:
    _, target = sandbox_target
    f = _only_failure(probe(_with_ala(target, base_url="https://localhost:99999"), ["ala"]))
    assert (f.stage, f.cause, f.fix) == ("tcp", "base_url has no valid port number", "check base_url's port")
    f = _only_failure(probe(_with_fc(target, token_url="https://localhost:99999/token"), ["fibrecafe"]))
    assert (f.key, f.stage, f.cause) == ("token_url", "tcp", "token_url has no valid port number")


# ------------------------------------------------------------------------------------------ tls
def test_plain_http_port(sandbox_target, plain_http_port: int) -> None:
    _, target = sandbox_target
    findings, took = _timed_probe(_with_ala(target, base_url=f"https://localhost:{plain_http_port}"), ["ala"])
    assert took < FAST
    f = _only_failure(findings)
    assert (f.key, f.stage) == ("base_url", "tls")
    assert f.cause == f"localhost:{plain_http_port} answers in plain HTTP, not TLS"
    assert f.fix == "use the HTTPS port in base_url, or https:// on a TLS listener"
    assert "WRONG_VERSION_NUMBER" in f.detail  # the raw text is kept, out of the way
    _assert_plain_words(f)


def test_server_certificate_from_another_ca(sandbox_target, tls_listener, tmp_path: Path) -> None:
    _, target = sandbox_target
    other_ca = CertificateAuthority.create(tmp_path / "other-ca", name="Another Vendor CA")
    cert, key = _server_cert(other_ca, tmp_path / "srv", names=["localhost", "127.0.0.1"])
    server = tls_listener(cert, key)
    findings, took = _timed_probe(_with_fc(target, base_url=f"{server.url}/v1",
                                           token_url=f"{server.url}/v1/auth/tenant/access-token"), ["fibrecafe"])
    assert took < FAST
    f = _only_failure(findings)
    assert (f.key, f.stage) == ("token_url", "tls")
    assert f.cause == "the server certificate (issuer CN=Another Vendor CA) is not trusted by ca_bundle (ca.pem)"
    assert f.fix == "set ca_bundle to the CA that issued it"
    assert f.server_cert_sha256 == _fingerprint(cert)  # seen on the wire, though not trusted
    _assert_plain_words(f)


def test_no_ca_bundle_means_the_default_store(sandbox_target, monkeypatch: pytest.MonkeyPatch) -> None:
    _, target = sandbox_target
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    f = _only_failure(probe(_with_fc(target, ca_bundle=None), ["fibrecafe"]))
    assert f.cause == ("the server certificate (issuer CN=fibrecert sandbox CA) is not trusted by the "
                       "default CA store")


def test_server_certificate_for_another_host(sandbox_target, tls_listener, tmp_path: Path) -> None:
    sb, target = sandbox_target
    ca = CertificateAuthority.load(sb.pki.directory)
    cert, key = _server_cert(ca, tmp_path / "srv", names=["api.example.net", "10.1.2.3"])
    server = tls_listener(cert, key)
    f = _only_failure(probe(_with_ala(target, base_url=server.url), ["ala"]))
    assert (f.key, f.stage) == ("base_url", "tls")
    assert f.cause == (f"the server certificate of localhost:{server.port} is for DNS:api.example.net, "
                       "IP:10.1.2.3, not localhost")
    assert f.fix == ("use a host name the certificate names in base_url, or reissue the certificate for "
                     "localhost")


def test_expired_server_certificate(sandbox_target, tls_listener, tmp_path: Path) -> None:
    sb, target = sandbox_target
    ca = CertificateAuthority.load(sb.pki.directory)
    expired = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    cert, key = _server_cert(ca, tmp_path / "srv", names=["localhost"], not_after=expired)
    server = tls_listener(cert, key)
    f = _only_failure(probe(_with_ala(target, base_url=server.url), ["ala"]))
    assert f.cause == f"the server certificate of localhost:{server.port} expired on 2024-03-01"
    assert f.fix == "renew the server certificate"


def test_a_port_that_accepts_and_never_answers(sandbox_target, silent_port: int) -> None:
    _, target = sandbox_target
    findings, took = _timed_probe(_with_ala(target, base_url=f"https://localhost:{silent_port}"), ["ala"],
                                  timeout=HUNG_TIMEOUT)
    assert took < HUNG_BOUND
    f = _only_failure(findings)
    assert (f.stage, f.cause) == ("tls", f"no TLS handshake within 1 s from localhost:{silent_port}")
    assert f.fix == "check that base_url points at a TLS listener that answers"


def test_an_answer_trickled_byte_by_byte_is_cut_off_at_the_deadline(sandbox_target,
                                                                     trickling_tls_port: int) -> None:
    _, target = sandbox_target
    url = f"https://localhost:{trickling_tls_port}/v1"
    findings, took = _timed_probe(_with_fc(target, base_url=url, token_url=f"{url}/auth/tenant/access-token"),
                                  ["fibrecafe"], timeout=HUNG_TIMEOUT)
    assert took < HUNG_BOUND
    f = _only_failure(findings)
    assert (f.stage, f.cause) == ("token", "the token endpoint gave no answer within 1 s")
    assert f.fix == "check token_url and that the token endpoint answers"


def test_hung_endpoints_are_probed_in_parallel(sandbox_target, silent_port: int) -> None:
    _, target = sandbox_target
    url = f"https://localhost:{silent_port}"
    target = _with_fc(_with_ala(target, base_url=url, buyer_base_url=url), base_url=f"{url}/v1",
                      token_url=f"{url}/v1/auth/tenant/access-token")
    findings, took = _timed_probe(target, target.apis, timeout=HUNG_TIMEOUT)
    assert took < HUNG_BOUND  # three hung endpoints, one timeout's worth of waiting
    assert [(f.key, f.stage) for f in failures(findings)] == [("base_url", "tls"), ("buyer_base_url", "tls"),
                                                             ("token_url", "tls")]


# ------------------------------------------------------------------------------------------ mtls
def test_client_certificate_from_an_untrusted_ca(sandbox_target, tmp_path: Path) -> None:
    sb, target = sandbox_target
    untrusted = make_untrusted_identity(tmp_path, "SPDEV1")
    findings, took = _timed_probe(_with_ala(target, client=ClientIdentity(untrusted.cert, untrusted.key)), ["ala"])
    assert took < FAST
    f = _only_failure(findings)
    assert (f.key, f.stage) == ("base_url", "mtls")
    assert f.cause == "the server refused client_cert (CN=SPDEV1)"
    assert f.fix == "check that the ALA endpoint at base_url trusts the CA of client_cert"
    assert f.server_cert_sha256 == _fingerprint(sb.pki.server.cert)
    assert [x.stage for x in findings if x.key == "base_url"] == ["tcp", "tls", "mtls"]
    _assert_plain_words(f)


def test_tls12_server_refusing_the_client_certificate_inside_the_handshake(sandbox_target, tmp_path: Path) -> None:
    """Under TLS 1.2 a server that requires a trusted client certificate refuses it in the handshake,
    after the client has verified the server: the tls stage passes, the mtls stage names the refusal."""
    import ssl

    sb, target = sandbox_target
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(sb.pki.server.cert), str(sb.pki.server.key))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(str(sb.pki.ca))
    server = TLSServer("127.0.0.1", 0, _ok_app, ctx).start()
    try:
        ok = probe(_with_ala(target, base_url=server.url), ["ala"])
        assert [(f.key, f.stage, f.ok) for f in ok if f.key == "base_url"] == [
            ("base_url", "tcp", True), ("base_url", "tls", True), ("base_url", "mtls", True)]
        assert "TLSv1.2" in ok[1].cause
        untrusted = make_untrusted_identity(tmp_path, "SPDEV1")
        findings = probe(_with_ala(target, base_url=server.url,
                                   client=ClientIdentity(untrusted.cert, untrusted.key)), ["ala"])
    finally:
        server.stop()
    f = _only_failure(findings)
    assert (f.stage, f.cause) == ("mtls", "the server refused client_cert (CN=SPDEV1)")
    assert [x.stage for x in findings if x.key == "base_url"] == ["tcp", "tls", "mtls"]


def test_buyer_endpoint_refusing_the_seller_certificate(sandbox_target, tmp_path: Path) -> None:
    _, target = sandbox_target
    untrusted = make_untrusted_identity(tmp_path, "CITYFIBRE")
    f = _only_failure(probe(_with_ala(target, seller_client=ClientIdentity(untrusted.cert, untrusted.key)),
                            ["ala"]))
    assert (f.key, f.stage, f.cause) == ("buyer_base_url", "mtls",
                                         "the server refused seller_client_cert (CN=CITYFIBRE)")
    assert f.fix == "check that the ALA endpoint at buyer_base_url trusts the CA of seller_client_cert"


# ------------------------------------------------------------------------------------------ token
def test_wrong_client_secret(sandbox_target) -> None:
    sb, target = sandbox_target
    wrong = "wrong-secret-8Hq2LmZx0PvT"
    findings, took = _timed_probe(_with_fc(target, client_secret=Secret(wrong)), ["fibrecafe"])
    assert took < FAST
    f = _only_failure(findings)
    assert (f.key, f.stage) == ("token_url", "token")
    assert f.cause == "the token endpoint refused client_id tenant-a (HTTP 400 invalid_client)"
    assert f.fix == "check client_id and client_secret (or client_secret_env)"
    text = json.dumps([x.to_json() for x in findings]) + repr(findings)
    assert wrong not in text and sb.tenant_secret("tenant-a") not in text


def test_token_url_that_is_not_a_token_endpoint(sandbox_target) -> None:
    _, target = sandbox_target
    fc = target.fibrecafe
    f = _only_failure(probe(_with_fc(target, token_url=f"{fc.base_url}/no-token-here"), ["fibrecafe"]))
    assert f.cause == "the token endpoint did not take a client-credentials grant (HTTP 404)"
    assert f.fix == "check token_url: it must be the OAuth2 client-credentials endpoint"


def test_no_secret_and_no_token_in_any_finding(sandbox_target) -> None:
    sb, target = sandbox_target
    app = sb.servers[2].app
    app.issued_tokens = []  # remember what the sandbox issues during this probe
    try:
        findings = probe(target, target.apis)
        tokens = list(app.issued_tokens)
    finally:
        app.issued_tokens = None
    assert len(tokens) == 1
    text = json.dumps([f.to_json() for f in findings]) + repr(findings)
    for secret in (sb.tenant_secret("tenant-a"), sb.tenant_secret("tenant-b"), tokens[0]):
        assert secret not in text
    assert "PRIVATE KEY" not in text


# ------------------------------------------------------------------------------------------ proxy
@pytest.fixture
def connect_proxy() -> Iterator[dict]:
    """A real HTTP CONNECT proxy on loopback; answers 403 to hosts in `refuse`."""
    state: dict = {"seen": [], "refuse": set()}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    state["port"] = listener.getsockname()[1]

    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 5)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        finally:
            a.close()
            b.close()

    def handle(conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        line = head.split(b"\r\n")[0].decode()
        state["seen"].append(line)
        hostport = line.split()[1]
        if hostport.rsplit(":", 1)[0] in state["refuse"]:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        host, port = hostport.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pipe(conn, upstream)

    _accept_forever(listener, handle)
    yield state
    listener.close()


def test_through_an_http_proxy_like_the_run(sandbox_target, connect_proxy: dict,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _, target = sandbox_target
    for var in ("NO_PROXY", "no_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{connect_proxy['port']}")
    findings = probe(target, ["fibrecafe"])
    assert failures(findings) == []
    assert findings[0].cause == f"{_hostport(target.fibrecafe.token_url)} reached through the proxy 127.0.0.1:" \
                                f"{connect_proxy['port']}"
    assert connect_proxy["seen"] == [f"CONNECT {_hostport(target.fibrecafe.token_url)} HTTP/1.1"]

    connect_proxy["refuse"].add("localhost")
    f = _only_failure(probe(target, ["fibrecafe"]))
    assert f.stage == "tcp" and f.cause == (f"the proxy 127.0.0.1:{connect_proxy['port']} refused CONNECT to "
                                            f"{_hostport(target.fibrecafe.token_url)} (HTTP 403)")


def _hostport(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"
