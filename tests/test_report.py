"""Writers over one model: JSON keys per the spec, JUnit per requirement, HTML escapes target content."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from fibrecert.reports import html_writer, json_writer, junit_writer
from fibrecert.reports.model import RequirementResult, RunResult, compute_verdict, outcome_for

HOSTILE = '<script>alert("pwned")</script>"><img src=x onerror=alert(1)>'


def _result(outcome="fail", evidence_text=HOSTILE):
    evidence = [{"exchange": "X000001", "identity": "buyer", "observed": f"Received faultmessage {evidence_text}",
                 "expected": "HTTP 400", "replay": "fibrecert replay results.json X000001",
                 "request": {"method": "POST", "url": "https://t/ceaseOrder", "headers": {"Authorization": "Bearer [REDACTED]"},
                             "body": "<a/>"},
                 "response": {"status": 200, "headers": {"Content-Type": "text/xml"},
                              "body": f"<fault><faultcode>x</faultcode><faultmessage>{evidence_text.replace('<', '&lt;')}</faultmessage></fault>"}}]
    reqs = [RequirementResult(id="ALA-CEASE-004", api="ala", operation="POST /ceaseOrder", level="MUST", basis="doc",
                              text="A ceaseOrder missing any required element is rejected.", source="seed", quote="quote text",
                              outcome=outcome, cases=3, evidence=evidence if outcome in ("fail", "warn") else []),
            RequirementResult(id="FC-SO-001", api="fibrecafe", operation="POST /service-orders", level="SHOULD",
                              basis="assumed", text="Orders are accepted.", source="d1", quote="quote text",
                              outcome="not_tested", cases=0, reason="no test data")]
    return RunResult(tool={"name": "fibrecert", "version": "0"}, contracts={"ala": "2.30", "fibrecafe": "1.17"},
                     target={"ala": {"base_url": "https://t"}}, seed=1, profile="smoke", started_at="s",
                     finished_at="f", duration_s=1.0, requests_sent=3, requirements=reqs)


def test_verdicts_follow_the_rules():
    r = _result("fail")
    assert r.verdict == "NON_CONFORMANT" and r.exit_code == 1
    r = _result("pass")
    assert r.verdict == "CONFORMANT"  # the not_tested requirement is a SHOULD
    r.requirements[1].level = "MUST"
    assert r.verdict == "INCOMPLETE" and r.exit_code == 3
    assert compute_verdict([], ["target unreachable"]) == "INCOMPLETE"
    assert outcome_for("SHOULD", 5, 1, [], []) == ("warn", "")
    assert outcome_for("MUST", 0, 0, ["no data"], ["n/a"]) == ("not_tested", "no data")
    assert outcome_for("MUST", 0, 0, [], ["n/a"]) == ("skip", "n/a")
    assert outcome_for("MUST", 0, 0, [], [])[0] == "not_tested"  # never a silent pass


def test_html_renders_target_content_as_text():
    html = html_writer.render(_result())
    assert "<script>alert(" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(" in html
    assert "fibrecert replay results.json X000001" in html and "no test data" in html
    assert html.count("<script>") == 1  # only the report's own inlined script


def test_json_round_trips_and_junit_has_one_case_per_requirement():
    r = _result()
    data = json.loads(json_writer.render(r))
    assert data["verdict"] == "NON_CONFORMANT" and data["requirements"][0]["evidence"][0]["replay"]
    assert RunResult.from_json(data).to_json() == data
    suite = ET.fromstring(junit_writer.render(r))
    cases = list(suite.iter("testcase"))
    assert len(cases) == 2 and cases[0].get("name").startswith("ALA-CEASE-004")
    assert cases[0].find("failure") is not None and "Declared: HTTP 400" in cases[0].find("failure").get("message")
    assert cases[1].find("error") is not None  # not_tested is never a pass


def test_text_from_the_target_cannot_drive_the_terminal():
    from fibrecert.wording import terminal_safe

    shown = terminal_safe("Received faultmessage \x1b]0;owned\x07\x1b[2J\rdone\n" + "x" * 1000)
    assert "\x1b" not in shown and "\r" not in shown and "\n" not in shown and "\x07" not in shown
    assert shown.startswith("Received faultmessage \\x1b]0;owned") and len(shown) <= 300
