"""Naming the trigger of a failure on valid input (fibrecert/narrowing.py, docs/reading-a-report.md#trigger).

Against the reference sandbox with a defect of one value class in one field, the first evidence of the
requirement it breaks names that field and that class, in results.json, junit.xml, index.html and on the
terminal, within the documented request bound. That nothing is narrowed against the clean sandbox is
asserted on the self-test's clean runs (tests/test_defect_selftest.py), the same runs with the same seed."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from fibrecert import embedded, narrowing
from fibrecert.narrowforms import MISSING
from fibrecert.narrowforms import shaped_like as _shaped_like
from fibrecert.narrowing import _differences, _hybrid, field_name, value_classes
from fibrecert.replay import replay
from fibrecert.runner import RunOptions, run

from helpers import REPO

PROBE = re.compile(r"^X(\d+)n\.\d+$")

# (API, defect, requirement, what the first line must name: the field, the value class)
CASES = [
    ("ala", "ala-cease-500-on-non-ascii-reference", "ALA-CEASE-001",
     "`orderReferences/buyerOrderReference`", "holding non-ASCII text"),
    ("ala", "ala-ucr-rejects-wlto", "ALA-UCR-002", "`cfh:newOrderType`", "holding the documented value 'WLTO'"),
    ("fibrecafe", "fc-cancel-500-on-text-at-max-length", "FC-SOC-001",
     "`text`", "holding a value at its maximum length (1000 characters)"),
    ("fibrecafe", "fc-rejects-order-type-takeover", "FC-SO-001", "`orderType`", "holding the documented value 'TAKEOVER'"),
    ("fibrecafe", "fc-rejects-end-user-not-moving", "FC-SOC-002",
     "`reasonCode`", "holding the documented value 'END_USER_NOT_MOVING'"),
]


# ------------------------------------------------------------------------------------ the pieces
def test_value_classes_name_what_sets_a_value_apart_with_a_contrast_that_differs_only_there():
    [non_ascii, plain] = value_classes("Ôxp€", "fibrecert", {})
    assert (non_ascii.label, non_ascii.neutral, non_ascii.neutral_label) == ("non-ASCII text", "xxpx", "ASCII")
    assert plain.neutral == "fibrecert"
    longest = value_classes("a" * 10, "x", {"maxLength": 10, "minLength": 1})[0]
    assert longest.label == "a value at its maximum length (10 characters)" and longest.neutral == "a" * 9
    shortest = value_classes("ab", "x", {"minLength": 2, "maxLength": 5})[0]
    assert shortest.label.startswith("a value at its minimum length (2") and len(shortest.neutral) == 3
    spaced = value_classes(" a\tb ", "x", {})[0]
    assert spaced.label.startswith("whitespace-significant") and spaced.neutral == "a b"
    enum = value_classes("WLTO", "Regrade", {"enum": ["Regrade", "WLTO"]})
    assert [(c.label, c.neutral) for c in enum] == [("the documented value 'WLTO'", "Regrade")]
    assert value_classes("", "x", {"optional": True})[0].neutral is MISSING
    assert value_classes(2**40, 1, {})[0].label.startswith("a large number")
    assert value_classes("2000-01-01", "2030-01-31", {"date": True})[0].label == "the date 2000-01-01"
    assert value_classes(MISSING, "x", {})[0].label.startswith("left out")


def test_fields_are_compared_leaf_by_leaf_and_a_hybrid_takes_only_the_chosen_ones():
    good = {"a": "fibrecert", "b": {"c": "fibrecert", "d": "2030-01-31"}, "e": [{"n": "x", "v": "x"}], "opt": "x"}
    failing = {"a": "fibrecert", "b": {"c": "Ô", "d": "2030-01-31"}, "e": [{"n": "x", "v": "1"}, {"n": "y", "v": "x"}]}
    shaped = _shaped_like(good, failing)
    assert shaped["e"] == [{"n": "x", "v": "x"}, {"n": "x", "v": "x"}]  # the failing case's array length
    fields = _differences(failing, shaped)
    assert fields == [("b", "c"), ("e", 0, "v"), ("e", 1, "n"), ("opt",)]
    assert [field_name(p) for p in fields] == ["b/c", "e[0]/v", "e[1]/n", "opt"]
    one = _hybrid(shaped, failing, [("b", "c")])
    assert one == {**shaped, "b": {"c": "Ô", "d": "2030-01-31"}}
    assert "opt" not in _hybrid(shaped, failing, [("opt",)])  # left out, as in the failing case
    assert _hybrid(shaped, failing, fields) == failing


def test_the_docs_state_the_bounds_the_code_keeps():
    reading = (REPO / "docs" / "reading-a-report.md").read_text(encoding="utf-8")
    cli = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for text in (reading, cli):
        assert f"at most {narrowing.REQUESTS_PER_FAILURE} extra requests" in text.replace("**", "")
        assert f"{narrowing.REQUESTS_PER_RUN}" in text and f"{narrowing.CEASES_PER_RUN}" in text
    assert f"at most **{narrowing.REQUESTS_PER_RUN}** in a run" in reading
    assert f"at most **{narrowing.CEASES_PER_RUN}** in a run" in reading


# ------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory):
    made = {}
    for api in ("ala", "fibrecafe"):
        root = tmp_path_factory.mktemp(f"narrowing-{api}")
        made[api] = embedded.start(root / "state", root / "target.toml", services=1000)
    yield made
    for sb in made.values():
        sb.stop()


def _run(sandboxes, tmp_path: Path, api: str, defect: str | None, concurrency: int = 16) -> tuple[int, dict, str, Path]:
    target = sandboxes[api].reconfigure((defect,) if defect else (), tmp_path / "target.toml", services=120)
    out, err = io.StringIO(), io.StringIO()
    report = tmp_path / "r"
    code = run(RunOptions(target=str(target), api=api, profile="smoke", report_dir=str(report), seed=20261122,
                          quiet=True, concurrency=concurrency), out=out, err=err)
    return code, json.loads((report / "results.json").read_text()), out.getvalue() + err.getvalue(), report


@pytest.mark.slow
@pytest.mark.parametrize("api,defect,requirement,field,value_class", CASES, ids=[c[1] for c in CASES])
def test_the_first_evidence_names_the_field_and_the_value_class_within_the_bound(
        sandboxes, tmp_path, api, defect, requirement, field, value_class):
    code, data, text, report = _run(sandboxes, tmp_path, api, defect)
    assert code == 1, text
    row = next(r for r in data["requirements"] if r["id"] == requirement)
    first = row["evidence"][0]
    assert first["kind"] == "violation"
    line = (first.get("note") or "").splitlines()[0] if first.get("note") else ""
    assert line.startswith(f"Trigger: {field} {value_class}"), first.get("note")

    # the evidence shown is the minimal failing request; the contrast it names was accepted
    records = {x["id"]: x for x in data["exchanges"]}
    minimal = records[first["exchange"]]
    assert PROBE.match(minimal["id"])
    accepted = re.search(r"is accepted \((X\d+n\.\d+)\)", line).group(1)
    assert 200 <= records[accepted]["answer"] < 300
    assert minimal["answer"] == int(first["observed"].split("HTTP ")[1].split()[0])

    # within the bound: per narrowed test and in the run; ALA ceases within the allowance
    probes = [x for x in data["exchanges"] if PROBE.match(x["id"])]
    per_test: dict[str, int] = {}
    for x in probes:
        per_test[PROBE.match(x["id"]).group(1)] = per_test.get(PROBE.match(x["id"]).group(1), 0) + 1
    assert per_test and max(per_test.values()) <= narrowing.REQUESTS_PER_FAILURE, per_test
    assert len(probes) <= narrowing.REQUESTS_PER_RUN
    ceased = [x for x in probes if x["operation"] == "POST /ceaseOrder" and not 400 <= int(x["answer"]) < 500]
    assert len(ceased) <= narrowing.CEASES_PER_RUN
    assert set(data["test_data"].get("active_services_ceased", [])) >= {
        records[x["id"]]["case"]["bindings"]["service"]["value"] for x in ceased}

    # the same line in every format: junit.xml, index.html, the terminal
    junit = ET.parse(report / "junit.xml").getroot()
    failure = next(tc for tc in junit.iter("testcase") if tc.get("name", "").startswith(requirement + " ")).find("failure")
    assert line in failure.text
    assert line in html.unescape((report / "index.html").read_text(encoding="utf-8"))
    assert line in text

    # the minimal failing request replays (with its chain: the order it works on) and still fails
    out = io.StringIO()
    assert replay(str(report / "results.json"), minimal["id"], allow_cease=True, out=out, err=out) == 1, out.getvalue()


@pytest.mark.slow
def test_narrowing_stops_at_the_allowance_of_active_services_and_says_so(sandboxes, tmp_path, monkeypatch):
    monkeypatch.setattr(narrowing, "CEASES_PER_RUN", 2)
    code, data, text, _ = _run(sandboxes, tmp_path, "ala", "ala-cease-500-on-non-ascii-reference")
    assert code == 1, text
    probes = [x for x in data["exchanges"] if PROBE.match(x["id"]) and x["operation"] == "POST /ceaseOrder"]
    assert len([x for x in probes if not 400 <= int(x["answer"]) < 500]) <= 2
    row = next(r for r in data["requirements"] if r["id"] == "ALA-CEASE-001")
    note = row["evidence"][0].get("note") or ""
    assert note.startswith("Trigger not named"), note
    assert "the run's allowance of 2 active services for narrowing is spent" in note
    assert row["violations"] == len([x for x in data["exchanges"] if x["operation"] == "POST /ceaseOrder"
                                     and any(c["requirement"] == "ALA-CEASE-001" and c["outcome"] == "violation"
                                             for c in x["checks"])])


@pytest.mark.slow
def test_the_same_seed_narrows_the_same_case_whatever_the_concurrency(sandboxes, tmp_path):
    notes = []
    for concurrency in (16, 2):
        (tmp_path / str(concurrency)).mkdir()
        _, data, text, _ = _run(sandboxes, tmp_path / str(concurrency), "fibrecafe", "fc-rejects-order-type-takeover",
                                concurrency)
        row = next(r for r in data["requirements"] if r["id"] == "FC-SO-001")
        notes.append((row["evidence"][0]["exchange"], row["evidence"][0]["note"]))
    assert notes[0] == notes[1]
