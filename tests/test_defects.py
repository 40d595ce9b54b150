"""The seeded defects that prove the suite (tests/test_run.py runs the suite against each one)."""

from __future__ import annotations

from fibrecert import contracts
from fibrecert.sandbox import DEFECTS
from fibrecert.sandbox.defects import Defects


def test_there_are_at_least_fifty_defects_each_naming_real_requirements():
    assert len(DEFECTS) >= 50
    known = contracts.requirements()
    for d in DEFECTS.values():
        assert d.description, d.name
        # a defect breaks something; a `conformant` switch (a documented throttle) breaks nothing
        assert bool(d.violates) != bool(d.conformant) and not (d.conformant and d.may_also), d.name
        assert set(d.violates) <= set(known), (d.name, set(d.violates) - set(known))
        assert set(d.may_also) <= set(known), (d.name, set(d.may_also) - set(known))
        assert not set(d.may_also) & set(d.violates), d.name  # each requirement in one set
        assert bool(d.may_also) == bool(d.why.strip()), f"{d.name}: may_also and why go together"
        assert d.name.startswith(("ala-", "fc-")), d.name  # the API it breaks, for the self-test's --api


def test_every_must_requirement_has_a_defect_that_proves_it_is_checked():
    covered = {r for d in DEFECTS.values() for r in d.violates}
    missing = sorted(r.id for r in contracts.requirements().values() if r.level == "MUST" and r.id not in covered)
    assert not missing, f"MUST requirements no defect proves: {missing}"


def test_defects_are_spread_over_the_families_the_issue_names():
    text = " ".join(f"{d.name} {d.description}" for d in DEFECTS.values()).lower()
    for family in ("content-type", "certificate", "tenant", "missing", "enum", "5", "status", "fault",
                   "uuid", "echo", "second", "unknown", "size", "token", "dtd", "hang" if "hang" in text else "answers"):
        assert family in text, family


def test_an_unknown_defect_name_is_refused():
    import pytest

    with pytest.raises(ValueError, match="unknown defect"):
        Defects({"no-such-defect"})


def test_a_throttle_switch_answers_429_with_retry_after_to_every_fifth_request_counted_from_when_it_is_set():
    from fibrecert.sandbox.defects import THROTTLES

    assert set(THROTTLES) == {n for n, d in DEFECTS.items() if d.conformant}
    defects = Defects({"fc-throttle-every-5th-request"})
    seen = [defects.throttle("fc-throttle-every-5th-request") for _ in range(10)]
    assert seen == [None] * 4 + [(429, "1")] + [None] * 4 + [(429, "1")]
    assert defects.throttle("ala-throttle-every-5th-request") is None  # off
    defects.set({"fc-throttle-every-5th-request"})  # the count starts again
    assert [defects.throttle("fc-throttle-every-5th-request") for _ in range(5)][-1] == (429, "1")
