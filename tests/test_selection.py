"""--only / --skip (fibrecert.selection) and `fibrecert requirements` (fibrecert.requirements_cli)."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from fibrecert import contracts
from fibrecert.requirements_cli import listing, render_table, run_requirements
from fibrecert.selection import Selection, SelectionError, select
from helpers import fibrecert

IDS = ["ALA-CEASE-001", "ALA-CEASE-002", "ALA-CANCEL-001", "FC-SO-001", "FC-SOC-001", "FC-SOC-009",
       "FC-SOC-010", "SEC-001", "INT-001"]


# ------------------------------------------------------------------------------------------ select
def test_no_pattern_selects_everything() -> None:
    s = select(IDS)
    assert s.ids == tuple(IDS) and not s.is_subset
    assert s.describe() == "all 9 requirements"


def test_only_a_glob_then_skip_an_id() -> None:
    s = select(IDS, only=["FC-SOC-*"], skip=["FC-SOC-009"])
    assert s.ids == ("FC-SOC-001", "FC-SOC-010")
    assert s.is_subset and "FC-SOC-010" in s and "FC-SOC-009" not in s and len(s) == 2
    assert s.describe() == "--only FC-SOC-* --skip FC-SOC-009: 2 of 9 requirements"


def test_several_only_patterns_are_a_union_in_catalogue_order() -> None:
    s = select(IDS, only=["SEC-001", "ALA-*-001"])
    assert s.ids == ("ALA-CEASE-001", "ALA-CANCEL-001", "SEC-001")


def test_skip_alone_keeps_the_rest() -> None:
    s = select(IDS, skip=["ALA-*"])
    assert s.ids == ("FC-SO-001", "FC-SOC-001", "FC-SOC-009", "FC-SOC-010", "SEC-001", "INT-001")
    assert s.describe() == "--skip ALA-*: 6 of 9 requirements"


def test_globs_are_fnmatch_and_case_insensitive() -> None:
    assert select(IDS, only=["fc-soc-00?"]).ids == ("FC-SOC-001", "FC-SOC-009")
    assert select(IDS, only=["ALA-CEASE-00[2-9]"]).ids == ("ALA-CEASE-002",)
    # FC-SO-* does not catch FC-SOC-*: the dash is literal
    assert select(IDS, only=["FC-SO-*"]).ids == ("FC-SO-001",)


@pytest.mark.parametrize("only, skip, message", [
    (["FC-XYZ-*"], [], "--only FC-XYZ-*: matches no requirement (`fibrecert requirements` lists them)"),
    (["FC-SOC-*"], ["ALA-CEASE-999"], "--skip ALA-CEASE-999: matches no requirement"),
    ([""], [], "--only: an empty pattern"),
    (["FC-SOC-009"], ["FC-SOC-*"], "--only FC-SOC-009 --skip FC-SOC-*: selects no requirement"),
])
def test_bad_selections_are_one_line_errors(only: list, skip: list, message: str) -> None:
    with pytest.raises(SelectionError) as info:
        select(IDS, only=only, skip=skip)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_selection_serialises_for_the_report() -> None:
    data = select(IDS, only=["INT-*"]).to_json()
    assert data == {"only": ["INT-*"], "skip": [], "selected": 1, "of": 9, "ids": ["INT-001"],
                    "description": "--only INT-*: 1 of 9 requirements"}
    assert isinstance(select(IDS), Selection)


def test_the_real_catalogue() -> None:
    ids = list(contracts.requirements())
    s = select(ids, only=["FC-SOC-*"], skip=["FC-SOC-009"])
    want = [i for i in ids if i.startswith("FC-SOC-") and i != "FC-SOC-009"]
    assert list(s.ids) == want and s.total == len(ids)
    assert s.describe() == f"--only FC-SOC-* --skip FC-SOC-009: {len(want)} of {len(ids)} requirements"


# ------------------------------------------------------------------------------------------ listing
def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"api": "all", "level": None, "format": "table", "only": [], "skip": [], **kw})


def test_listing_is_the_catalogue() -> None:
    rows = listing()
    reqs = contracts.requirements()
    assert [r["id"] for r in rows] == list(reqs)
    for r in rows:
        req = reqs[r["id"]]
        assert (r["api"], r["level"], r["basis"], r["operation"], r["text"]) == (
            req.api, req.level, req.basis, req.operation, req.text)


def test_listing_filters() -> None:
    ala_should = listing("ala", "SHOULD")
    assert ala_should and all(r["api"] == "ala" and r["level"] == "SHOULD" for r in ala_should)
    assert {r["id"] for r in listing("fibrecafe")} == {r.id for r in contracts.requirements_for("fibrecafe")}
    assert [r["id"] for r in listing(only=["FC-SOC-00[12]"])] == ["FC-SOC-001", "FC-SOC-002"]
    with pytest.raises(SelectionError):
        listing("ala", only=["FC-SOC-*"])  # patterns match within the API asked for


def test_table_columns_align_and_wrap_within_the_width() -> None:
    rows = listing("fibrecafe")
    text = render_table(rows, 140)
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "LEVEL", "BASIS", "OPERATION", "TEXT"]
    text_col = lines[0].index("TEXT")
    assert all(len(line) <= 140 for line in lines)
    for r in rows:
        row = next(line for line in lines if line.startswith(r["id"] + " "))
        assert row.index(r["level"]) == lines[0].index("LEVEL")
        assert row.index(r["operation"]) == lines[0].index("OPERATION")
        assert row[text_col:].split()[0] == r["text"].split()[0]
    # every word of every text is there, in order
    assert " ".join(line[text_col:] for line in lines[1:-1]).split() == " ".join(r["text"] for r in rows).split()
    must = sum(r["level"] == "MUST" for r in rows)
    assert lines[-1] == f"{len(rows)} requirements: {must} MUST, {len(rows) - must} SHOULD"


def test_narrow_terminal_puts_the_text_below_each_row() -> None:
    rows = listing(only=["FC-SOC-001"])
    lines = render_table(rows, 80).splitlines()
    assert lines[0].split() == ["ID", "LEVEL", "BASIS", "OPERATION"]
    assert lines[1].split()[0] == "FC-SOC-001"
    assert lines[2].startswith("    ") and all(len(line) <= 80 for line in lines)


def test_json_is_a_list_of_objects() -> None:
    out = io.StringIO()
    assert run_requirements(_args(format="json", api="ala", level="MUST"), out) == 0
    data = json.loads(out.getvalue())
    assert isinstance(data, list) and data
    assert all({"id", "level", "basis", "operation", "text"} <= set(r) for r in data)
    assert all(r["level"] == "MUST" and r["api"] == "ala" for r in data)


def test_cli_requirements_as_a_process() -> None:
    done = fibrecert("requirements", "--format", "json", "--level", "should", "--only", "FC-*", timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data and all(r["id"].startswith("FC-") and r["level"] == "SHOULD" for r in data)
    table = fibrecert("requirements", "--api", "fibrecafe", timeout=60, env={"COLUMNS": "160"})
    assert table.returncode == 0 and table.stdout.splitlines()[0].startswith("ID")
    bad = fibrecert("requirements", "--only", "NOPE-*", timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "fibrecert: --only NOPE-*: matches no requirement (`fibrecert requirements` lists them)\n"


@pytest.mark.parametrize("command, shown", [
    ("requirements", ["(default: all)", "(default: table)", "{MUST,SHOULD}", "exit codes:", "2  usage error"]),
    ("init", ["(default: all)", "(default: fibrecert-target.toml)", "{ala,fibrecafe,all}", "exit codes:",
              "0  template written"]),
])
def test_help_shows_defaults_choices_and_exit_codes(command: str, shown: list[str]) -> None:
    done = fibrecert(command, "--help", timeout=60, env={"COLUMNS": "200"})
    assert done.returncode == 0
    for text in shown:
        assert text in done.stdout, text
    assert "(default: None)" not in done.stdout and "(default: [])" not in done.stdout
