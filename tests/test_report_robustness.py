"""A report writer never fails on evidence, whatever it holds, and every file it writes is valid:
JSON nested far deeper than Python recurses, control characters, invalid UTF-8 (as the transport
decodes it), lone surrogates, NaN, huge bodies. Each writer gets the same hostile model; the files are
parsed back strictly, and `fibrecert report` renders the HTML again from the results.json.
"""

from __future__ import annotations

import json
import time
from xml.etree import ElementTree as ET

import lxml.html
import pytest

from fibrecert.cli import main
from fibrecert.reports import html_writer, json_writer, junit_writer
from fibrecert.reports.html_writer import pretty
from fibrecert.reports.model import RequirementResult, RunResult
from fibrecert.reports.writers import write_all

DEEP_JSON = "[" * 100_000 + "]" * 100_000             # a hostile answer (tests/hostile.py, mode bomb)
SUITE_DEEP_JSON = '{"a": ' * 1000 + "1" + "}" * 1000   # the suite's own negative, as sent
CONTROLS = "<script>alert(1)</script>\x1b[31m\x1b]0;title\x07\r\x00\x0b\x7f\x9b\ufffe"
INVALID_UTF8 = b"\xff\xfe\xc3\x28\xed\xa0\x80".decode("utf-8", errors="replace")  # as Exchange.text decodes
LONE = "\ud800 and \udfff"
XML_BOMB = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY x SYSTEM "file:///etc/passwd">]><r>&c;&x;</r>')
HUGE = "x" * (1024 * 1024)  # 16 times what evidence keeps, 4 times what pretty() parses


def _evidence(body: str, *, observed: str = "Received something", headers: dict | None = None,
              detail: str | None = None, sent: str | None = None) -> dict:
    response: dict = ({"error": "dropped", "detail": detail} if detail is not None else
                      {"status": 400, "headers": headers or {"Content-Type": "application/json"}, "body": body})
    return {"exchange": "X000001", "identity": "tenant-a", "observed": observed, "expected": "HTTP 400",
            "test": "t", "replay": "fibrecert replay results.json X000001",
            "request": {"method": "POST", "url": "https://localhost:1/v1/service-orders",
                        "headers": {"Content-Type": "application/json", "X-Hostile": CONTROLS},
                        "body": body if sent is None else sent},
            "response": response, "elapsed_ms": float("nan")}


def _result(*evidence: dict, reason: str = CONTROLS, observed: str = CONTROLS) -> RunResult:
    reqs = [RequirementResult(id=f"FC-SO-{i:03d}", api="fibrecafe", operation="POST /service-orders",
                              level="MUST", basis="doc", text=f"requirement {i}", source="s", quote="q",
                              outcome="fail", cases=1, evidence=[e]) for i, e in enumerate(evidence, 1)]
    reqs.append(RequirementResult(id="FC-SO-100", api="fibrecafe", operation="POST /service-orders", level="MUST",
                                  basis="doc", text="t", source="s", quote="q", outcome="not_tested", cases=0,
                                  reason=reason))
    reqs.append(RequirementResult(id="FC-SO-101", api="fibrecafe", operation="POST /service-orders", level="SHOULD",
                                  basis="doc", text="t", source="s", quote="q", outcome="warn", cases=1,
                                  evidence=[_evidence("{}", observed=observed)]))
    return RunResult(tool={"name": "fibrecert", "version": "0"}, contracts={"fibrecafe": "1.17"},
                     target={"fibrecafe": {"base_url": "https://localhost:1/v1"}}, seed=1, profile="smoke",
                     started_at="s", finished_at="f", duration_s=1.0, requests_sent=1, requirements=reqs,
                     stopped_early=[CONTROLS])


HOSTILE_EVIDENCE = {
    "deep-json-answer": _evidence(DEEP_JSON),
    "suite-deep-json": _evidence(SUITE_DEEP_JSON),
    "deep-but-parseable": _evidence("[" * 900 + "]" * 900),
    "controls": _evidence(CONTROLS, observed=f"Received {CONTROLS}", headers={"X-Hostile": CONTROLS}),
    "controls-in-json": _evidence(json.dumps({"code": CONTROLS}), observed=CONTROLS),
    "invalid-utf8": _evidence(INVALID_UTF8, observed=INVALID_UTF8, headers={"X-Hostile": INVALID_UTF8}),
    # (what the suite sent is decoded with errors="replace": a lone surrogate only comes back)
    "lone-surrogates": _evidence(LONE, sent="{}"),
    "escaped-lone-surrogate-json": _evidence('{"uuid": "\\ud800", "n": NaN}'),
    "random-bytes-detail": _evidence("", detail=bytes(range(256)).decode("latin-1")),
    "xml-bomb": _evidence(XML_BOMB),
    "huge-json": _evidence('{"a": "' + HUGE + '"}'),
    "huge-text": _evidence(HUGE),
}


def _strict_json(raw: bytes) -> dict:
    def reject(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    data = json.loads(raw.decode("utf-8"), parse_constant=reject)
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # no lone surrogate, escaped or not
    return data


def _check_html(html: str) -> None:
    doc = lxml.html.document_fromstring(html.encode("utf-8"), lxml.html.HTMLParser(huge_tree=True))
    assert len(doc.xpath("//script")) == 1 and not doc.xpath("//img")
    assert "NON_CONFORMANT" in doc.text_content()


@pytest.mark.parametrize("name", sorted(HOSTILE_EVIDENCE))
def test_every_writer_writes_a_valid_file_whatever_the_evidence(tmp_path, name):
    result = _result(HOSTILE_EVIDENCE[name])
    started = time.monotonic()
    paths = write_all(result, tmp_path)
    assert time.monotonic() - started < 20, "the writers' work is not bounded"
    assert {p.name for p in paths} == {"results.json", "junit.xml", "index.html"}
    data = _strict_json((tmp_path / "results.json").read_bytes())
    assert data["verdict"] == "NON_CONFORMANT"
    assert data["requirements"][0]["evidence"][0]["elapsed_ms"] is None  # NaN: null, as JSON.stringify
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert len(list(suite.iter("testcase"))) == len(result.requirements)
    _check_html((tmp_path / "index.html").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(HOSTILE_EVIDENCE))
def test_report_renders_such_a_results_file_again(tmp_path, name, capsys):
    json_writer.write(_result(HOSTILE_EVIDENCE[name]), tmp_path)
    assert main(["report", str(tmp_path / "results.json"), "-o", str(tmp_path / "again")]) == 0
    assert capsys.readouterr().out.startswith("NON_CONFORMANT: ")
    _check_html((tmp_path / "again" / "index.html").read_text(encoding="utf-8"))


def test_report_renders_a_results_file_holding_nan_and_escaped_lone_surrogates(tmp_path, capsys):
    # Written by another tool (or an older fibrecert): legal for Python's json, not for a strict reader.
    text = json_writer.render(_result(HOSTILE_EVIDENCE["controls"]))
    text = text.replace('"duration_s": 1.0', '"duration_s": NaN').replace('"observed": "Received ', '"observed": "\\ud800 ')
    assert "NaN" in text and "\\ud800" in text
    (tmp_path / "results.json").write_text(text, encoding="utf-8")
    assert main(["report", str(tmp_path / "results.json"), "-o", str(tmp_path / "again")]) == 0
    _check_html((tmp_path / "again" / "index.html").read_text(encoding="utf-8"))


def test_report_refuses_a_results_file_nested_too_deep_in_one_line(tmp_path, capsys):
    (tmp_path / "results.json").write_text(DEEP_JSON)
    assert main(["report", str(tmp_path / "results.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fibrecert: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("body", [DEEP_JSON, SUITE_DEEP_JSON, "{" * 50_000, '{"a": [' * 20_000, XML_BOMB,
                                  "<a>" * 100_000, HUGE, CONTROLS, LONE, INVALID_UTF8, None, 42, ""],
                         ids=["deep-array", "suite-deep-object", "unclosed", "deep-mixed", "xml-bomb", "deep-xml",
                              "huge", "controls", "lone-surrogates", "invalid-utf8", "none", "number", "empty"])
def test_pretty_never_raises_and_bounds_its_work(body):
    started = time.monotonic()
    shown = pretty(body)
    assert time.monotonic() - started < 5
    assert isinstance(shown, str)
    shown.encode("utf-8")  # writable as UTF-8: no lone surrogate survives
    assert "\x1b" not in shown and "\x00" not in shown and "\x07" not in shown


def test_pretty_still_pretty_prints_and_shows_control_characters_as_escapes():
    assert pretty('{"a": [1, {"b": "c"}]}') == '{\n  "a": [\n    1,\n    {\n      "b": "c"\n    }\n  ]\n}'
    assert pretty("<a><b>x</b></a>") == "<a>\n  <b>x</b>\n</a>"
    assert pretty("[" * 101 + "]" * 101) == "[" * 101 + "]" * 101  # deeper than the bound: as it came
    assert pretty("fault \x1b[31mred\r\n\x00") == "fault \\x1b[31mred\n\\x00"
    assert pretty('{"a": "\\ud800"}') == '{\n  "a": "\\ud800"\n}'  # parsed to a lone surrogate, shown escaped
    assert "&c;" in pretty(XML_BOMB) and "root:" not in pretty(XML_BOMB)  # never expanded nor fetched


def test_junit_replaces_what_xml_cannot_hold_visibly():
    lone = _evidence("{}", observed=LONE, headers={"X-" + LONE: LONE})
    xml = junit_writer.render(_result(HOSTILE_EVIDENCE["controls"], lone, reason=CONTROLS + LONE,
                                      observed=LONE)).decode("utf-8")
    suite = ET.fromstring(xml)
    failure = next(suite.iter("failure"))
    assert "\\x1b[31m" in failure.get("message") and "\\x00" in failure.text and "\\r" in failure.text
    error = next(suite.iter("error")).get("message")
    assert error.startswith("not tested: <script>alert(1)</script>\\x1b[31m") and error.endswith("\\ud800 and \\udfff")
    assert "Observed: \\ud800 and \\udfff\nDeclared" in next(suite.iter("system-out")).text
    for ch in "\x1b\x00\x07\x0b\x7f\x9b\ufffe\ud800":
        assert ch not in xml


def test_json_keeps_control_characters_escaped_and_replaces_what_utf8_cannot_hold():
    lone = _evidence(LONE, observed=LONE, headers={"X-" + LONE: LONE})
    data = _strict_json(json_writer.render(_result(lone, reason=LONE)).encode("utf-8"))
    ev = data["requirements"][0]["evidence"][0]
    assert ev["observed"] == ev["response"]["body"] == "\ufffd and \ufffd" and ev["elapsed_ms"] is None
    assert ev["response"]["headers"] == {"X-\ufffd and \ufffd": "\ufffd and \ufffd"}
    assert data["requirements"][1]["reason"] == "\ufffd and \ufffd"
    text = json_writer.render(_result(HOSTILE_EVIDENCE["controls"]))
    assert "\x1b" not in text and "\\u001b[31m" in text
    assert json.loads(text)["requirements"][0]["evidence"][0]["observed"] == f"Received {CONTROLS}"


def test_html_shows_markup_and_controls_from_the_target_as_text():
    html = html_writer.render(_result(HOSTILE_EVIDENCE["controls"]))
    doc = lxml.html.document_fromstring(html.encode("utf-8"))
    assert "<script>alert(1)</script>\\x1b[31m" in doc.text_content()  # the body, via pretty
    assert len(doc.xpath("//script")) == 1
