"""End to end: the CLI against real sandboxes over loopback (TLS, mutual TLS, OAuth2)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from fibrecert import contracts

from helpers import REPO, fibrecert, results

FIVE_OPERATIONS = {"POST /ceaseOrder", "POST /cancelOrder", "POST /unsolicitedCeaseRequest",
                   "POST /service-orders", "POST /service-order-cancellations"}
SPEC_KEYS = {"tool", "contracts", "target", "seed", "profile", "started_at", "finished_at", "verdict", "requirements"}
REQ_KEYS = {"id", "operation", "level", "basis", "text", "outcome", "cases", "evidence"}

pytestmark = pytest.mark.slow


@dataclass
class Ran:
    """One `fibrecert run --profile smoke` of both APIs against a live sandbox, shared by the tests of
    this module that only read its report or replay its exchanges (a run costs seconds of CPU)."""
    sandbox: Any
    target: Path
    report: Path
    done: subprocess.CompletedProcess


def _shared_run(tmp_path_factory: pytest.TempPathFactory, pki_dir: Path, name: str, quiet: bool, **sandbox: Any):
    from fibrecert.sandbox import Sandbox

    root = tmp_path_factory.mktemp(name)
    sb = Sandbox(root / "state", pki_dir=pki_dir, **sandbox).start()
    target = sb.write_target(root / "t.toml")
    done = fibrecert("run", "--target", str(target), "--profile", "smoke", *(["--quiet"] if quiet else []),
                     "--report-dir", str(root / "r"))
    return sb, Ran(sb, target, root / "r", done)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, pki_dir):
    sb, ran = _shared_run(tmp_path_factory, pki_dir, "clean-run", quiet=True)
    assert ran.done.returncode == 0, ran.done.stdout + ran.done.stderr
    yield ran
    sb.stop()


@pytest.fixture(scope="module")
def defective_run(tmp_path_factory, pki_dir):
    """Two APIs' defects (a status outside its enum, a double cancel, no correlationId echo), with the
    tokens the sandbox issues recorded, so that no test can miss a secret that reached an output."""
    sb, ran = _shared_run(tmp_path_factory, pki_dir, "defective-run", quiet=False, record_tokens=True,
                          defects=("fc-cancel-status-outside-enum", "fc-double-cancel", "ala-cease-no-correlation-echo"))
    assert ran.done.returncode == 1, ran.done.stdout + ran.done.stderr
    yield ran
    sb.stop()


def test_embedded_run_is_conformant_exercises_all_five_operations_and_writes_three_files(tmp_path):
    report = tmp_path / "report"
    done = fibrecert("run", "--profile", "smoke", "--report-dir", str(report), "--seed", "7")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("CONFORMANT: ") and "tests " in done.stdout  # progress, and the verdict last
    assert {p.name for p in report.iterdir()} >= {"index.html", "results.json", "junit.xml"}
    data = results(report)
    assert SPEC_KEYS <= set(data) and data["verdict"] == "CONFORMANT" and data["seed"] == 7
    assert data["contracts"] == {"ala": "2.30", "fibrecafe": "1.17"}
    assert {r["id"] for r in data["requirements"]} == set(contracts.requirements())
    for r in data["requirements"]:
        assert REQ_KEYS <= set(r), r
        if r["level"] == "MUST":
            assert r["outcome"] == "pass", r
        assert r["outcome"] in ("pass", "not_tested"), r  # the clean sandbox: no fail, no warn
        if r["outcome"] == "pass":
            assert r["cases"] > 0 and r["evidence"], r["id"]  # every pass shows what it was checked on
            assert all(e["kind"] == "pass" and e["replay"].startswith("fibrecert replay ") for e in r["evidence"])
    assert len(data["exchanges"]) == data["requests_sent"]  # every exchange of the run, replayable by its id
    exercised = {r["operation"] for r in data["requirements"] if r["cases"]}
    assert FIVE_OPERATIONS <= exercised
    suite = ET.parse(report / "junit.xml").getroot()
    assert suite.get("tests") == str(len(data["requirements"])) and suite.get("failures") == "0"
    assert all(re.match(r"^(ALA-|FC-|SEC-|ROB-|INT-)", tc.get("name")) for tc in suite.iter("testcase"))
    assert "CONFORMANT" in (report / "index.html").read_text()


def test_sandbox_command_and_run_against_its_target_file(tmp_path):
    target = tmp_path / "target.toml"
    proc = subprocess.Popen([sys.executable, "-m", "fibrecert", "sandbox", "--state-dir", str(tmp_path / "s"),
                             "--target-file", str(target), "--services", "80"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert target.exists(), proc.stderr.read() if proc.poll() is not None else "no target file"
        time.sleep(0.2)
        done = fibrecert("run", "--target", str(target), "--profile", "smoke", "--report-dir", str(tmp_path / "r"))
        assert done.returncode == 0, done.stdout + done.stderr
        assert results(tmp_path / "r")["verdict"] == "CONFORMANT"
        assert oct(target.stat().st_mode & 0o777) == "0o600"  # it holds client secrets
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "Target file" in out and "https://localhost:" in out


def _unreachable_target(tmp_path: Path, sandbox_target: Path) -> Path:
    text = sandbox_target.read_text()
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = re.sub(r"https://localhost:\d+", f"https://localhost:{port}", text)
    path = tmp_path / "down.toml"
    path.write_text(text)
    return path


def test_a_wrong_port_is_named_in_one_line_with_its_fix_within_seconds(tmp_path, start_sandbox):
    """Preflight (issue 13): a closed port ends the run before any suite, one line per endpoint naming
    the cause and the fix, exit 5 (nothing was tested), and a report that says the same."""
    sb = start_sandbox()
    target = _unreachable_target(tmp_path, sb.write_target(tmp_path / "up.toml"))
    started = time.monotonic()
    done = fibrecert("run", "--target", str(target), "--report-dir", str(tmp_path / "r"))
    # nothing waited for a timeout or retried (a refused connection answers at once): the bound is the
    # interpreter's start and the report's writing, generous for a loaded CI machine
    assert time.monotonic() - started < 30
    assert done.returncode == 5, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("fibrecert: preflight: ")]
    assert lines and all("connection refused" in ln and "check" in ln and "host and port" in ln for ln in lines), done.stderr
    assert "[SSL:" not in done.stdout + done.stderr
    data = results(tmp_path / "r")
    assert data["verdict"] == "INCOMPLETE" and data["stopped_early"]
    assert all(r["outcome"] in ("not_tested", "skip") for r in data["requirements"])
    assert all("preflight" in r.get("reason", "") for r in data["requirements"] if r["outcome"] == "not_tested")
    assert "connection refused" in (tmp_path / "r" / "index.html").read_text()


class _SilentServer:
    """Accepts TCP connections and never answers: a hung target."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_hung_target_yields_a_finished_report_not_a_hang(tmp_path, start_sandbox):
    sb = start_sandbox()
    silent = _SilentServer()
    try:
        text = sb.write_target(tmp_path / "up.toml", timeout=1).read_text()
        text = re.sub(r'base_url = "https://localhost:\d+/v1"', f'base_url = "https://localhost:{silent.port}/v1"', text)
        target = tmp_path / "hung.toml"
        target.write_text(text)
        started = time.monotonic()
        done = fibrecert("run", "--target", str(target), "--api", "fibrecafe", "--report-dir", str(tmp_path / "r"))
        assert time.monotonic() - started < 60
    finally:
        silent.close()
    # 5: the preflight found no TLS handshake and nothing was tested; 1 or 3: the suites ran.
    assert done.returncode in (1, 3, 5), done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    data = results(tmp_path / "r")
    assert data["verdict"] in ("NON_CONFORMANT", "INCOMPLETE")
    assert (done.returncode == 5) == any(s.startswith("preflight: ") for s in data["stopped_early"])


class _PlainHttpServer:
    """A port that answers in plain HTTP (what a TLS client gets when it is pointed at the wrong port)."""

    def __init__(self):
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"plain")

            do_POST = do_GET  # noqa: N815

            def log_message(self, *a):  # noqa: ANN002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _TlsRefusingServer:
    """Accepts TCP, reads the ClientHello and answers with a TLS alert (handshake_failure), then closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.recv(4096)
                conn.sendall(bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]))  # fatal alert: handshake_failure
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("kind", ["plain-http", "tls-refusing"])
def test_a_port_that_speaks_plain_http_or_refuses_tls_earns_no_pass(tmp_path, start_sandbox, kind):
    sb = start_sandbox()
    server = _PlainHttpServer() if kind == "plain-http" else _TlsRefusingServer()
    try:
        text = sb.write_target(tmp_path / "up.toml", timeout=2).read_text()
        text = re.sub(r"https://localhost:\d+", f"https://localhost:{server.port}", text)
        target = tmp_path / "wrong.toml"
        target.write_text(text)
        done = fibrecert("run", "--target", str(target), "--profile", "smoke", "--report-dir", str(tmp_path / "r"))
    finally:
        server.close()
    assert done.returncode == 5, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    data = results(tmp_path / "r")
    assert data["verdict"] == "INCOMPLETE"
    passed = [r["id"] for r in data["requirements"] if r["outcome"] == "pass"]
    assert not passed, f"requirements that passed without a single answered exchange: {passed}"


def test_pytest_runs_the_suites_against_a_target_file(tmp_path, start_sandbox):
    sb = start_sandbox()
    target = sb.write_target(tmp_path / "t.toml")
    import fibrecert.suites as suites

    done = subprocess.run([sys.executable, "-m", "pytest", str(Path(suites.__file__).parent), "--target", str(target),
                           "--fibrecert-profile", "smoke", "-q", "-p", "no:cacheprovider", "--report-dir",
                           str(tmp_path / "r"), "-W", "ignore::DeprecationWarning"],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert results(tmp_path / "r")["verdict"] == "CONFORMANT"


def test_a_failing_case_replays_against_the_target_file_it_is_given(defective_run, tmp_path, start_sandbox):
    """Replay re-sends the structured case (and its chain) and re-runs its checks: 1 while the target
    still violates the requirement, 0 once it satisfies it; it prints the URL it sends to."""
    broken, report = defective_run.sandbox, defective_run.report
    data = results(report)
    by_id = {r["id"]: r for r in data["requirements"]}
    fixed = start_sandbox(state_dir=tmp_path / "fixed")
    fixed_target = fixed.write_target(tmp_path / "fixed.toml")
    for requirement in ("FC-SOC-001", "ALA-CEASE-003"):
        evidence = next(e for e in by_id[requirement]["evidence"] if e["kind"] == "violation")
        assert evidence["replay"].startswith("fibrecert replay ")
        exchange = evidence["replay"].split()[-1]
        again = fibrecert("replay", str(report / "results.json"), exchange, "--allow-cease")
        assert again.returncode == 1, again.stdout + again.stderr
        assert f"still violated  {requirement}" in again.stdout and broken.fibrecafe_url.split("/v1")[0] in again.stdout \
            or broken.ala_url in again.stdout
        if requirement == "FC-SOC-001":
            assert '"status": "DONE"' in again.stdout  # the defect is still visible in the replayed answer
        now = fibrecert("replay", str(report / "results.json"), exchange, "--allow-cease",
                        "--target", str(fixed_target))
        assert now.returncode == 0, now.stdout + now.stderr
        assert "The target now satisfies every check" in now.stdout
        assert (fixed.ala_url if requirement.startswith("ALA") else fixed.fibrecafe_url) in now.stdout  # the new URL
        assert (broken.ala_url if requirement.startswith("ALA") else broken.fibrecafe_url) not in now.stdout


def test_replay_names_the_active_service_it_would_cease_and_waits_for_allow_cease(clean_run):
    sb, report = clean_run.sandbox, clean_run.report
    data = results(report)
    cease = next(x for x in data["exchanges"] if x["operation"] == "POST /ceaseOrder" and x["answer"] == 200
                 and "service" in x["case"].get("bindings", {}))
    before = sb.store.active_services("SPDEV1")
    refused = fibrecert("replay", str(report / "results.json"), cease["id"])
    assert refused.returncode == 2 and "--allow-cease" in refused.stderr, refused.stdout + refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert sb.store.active_services("SPDEV1") == before  # nothing was sent
    named = refused.stderr.split("active service(s) ")[1].split(" ")[0]
    assert named in before and named not in json.dumps(data["exchanges"])
    allowed = fibrecert("replay", str(report / "results.json"), cease["id"], "--allow-cease")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert named not in sb.store.active_services("SPDEV1")  # that one, and only what it named, was ceased


def test_every_exchange_of_a_clean_run_replays(clean_run):
    """A spread of the Fibre Cafe exchanges the report shows (token, orders, negatives, sequences) replay
    to exit 0; an ALA cease would need --allow-cease (the test above)."""
    data = results(clean_run.report)
    fibre_cafe = {x["id"] for x in data["exchanges"] if x["operation"].startswith("POST /service-")
                  or "token" in x["operation"]}
    shown = sorted({e["exchange"] for r in data["requirements"] for e in r["evidence"]} & fibre_cafe)
    assert len(shown) >= 6
    for exchange in shown[:: max(1, len(shown) // 6)]:
        again = fibrecert("replay", str(clean_run.report / "results.json"), exchange)
        assert again.returncode == 0, again.stdout + again.stderr


def test_replay_refuses_an_exchange_whose_answer_depended_on_its_tokens_age(clean_run):
    """The expiry requirement's exchanges went with a short-lived token at a given age (fresh, then
    expired): a replay would send a token fetched now, so it refuses them, saying why, and sends nothing."""
    data = results(clean_run.report)
    aged = [x["id"] for x in data["exchanges"] if (x.get("case") or {}).get("identity") == "tenant-s"]
    assert aged, "the run sent nothing with the short-lived token"
    refused = fibrecert("replay", str(clean_run.report / "results.json"), aged[-1])
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "short-lived token" in refused.stderr and "nothing was sent" in refused.stderr, refused.stderr
    assert "Replaying" not in refused.stdout and "Answer:" not in refused.stdout  # refused before sending


def test_no_secret_reaches_a_report_file_or_the_terminal(defective_run):
    sb, done = defective_run.sandbox, defective_run.done
    secrets = [sb.tenant_secret("tenant-a"), sb.tenant_secret("tenant-b"), *sb.issued_tokens]
    assert len(sb.issued_tokens) >= 2
    for ident in sb.pki.clients.values():
        key_lines = [ln for ln in ident.key.read_text().splitlines() if ln and "PRIVATE KEY" not in ln]
        secrets.extend(key_lines)
    written = {p.name: p.read_text() for p in defective_run.report.iterdir()}
    written["stdout"], written["stderr"] = done.stdout, done.stderr
    assert "[REDACTED]" in written["results.json"]  # evidence with Authorization headers was written
    for where, text in written.items():
        for secret in secrets:
            assert secret not in text, f"a secret reached {where}"
        assert "PRIVATE KEY" not in text


def test_report_command_renders_the_html_again(defective_run, tmp_path):
    again = fibrecert("report", str(defective_run.report / "results.json"), "-o", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    html = (tmp_path / "again" / "index.html").read_text()
    assert "NON_CONFORMANT" in html and "INT-012" in html
    bad = fibrecert("report", str(tmp_path / "nope.json"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
