"""A report that travels (issue 23): self-contained and readable.

- The rule each requirement rests on is in the report itself (its text from docs/, its docs path as
  plain text): no `file://` link, and no absolute path of the machine that ran it in any output of the
  run (index.html, results.json, junit.xml, the events log, the terminal).
- The HTML, copied alone to another folder, opens in Chromium with every rule text present, loads
  nothing else, and shows the violation first: above the fold, before the attacked constraints (which
  are collapsed).
- Declarations read as a person would say them ("any HTTP 4xx", "HTTP 400 or 422"), long lists are
  abbreviated with a count, and a JUnit failure message is one short line with the details in its body.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from fibrecert import contracts
from fibrecert.reports import rules as rules_module
from fibrecert.wording import one_line, statuses, values

from helpers import REPO

DEFECT = "fc-no-size-limit"  # violates ROB-013 ("any 4xx"), FC-SO-009, FC-SOC-012


# ------------------------------------------------------------------------------------- wording
@pytest.mark.parametrize("codes, text", [
    (range(400, 500), "any HTTP 4xx"),
    ([400], "HTTP 400"),
    ([400, 422], "HTTP 400 or 422"),
    ([200, 201, 202], "HTTP 200, 201 or 202"),
    ([400, 401, 402, 403, 404, 422], "HTTP 400-404 or 422"),
    ([*range(400, 500), 503], "any HTTP 4xx or 503"),
    ([*range(200, 300), *range(400, 500)], "any HTTP 2xx or 4xx"),
])
def test_status_sets_read_as_ranges(codes, text):
    assert statuses(codes) == text


def test_long_lists_are_abbreviated_with_a_count_and_short_ones_are_not():
    assert values(["NEW", "START"]) == "NEW or START"
    assert values(["A", "B", "C"], conjunction="and") == "A, B and C"
    long = [f"V{i}" for i in range(40)]
    assert values(long) == "V0, V1, V2, V3, V4, … (40 values)"
    assert one_line("a\nb   c\r\nd") == "a b c d" and len(one_line("x" * 500, 100)) == 100


# --------------------------------------------------------------------------------------- rules
def test_every_catalogue_source_resolves_to_rule_text_shipped_in_docs():
    for req in contracts.requirements().values():
        named = rules_module.refs(req.source)
        found = rules_module.rules_of(req.source)
        assert named and [r.ref for r in found] == named, f"{req.id}: {req.source!r} names no docs section found"
        for rule in found:
            assert rule.title and len(rule.text) > 40, (req.id, rule.ref)
            assert "file://" not in rule.text


def test_a_rule_section_ends_where_the_next_one_of_its_level_begins():
    six = rules_module.rule("docs/profiles/ala-2.30.md#rule-6")
    assert six is not None and six.title == "Rule 6. Data types"
    assert "xs:dateTime" in six.text and "Rule 7" not in six.text and "orderResponse" not in six.text
    assert six.text.rstrip().endswith("Level: **MUST** (wire format).")
    orders = rules_module.rule("docs/profiles/fibrecafe-1.17.md#op-service-orders")
    assert orders is not None and "### Answer 201" in orders.text  # its subsections belong to it
    assert "service-order-cancellations`: cancel an order" not in orders.text


def test_rule_text_renders_as_html_with_everything_escaped():
    html = str(rules_module.to_html(
        "A <script>alert(1)</script> **MUST** `<img src=x onerror=y>` ([rule 6](#rule-6)).\n\n"
        "| a | b |\n| --- | --- |\n| `x` | <b>y</b> |\n\n- one\n- two <i>\n\n```\n<pre>\n```"))
    assert "<script>" not in html and "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;" in html and "<strong>MUST</strong>" in html and "<code>&lt;img" in html
    assert "rule 6" in html and "#rule-6" not in html  # a docs link is kept as its text
    assert "<table class=\"rule-table\"><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td><code>x</code>" in html
    assert "<ul><li>one</li><li>two &lt;i&gt;</li></ul>" in html and "<pre class=\"rule-code\">&lt;pre&gt;</pre>" in html


# ---------------------------------------------------------------------------- one failing run
@pytest.fixture(scope="module")
def failing_run(tmp_path_factory):
    """`fibrecert run` started in one folder, writing its report into another given by an absolute path,
    with an events log: every output of the run, and the strings none of them may hold."""
    base = tmp_path_factory.mktemp("travels")
    work, report = base / "work", base / "elsewhere" / "report"
    work.mkdir()
    done = subprocess.run([sys.executable, "-m", "fibrecert", "run", "--profile", "smoke", "--seed", "20261122",
                           "--sandbox-defect", DEFECT, "--report-dir", str(report), "--events", "events.ndjson"],
                          capture_output=True, text=True, timeout=300, cwd=str(work), env=dict(os.environ))
    assert done.returncode == 1, done.stdout + done.stderr
    outputs = {"stdout": done.stdout, "stderr": done.stderr,
               "events.ndjson": (work / "events.ndjson").read_text(encoding="utf-8")}
    for name in ("index.html", "results.json", "junit.xml"):
        outputs[name] = (report / name).read_text(encoding="utf-8")
    import fibrecert

    forbidden = {"the install path": str(REPO), "the package path": str(Path(fibrecert.__file__).resolve().parent),
                 "the report path": str(report), "the run's folder": str(work), "file://": "file://",
                 "a temporary folder of the run": os.path.join(tempfile.gettempdir(), "fibrecert-")}
    home = str(Path.home())
    if home not in ("", "/"):
        forbidden["the home folder"] = home
    return {"outputs": outputs, "forbidden": forbidden, "report": report, "work": work, "done": done}


@pytest.mark.slow
def test_no_output_of_a_run_holds_a_path_of_the_machine_or_a_file_link(failing_run):
    for name, text in failing_run["outputs"].items():
        for what, value in failing_run["forbidden"].items():
            assert value not in text, f"{name} holds {what} ({value!r})"
    data = json.loads(failing_run["outputs"]["results.json"])
    assert data["target_file"] is None  # the embedded sandbox's temporary target file is not named
    replay = next(e["replay"] for r in data["requirements"] for e in r["evidence"])
    assert replay.startswith("fibrecert replay ../elsewhere/report/results.json X"), replay
    assert "Report: ../elsewhere/report/index.html" in failing_run["outputs"]["stdout"]


@pytest.mark.slow
def test_declarations_are_readable_on_the_terminal_and_in_junit(failing_run):
    stdout = failing_run["outputs"]["stdout"]
    rob = next(line for line in stdout.splitlines() if " ROB-013 " in line)
    assert "Received HTTP 201 / Declared: any HTTP 4xx" in rob and " or 401 or " not in stdout
    suite = ET.fromstring(failing_run["outputs"]["junit.xml"].encode("utf-8"))
    failures = {case.get("name").split()[0]: case.find("failure") for case in suite.iter("testcase")
                if case.find("failure") is not None}
    assert {"ROB-013", "FC-SO-009", "FC-SOC-012"} <= set(failures)
    for rid, failure in failures.items():
        message = failure.get("message")
        assert "\n" not in message and len(message) <= 200, (rid, message)
        assert "Observed:" in failure.text and "Declared:" in failure.text and "replay: fibrecert replay" in failure.text
    assert failures["ROB-013"].get("message").startswith("Received HTTP 201 / Declared: any HTTP 4xx")
    data = json.loads(failing_run["outputs"]["results.json"])
    rob013 = next(r for r in data["requirements"] if r["id"] == "ROB-013")
    assert all(e["expected"] in ("any HTTP 4xx", "status_in(any HTTP 4xx)") for e in rob013["evidence"])


# ------------------------------------------------------------------------------------- browser
from test_report_browser import browser  # noqa: E402,F401 - the one Chromium fixture, shared


def _flat(text: str) -> str:
    return " ".join(text.split())


def _words(text: str) -> list[str]:
    """The words of a docs section, as a reader sees them: Markdown link targets and the language names
    of code fences left out."""
    text = re.sub(r"^```\w*", "", re.sub(r"\]\([^)\s]*\)", "]", text), flags=re.M)
    return re.findall(r"[A-Za-z0-9]+", text)


@pytest.mark.slow
def test_the_report_copied_elsewhere_shows_every_rule_and_the_violation_first(failing_run, browser, tmp_path):
    copy = tmp_path / "mailed" / "report.html"  # the page alone, as an e-mail attachment would be
    copy.parent.mkdir()
    shutil.copyfile(failing_run["report"] / "index.html", copy)
    shutil.rmtree(failing_run["report"])  # nothing beside it, nothing where it was written
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(copy.as_uri())
        page.wait_for_selector("html[data-ready='1']", state="attached", timeout=15_000)
        assert not errors, errors
        assert requests == [copy.as_uri()], f"the page loaded something else: {requests}"

        # Every rule every requirement rests on: its docs path and its whole text (every word of the
        # docs section, in order; the Markdown rendered), in the page.
        data = json.loads(failing_run["outputs"]["results.json"])
        blocks = {i: (whole, text) for i, whole, text in page.eval_on_selector_all(
            "#rules article.rule", """as => as.map(a => {
                const words = el => { const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT), out = [];
                                      while (w.nextNode()) out.push(w.currentNode.nodeValue); return out.join(' '); };
                return [a.id, words(a), words(a.querySelector('.rule-text'))];
            })""")}
        links = set(map(tuple, page.eval_on_selector_all(
            "article.req a.rule-link", "as => as.map(a => [a.closest('article').id, a.getAttribute('href')])")))
        for req in data["requirements"]:
            cited = rules_module.rules_of(req["source"])
            assert cited, req["id"]
            for rule in cited:
                block = blocks.get(rule.html_id)
                assert block is not None, f"{req['id']}: {rule.ref} has no block in the report"
                whole, shown = block
                assert rule.ref in whole and rule.title in whole and (req["id"], f"#{rule.html_id}") in links
                assert _words(rule.text) == _words(shown), rule.ref
        hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
        assert hrefs and all(h.startswith("#") for h in hrefs), [h for h in hrefs if not h.startswith("#")][:5]
        ids = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
        assert {h[1:] for h in hrefs if len(h) > 1} <= ids, "an in-page link to nothing"

        # The violation is above the fold: the first failing requirement, observed and declared.
        first = page.locator("#failures .top-fail").first
        box = first.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800, box
        shown = _flat(first.inner_text())
        assert "Observed: Received HTTP 201 / Declared: HTTP 400" in shown and "docs/profiles/fibrecafe-1.17.md#decision-6" in shown
        assert "Declared: any HTTP 4xx" in _flat(page.locator("#failures").inner_text())

        # In each failing row the evidence comes first; the attacked constraints follow, collapsed.
        order = page.evaluate("""() => [...document.querySelectorAll('article.req')].map(a => {
            const kids = [...a.children];
            const ev = kids.findIndex(k => k.matches('details.evidence.ev-violation'));
            const cons = kids.findIndex(k => k.matches('details.constraints'));
            const open = cons >= 0 && kids[cons].open;
            return [a.id, a.dataset.outcome, ev, cons, open];
        })""")
        rows = {rid: (outcome, ev, cons, open_) for rid, outcome, ev, cons, open_ in order}
        with_constraints = [rid for rid, (_, _, cons, _) in rows.items() if cons >= 0]
        assert with_constraints, "no row lists attacked constraints: the check below proves nothing"
        for rid, (outcome, ev, cons, open_) in rows.items():
            assert not open_, f"{rid}: constraints not collapsed"
            if outcome == "fail":
                assert ev == 1, f"{rid}: the violation is not the first thing under the requirement"
                assert cons == -1 or cons > ev, rid
        assert not page.locator("article.req .cells .constraints").count(), "constraints above the evidence"
    finally:
        page.close()
