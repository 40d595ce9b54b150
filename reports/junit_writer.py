"""junit.xml: one testcase per requirement, its id in the name. fail -> <failure> (message: one short
line, observed / declared; body: each piece of evidence in full), not_tested -> <error> (it could not
run), skip -> <skipped>, warn -> passed with the evidence in <system-out>."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree as ET

from fibrecert.wording import one_line

from .model import RunResult

# Characters XML 1.0 does not allow (C0 controls but tab and newline, lone surrogates, U+FFFE/U+FFFF),
# and those a terminal or CI log would interpret (CR, DEL, C1 controls such as CSI U+009B).
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    """Text for an attribute or element: what XML cannot hold, or a terminal would act on, is shown
    as an escape (ESC as \\x1b, a lone surrogate as \\udc80), so the file is always well-formed."""
    return _NOT_TEXT.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


MESSAGE_LIMIT = 160  # characters of a <failure message=...>: one short line


def _details(e: dict, n: int, of: int, violations: int) -> str:
    """One piece of evidence in full, for the body of a <failure> or the <system-out> of a warn."""
    lines = [f"Evidence {n} of {of}" + (f" ({violations} violations counted)" if n == 1 and violations > of else "")
             + (f": exchange {e['exchange']}" if e.get("exchange") else ""),
             f"Observed: {e.get('observed', '')}", f"Declared: {e.get('expected', '')}"]
    if e.get("note"):
        lines.append(e["note"] if str(e["note"]).startswith("Trigger") else f"Case: {e['note']}")
    if e.get("constraint"):
        lines.append(f"Attacks: {e['constraint']}")
    request = e.get("request") or {}
    if request.get("method") or request.get("url"):
        lines.append(f"Request: {request.get('method', '')} {request.get('url', '')}")
    response = e.get("response") or {}
    if response.get("status") is not None or response.get("error"):
        lines.append(f"Response: {response.get('error') or ('HTTP ' + str(response.get('status')))}")
    lines.append(f"replay: {e.get('replay', '')}")
    return "\n".join(lines)


def render(result: RunResult) -> bytes:
    counts = result.counts()
    suite = ET.Element("testsuite", {
        "name": _text(f"fibrecert {result.profile}"), "tests": str(len(result.requirements)),
        "failures": str(counts["fail"]), "errors": str(counts["not_tested"]), "skipped": str(counts["skip"]),
        "time": f"{result.duration_s:.3f}", "timestamp": _text(result.started_at)})
    props = ET.SubElement(suite, "properties")
    for k, v in (("verdict", result.verdict), ("seed", str(result.seed)), ("profile", result.profile)):
        ET.SubElement(props, "property", {"name": k, "value": _text(v)})
    for r in result.requirements:
        case = ET.SubElement(suite, "testcase", {
            "classname": _text(f"{r.api}.{r.operation.replace(' ', '_').replace('/', '.').strip('.')}"),
            "name": _text(f"{r.id} [{r.level}] {r.text}")})
        cp = ET.SubElement(case, "properties")
        for k, v in (("requirement", r.id), ("level", r.level), ("basis", r.basis), ("outcome", r.outcome),
                     ("cases", str(r.cases))):
            ET.SubElement(cp, "property", {"name": k, "value": _text(v)})
        shown = [e for e in r.evidence if e.get("kind", "violation") == "violation"] or r.evidence
        messages = [f"{e.get('observed', '')} / Declared: {e.get('expected', '')}" for e in shown]
        detail = "\n\n".join(_details(e, n, len(shown), r.violations) for n, e in enumerate(shown, 1))
        if r.outcome == "fail":
            # The message is what a CI's test list shows on one line; everything else is in the body.
            message = one_line(messages[0], MESSAGE_LIMIT) if messages else "failed"
            if r.violations > 1:
                message += f" ({r.violations} violations)"
            f = ET.SubElement(case, "failure", {"message": _text(message), "type": "MUST"})
            f.text = _text(detail)
        elif r.outcome == "not_tested":
            error = ET.SubElement(case, "error", {"message": _text(one_line(f"not tested: {r.reason}", MESSAGE_LIMIT)),
                                                  "type": "not_tested"})
            error.text = _text(f"not tested: {r.reason}")
        elif r.outcome == "skip":
            ET.SubElement(case, "skipped", {"message": _text(r.reason)})
        elif r.outcome == "warn":
            out = ET.SubElement(case, "system-out")
            out.text = _text(f"WARN (SHOULD violated)\n{detail}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def write(result: RunResult, directory: Path) -> Path:
    from .writers import atomic_write

    return atomic_write(Path(directory) / "junit.xml", render(result))
