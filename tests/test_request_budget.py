"""The request budget a run announces before it starts (fibrecert/request_budget.py)."""

from __future__ import annotations

import io
import re

from fibrecert.expected_cost import EXPECTED_COST
from fibrecert.request_budget import budget_line, expected_requests


def test_the_budget_is_the_measured_requests_of_the_profile_per_api() -> None:
    for profile, table in EXPECTED_COST.items():
        per_api = expected_requests(profile, ["ala", "fibrecafe"])
        assert sum(per_api.values()) == sum(n for n, _ in table.values()) > 0  # every test is one API's
        assert expected_requests(profile, ["ala"]) == {"ala": per_api["ala"]}
    assert expected_requests("standard", ["ala"])["ala"] < expected_requests("full", ["ala"])["ala"]


def test_the_budget_line_gives_the_least_time_at_max_rps() -> None:
    total = sum(expected_requests("standard", ["ala", "fibrecafe"]).values())
    line = budget_line("standard", ["ala", "fibrecafe"], 10)
    assert line.startswith(f"request budget: about {total} requests (ALA ")
    seconds = round(total / 10)
    assert line.endswith(f"at --max-rps 10 that takes at least {seconds // 60} min {seconds % 60:02d} s")
    assert budget_line("smoke", ["ala"], None).endswith("no --max-rps: as fast as the target answers")
    fc = expected_requests("smoke", ["fibrecafe"])["fibrecafe"]
    assert budget_line("smoke", ["fibrecafe"], 2 * fc).endswith("at --max-rps %d that takes at least 0 s" % (2 * fc))
    assert "at most about" in budget_line("smoke", ["ala"], 5, subset=True)


def test_a_run_shows_the_budget_before_its_first_request(tmp_path) -> None:
    """The embedded sandbox, one requirement only (a few requests): the budget line comes in the
    preamble, before the progress and the verdict."""
    from fibrecert.runner import RunOptions, run

    out, err = io.StringIO(), io.StringIO()
    code = run(RunOptions(api="fibrecafe", profile="smoke", only=("FC-AUTH-001",), max_rps=20, report_dir=str(tmp_path / "r")),
               out=out, err=err)
    assert code == 3, out.getvalue() + err.getvalue()  # a subset: INCOMPLETE
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("fibrecert run: profile smoke")
    budget = next(i for i, line in enumerate(lines) if line.startswith("  request budget: at most about "))
    assert budget <= 2 and re.search(r"at --max-rps 20 that takes at least \d+ s$", lines[budget])

