"""The self-test of the suite: every named defect of the reference sandbox is caught, on its primary
requirement (the first it `violates`), and nothing fails that it does not declare (`violates` or
`may_also`, sandbox/defects.py); tests/test_defects.py checks the catalogue of defects itself.

Batched: one reference sandbox per API (in a process of its own, like `fibrecert run`'s embedded one),
switched from defect to defect, each run in this process against a target file naming services it has
not ceased yet; no process is started per defect and no defect is left out."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from fibrecert import embedded
from fibrecert.runner import RunOptions, run
from fibrecert.sandbox import DEFECTS

pytestmark = pytest.mark.slow

PROBE = re.compile(r"^X(\d+)n\.\d+$")  # a request of the narrowing (fibrecert/narrowing.py)
BY_API = {api: sorted(d for d in DEFECTS if d.startswith("ala-" if api == "ala" else "fc-")) for api in ("ala", "fibrecafe")}


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory):
    made = {}
    for api in BY_API:
        root = tmp_path_factory.mktemp(f"selftest-{api}")
        made[api] = embedded.start(root / "state", root / "target.toml", services=4000)
    yield made
    for sb in made.values():
        sb.stop()


def _certify(sandboxes, tmp_path: Path, api: str, defect: str | None, facts: dict | None = None) -> tuple[int, dict[str, str], str]:
    sb = sandboxes[api]
    # a patient timeout (the hang defects hold their answer longer): a loaded CI machine is no hang
    target = sb.reconfigure((defect,) if defect else (), tmp_path / "target.toml", services=300, timeout=10)
    out, err = io.StringIO(), io.StringIO()
    code = run(RunOptions(target=str(target), api=api, profile="smoke", report_dir=str(tmp_path / "r"), seed=20261122,
                          quiet=True), out=out, err=err)
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    if facts is not None:
        facts.update(data)
    return code, {r["id"]: r["outcome"] for r in data["requirements"]}, out.getvalue() + err.getvalue() + _failures(data)


def _failures(data: dict) -> str:
    """What each failing requirement observed, with the steps of a failing sequence: enough to tell from a
    CI log alone why a requirement failed."""
    lines = []
    for r in data["requirements"]:
        if r["outcome"] in ("fail", "warn"):
            for e in r.get("evidence", [])[:2]:
                lines.append(f"  {r['id']} {r['outcome']} on {e.get('exchange')} ({e.get('test')}): "
                             f"{str(e.get('observed', ''))[:600]}")
    return "\n" + "\n".join(lines)


@pytest.mark.parametrize("api", sorted(BY_API))
def test_the_clean_sandbox_is_conformant_with_no_warning(sandboxes, tmp_path, api):
    code, seen, text = _certify(sandboxes, tmp_path, api, None)
    assert code == 0, text
    assert not [r for r, o in seen.items() if o in ("fail", "warn")], text
    # and nothing was narrowed (fibrecert/narrowing.py): no probe request was sent, no trigger named
    exchanges = json.loads((tmp_path / "r" / "results.json").read_text())["exchanges"]
    assert exchanges and not [x["id"] for x in exchanges if PROBE.match(x["id"])]
    assert "Trigger" not in text


def _selftest_params() -> list:
    """Every defect; one the suite is known to miss (`known_miss`, the issue 20 generalization batch) is a
    strict xfail, so that a suite that starts catching it is told to drop its known_miss."""
    return [pytest.param(d, marks=pytest.mark.xfail(strict=True, reason=DEFECTS[d].known_miss))
            if DEFECTS[d].known_miss else d for d in sorted(DEFECTS) if not DEFECTS[d].conformant]


@pytest.mark.parametrize("defect", _selftest_params())
def test_each_sandbox_defect_is_caught_and_nothing_else_fails(sandboxes, tmp_path, defect):
    api = "ala" if defect.startswith("ala-") else "fibrecafe"
    code, seen, text = _certify(sandboxes, tmp_path, api, defect)
    violated, declared = set(DEFECTS[defect].violates), DEFECTS[defect].declared
    caught = {r for r, o in seen.items() if o in ("fail", "warn")}
    assert caught & violated, f"{defect} went unnoticed: {text}"
    assert DEFECTS[defect].violates[0] in caught, f"{defect}: its primary requirement was not caught: {text}"
    assert caught <= declared, f"{defect} also failed undeclared requirements: {sorted(caught - declared)}\n{text}"
    expected_code = 1 if any(seen[r] == "fail" for r in caught) else 0
    assert code == expected_code, text


@pytest.mark.parametrize("switch", sorted(d for d in DEFECTS if DEFECTS[d].conformant))
def test_a_documented_throttle_is_no_failure_and_is_reported(sandboxes, tmp_path, switch):
    """A `conformant` switch (429 with Retry-After to every 5th request) is no defect: the run waits, sends
    the same request again, stays CONFORMANT with no warn, and reports the throttling in its facts."""
    api = "ala" if switch.startswith("ala-") else "fibrecafe"
    data: dict = {}
    code, seen, text = _certify(sandboxes, tmp_path, api, switch, data)
    assert code == 0, text
    assert not [r for r, o in seen.items() if o in ("fail", "warn", "not_tested")], text
    throttling = data["throttling"]
    assert throttling["answers_429"] >= data["requests_sent"] // 6 > 0, throttling  # every 5th HTTP request
    assert throttling["answers_503"] == 0 and throttling["requests_not_resent"] == 0, throttling
    assert throttling["waited_s"] == throttling["answers_429"] * 1.0, throttling  # Retry-After: 1, each honoured
    resent = [x for x in data["exchanges"] if x.get("throttled")]
    assert len(resent) == throttling["requests_throttled"] and all(x["answer"] != 429 for x in resent)
