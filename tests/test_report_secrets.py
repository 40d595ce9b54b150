"""Safe to publish: a target that echoes credentials and hostile markup into its error answers leaves no
secret in any file the run writes nor on the terminal, and its markup renders as text. The curl lines
of the report carry placeholders, never credentials, and quote whatever the body holds.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import threading

import pytest
from helpers import fibrecert, results

from fibrecert.reports.html_writer import curl
from fibrecert.sandbox.fibrecafe import FibreCafeApp

HOSTILE = '<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">'


@pytest.mark.slow
def test_secrets_a_hostile_target_echoes_reach_no_file_and_no_terminal(tmp_path, start_sandbox, monkeypatch):
    # error codes outside the enum: every error answer fails a requirement, so its body becomes evidence
    sb = start_sandbox(record_tokens=True, defects=("fc-error-code-outside-enum", "fc-cancel-status-outside-enum"))
    secret_a, secret_b = sb.tenant_secret("tenant-a"), sb.tenant_secret("tenant-b")
    seen = threading.local()
    call, error = FibreCafeApp.__call__, FibreCafeApp._error

    def echoing_call(self, environ, start_response):
        seen.auth = environ.get("HTTP_AUTHORIZATION", "")

        def start(status, headers, exc_info=None):
            if not status.startswith(("2", "3")):  # error answers echo the credentials in headers too
                headers = [*headers, ("X-Echo-Authorization", seen.auth), ("X-Echo-Secret", f"{secret_a} {HOSTILE}")]
            return start_response(status, headers, exc_info)

        return call(self, environ, start)

    def echoing_error(self, err):
        err.messages = [*err.messages, f"you sent Authorization: {getattr(seen, 'auth', '')}",
                        f"tenant secrets {secret_a} {secret_b}", HOSTILE]
        return error(self, err)

    monkeypatch.setattr(FibreCafeApp, "__call__", echoing_call)
    monkeypatch.setattr(FibreCafeApp, "_error", echoing_error)

    # the target file holds one secret itself and names the other by environment variable
    target = sb.write_target(tmp_path / "t.toml")
    text = target.read_text()
    text = re.sub(r'(?m)^other_client_secret = .*$', 'other_client_secret_env = "FIBRECERT_TEST_OTHER_SECRET"', text)
    target.write_text(text)
    report = tmp_path / "r"
    events = tmp_path / "events.ndjson"
    done = fibrecert("run", "--target", str(target), "--api", "fibrecafe", "--profile", "smoke", "-v",
                     "--events", str(events), "--report-dir", str(report), env={"FIBRECERT_TEST_OTHER_SECRET": secret_b})
    assert done.returncode == 1, done.stdout + done.stderr

    secret_s = sb.tenant_secret("tenant-short-ttl")  # the short-TTL client (SEC-015)
    secrets = [secret_a, secret_b, secret_s, *sb.issued_tokens]
    assert len(sb.issued_tokens) >= 4  # tenant a twice (once with its credentials in the form), b, short-TTL
    for client, secret in (("tenant-a", secret_a), ("tenant-b", secret_b), ("tenant-short-ttl", secret_s)):
        secrets.append(base64.b64encode(f"{client}:{secret}".encode()).decode())
    for ident in sb.pki.clients.values():
        secrets.extend(ln for ln in ident.key.read_text().splitlines() if ln and "PRIVATE KEY" not in ln)
    written = {p.name: p.read_text(encoding="utf-8") for p in report.iterdir()}
    assert {"index.html", "results.json", "junit.xml"} <= set(written)
    written["stdout"], written["stderr"], written["events"] = done.stdout, done.stderr, events.read_text()
    # the run ends with its facts (what the report is built from), then its verdict
    assert [json.loads(line)["type"] for line in written["events"].splitlines()[-2:]] == ["run_ending", "run_finished"]
    assert " FAIL " in done.stdout  # -v: a line for each test, with a failing test's reason
    for where, text in written.items():
        for secret in secrets:
            assert secret not in text, f"a secret reached {where}"
        assert "PRIVATE KEY" not in text, where

    # the echoes did reach the evidence, redacted...
    bodies = [step["response"].get("body", "") + str(step["response"].get("headers", {}))
              for r in results(report)["requirements"] for e in r["evidence"] for step in [*e.get("sequence", []), e]]
    assert any("you sent Authorization: Bearer [REDACTED]" in b for b in bodies)
    assert any("tenant secrets [REDACTED] [REDACTED]" in b for b in bodies)
    assert any("'X-Echo-Authorization': 'Bearer [REDACTED]'" in b for b in bodies)
    # ...and the markup the target sent is text in the page, never markup
    html = written["index.html"]
    assert "<script>window.__pwned" not in html and 'onerror="window.__pwned' not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert html.count("<script>") == 1
    assert "$FIBRECAFE_TOKEN" in html  # the curl lines carry a placeholder instead


def _command_words(command: str) -> list[str]:
    return shlex.split(command.replace(" \\\n", " "))


def _step(url, identity, headers, body):
    return {"exchange": "X000001", "identity": identity,
            "request": {"method": "POST", "url": url, "headers": headers, "body": body}, "response": {"status": 500}}


TARGET = {"ala": {"base_url": "https://ala.example", "buyer_base_url": "https://buyer.example"},
          "fibrecafe": {"base_url": "https://fc.example/v1", "token_url": "https://fc.example/v1/auth/tenant/access-token"}}


def test_curl_carries_placeholders_never_credentials():
    bearer = curl(_step("https://fc.example/v1/service-orders", "tenant-b",
                        {"Authorization": "Bearer [REDACTED]", "Cookie": "[REDACTED]", "X-Request-ID": "r1"}, "{}"),
                  "fibrecafe")
    assert '-H "Authorization: Bearer $FIBRECAFE_OTHER_TOKEN"' in bearer["command"]
    assert "[REDACTED]" not in bearer["command"] and "Cookie" not in bearer["command"]
    assert "-H 'X-Request-ID: r1'" in bearer["command"]
    token = curl(_step(TARGET["fibrecafe"]["token_url"], "tenant-a:basic", {"Authorization": "Basic [REDACTED]"},
                       "grant_type=client_credentials"), "fibrecafe")
    assert '--user "$client_id:$client_secret"' in token["command"]
    wrong = curl(_step(TARGET["fibrecafe"]["token_url"], "tenant-a:basic:wrong-secret", {"Authorization": "Basic [REDACTED]"},
                       "grant_type=client_credentials"), "fibrecafe")
    assert '--user "$client_id:fibrecert-wrong-client-secret"' in wrong["command"]
    form = curl(_step(TARGET["fibrecafe"]["token_url"], "tenant-a:form", {},
                      "grant_type=client_credentials&client_id=tenant-a&client_secret=[REDACTED]"), "fibrecafe")
    assert "--user" not in form["command"] and any("$client_secret" in n for n in form["notes"])
    both = curl(_step(TARGET["fibrecafe"]["token_url"], "tenant-a:basic+tenant-b:form", {"Authorization": "Basic [REDACTED]"},
                      "grant_type=client_credentials&client_id=tenant-b&client_secret=[REDACTED]"), "fibrecafe")
    assert '--user "$client_id:$client_secret"' in both["command"]
    assert any("$other_client_secret" in n for n in both["notes"])
    anonymous = curl(_step("https://fc.example/v1/service-orders", "no-token", {}, "{}"), "fibrecafe")
    assert "Authorization" not in anonymous["command"]
    seller = curl(_step("https://buyer.example/unsolicitedCeaseRequest", "seller", {"SOAPAction": '""'}, "<a/>"), "ala")
    assert '--cert "$seller_client_cert" --key "$seller_client_key" --cacert "$ca_bundle"' in seller["command"]
    none = curl(_step("https://ala.example/ceaseOrder", "none", {}, "<a/>"), "ala")
    assert "--cert" not in none["command"] and '--cacert "$ca_bundle"' in none["command"]
    redacted = curl(_step("https://fc.example/v1/x", "tenant-a", {}, "client_secret=[REDACTED]"), "fibrecafe")
    assert any("redacted" in n for n in redacted["notes"])
    assert curl(_step("https://fc.example/v1/x", "tenant-a", {}, "x" * 70_000), "fibrecafe")["command"] is None


def test_a_curl_line_is_for_the_api_its_exchange_was_sent_to():
    """The report reads an exchange's API from results.json's exchanges (never from its URL); evidence of
    an exchange it does not list falls back to the requirement's API."""
    from fibrecert.reports.model import RunResult

    result = RunResult(tool={}, contracts={}, target=TARGET, seed=1, profile="smoke", started_at="", finished_at="",
                       duration_s=0.0, requests_sent=2, requirements=[],
                       exchanges=[{"id": "X001.1", "api": "ala"}, {"id": "X002.1", "api": "fibrecafe"}])
    assert result.api_of("X001.1", "fibrecafe") == "ala" and result.api_of("X002.1", "ala") == "fibrecafe"
    assert result.api_of("X009.1", "ala") == "ala"
    # the same URL and identity name, another API: the curl line is that API's
    step = _step("https://shared.example/x", "none", {}, "<a/>")
    assert '--cacert "$ca_bundle"' in curl(step, result.api_of("X001.1"))["command"]
    assert not any("present the matching credentials" in n for n in curl(step, "ala")["notes"])


def test_curl_quotes_any_body_and_url_exactly():
    body = "it's $(touch /tmp/pwned) `id` \"q\" \\ \n<a b='c'>&amp;</a> ${HOME} !x"
    url = "https://ala.example/ceaseOrder?a=1&b=$(id)'"
    command = curl(_step(url, "buyer", {"X-Evil": "'; rm -rf / #"}, body), "ala")["command"]
    words = _command_words(command)
    assert words[:6] == ["curl", "-i", "-sS", "--request", "POST", url]
    assert words[words.index("--data-binary") + 1] == body
    assert "X-Evil: '; rm -rf / #" in words


def test_a_failure_reason_quoting_a_secret_reaches_the_verbose_terminal_redacted():
    """A test's failure reason is the target's text (what a check observed): under -v the progress line
    prints it, and the bus hands it over redacted, as it does to the event log."""
    import io

    from fibrecert.core.events import EventBus, RunStarted, TestFinished, TestStarted
    from fibrecert.core.redaction import SecretRegistry
    from fibrecert.progress import Progress

    token = "tok-9f2c41e07b5d4a8e"
    bus = EventBus(SecretRegistry([token]))
    shown, raw = io.StringIO(), io.StringIO()
    bus.subscribe(Progress(shown, verbose=True, tty=False), outside=True)
    bus.subscribe(Progress(raw, verbose=True, tty=False))  # in memory, as the result model: not redacted
    test = "fibrecafe/test_token.py::test_a_token_is_issued"
    bus.emit(RunStarted(profile="smoke", seed=1, apis=("fibrecafe",), tests=1, requirements=1, concurrency=1,
                        test_ids=(test,)))
    bus.emit(TestStarted(test, "fibrecafe"))
    bus.emit(TestFinished(test, "fibrecafe", "failed", f"SEC-011: Received a body echoing Bearer {token} / "
                                                         "Declared: no credential in any answer"))
    assert "FAIL" in shown.getvalue() and "echoing Bearer [REDACTED]" in shown.getvalue()
    assert token not in shown.getvalue()
    assert token in raw.getvalue()  # the redaction is the bus's, for handlers that take events out

