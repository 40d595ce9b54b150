"""--expect FILE (fibrecert.expect): loading the known deviations, and the exit-code rule.

Exit code under an expect file: 1 if any fail is not listed (or listed only under an expired entry);
otherwise 3 if the run is INCOMPLETE for another reason; otherwise 0. Listed fails, expired entries and
entries whose requirements now pass are notices. Every branch of that rule has a test here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from helpers import fibrecert
from fibrecert import contracts
from fibrecert.expect import Deviation, ExpectError, gate, load_expect

TODAY = dt.date(2026, 6, 1)
KNOWN = ["FC-SOC-001", "FC-SOC-008", "FC-SOC-009", "FC-SO-001", "ALA-CEASE-001", "INT-001"]


def dev(rid: str, expires: dt.date = dt.date(2027, 1, 31), entry: int = 1, reason: str = "fix planned") -> Deviation:
    return Deviation(id=rid, reason=reason, expires=expires, entry=entry)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expect.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ loading
def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, '''
[[deviation]]
id = "FC-SOC-009"
reason = "answers 400; fix planned"
expires = 2027-01-31

[[deviation]]
id = "ala-cease-*"     # a glob, any case
reason = """several
lines"""
expires = 2026-12-01
''')
    got = load_expect(path, KNOWN)
    assert got == [Deviation("FC-SOC-009", "answers 400; fix planned", dt.date(2027, 1, 31), 1),
                   Deviation("ala-cease-*", "several lines", dt.date(2026, 12, 1), 2)]
    assert got[1].matches("ALA-CEASE-001") and not got[1].matches("FC-SOC-009")


def test_an_empty_file_lists_nothing(tmp_path: Path) -> None:
    assert load_expect(write(tmp_path, "# nothing known\n"), KNOWN) == []


def test_the_default_known_ids_are_the_catalogue(tmp_path: Path) -> None:
    rid = next(iter(contracts.requirements()))
    path = write(tmp_path, f'[[deviation]]\nid = "{rid}"\nreason = "r"\nexpires = 2027-01-01\n')
    assert load_expect(path)[0].id == rid


ENTRY = '[[deviation]]\nid = "FC-SOC-009"\nreason = "r"\nexpires = 2027-01-31\n\n'


@pytest.mark.parametrize("text, message", [
    (ENTRY + '[[deviation]]\nid = "FC-SOC-099"\nreason = "r"\nexpires = 2027-01-31\n',
     "deviation 2 (FC-SOC-099): unknown requirement id (`fibrecert requirements` lists them)"),
    (ENTRY + '[[deviation]]\nid = "XX-*"\nreason = "r"\nexpires = 2027-01-31\n',
     "deviation 2 (XX-*): matches no requirement id"),
    ('[[deviation]]\nreason = "r"\nexpires = 2027-01-31\n', "deviation 1: missing id"),
    ('[[deviation]]\nid = "FC-SOC-009"\nexpires = 2027-01-31\n',
     "deviation 1 (FC-SOC-009): missing reason (say why the fail is accepted for now)"),
    ('[[deviation]]\nid = "FC-SOC-009"\nreason = "  "\nexpires = 2027-01-31\n', "deviation 1 (FC-SOC-009): missing reason"),
    ('[[deviation]]\nid = "FC-SOC-009"\nreason = "r"\n', "deviation 1 (FC-SOC-009): missing expires"),
    ('[[deviation]]\nid = "FC-SOC-009"\nreason = "r"\nexpires = "2027-01-31"\n',
     "deviation 1 (FC-SOC-009): expires: bad date: must be a TOML date such as 2027-01-31 (unquoted), got '2027-01-31'"),
    ('[[deviation]]\nid = "FC-SOC-009"\nreason = "r"\nexpires = 2027-01-31T10:00:00Z\n',
     "deviation 1 (FC-SOC-009): expires: bad date: must be a TOML date such as 2027-01-31 (unquoted), got a date-time"),
    (ENTRY + '[[deviation]]\nid = "FC-SOC-008"\nreason = "r"\nexpires = 2027-13-01\n',
     "deviation 2: not valid TOML: "),
    ('[[deviation]]\nid = "FC-SOC-009"\nreason = "r"\nexpires = 2027-01-31\nowner = "me"\n',
     "deviation 1 (FC-SOC-009): owner: unknown key (expected id, reason, expires)"),
    (ENTRY + '[[deviation]]\nid = "fc-soc-009"\nreason = "r"\nexpires = 2027-01-31\n',
     "deviation 2 (fc-soc-009): listed twice (also deviation 1)"),
    ('[deviation]\nid = "FC-SOC-009"\n', "deviation: write each entry as a [[deviation]] table"),
    ('version = 1\n' + ENTRY, "version: unknown key (the file holds [[deviation]] entries only)"),
])
def test_each_problem_is_one_line_naming_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ExpectError) as info:
        load_expect(path, KNOWN)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ExpectError, match=r"expect file not found"):
        load_expect(tmp_path / "nope.toml", KNOWN)


# ------------------------------------------------------------------------------------------ gate
def test_no_fail_conformant_is_0() -> None:
    r = gate({"FC-SOC-001": "pass", "FC-SOC-009": "warn"}, "CONFORMANT", [], TODAY)
    assert (r.exit_code, r.notices) == (0, [])


def test_a_listed_fail_is_a_notice_and_does_not_raise_the_exit_code() -> None:
    r = gate({"FC-SOC-001": "pass", "FC-SOC-008": "fail"}, "NON_CONFORMANT", [dev("FC-SOC-008")], TODAY,
             incomplete=False)
    assert r.exit_code == 0
    assert r.listed_fails == ("FC-SOC-008",) and r.new_fails == ()
    assert r.notices == ["known deviation: FC-SOC-008 fails (deviation 1 (FC-SOC-008), until 2027-01-31: fix planned)"]


def test_an_unlisted_fail_is_1() -> None:
    r = gate({"FC-SOC-001": "fail", "FC-SOC-008": "fail"}, "NON_CONFORMANT", [dev("FC-SOC-008")], TODAY)
    assert r.exit_code == 1
    assert r.new_fails == ("FC-SOC-001",) and r.listed_fails == ("FC-SOC-008",)
    assert "new fail: FC-SOC-001 (not in the expect file)" in r.notices


def test_without_any_entry_every_fail_is_new() -> None:
    assert gate({"FC-SOC-001": "fail"}, "NON_CONFORMANT", [], TODAY).exit_code == 1


def test_an_expired_entry_is_reported_and_its_fail_counts_as_new() -> None:
    r = gate({"FC-SOC-008": "fail"}, "NON_CONFORMANT", [dev("FC-SOC-008", dt.date(2026, 5, 31))], TODAY)
    assert r.exit_code == 1 and r.new_fails == ("FC-SOC-008",)
    assert [e.id for e in r.expired] == ["FC-SOC-008"]
    assert r.notices == ["expired deviation: FC-SOC-008 fails and deviation 1 (FC-SOC-008) expired on 2026-05-31: "
                         "the fail counts as new"]


def test_an_entry_holds_through_its_expiry_day() -> None:
    entries = [dev("FC-SOC-008", TODAY)]
    assert gate({"FC-SOC-008": "fail"}, "NON_CONFORMANT", entries, TODAY, incomplete=False).exit_code == 0
    assert gate({"FC-SOC-008": "fail"}, "NON_CONFORMANT", entries, TODAY + dt.timedelta(days=1)).exit_code == 1


def test_an_expired_entry_without_a_fail_is_reported_and_changes_nothing() -> None:
    r = gate({"FC-SOC-008": "not_tested", "FC-SOC-001": "pass"}, "CONFORMANT",
             [dev("FC-SOC-008", dt.date(2026, 1, 1), entry=3)], TODAY)
    assert r.exit_code == 0
    assert r.notices == ["deviation 3 (FC-SOC-008) expired on 2026-01-01: remove it, or renew it if the deviation "
                         "remains"]


def test_an_entry_whose_requirement_now_passes_is_reported() -> None:
    r = gate({"FC-SOC-009": "pass", "FC-SOC-001": "pass"}, "CONFORMANT", [dev("FC-SOC-009", entry=2)], TODAY)
    assert r.exit_code == 0 and [e.id for e in r.now_passing] == ["FC-SOC-009"]
    assert r.notices == ["deviation 2 (FC-SOC-009) is no longer needed: FC-SOC-009 now passes; remove the entry"]


def test_a_glob_entry_covers_each_matching_fail_and_is_reported_when_all_pass() -> None:
    entries = [dev("FC-SOC-*")]
    r = gate({"FC-SOC-001": "fail", "FC-SOC-008": "pass", "FC-SO-001": "pass"}, "NON_CONFORMANT", entries,
             TODAY, incomplete=False)
    assert (r.exit_code, r.listed_fails, r.now_passing) == (0, ("FC-SOC-001",), ())
    r = gate({"FC-SOC-001": "pass", "FC-SOC-008": "pass", "FC-SO-001": "pass"}, "CONFORMANT", entries, TODAY)
    assert r.notices == ["deviation 1 (FC-SOC-*) is no longer needed: its 2 requirements (FC-SOC-*) now pass; "
                         "remove the entry"]


def test_a_warn_or_an_unrun_requirement_is_neither_a_fail_nor_a_pass() -> None:
    r = gate({"FC-SOC-009": "warn"}, "CONFORMANT", [dev("FC-SOC-009"), dev("ALA-CEASE-001", entry=2)], TODAY)
    assert (r.exit_code, r.now_passing) == (0, ())
    assert r.notices == ["deviation 2 (ALA-CEASE-001) was not exercised by this run (none of its requirements ran "
                         "(a subset)): kept"]
    r = gate({"FC-SOC-009": "not_tested"}, "INCOMPLETE", [dev("FC-SOC-009")], TODAY)
    assert r.notices == ["deviation 1 (FC-SOC-009) was not exercised by this run (its requirement was not tested "
                         "or skipped): kept"] and r.now_passing == ()


def test_an_entry_is_no_longer_needed_only_when_a_profile_that_sends_its_cases_passed_it() -> None:
    """A smoke run sends one case per constraint: its pass says nothing of the case (only standard sends
    it) that failed, so the entry is "not exercised" and kept; a standard or full pass retires it."""
    outcomes = {"FC-SOC-010": "pass", "FC-SOC-001": "pass"}
    smoke = gate(outcomes, "CONFORMANT", [dev("FC-SOC-010")], TODAY, profile="smoke")
    assert smoke.now_passing == () and [e.id for e in smoke.not_exercised] == ["FC-SOC-010"]
    assert smoke.notices == ["deviation 1 (FC-SOC-010) was not exercised by this run (the smoke profile sends "
                             "fewer of its cases than standard, so its pass does not show that the case that "
                             "failed now passes): kept"]
    assert not any("no longer needed" in n for n in smoke.notices)
    for profile in ("standard", "full"):
        r = gate(outcomes, "CONFORMANT", [dev("FC-SOC-010")], TODAY, profile=profile)
        assert [e.id for e in r.now_passing] == ["FC-SOC-010"] and r.not_exercised == ()


def test_a_smoke_run_keeps_an_entry_for_a_case_only_standard_sends(tmp_path: Path) -> None:
    """End to end: the fraction of an orderId among the type negatives of FC-SOC-010 is sent from the
    standard profile on (smoke sends one negative per constraint: a numeric string); a smoke run that
    passes FC-SOC-010 keeps the entry."""
    from fibrecert import strategies

    variants = {p: [n.variant for n in strategies.negatives("/service-order-cancellations",
                                                            strategies.example("/service-order-cancellations"), p, 1)
                    if n.constraint.id == "fc:/service-order-cancellations:orderId:type"] for p in ("smoke", "standard")}
    assert "fraction" in variants["standard"] and "fraction" not in variants["smoke"]
    path = write(tmp_path, '[[deviation]]\nid = "FC-SOC-010"\nreason = "answers 422 for a fraction"\n'
                           'expires = 2099-01-31\n')
    done = fibrecert("run", "--profile", "smoke", "--api", "fibrecafe", "--report-dir", str(tmp_path / "r"),
                     "--expect", str(path), "--quiet", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "expect: deviation 1 (FC-SOC-010) was not exercised by this run (the smoke profile" in done.stdout
    assert "no longer needed" not in done.stdout


def test_listed_fails_but_a_must_not_tested_is_3() -> None:
    must = next(r.id for r in contracts.requirements().values() if r.level == "MUST")
    fail = next(r.id for r in contracts.requirements().values() if r.level == "MUST" and r.id != must)
    r = gate({fail: "fail", must: "not_tested"}, "NON_CONFORMANT", [dev(fail)], TODAY)
    assert r.exit_code == 3


def test_listed_fails_in_a_run_that_stopped_early_is_3() -> None:
    r = gate({"FC-SOC-008": "fail"}, "NON_CONFORMANT", [dev("FC-SOC-008")], TODAY, incomplete=True)
    assert r.exit_code == 3


def test_incomplete_without_fails_is_3() -> None:
    assert gate({"FC-SOC-001": "not_tested"}, "INCOMPLETE", [], TODAY).exit_code == 3


def test_a_new_fail_outranks_an_incomplete_run() -> None:
    assert gate({"FC-SOC-001": "fail"}, "NON_CONFORMANT", [], TODAY, incomplete=True).exit_code == 1


def test_non_conformant_without_a_failing_requirement_is_not_excused() -> None:
    r = gate({"FC-SOC-001": "pass"}, "NON_CONFORMANT", [dev("FC-SOC-008")], TODAY)
    assert r.exit_code == 1


def test_unknown_verdict_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        gate({}, "PASSED", [], TODAY)


def test_loaded_file_gates_a_run(tmp_path: Path) -> None:
    path = write(tmp_path, '[[deviation]]\nid = "FC-SOC-009"\nreason = "answers 400; fix planned"\n'
                           'expires = 2027-01-31\n')
    entries = load_expect(path, KNOWN)
    r = gate({"FC-SOC-009": "fail", "FC-SOC-001": "pass"}, "NON_CONFORMANT", entries, TODAY, incomplete=False)
    assert r.exit_code == 0
    assert r.notices == ["known deviation: FC-SOC-009 fails (deviation 1 (FC-SOC-009), until 2027-01-31: "
                         "answers 400; fix planned)"]
