"""Nothing in a results file, target file, certificate, expect file or ledger can hurt the person who
opens it (docs/security.md):

- requests go only to the target file's endpoints: a recorded case names an operation, and its URL is
  the target file's URL for that operation; the exfiltration cases (host suffix, `@` userinfo, absolute
  URL, scheme change, another port) send nothing and exit 2, and a connect tracer shows that a replay
  connects to nothing but the target's address;
- credentials go only to their own endpoint;
- every input kind, fed structurally hostile documents (Hypothesis), gives exit 2 and one line, no
  traceback, and no connection or name lookup;
- files with secrets are written 0600 atomically; temp folders of a killed run are removed by the next;
- two runs claiming services at once never start with fewer than they need.

Commands run in-process through `fibrecert.cli.main` (a subprocess only for SIGKILL and `sandbox`).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fibrecert import endpoints
from fibrecert.apis import dialect
from fibrecert.apis.ala import ALA_BUYER
from fibrecert.apis.fibrecafe import NO_TOKEN, TENANT_A
from fibrecert.cli import main
from fibrecert.core.case import Case, FormBody, JsonBody, SoapBody
from fibrecert.core.identity import Identity
from fibrecert.ledger import Ledger, LedgerError, NotEnoughServices
from fibrecert.pki import ensure_sandbox_pki
from fibrecert.safefiles import InputError, load_json, private_tempdir, read_regular, sweep_stale, write_private

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
PARTIES = {"buyer": "SPDEV1", "other": "SPDEV2", "seller": "CITYFIBRE"}
EXCHANGE = "X001.1"


# ------------------------------------------------------------------------------------------ helpers
class Tracer:
    """Every outgoing connection and name lookup of this process, recorded; refused unless `allow`
    names its (host, port) (then it goes through)."""

    def __init__(self, allow: set[tuple[str, int]] | None = None):
        self.allow = allow or set()
        self.connects: list[tuple[str, int]] = []
        self.lookups: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> "Tracer":
        real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo
        tracer = self

        def connect(sock, address):  # noqa: ANN001
            where = (str(address[0]), int(address[1])) if isinstance(address, tuple) else (str(address), 0)
            tracer.connects.append(where)
            if where not in tracer.allow:
                raise ConnectionRefusedError(111, "refused by the test's connect tracer")
            return real_connect(sock, address)

        def lookup(host, *args, **kwargs):  # noqa: ANN001
            tracer.lookups.append(str(host))
            return real_lookup(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "getaddrinfo", lookup)
        return tracer

    @property
    def silent(self) -> bool:
        return not self.connects and not [h for h in self.lookups if h not in ("localhost",)]


@pytest.fixture
def tracer(monkeypatch: pytest.MonkeyPatch) -> Tracer:
    return Tracer().install(monkeypatch)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    return ensure_sandbox_pki(tmp_path_factory.mktemp("sec-pki") / "pki", PARTIES)


def target_text(pki, *, ala: str = "https://ala.vendor.test", buyer: str = "https://ala-buyer.vendor.test",
                fc: str = "https://api.vendor.test", token: str | None = None, services: int = 40) -> str:
    c = pki.clients
    q = json.dumps
    lines = ["[ala]", f"base_url = {q(ala)}", f"buyer_base_url = {q(buyer)}", f"ca_bundle = {q(str(pki.ca))}",
             f"client_cert = {q(str(c['SPDEV1'].cert))}", f"client_key = {q(str(c['SPDEV1'].key))}",
             f"other_client_cert = {q(str(c['SPDEV2'].cert))}", f"other_client_key = {q(str(c['SPDEV2'].key))}",
             f"seller_client_cert = {q(str(c['CITYFIBRE'].cert))}", f"seller_client_key = {q(str(c['CITYFIBRE'].key))}",
             'buyer_identifier = "SPDEV1"', 'other_buyer_identifier = "SPDEV2"', 'seller_identifier = "CITYFIBRE"',
             "active_services = [" + ", ".join(q(f"CF-SVC-{i:05d}") for i in range(services)) + "]", "timeout = 2",
             "", "[fibrecafe]", f"base_url = {q(fc)}", f"ca_bundle = {q(str(pki.ca))}",
             'client_id = "tenant-a"', 'client_secret = "s3cr3t-client-secret"',
             'other_client_id = "tenant-b"', 'other_client_secret = "s3cr3t-other-secret"',
             'supplier = "DUMMY_SUPPLIER"', "timeout = 2", ""]
    if token:
        lines.insert(lines.index('client_id = "tenant-a"'), f"token_url = {q(token)}")
    return "\n".join(lines)


@pytest.fixture
def target(tmp_path: Path, pki) -> Path:
    path = tmp_path / "target.toml"
    path.write_text(target_text(pki))
    return path


def fc_case(identity: Identity = TENANT_A, **changes) -> Case:
    case = Case(id=EXCHANGE, api="fibrecafe", operation="POST /service-orders", endpoint="api",
                path="/service-orders", identity=identity,
                body=JsonBody({"orderType": "CEASE", "supplier": "DUMMY_SUPPLIER", "serviceId": "SVC-1"}),
                headers=(("Content-Type", "application/json"), ("Accept", "application/json")))
    return case.with_(**changes)


def ala_case(**changes) -> Case:
    xml = (b"<cancelOrder><message><messageId>m-1</messageId></message>"
           b"<targetSellerOrderReference>R1</targetSellerOrderReference></cancelOrder>")
    case = Case(id=EXCHANGE, api="ala", operation="POST /cancelOrder", endpoint="seller", path="/cancelOrder",
                identity=ALA_BUYER, body=SoapBody(xml), headers=(("Content-Type", "text/xml; charset=utf-8"),))
    return case.with_(**changes)


def results_doc(case_json: dict, checks: list | None = None, target_file: str | None = None) -> dict:
    record = {"id": EXCHANGE, "api": case_json.get("api") if isinstance(case_json, dict) else None,
              "operation": "POST /service-orders", "answer": 201, "case": case_json,
              "checks": checks if checks is not None else [
                  {"requirement": "ROB-011", "check": "no_server_error", "args": [], "outcome": "pass"}]}
    return {"verdict": "CONFORMANT", "target_file": target_file, "exchanges": [record]}


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, out: str, err: str, tracer: Tracer | None = None, *, lines: int = 1) -> None:
    """Exit 2, one line on stderr starting "fibrecert: ", no traceback, nothing sent or looked up."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    assert err.startswith("fibrecert: ") and 1 <= len(err.strip().splitlines()) <= lines, err
    assert "\r" not in err and "\x1b" not in err and "\x00" not in err, repr(err)
    if tracer is not None:
        assert tracer.silent, f"a connection or lookup was attempted: {tracer.connects} {tracer.lookups}"


def replay_doc(tmp_path: Path, capsys, doc, target: Path, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "results.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return run_cli(capsys, "replay", str(path), EXCHANGE, "--target", str(target), *extra)


# ------------------------------------------------------------------------------------------ exfiltration
EXFILTRATION = {
    # the attacks of issue 18, each a change to a recorded case that once moved the request off the target
    "host-suffix": {"path": ".evil.test:9999/steal"},
    "userinfo-metadata": {"path": "@169.254.169.254/latest/meta-data/"},
    "absolute-url": {"path": "https://evil.test/steal"},
    "absolute-endpoint": {"endpoint": "https://evil.test"},
    "scheme-change": {"operation": "POST http://api.vendor.test/service-orders"},
    "another-port": {"path": ":8443/service-orders"},
    "other-path": {"path": "/admin/delete-everything"},
    "basic-secret-to-the-api": {"identity": "tenant-a:basic"},
    "token-to-the-token-endpoint": {"operation": "POST /auth/tenant/access-token", "endpoint": "token", "path": ""},
}


@pytest.mark.parametrize("attack", sorted(EXFILTRATION))
def test_a_recorded_case_cannot_send_anywhere_but_the_target(tmp_path, capsys, target, tracer, attack):
    case = fc_case().to_json() | EXFILTRATION[attack]
    code, out, err = replay_doc(tmp_path, capsys, results_doc(case), target)
    assert_refused(code, out, err, tracer)
    assert "s3cr3t" not in out + err


def test_the_same_attacks_on_an_ala_case_send_nothing(tmp_path, capsys, target, tracer):
    for change in ({"path": ".evil.test:9999/x"}, {"path": "@169.254.169.254/"}, {"endpoint": "buyer"},
                   {"operation": "POST /unsolicitedCeaseRequest"}, {"identity": "tenant-a"}):
        code, out, err = replay_doc(tmp_path, capsys, results_doc(ala_case().to_json() | change), target)
        assert_refused(code, out, err, tracer)


def test_origin_checks_refuse_every_other_place():
    allowed = {endpoints.origin("https://api.vendor.test/v1")}
    for url in ("https://api.vendor.test.evil.test:9999/steal", "https://api.vendor.test@169.254.169.254/x",
                "http://api.vendor.test/v1/service-orders", "https://api.vendor.test:8443/v1",
                "https://evil.test/v1", "https://user:pw@api.vendor.test/v1"):
        with pytest.raises(endpoints.EndpointError):
            endpoints.require_origin(url, allowed)
    endpoints.require_origin("https://API.vendor.test:443/v1/service-orders", allowed)  # the same origin
    with pytest.raises(endpoints.EndpointError):
        endpoints.origin("https://[::1/x")


def test_the_transport_refuses_a_url_off_the_target_before_connecting(tracer):
    from fibrecert.core.redaction import SecretRegistry
    from fibrecert.transport import RateLimiter, Transport

    t = Transport(secrets=SecretRegistry([]), limiter=RateLimiter(None),
                  allowed_origins={endpoints.origin("https://api.vendor.test")})
    with pytest.raises(endpoints.EndpointError):
        t.send(fc_case(NO_TOKEN), url="https://api.vendor.test.evil.test/steal", headers={})
    assert tracer.silent


def test_credentials_go_only_to_their_own_endpoint():
    from fibrecert.apis.fibrecafe import CLIENT_A

    endpoints.check_credentials("fibrecafe", TENANT_A, "api")
    endpoints.check_credentials("fibrecafe", CLIENT_A, "token")
    endpoints.check_credentials("ala", ALA_BUYER, "seller")
    for api, identity, endpoint in (("fibrecafe", TENANT_A, "token"), ("fibrecafe", CLIENT_A, "api"),
                                    ("fibrecafe", ALA_BUYER, "api"), ("ala", TENANT_A, "seller")):
        with pytest.raises(endpoints.EndpointError):
            endpoints.check_credentials(api, identity, endpoint)


class _Listener:
    """A loopback TCP listener that accepts and closes (a target that never answers HTTP)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_a_replay_connects_to_the_target_and_nowhere_else(tmp_path, capsys, pki, monkeypatch):
    """The control of the tracer: a good case is sent, to the target file's address only."""
    listener = _Listener()
    try:
        target = tmp_path / "loopback.toml"
        target.write_text(target_text(pki, fc=f"https://127.0.0.1:{listener.port}/v1"))
        tracer = Tracer(allow={("127.0.0.1", listener.port)}).install(monkeypatch)
        code, out, err = replay_doc(tmp_path, capsys, results_doc(fc_case(NO_TOKEN).to_json()), target)
        assert code == 1, (out, err)  # sent, and the target gave no answer to judge
        assert tracer.connects and set(tracer.connects) == {("127.0.0.1", listener.port)}
        assert listener.accepted >= 1
        assert f"https://127.0.0.1:{listener.port}/v1/service-orders" in out
    finally:
        listener.close()


def test_a_real_replay_sends_the_bearer_token_only_to_the_target(tmp_path, capsys, start_sandbox, monkeypatch):
    sb = start_sandbox()
    target = sb.write_target(tmp_path / "t.toml")
    port = int(sb.fibrecafe_url.split(":")[2].split("/")[0])
    tracer = Tracer(allow={("127.0.0.1", port)}).install(monkeypatch)
    code, out, err = replay_doc(tmp_path, capsys, results_doc(fc_case(TENANT_A).to_json()), target)
    assert code == 0, (out, err)
    assert set(tracer.connects) == {("127.0.0.1", port)}
    assert sb.tenant_secret("tenant-a") not in out + err


# ------------------------------------------------------------------------------------------ replay: issue examples
def _zlib(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 9)).decode("ascii")


BOMB = _zlib(b" " * (64 * 1024 * 1024))  # 64 KB that inflates to 64 MB


REPLAY_EXAMPLES = {
    "a-list": [1, 2, 3],
    "null": None,
    "deeply-nested": "[" * 100_000 + "]" * 100_000,
    "nested-just-past-the-limit": {"exchanges": [{"id": EXCHANGE, "case": json.loads("[" * 150 + "]" * 150)}]},
    "exchanges-not-a-list": {"exchanges": {"id": EXCHANGE}},
    "string-case": results_doc("a case"),
    "no-body": results_doc({k: v for k, v in fc_case().to_json().items() if k != "body"}),
    "unknown-api": results_doc(fc_case().to_json() | {"api": "evil"}),
    "unknown-identity": results_doc(fc_case().to_json() | {"identity": "root"}),
    "bad-zlib": results_doc(fc_case().to_json() | {"body": {"kind": "raw", "zlib_b64": "bm90IHpsaWI="}}),
    "not-base64": results_doc(fc_case().to_json() | {"body": {"kind": "raw", "zlib_b64": "%%%"}}),
    "zlib-bomb": results_doc(fc_case().to_json() | {"body": {"kind": "raw", "zlib_b64": BOMB}}),
    "string-checks": results_doc(fc_case().to_json(), checks="no_server_error"),
    "string-check-entry": results_doc(fc_case().to_json(), checks=["no_server_error"]),
    "unknown-check-name": results_doc(fc_case().to_json(), checks=[
        {"requirement": "ROB-011", "check": "os.system", "args": ["rm -rf /"]}]),
    "check-args-that-do-not-fit": results_doc(fc_case().to_json(), checks=[
        {"requirement": "ROB-011", "check": "no_server_error", "args": [1, 2, 3, 4]}]),
    "no-check-at-all": results_doc(fc_case().to_json(), checks=[]),
    "method-with-crlf": results_doc(fc_case().to_json() | {"method": "POST\r\nX-Evil: 1\x1b[31m"}),
    "unknown-method": results_doc(fc_case().to_json() | {"method": "TRACE"}),
    "header-value-with-crlf": results_doc(fc_case().to_json() | {"headers": [["X-A", "b\r\nHost: evil.test"]]}),
    "header-name-not-a-token": results_doc(fc_case().to_json() | {"headers": [["X A:", "b"]]}),
    "recorded-authorization": results_doc(fc_case().to_json() | {"headers": [["Authorization", "Bearer x"]]}),
    "headers-as-strings": results_doc(fc_case().to_json() | {"headers": ["ab", "cd"]}),
    "broken-soap": results_doc(ala_case().to_json() | {"body": {"kind": "soap", "xml": "<cancelOrder><"}}),
    "chain-to-a-missing-exchange": results_doc(fc_case().to_json() | {"after": ["X999.9"]}),
    "after-not-a-list": results_doc(fc_case().to_json() | {"after": "X000.1"}),
    "id-mismatch": results_doc(fc_case().to_json() | {"id": "X002.1"}),
    "target-file-not-a-string": results_doc(fc_case().to_json(), target_file=["/etc/passwd"]),
}


@pytest.mark.parametrize("name", sorted(REPLAY_EXAMPLES))
def test_replay_refuses_a_hostile_results_file_in_one_line_sending_nothing(tmp_path, capsys, target, tracer, name):
    doc = REPLAY_EXAMPLES[name]
    code, out, err = replay_doc(tmp_path, capsys, doc, target)
    assert_refused(code, out, err, tracer)
    assert "evil" not in out.lower() or name in ("unknown-api",)


def test_a_recorded_soap_body_never_expands_an_entity_into_what_is_sent(tmp_path):
    secret = tmp_path / "local-secret"
    secret.write_text("LOCAL-FILE-CONTENT")
    xml = f'<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><cancelOrder>&x;</cancelOrder>'.encode()
    case = Case.from_json(ala_case().to_json() | {"body": {"kind": "soap", "xml": xml.decode()}})
    assert b"LOCAL-FILE-CONTENT" not in dialect("ala").encode(case.body)


def test_the_inflate_limit_is_checked_before_anything_is_sent(tmp_path, capsys, target, tracer):
    started = time.monotonic()
    code, out, err = replay_doc(tmp_path, capsys, REPLAY_EXAMPLES["zlib-bomb"], target)
    assert_refused(code, out, err, tracer)
    assert "inflates to more than" in err
    assert time.monotonic() - started < 10


def test_a_method_with_crlf_is_never_printed_raw(tmp_path, capsys, target, tracer):
    code, out, err = replay_doc(tmp_path, capsys, REPLAY_EXAMPLES["method-with-crlf"], target)
    assert_refused(code, out, err, tracer)
    assert "\\r\\n" in err  # shown as an escape


# ------------------------------------------------------------------------------------------ non-regular files
def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _zero(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def _call_with_deadline(fn, seconds: float = 30.0):
    box: dict = {}
    worker = threading.Thread(target=lambda: box.setdefault("value", fn()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the command did not return (it reads a file that never ends?)"
    return box["value"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_every_command_reads_only_regular_files(tmp_path, capsys, target, tracer, kind):
    def special(name: str) -> Path:
        path = tmp_path / kind / name
        path.parent.mkdir(exist_ok=True)
        return {"fifo": _fifo, "dev-zero": _zero, "folder": lambda p: (p.mkdir(), p)[1]}[kind](path)

    results = special("results.json")
    for argv in (["replay", str(results), EXCHANGE, "--target", str(target)], ["report", str(results)],
                 ["run", "--target", str(special("target.toml")), "--quiet"],
                 ["run", "--target", str(target), "--expect", str(special("expect.toml")), "--quiet"],
                 ["run", "--target", str(target), "--sign", str(special("signer")), "--quiet"],
                 ["verify", str(tmp_path), "--key", str(special("signer.pub"))]):
        code = _call_with_deadline(lambda: main(argv))
        out, err = capsys.readouterr()
        assert_refused(code, out, err, tracer)
    # verify: a certificate or a report file that never ends is a difference, never a hang
    report = tmp_path / f"report-{kind}"
    report.mkdir()
    for name in ("results.json", "junit.xml", "index.html"):
        special(f"v-{name}").rename(report / name)
    (report / "certificate.json").write_text("{}")
    assert _call_with_deadline(lambda: main(["verify", str(report)])) in (1, 2)
    (report / "certificate.json").unlink()
    special("v-certificate.json").rename(report / "certificate.json")
    code = _call_with_deadline(lambda: main(["verify", str(report)]))
    out, err = capsys.readouterr()
    assert code in (1, 2) and "Traceback" not in out + err


def test_a_ledger_that_is_a_fifo_or_dev_zero_refuses_the_run(tmp_path, capsys, target, tracer):
    ledger = tmp_path / "target.ledger.json"
    for make in (_fifo, _zero):
        make(ledger)
        code = _call_with_deadline(lambda: main(["run", "--target", str(target), "--quiet", "--report-dir",
                                                 str(tmp_path / "r")]))
        out, err = capsys.readouterr()
        assert_refused(code, out, err, tracer)
        ledger.unlink()


def test_read_regular_bounds_the_size(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)
    with pytest.raises(InputError, match="more than"):
        read_regular(big, "results file", 1024)
    with pytest.raises(InputError, match="nested more than 3"):
        (tmp_path / "deep.json").write_text("[[[[1]]]]")
        load_json(tmp_path / "deep.json", "results file", max_depth=3)


# ------------------------------------------------------------------------------------------ hostile documents (Hypothesis)
CONTROL = st.sampled_from(["\x00", "\r\n", "\x1b[31m", "\x07", "\u202e", "\ud800", "\x7f", "\x9b"])
HOSTILE_TEXT = st.one_of(
    st.text(max_size=20),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=8), CONTROL, st.text(max_size=8)),
    st.integers(1, 200_000).map(lambda n: "A" * n),
    st.sampled_from([".evil.test:9999/x", "@169.254.169.254/", "https://evil.test/", "../../etc/passwd",
                     "POST\r\nHost: evil", "{{7*7}}", "<script>", "%s%n", "\u0000"]))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), HOSTILE_TEXT)
def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(HOSTILE_TEXT, children, max_size=4))


JSONISH = st.recursive(SCALAR, _containers, max_leaves=12)
def _deep_text(n: int, kind: str) -> str:
    return "[" * n + "]" * n if kind == "array" else '{"a":' * n + "1" + "}" * n


DEEP = st.builds(_deep_text, st.integers(101, 20_000), st.sampled_from(["array", "object"]))


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


NOT_A_STRING = st.one_of(st.none(), st.booleans(), st.integers(), st.lists(SCALAR, max_size=3),
                         st.dictionaries(st.text(max_size=5), SCALAR, max_size=3), st.integers(101, 500).map(_nested))


class Deep:
    """An array nested `n` deep, written as TOML text without recursion."""

    def __init__(self, n: int):
        self.n = n


def _mutate(doc: dict, path: list, value: object) -> dict:
    doc = json.loads(json.dumps(doc))
    here = doc
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = value
    return doc


# keys of a recorded case and what may replace them: never a value that is still valid
CASE_KEYS = {
    "case": NOT_A_STRING,
    "id": NOT_A_STRING, "api": st.one_of(NOT_A_STRING, HOSTILE_TEXT), "operation": st.one_of(NOT_A_STRING, HOSTILE_TEXT),
    "endpoint": st.one_of(NOT_A_STRING, HOSTILE_TEXT), "path": st.one_of(NOT_A_STRING, HOSTILE_TEXT),
    "identity": st.one_of(NOT_A_STRING, HOSTILE_TEXT), "method": st.one_of(NOT_A_STRING, HOSTILE_TEXT),
    "headers": st.one_of(HOSTILE_TEXT, st.integers(), st.lists(HOSTILE_TEXT, min_size=1, max_size=3),
                         st.lists(st.tuples(CONTROL, CONTROL).map(list), min_size=1, max_size=2)),
    "body": st.one_of(NOT_A_STRING, HOSTILE_TEXT, st.fixed_dictionaries({"kind": HOSTILE_TEXT}),
                      st.fixed_dictionaries({"kind": st.sampled_from(["raw", "soap", "json"]),
                                             "zlib_b64": st.one_of(NOT_A_STRING, HOSTILE_TEXT, st.just(BOMB))})),
    "after": st.one_of(HOSTILE_TEXT, st.lists(NOT_A_STRING, min_size=1, max_size=2)),
    "bindings": st.one_of(HOSTILE_TEXT, st.lists(SCALAR, max_size=2)),
}
RECORD_KEYS = {"checks": st.one_of(HOSTILE_TEXT, st.integers(), st.lists(st.one_of(HOSTILE_TEXT, st.integers()),
                                                                         min_size=1, max_size=2),
                                   st.lists(st.fixed_dictionaries({"requirement": HOSTILE_TEXT,
                                                                   "check": HOSTILE_TEXT}), min_size=1, max_size=2))}


@st.composite
def hostile_results(draw) -> str:
    """A results.json replay must refuse: any JSON, nested past every limit, or the good document with
    one key (of the document, its exchange, or its case) made hostile."""
    good = results_doc(fc_case().to_json())
    choice = draw(st.sampled_from(["any", "deep", "top", "record", "case"]))
    if choice == "any":
        return json.dumps(draw(JSONISH))
    if choice == "deep":
        return draw(DEEP)
    if choice == "top":
        return json.dumps(_mutate(good, ["exchanges"], draw(st.one_of(NOT_A_STRING, HOSTILE_TEXT))))
    if choice == "record":
        key = draw(st.sampled_from(sorted(RECORD_KEYS) + ["id"]))
        value = draw(RECORD_KEYS.get(key, NOT_A_STRING))
        return json.dumps(_mutate(good, ["exchanges", 0, key], value))
    key = draw(st.sampled_from(sorted(CASE_KEYS)))
    path = ["exchanges", 0, "case"] + ([] if key == "case" else [key])
    return json.dumps(_mutate(good, path, draw(CASE_KEYS[key])))


@FAST
@given(doc=hostile_results())
def test_property_replay_refuses_every_hostile_results_file(tmp_path_factory, capsys, monkeypatch, pki, doc):
    tmp = tmp_path_factory.mktemp("hostile-results")
    target = tmp / "target.toml"
    target.write_text(target_text(pki))
    with monkeypatch.context() as m:
        tracer = Tracer().install(m)
        code, out, err = replay_doc(tmp, capsys, doc, target)
    assert_refused(code, out, err, tracer)


@FAST
@given(doc=hostile_results())
def test_property_report_renders_or_refuses_a_hostile_results_file(tmp_path_factory, capsys, doc):
    tmp = tmp_path_factory.mktemp("hostile-report")
    (tmp / "results.json").write_text(doc, encoding="utf-8")
    code, out, err = run_cli(capsys, "report", str(tmp / "results.json"), "-o", str(tmp / "out"))
    assert "Traceback" not in out + err
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.startswith("fibrecert: ") and len(err.strip().splitlines()) == 1


def _signed(payload: bytes, *, header_extra: dict | None = None) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from fibrecert import signing

    key = Ed25519PrivateKey.generate()
    pub = key.public_key()
    header = {"alg": "EdDSA", "typ": signing.JWS_TYPE, "jwk": signing._jwk(pub), "kid": signing.fingerprint(pub),
              **(header_extra or {})}
    protected = signing._b64url(json.dumps(header).encode())
    encoded = signing._b64url(payload)
    signature = key.sign(f"{protected}.{encoded}".encode("ascii"))
    return json.dumps({"payload": encoded, "protected": protected, "signature": signing._b64url(signature)}).encode()


@st.composite
def hostile_certificates(draw) -> bytes:
    choice = draw(st.sampled_from(["any", "deep", "jws-fields", "signed-deep", "signed-any", "header"]))
    if choice == "any":
        return json.dumps(draw(JSONISH)).encode()
    if choice == "deep":
        return draw(DEEP).encode()
    if choice == "jws-fields":
        return json.dumps({"payload": draw(SCALAR | JSONISH), "protected": draw(SCALAR | JSONISH),
                           "signature": draw(SCALAR | JSONISH)}).encode()
    if choice == "signed-deep":
        return _signed(draw(DEEP).encode())
    if choice == "header":
        return _signed(b"{}", header_extra={draw(st.sampled_from(["alg", "typ", "jwk", "kid", "crit"])):
                                            draw(NOT_A_STRING | HOSTILE_TEXT)})
    return _signed(json.dumps(draw(JSONISH)).encode())


@FAST
@given(cert=hostile_certificates())
def test_property_verify_never_accepts_nor_crashes_on_a_hostile_certificate(tmp_path_factory, capsys, cert):
    report = tmp_path_factory.mktemp("hostile-cert")
    for name in ("results.json", "junit.xml", "index.html"):
        (report / name).write_text("{}")
    (report / "certificate.json").write_bytes(cert)
    code, out, err = run_cli(capsys, "verify", str(report))
    assert "Traceback" not in out + err
    assert code in (1, 2), (code, out, err)
    assert len((out + err).splitlines()) < 80
    assert "\x1b" not in out + err and "\r" not in out + err


def test_verify_refuses_a_deeply_nested_certificate_also_when_correctly_signed(tmp_path, capsys):
    for cert in ("[" * 100_000 + "]" * 100_000).encode(), _signed(("[" * 100_000 + "]" * 100_000).encode()), \
            _signed(json.dumps({"files_sha256": _nested(900)}).encode()):
        (tmp_path / "certificate.json").write_bytes(cert)
        code, out, err = run_cli(capsys, "verify", str(tmp_path))
        assert code == 1 and "Traceback" not in out + err and "nested" in out, out + err


def toml(value: object) -> str:
    """A minimal TOML writer (values inline): enough to put any hostile value at any key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not isinstance(value, float) or value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Deep):
        return "[" * value.n + "1" + "]" * value.n
    if value is None:
        return '""'  # TOML has no null: the closest wrong value
    return json.dumps(str(value))


def toml_doc(sections: dict) -> str:
    out = []
    for name, body in sections.items():
        if isinstance(body, dict):
            out.append(f"[{json.dumps(name)}]")
            out.extend(f"{json.dumps(k)} = {toml(v)}" for k, v in body.items())
        else:
            out.append(f"{json.dumps(name)} = {toml(body)}")
    return "\n".join(out) + "\n"


TOML_WRONG = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.lists(st.integers(), max_size=3),
                       st.dictionaries(st.text("abc", min_size=1, max_size=3), st.integers(), max_size=2),
                       st.integers(101, 50_000).map(Deep))


@st.composite
def hostile_targets(draw, pki) -> str:
    import tomllib

    good = tomllib.loads(target_text(pki))
    choice = draw(st.sampled_from(["deep", "section", "key", "extra", "garbage"]))
    if choice == "deep":
        n = draw(st.integers(101, 50_000))
        return "x = " + "[" * n + "]" * n if draw(st.booleans()) else "a = " + "{b=" * n + "1" + "}" * n
    if choice == "garbage":
        return draw(HOSTILE_TEXT)
    section = draw(st.sampled_from(["ala", "fibrecafe"]))
    if choice == "section":
        good[section] = draw(TOML_WRONG)
        return toml_doc(good)
    if choice == "extra":
        good[section][draw(st.text("xyz_", min_size=1, max_size=6))] = draw(SCALAR.filter(lambda v: v is not None))
        return toml_doc(good)
    key = draw(st.sampled_from(sorted(good[section])))
    wrong = TOML_WRONG if key != "timeout" else st.one_of(st.booleans(), st.lists(st.integers(), max_size=2),
                                                           st.integers(max_value=0), st.text(max_size=4))
    if key == "active_services":
        wrong = st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), min_size=1, max_size=2))
    good[section][key] = draw(wrong)
    return toml_doc(good)


@FAST
@given(data=st.data())
def test_property_run_and_replay_refuse_every_hostile_target_file(tmp_path_factory, capsys, monkeypatch, pki, data):
    tmp = tmp_path_factory.mktemp("hostile-target")
    path = tmp / "target.toml"
    path.write_text(data.draw(hostile_targets(pki)), encoding="utf-8", errors="surrogatepass")
    with monkeypatch.context() as m:
        tracer = Tracer().install(m)
        code, out, err = run_cli(capsys, "run", "--target", str(path), "--quiet", "--report-dir", str(tmp / "r"))
        assert_refused(code, out, err, tracer, lines=20)  # issue 23 may list every problem of the file
        results = tmp / "results.json"
        results.write_text(json.dumps(results_doc(fc_case().to_json())))
        code, out, err = run_cli(capsys, "replay", str(results), EXCHANGE, "--target", str(path))
        assert_refused(code, out, err, tracer, lines=20)


@st.composite
def hostile_expect_files(draw) -> str:
    choice = draw(st.sampled_from(["deep", "garbage", "entry", "shape"]))
    if choice == "deep":
        return "deviation = " + "[" * draw(st.integers(101, 50_000))
    if choice == "garbage":
        return draw(HOSTILE_TEXT) + "\n[[deviation]]\nid = 1\n"
    if choice == "shape":  # not an array of tables (an empty array is one: a file of no deviations)
        return toml_doc({"deviation": draw((TOML_WRONG | HOSTILE_TEXT).filter(lambda v: v != []))})
    entry = {"id": "FC-SOC-001", "reason": "known", "expires": "__DATE__"}
    key = draw(st.sampled_from(["id", "reason", "expires", "extra"]))
    entry[key] = draw(TOML_WRONG | HOSTILE_TEXT) if key != "id" else draw(TOML_WRONG | HOSTILE_TEXT.filter(
        lambda t: not t.strip() or "*" not in t and "?" not in t and "[" not in t))
    return "[[deviation]]\n" + "\n".join(f"{json.dumps(k)} = {toml(v) if v != '__DATE__' else '2099-01-01'}"
                                         for k, v in entry.items()) + "\n"


@FAST
@given(doc=hostile_expect_files())
def test_property_run_refuses_every_hostile_expect_file(tmp_path_factory, capsys, monkeypatch, pki, doc):
    tmp = tmp_path_factory.mktemp("hostile-expect")
    target = tmp / "target.toml"
    target.write_text(target_text(pki))
    (tmp / "expect.toml").write_text(doc, encoding="utf-8", errors="surrogatepass")
    with monkeypatch.context() as m:
        tracer = Tracer().install(m)
        code, out, err = run_cli(capsys, "run", "--target", str(target), "--expect", str(tmp / "expect.toml"),
                                 "--quiet", "--report-dir", str(tmp / "r"))
    assert_refused(code, out, err, tracer)


@st.composite
def hostile_ledgers(draw) -> str:
    good = {"fibrecert_ledger": 1, "used": [{"service": "CF-SVC-00001", "run": "r", "at": "2026-01-01T00:00:00Z"}]}
    choice = draw(st.sampled_from(["any", "deep", "format", "used", "entry"]))
    if choice == "any":
        return json.dumps(draw(JSONISH))
    if choice == "deep":
        return draw(DEEP)
    if choice == "format":
        return json.dumps(_mutate(good, ["fibrecert_ledger"], draw(NOT_A_STRING.filter(lambda v: v != 1) | HOSTILE_TEXT)))
    if choice == "used":
        return json.dumps(_mutate(good, ["used"], draw(NOT_A_STRING.filter(lambda v: not isinstance(v, list)) | HOSTILE_TEXT)))
    key = draw(st.sampled_from(["service", "run", "at"]))
    return json.dumps(_mutate(good, ["used", 0, key], draw(NOT_A_STRING | st.just(""))))


@FAST
@given(doc=hostile_ledgers())
def test_property_a_hostile_ledger_refuses_the_run_in_one_line(tmp_path_factory, capsys, monkeypatch, pki, doc):
    tmp = tmp_path_factory.mktemp("hostile-ledger")
    target = tmp / "target.toml"
    target.write_text(target_text(pki, services=100))
    (tmp / "target.ledger.json").write_text(doc, encoding="utf-8")
    with pytest.raises(LedgerError):
        Ledger.for_target(target).claim_at_least("r", ["CF-SVC-00002"], 1, 1)
    with monkeypatch.context() as m:
        tracer = Tracer().install(m)
        code, out, err = run_cli(capsys, "run", "--target", str(target), "--api", "ala", "--profile", "smoke",
                                 "--quiet", "--report-dir", str(tmp / "r"))
    assert_refused(code, out, err, tracer)


# ------------------------------------------------------------------------------------------ ledger race
def test_two_runs_claiming_at_once_never_start_short(tmp_path):
    """Two claimers interleaved (released together by a barrier), 40 times over: one gets what it needs,
    the other is refused saying how many remain; never a claim of fewer than needed."""
    services = [f"S{i:03d}" for i in range(10)]
    for round_ in range(40):
        ledger_file = tmp_path / f"round{round_}.ledger.json"
        barrier = threading.Barrier(2)
        outcomes: dict[str, object] = {}

        def claimer(name: str) -> None:
            ledger = Ledger(ledger_file)
            barrier.wait()
            try:
                outcomes[name] = ledger.claim_at_least(name, services, 6, 9)[0]
            except NotEnoughServices as exc:
                outcomes[name] = exc

        threads = [threading.Thread(target=claimer, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        claims = [v for v in outcomes.values() if isinstance(v, list)]
        refusals = [v for v in outcomes.values() if isinstance(v, NotEnoughServices)]
        assert len(claims) == 1 and len(refusals) == 1, outcomes
        assert len(claims[0]) >= 6
        assert "only 1 of the 10" in str(refusals[0]) and "needs 6" in str(refusals[0])
        assert len(Ledger(ledger_file).used()) == len(claims[0])


def test_the_old_check_then_claim_could_start_short_and_the_run_no_longer_does(tmp_path):
    """The interleaving of the issue, step by step: both runs pass the check, then claim; the second got
    fewer than it needs. claim_at_least makes the check and the claim one step."""
    services = [f"S{i:03d}" for i in range(10)]
    a, b = Ledger(tmp_path / "old.ledger.json"), Ledger(tmp_path / "old.ledger.json")
    left_a, left_b = a.require(services, 6), b.require(services, 6)
    assert len(a.claim("a", left_a, 6)) == 6
    assert len(b.claim("b", left_b, 6)) == 4  # the race: a run would have started with 4 of 6
    c, d = Ledger(tmp_path / "new.ledger.json"), Ledger(tmp_path / "new.ledger.json")
    assert len(c.claim_at_least("c", services, 6, 6)[0]) == 6
    with pytest.raises(NotEnoughServices, match="only 4 of the 10"):
        d.claim_at_least("d", services, 6, 6)


# ------------------------------------------------------------------------------------------ files with secrets
def test_sandbox_target_file_replaces_an_existing_world_readable_file_with_0600(tmp_path):
    existing = tmp_path / "existing.toml"
    existing.write_text("old")
    existing.chmod(0o644)
    proc = subprocess.Popen([sys.executable, "-m", "fibrecert", "sandbox", "--state-dir", str(tmp_path / "state"),
                             "--target-file", str(existing), "--services", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if "Ctrl-C stops" in line or time.monotonic() > deadline:
                break
        assert stat.S_IMODE(existing.stat().st_mode) == 0o600
        assert "client_secret" in existing.read_text()
    finally:
        proc.terminate()
        proc.wait(30)


def test_write_private_is_0600_whatever_was_there(tmp_path):
    old_umask = os.umask(0)
    try:
        f = tmp_path / "f"
        f.write_text("old")
        f.chmod(0o666)
        write_private(f, "new")
        assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.read_text() == "new"
        elsewhere = tmp_path / "elsewhere"
        elsewhere.write_text("untouched")
        link = tmp_path / "link"
        link.symlink_to(elsewhere)
        write_private(link, "secret")  # the link is replaced, never written through
        assert elsewhere.read_text() == "untouched" and not link.is_symlink()
        assert stat.S_IMODE(link.stat().st_mode) == 0o600
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    finally:
        os.umask(old_umask)


@pytest.mark.parametrize("path", ["", ".", "/", "..", "x/"])
def test_keygen_refuses_a_path_that_names_no_file(capsys, path):
    code, out, err = run_cli(capsys, "keygen", path)
    assert_refused(code, out, err)


# ------------------------------------------------------------------------------------------ CLI values
@pytest.mark.parametrize("argv", [
    ["sandbox", "--ala-port", "99999"], ["sandbox", "--ala-port", "-1"], ["sandbox", "--fibrecafe-port", "abc"],
    ["sandbox", "--services", "-5"], ["sandbox", "--namespace", "a\x01b"], ["sandbox", "--namespace", "a b"],
])
def test_sandbox_flags_are_checked(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument" in err


def test_run_events_in_a_missing_folder_is_a_usage_error(tmp_path, capsys, target, tracer):
    code, out, err = run_cli(capsys, "run", "--target", str(target), "--events", "/nonexistent/dir/f", "--quiet")
    assert_refused(code, out, err, tracer)


@pytest.mark.parametrize("where", ["existing-file", "/proc/x"])
def test_report_output_that_cannot_be_written_is_one_line(tmp_path, capsys, where):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"tool": {}, "contracts": {}, "seed": 1, "profile": "smoke", "started_at": "",
                                   "finished_at": "", "requirements": [], "verdict": "INCOMPLETE"}))
    out_dir = tmp_path / "file" if where == "existing-file" else Path(where)
    if where == "existing-file":
        out_dir.write_text("x")
    code, out, err = run_cli(capsys, "report", str(results), "-o", str(out_dir))
    assert_refused(code, out, err)


def test_a_target_file_nested_100000_deep_is_one_line(tmp_path, capsys, tracer):
    for text in ("x = " + "[" * 100_000 + "]" * 100_000, "a = " + "{b=" * 100_000 + "1" + "}" * 100_000):
        (tmp_path / "t.toml").write_text(text)
        code, out, err = run_cli(capsys, "run", "--target", str(tmp_path / "t.toml"), "--quiet")
        assert_refused(code, out, err, tracer)


def test_a_token_url_that_does_not_parse_is_one_line(tmp_path, capsys, pki, tracer):
    (tmp_path / "t.toml").write_text(target_text(pki, token="https://[::1/x"))
    code, out, err = run_cli(capsys, "run", "--target", str(tmp_path / "t.toml"), "--quiet")
    assert_refused(code, out, err, tracer, lines=20)


def test_a_ledger_nested_100000_deep_is_one_line(tmp_path, capsys, target, tracer):
    (tmp_path / "target.ledger.json").write_text("[" * 100_000 + "]" * 100_000)
    code, out, err = run_cli(capsys, "run", "--target", str(target), "--api", "ala", "--quiet")
    assert_refused(code, out, err, tracer)


# ------------------------------------------------------------------------------------------ nothing left behind
def test_stale_folders_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        folders = {}
        for name, pid in (("live", live.pid), ("dead", dead.pid), ("mine", os.getpid())):
            folder = private_tempdir("fibrecert-", dir=tmp_path)
            (folder / ".fibrecert-owner").write_text(f"{pid} -\n")
            (folder / "ca.key").write_text("secret")
            folders[name] = folder
        assert stat.S_IMODE(folders["mine"].stat().st_mode) == 0o700
        unowned = tmp_path / "fibrecert-older"
        unowned.mkdir()
        removed = sweep_stale(tmp_path)
        assert removed == [folders["dead"]]
        assert folders["live"].exists() and folders["mine"].exists() and unowned.exists()
    finally:
        live.kill()
        live.wait()


def test_a_run_killed_with_sigkill_leaves_folders_that_the_next_run_removes(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "fibrecert", "run", "--profile", "smoke", "--quiet",
                             "--report-dir", str(tmp_path / "r")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run_dirs = list(tmp.glob("fibrecert-run-*"))
            sandbox_targets = list(tmp.glob("fibrecert-*/target.toml"))
            if run_dirs and sandbox_targets and any((d / "untrusted-ca" / "ca.key").exists() for d in run_dirs):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the run never made its folders")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    left = sorted(p.name for p in tmp.iterdir() if p.name.startswith("fibrecert-"))
    assert len(left) >= 2, left  # the embedded sandbox's folder (client secrets) and the run's (untrusted CA key)
    assert any((tmp / n / "untrusted-ca" / "ca.key").exists() for n in left)
    for name in left:
        assert stat.S_IMODE((tmp / name).stat().st_mode) == 0o700
    time.sleep(0.5)  # the embedded sandbox (a child) sees the pipe close and exits
    nxt = subprocess.run([sys.executable, "-m", "fibrecert", "requirements", "--api", "ala"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert nxt.returncode == 0, nxt.stderr
    assert not [p for p in tmp.iterdir() if p.name.startswith("fibrecert-")], list(tmp.iterdir())


def test_a_finished_run_leaves_no_folder(tmp_path, capsys, target, tracer, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    (tmp_path / "target.ledger.json").write_text("[")  # refused after the engine (and its folder) was made
    code, out, err = run_cli(capsys, "run", "--target", str(target), "--api", "ala", "--quiet")
    assert code == 2
    assert not list(tmp_path.glob("fibrecert-*"))


@pytest.mark.parametrize("url", ["https://user:pw@api.vendor.test/v1", "https://api.vendor.test:99999/v1",
                                 "https://api.vendor.test:-1/v1", "https://api.vendor.test:abc/v1"])
def test_a_target_url_with_user_info_or_a_bad_port_is_refused_before_anything_is_sent(tmp_path, capsys, pki, tracer,
                                                                                       url):
    (tmp_path / "t.toml").write_text(target_text(pki, fc=url))
    code, out, err = run_cli(capsys, "run", "--target", str(tmp_path / "t.toml"), "--quiet", "--api", "fibrecafe")
    assert_refused(code, out, err, tracer, lines=20)
    assert "pw@" not in err
    results = tmp_path / "results.json"
    results.write_text(json.dumps(results_doc(fc_case().to_json())))
    code, out, err = run_cli(capsys, "replay", str(results), EXCHANGE, "--target", str(tmp_path / "t.toml"))
    assert_refused(code, out, err, tracer, lines=20)


@pytest.mark.parametrize("name", ["unknown-check-name", "host-suffix", "method-with-crlf", "zlib-bomb"])
def test_the_replayer_api_refuses_before_sending_whoever_calls_it(tmp_path, target, tracer, name):
    """What another command built on replay's machinery (Replayer.send) inherits: the same refusals."""
    from fibrecert.replay import Replayer, ReplayError, load_results

    doc = REPLAY_EXAMPLES.get(name) or results_doc(fc_case().to_json() | EXFILTRATION[name])
    (tmp_path / "results.json").write_text(json.dumps(doc))
    results, _ = load_results(tmp_path / "results.json")
    replayer = Replayer(results, str(target))
    try:
        with pytest.raises(ReplayError):
            replayer.send(EXCHANGE)
        with pytest.raises(ReplayError):
            replayer.prepare(EXCHANGE)
    finally:
        replayer.close()
    assert tracer.silent
