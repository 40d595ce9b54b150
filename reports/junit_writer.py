"""junit.xml: one testcase per requirement, its id in the name. fail -> <failure> (observed /
declared), not_tested -> <error> (it could not run), skip -> <skipped>, warn -> passed with a property."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from .model import RunResult


def render(result: RunResult) -> bytes:
    counts = result.counts()
    suite = ET.Element("testsuite", {
        "name": f"fibrecert {result.profile}", "tests": str(len(result.requirements)),
        "failures": str(counts["fail"]), "errors": str(counts["not_tested"]), "skipped": str(counts["skip"]),
        "time": f"{result.duration_s:.3f}", "timestamp": result.started_at})
    props = ET.SubElement(suite, "properties")
    for k, v in (("verdict", result.verdict), ("seed", str(result.seed)), ("profile", result.profile)):
        ET.SubElement(props, "property", {"name": k, "value": v})
    for r in result.requirements:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"{r.api}.{r.operation.replace(' ', '_').replace('/', '.').strip('.')}",
            "name": f"{r.id} [{r.level}] {r.text}"})
        cp = ET.SubElement(case, "properties")
        for k, v in (("requirement", r.id), ("level", r.level), ("basis", r.basis), ("outcome", r.outcome),
                     ("cases", str(r.cases))):
            ET.SubElement(cp, "property", {"name": k, "value": v})
        messages = [f"{e.get('observed', '')} / Declared: {e.get('expected', '')}" for e in r.evidence]
        detail = "\n".join(f"{m}\nreplay: {e.get('replay', '')}" for m, e in zip(messages, r.evidence))
        if r.outcome == "fail":
            f = ET.SubElement(case, "failure", {"message": messages[0] if messages else "failed", "type": "MUST"})
            f.text = detail
        elif r.outcome == "not_tested":
            ET.SubElement(case, "error", {"message": f"not tested: {r.reason}", "type": "not_tested"})
        elif r.outcome == "skip":
            ET.SubElement(case, "skipped", {"message": r.reason})
        elif r.outcome == "warn":
            out = ET.SubElement(case, "system-out")
            out.text = f"WARN (SHOULD violated)\n{detail}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def write(result: RunResult, directory: Path) -> Path:
    from .writers import atomic_write

    return atomic_write(Path(directory) / "junit.xml", render(result))
