"""junit.xml: one testcase per requirement, its id in the name. fail -> <failure> (observed /
declared), not_tested -> <error> (it could not run), skip -> <skipped>, warn -> passed with a property."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree as ET

from .model import RunResult

# Characters XML 1.0 does not allow (C0 controls but tab and newline, lone surrogates, U+FFFE/U+FFFF),
# and those a terminal or CI log would interpret (CR, DEL, C1 controls such as CSI U+009B).
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    """Text for an attribute or element: what XML cannot hold, or a terminal would act on, is shown
    as an escape (ESC as \\x1b, a lone surrogate as \\udc80), so the file is always well-formed."""
    return _NOT_TEXT.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def _trigger(evidence: dict) -> str:
    """The trigger narrowing named for a failure on valid input (its note), a line of its own."""
    note = evidence.get("note") or ""
    return f"{note}\n" if note.startswith("Trigger") else ""


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
        messages = [f"{e.get('observed', '')} / Declared: {e.get('expected', '')}" for e in r.evidence]
        detail = "\n".join(f"{m}\n{_trigger(e)}replay: {e.get('replay', '')}" for m, e in zip(messages, r.evidence))
        if r.outcome == "fail":
            f = ET.SubElement(case, "failure", {"message": _text(messages[0] if messages else "failed"), "type": "MUST"})
            f.text = _text(detail)
        elif r.outcome == "not_tested":
            ET.SubElement(case, "error", {"message": _text(f"not tested: {r.reason}"), "type": "not_tested"})
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
