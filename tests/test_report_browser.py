"""The HTML report in a real browser: Debian's Chromium, headless, driven by Playwright with
`executable_path` (nothing is downloaded). It loads without console errors, the filters and the search
box change the visible rows, hostile content from the target does not execute, and it prints.

Without Chromium (or Playwright) these tests are skipped on a developer's machine, and FAIL when the
environment variable CI is set: CI must never skip them silently (.ci/run installs Chromium).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fibrecert.reports import html_writer
from fibrecert.reports.model import RequirementResult, RunResult

from helpers import fibrecert, results

CHROMIUM = os.environ.get("FIBRECERT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Each payload would leave a trace if it ran: a window property, or a DOM node.
SCRIPT = "<script>window.__pwned = 'script'</script>"
ATTR = "\"><img src=x onerror=\"window.__pwned='img'\">"
SQ_ATTR = "' onmouseover='window.__pwned=\"attr\"' x='"
NODE = "<img src=x onerror=\"document.body.appendChild(document.createElement('pwned-node'))\">"
SVG = "<svg/onload=window.__pwned='svg'>"
HOSTILE = SCRIPT + ATTR + SQ_ATTR + NODE + SVG

ROWS_VISIBLE = "#reqs > article.req:not(.filtered-out)"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright is not installed (pip install -e '.[test]')"
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if _in_ci():
            pytest.fail(f"CI must run the browser tests, but {reason}", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A loaded report and every console error or uncaught exception it produced."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("html[data-ready='1']", state="attached", timeout=15_000)

    def visible_ids(self) -> list[str]:
        return self.page.eval_on_selector_all(ROWS_VISIBLE, "rows => rows.map(r => r.id)")

    def text(self, selector: str) -> str:
        """The rendered text of an element. Rows are `content-visibility: auto` (what keeps 10,000 of them
        fast), so one offscreen is not rendered and has no innerText: scroll to it, let two frames pass."""
        self.page.locator(selector).first.scroll_into_view_if_needed()
        self.page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        return self.page.inner_text(selector)

    def select(self, which: str, value: str) -> None:
        self.page.select_option(f"#f-{which}", value)


def _exchange(n, url, identity, req_headers, req_body, status, resp_headers, resp_body):
    return {"exchange": f"X{n:06d}", "identity": identity, "elapsed_ms": 12.5,
            "request": {"method": "POST", "url": url, "headers": req_headers, "body": req_body},
            "response": {"status": status, "headers": resp_headers, "body": resp_body}}


def hostile_result() -> RunResult:
    """Every outcome, a SOAP fault and a JSON error carrying hostile text, a two-step sequence."""
    ala, fc = "https://ala.example:8443", "https://fc.example/v1"
    fault = ("<?xml version='1.0' encoding='utf-8'?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
             "<soapenv:Body><fault><faultcode>500</faultcode><faultmessage>"
             + HOSTILE.replace("&", "&amp;").replace("<", "&lt;") + "</faultmessage></fault></soapenv:Body></soapenv:Envelope>")
    cease = _exchange(1, f"{ala}/ceaseOrder", "buyer", {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                      "<?xml version='1.0' encoding='utf-8'?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                      "<soapenv:Body><ceaseOrder><message><messageId>m1</messageId></message></ceaseOrder></soapenv:Body></soapenv:Envelope>",
                      500, {"Content-Type": "text/xml", "X-Hostile": HOSTILE}, fault)
    cease.update(observed=f"Received HTTP 500 with faultmessage {HOSTILE}", expected=f"HTTP 200 {SQ_ATTR}",
                 replay="fibrecert replay results.json X000001", test="ala/test_cease_order.py::test_valid")
    place = _exchange(2, f"{fc}/service-orders", "tenant-a",
                      {"Content-Type": "application/json", "Authorization": "Bearer [REDACTED]"},
                      '{"orderType": "CEASE", "supplier": "S", "serviceId": "SVC-1"}', 201,
                      {"Content-Type": "application/json"}, '{"id": 7, "status": "RECEIVED_BY_GATEWAY"}')
    cancel = _exchange(3, f"{fc}/service-order-cancellations", "tenant-a",
                       {"Content-Type": "application/json", "Authorization": "Bearer [REDACTED]"},
                       '{"orderId": 7, "reasonCode": "OTHER"}', 201, {"Content-Type": "application/json"},
                       '{"id": 1, "status": "DONE", "messages": ["' + HOSTILE.replace('"', '\\"') + '"]}')
    cancel.update(observed="Received status 'DONE'", expected="a status in the documented enum", sequence=[place],
                  replay="fibrecert replay results.json X000003", test="fibrecafe/test_soc.py::test_cancel")
    warn = _exchange(4, f"{fc}/service-orders", "no-token", {"Content-Type": "application/json"}, "{}", 400,
                     {"Content-Type": "text/html"}, HOSTILE)
    warn.update(observed="Received a text/html error body", expected="application/json",
                replay="fibrecert replay results.json X000004")

    checked = _exchange(5, f"{fc}/service-orders", "tenant-a",
                        {"Content-Type": "application/json", "Authorization": "Bearer [REDACTED]"},
                        '{"orderType": "CEASE", "supplier": "S", "serviceId": "SVC-2"}', 201,
                        {"Content-Type": "application/json", "X-Hostile": HOSTILE},
                        '{"id": 8, "status": "RECEIVED_BY_GATEWAY", "note": "' + HOSTILE.replace('"', '\\"') + '"}')
    checked.update(kind="pass", check="status_in", expected="status_in(201)", observed="as declared",
                   replay="fibrecert replay results.json X000005", test="fibrecafe/test_so.py::test_valid")
    also = dict(checked, exchange="X000006", replay="fibrecert replay results.json X000006")

    def req(id_, api, op, level, outcome, text, evidence=(), reason=""):
        return RequirementResult(id=id_, api=api, operation=op, level=level, basis="doc" if level == "MUST" else "assumed",
                                 text=text, source="seeds/page.md", quote=f"quoted source text for {id_}", outcome=outcome,
                                 cases=len(evidence) + 2, reason=reason, evidence=list(evidence))

    reqs = [
        req("ALA-CEASE-001", "ala", "POST /ceaseOrder", "MUST", "fail", "A valid ceaseOrder is accepted.", [cease]),
        req("ALA-CEASE-002", "ala", "POST /ceaseOrder", "SHOULD", "pass", "The answer is a SOAP envelope."),
        req("ALA-CANCEL-001", "ala", "POST /cancelOrder", "MUST", "pass", "A valid cancelOrder is accepted."),
        req("ALA-UCR-001", "ala", "POST /unsolicitedCeaseRequest", "MUST", "skip", "The buyer accepts an unsolicited cease.",
            reason="the target file declares no ALA buyer role"),
        req("FC-SO-001", "fibrecafe", "POST /service-orders", "MUST", "pass", "A valid order is accepted with 201.",
            [checked, also]),
        req("FC-SO-005", "fibrecafe", "POST /service-orders", "SHOULD", "warn", "Error bodies are application/json.", [warn]),
        req("FC-SOC-001", "fibrecafe", "POST /service-order-cancellations", "MUST", "fail",
            "A cancellation of an in-flight order is accepted with a documented status.", [cancel]),
        req("FC-SOC-003", "fibrecafe", "POST /service-order-cancellations", "SHOULD", "not_tested",
            "A cancellation answer echoes orderId.", reason=f"no order left to cancel {NODE}"),
        req("SEC-011", "fibrecafe", "*", "MUST", "pass", "Requests without a token are refused with 401."),
    ]
    return RunResult(tool={"name": "fibrecert", "version": "test"}, contracts={"ala": "2.30", "fibrecafe": "1.17"},
                     target={"ala": {"base_url": ala, "roles": ["seller"]}, "fibrecafe": {"base_url": fc}},
                     seed=42, profile="smoke", started_at="2026-11-22T10:00:00+00:00",
                     finished_at="2026-11-22T10:00:09+00:00", duration_s=9.2, requests_sent=61, requirements=reqs,
                     stopped_early=[f"the target hung up {SCRIPT}"], notes=["a note"])


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("report")
    return html_writer.write(hostile_result(), directory)


@pytest.fixture
def page(browser, report):
    p = Page(browser, report)
    yield p
    p.page.close()


def test_the_page_loads_without_console_errors_and_shows_the_verdict(page, tmp_path):
    assert page.errors == []
    assert page.page.inner_text(".verdict-word") == "NON_CONFORMANT"
    assert "2 MUST requirements failed" in page.page.inner_text(".verdict-why")
    banner = page.page.inner_text("#verdict")
    for count in ("4 pass", "2 fail", "1 warn", "1 skip", "1 not_tested"):
        assert count in banner
    assert len(page.visible_ids()) == 9
    assert page.page.inner_text("#f-count") == "9 of 9 requirements"
    shot = tmp_path / "report.png"
    page.page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_filters_change_the_visible_rows(page):
    page.select("outcome", "fail")
    assert page.visible_ids() == ["ALA-CEASE-001", "FC-SOC-001"]
    assert page.page.inner_text("#f-count") == "2 of 9 requirements"
    page.select("operation", "POST /service-order-cancellations")
    assert page.visible_ids() == ["FC-SOC-001"]
    page.select("outcome", "")
    assert page.visible_ids() == ["FC-SOC-001", "FC-SOC-003"]
    page.select("level", "SHOULD")
    assert page.visible_ids() == ["FC-SOC-003"]
    page.select("operation", "")
    assert page.visible_ids() == ["ALA-CEASE-002", "FC-SO-005", "FC-SOC-003"]
    page.select("outcome", "pass")
    page.select("level", "MUST")
    assert page.visible_ids() == ["ALA-CANCEL-001", "FC-SO-001", "SEC-011"]
    assert page.page.is_visible("#FC-SO-001") and not page.page.is_visible("#FC-SOC-001")
    page.page.click("#f-reset")
    assert len(page.visible_ids()) == 9
    # a count in the operations matrix filters the list
    page.page.click("#operations a[data-filter-operation='POST /ceaseOrder'][data-filter-outcome='fail']")
    assert page.visible_ids() == ["ALA-CEASE-001"]
    assert page.page.input_value("#f-outcome") == "fail"
    assert page.errors == []


def test_the_search_box_filters(page):
    page.page.fill("#f-search", "fc-soc")
    page.page.wait_for_selector("#f-count:text('2 of 9')")
    assert page.visible_ids() == ["FC-SOC-001", "FC-SOC-003"]
    page.page.fill("#f-search", "declares no ALA buyer")  # the reason of a skipped row
    page.page.wait_for_selector("#f-count:text('1 of 9')")
    assert page.visible_ids() == ["ALA-UCR-001"]
    page.page.fill("#f-search", "Received status 'DONE'")  # an observation in the evidence
    page.page.wait_for_selector("#f-count:text('1 of 9')")
    assert page.visible_ids() == ["FC-SOC-001"]
    page.select("outcome", "pass")  # search and filters combine
    page.page.wait_for_selector("#f-count:text('0 of 9')")
    assert page.visible_ids() == [] and page.page.is_visible("#f-none")
    page.page.fill("#f-search", "")
    page.page.wait_for_selector("#f-count:text('4 of 9')")
    assert page.errors == []


def test_hostile_content_from_the_target_does_not_execute(page, tmp_path):
    p = page.page
    # open everything, hover everything: a payload bound to an event would fire now
    p.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    for el in p.query_selector_all("#reqs pre, #reqs .od, .reason, .stopped"):
        el.hover()
    p.wait_for_timeout(200)
    assert p.evaluate("() => window.__pwned") is None
    assert p.evaluate("() => document.querySelectorAll('pwned-node, img, iframe, object, embed').length") == 0
    # the report's own script, and inert data blocks (packed passing evidence) that never run
    assert p.evaluate("() => Array.from(document.scripts).filter(s => s.type !== 'application/octet-stream').length") == 1
    assert p.evaluate("() => document.querySelectorAll('svg').length") == p.evaluate(
        "() => document.querySelectorAll('svg.bar').length")
    on_attributes = p.evaluate("""() => Array.from(document.querySelectorAll('*')).flatMap(
        el => Array.from(el.attributes).filter(a => a.name.startsWith('on')).map(a => el.tagName + ' ' + a.name))""")
    assert on_attributes == []
    # ...and it is shown as the text it was
    assert HOSTILE in page.text("#ALA-CEASE-001 .od")
    assert f"X-Hostile: {HOSTILE}" in page.text("#ALA-CEASE-001")
    assert NODE in page.text("#FC-SOC-003 .reason")
    assert SCRIPT in page.text(".stopped")
    assert page.errors == []
    p.screenshot(path=str(tmp_path / "hostile.png"))


def test_evidence_shows_every_step_the_replay_line_and_a_curl(page):
    p = page.page
    soc = page.text("#FC-SOC-001")
    assert "Step 1 of 2: POST https://fc.example/v1/service-orders → HTTP 201" in soc
    assert "Step 2 of 2: POST https://fc.example/v1/service-order-cancellations → HTTP 201" in soc
    assert "Observed: Received status 'DONE' / Declared: a status in the documented enum" in soc
    assert "fibrecert replay results.json X000003" in soc
    assert 'Authorization: Bearer $FIBRECAFE_TOKEN' in soc
    assert '"status": "DONE",\n' in soc  # JSON pretty-printed
    cease = page.text("#ALA-CEASE-001")
    assert '--cert "$client_cert" --key "$client_key" --cacert "$ca_bundle"' in cease
    assert "--data-binary" in cease and "\n      <faultcode>500</faultcode>" in cease  # XML pretty-printed
    # evidence and earlier steps are collapsed by default, but there
    assert p.is_visible("#FC-SOC-001 details.step[open]") and not p.is_visible("#FC-SOC-001 details.step:not([open]) pre")


def test_printing_shows_every_row_and_all_evidence(page, tmp_path):
    p = page.page
    page.select("outcome", "fail")
    p.emulate_media(media="print")
    assert not p.is_visible(".filters") and len(page.visible_ids()) == 2  # filter state kept...
    assert p.is_visible("#FC-SO-001")  # ...but print shows every row
    pdf = tmp_path / "report.pdf"
    p.pdf(path=str(pdf), format="A4")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    # a closed piece of evidence opens for print (beforeprint) and closes again after
    closed = p.evaluate("() => document.querySelectorAll('details:not([open])').length")
    assert closed > 0
    p.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    assert p.evaluate("() => document.querySelectorAll('details:not([open])').length") == 0
    p.evaluate("() => window.dispatchEvent(new Event('afterprint'))")
    assert p.evaluate("() => document.querySelectorAll('details:not([open])').length") == closed
    assert page.errors == []


def test_a_pass_shows_what_it_was_checked_on_when_opened(page):
    """Passing evidence is packed data until opened; then it shows the request and the response as text."""
    p = page.page
    assert "also passed on X000006" in page.text("#FC-SO-001")
    assert p.eval_on_selector("#FC-SO-001 details.ev-pass .ev-body", "b => b.childElementCount") == 0
    p.locator("#FC-SO-001 details.ev-pass summary").click()
    p.wait_for_function("() => document.querySelector('#FC-SO-001 details.ev-pass .ev-body').childElementCount > 0")
    text = page.text("#FC-SO-001 details.ev-pass")
    assert "Checked: status_in(201)" in text and "fibrecert replay results.json X000005" in text
    assert "POST https://fc.example/v1/service-orders" in text and "HTTP 201" in text
    assert "<script>window.__pwned" in text  # the target's text, shown as text...
    assert p.evaluate("() => window.__pwned") is None  # ...never run
    assert p.eval_on_selector_all("#FC-SO-001 img, #FC-SO-001 svg, pwned-node", "n => n.length") == 0
    assert page.errors == []


def test_print_with_all_evidence_fills_the_passing_evidence_first(page):
    p = page.page
    p.evaluate("() => { window.print = () => { window.__printed = true; }; }")
    p.locator("#print-all").click()
    p.wait_for_function("() => window.__printed === true")
    assert p.evaluate("() => document.querySelectorAll('details:not([open])').length") == 0
    assert p.eval_on_selector("#FC-SO-001 details.ev-pass .ev-body", "b => b.childElementCount") > 0
    assert page.errors == []


@pytest.mark.slow
def test_a_real_non_conformant_run_renders_cleanly(browser, tmp_path):
    report = tmp_path / "r"
    done = fibrecert("run", "--profile", "smoke", "--api", "fibrecafe", "--quiet", "--report-dir", str(report),
                     "--sandbox-defect", "fc-cancel-status-outside-enum", "--sandbox-defect", "fc-double-cancel")
    assert done.returncode == 1, done.stdout + done.stderr
    data = results(report)
    failing = [r["id"] for r in data["requirements"] if r["outcome"] in ("fail", "warn")]
    page = Page(browser, report / "index.html")
    try:
        assert page.errors == []
        assert page.page.inner_text(".verdict-word") == "NON_CONFORMANT"
        page.select("outcome", "fail")
        shown = page.visible_ids()
        assert shown and set(shown) <= set(failing)
        text = page.text(f"#{shown[0]}")
        assert "fibrecert replay " in text and "curl -i -sS" in text and "Bearer [REDACTED]" in text
        page.page.screenshot(path=str(tmp_path / "real-run.png"))
        assert (tmp_path / "real-run.png").stat().st_size > 20_000
        assert page.errors == []
    finally:
        page.page.close()
