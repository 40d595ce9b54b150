"""`--expect FILE`: known deviations, so that CI gates on regressions only.

The file (TOML) lists deviations:

    [[deviation]]
    id = "FC-SOC-009"            # a requirement id, or a glob of ids (fnmatch, case-insensitive)
    reason = "answers 400; fix planned"
    expires = 2027-01-31         # a TOML date: the entry holds through that day

`gate()` turns a run's outcomes into an exit code: 1 if any fail is not listed (or listed only under
an expired entry); otherwise 3 if the run is INCOMPLETE for another reason (a MUST not tested, the run
stopped early, a subset run); otherwise 0. A listed fail, an expired entry, an entry whose
requirements the run exercised and now pass ("no longer needed") and an entry the run did not exercise
(a smoke run, a subset, a requirement not tested: "not exercised", kept) are reported as notices. The certification verdict never changes because of it:
the expect file gates the exit code, nothing else.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from fibrecert.core.profile import profile_named

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Deviation", "ExpectError", "GateResult", "load_expect", "gate", "VERDICTS"]

VERDICTS = ("CONFORMANT", "NON_CONFORMANT", "INCOMPLETE")
_KEYS = {"id", "reason", "expires"}


class ExpectError(ValueError):
    """A problem with the expect file: one line naming the file and the entry (exit code 2)."""


@dataclass(frozen=True)
class Deviation:
    id: str                 # a requirement id or a glob of ids
    reason: str
    expires: _dt.date       # the last day the entry holds
    entry: int = 0          # its position in the file, from 1

    def matches(self, requirement_id: str) -> bool:
        return fnmatch.fnmatchcase(requirement_id.upper(), self.id.upper())

    def expired(self, today: _dt.date) -> bool:
        return today > self.expires

    def label(self) -> str:
        return f"deviation {self.entry} ({self.id})"


@dataclass(frozen=True)
class GateResult:
    exit_code: int
    notices: list[str]
    new_fails: tuple[str, ...] = ()        # fails that gate: unlisted, or listed under an expired entry
    listed_fails: tuple[str, ...] = ()     # fails under a live entry
    expired: tuple[Deviation, ...] = ()
    now_passing: tuple[Deviation, ...] = ()  # entries whose requirements all pass: no longer needed
    not_exercised: tuple[Deviation, ...] = ()  # entries the run did not exercise fully: kept


# ------------------------------------------------------------------------------------------ loading
def load_expect(path: str | os.PathLike[str], known_ids: Iterable[str] | None = None) -> list[Deviation]:
    """Read and check an expect file against the catalogue's ids (default: every requirement).
    Raises ExpectError, one line naming the file and the entry."""
    p = Path(path)
    if known_ids is None:
        from fibrecert import contracts

        known_ids = contracts.requirements()
    known = [i.upper() for i in known_ids]
    from fibrecert.safefiles import InputError, read_regular

    if not os.path.lexists(p):
        raise ExpectError(f"{p}: expect file not found")
    try:  # a regular file of bounded size (never a FIFO or a device)
        text = read_regular(p, "expect file").decode("utf-8")
    except InputError as exc:
        raise ExpectError(str(exc)) from None
    except UnicodeDecodeError:
        raise ExpectError(f"{p}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExpectError(f"{p}: {_where(text, str(exc))}not valid TOML: {exc}") from None
    except RecursionError:
        raise ExpectError(f"{p}: not a usable expect file: nested too deeply") from None
    extra = sorted(set(data) - {"deviation"})
    if extra:
        raise ExpectError(f"{p}: {extra[0]}: unknown key (the file holds [[deviation]] entries only)")
    entries = data.get("deviation", [])
    if not isinstance(entries, list):
        raise ExpectError(f"{p}: deviation: write each entry as a [[deviation]] table")
    out: list[Deviation] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(entries, start=1):
        where = f"{p}: deviation {n}"
        if not isinstance(item, dict):
            raise ExpectError(f"{where}: write each entry as a [[deviation]] table")
        rid = item.get("id")
        if not isinstance(rid, str) or not rid.strip():
            raise ExpectError(f"{where}: missing id (a requirement id such as FC-SOC-009, or a glob)")
        rid = rid.strip()
        where = f"{where} ({rid})"
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise ExpectError(f"{where}: {unknown[0]}: unknown key (expected id, reason, expires)")
        if not any(fnmatch.fnmatchcase(k, rid.upper()) for k in known):
            what = "matches no requirement id" if any(c in rid for c in "*?[") else "unknown requirement id"
            raise ExpectError(f"{where}: {what} (`fibrecert requirements` lists them)")
        if rid.upper() in seen:
            raise ExpectError(f"{where}: listed twice (also deviation {seen[rid.upper()]})")
        seen[rid.upper()] = n
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ExpectError(f"{where}: missing reason (say why the fail is accepted for now)")
        if "expires" not in item:
            raise ExpectError(f"{where}: missing expires (a TOML date such as 2027-01-31)")
        expires = item["expires"]
        if isinstance(expires, _dt.datetime) or not isinstance(expires, _dt.date):
            got = "a date-time" if isinstance(expires, _dt.datetime) else repr(expires)
            raise ExpectError(f"{where}: expires: bad date: must be a TOML date such as 2027-01-31 "
                              f"(unquoted), got {got}")
        out.append(Deviation(id=rid, reason=" ".join(reason.split()), expires=expires, entry=n))
    return out


def _where(text: str, message: str) -> str:
    """For a TOML syntax error, the entry it falls in ("deviation 2: "), when the line is known."""
    m = re.search(r"at line (\d+)", message)
    if not m:
        return ""
    lines = text.splitlines()[: int(m.group(1))]
    count = sum(1 for line in lines if re.match(r"\s*\[\[\s*deviation\s*\]\]", line))
    return f"deviation {count}: " if count else ""


# ------------------------------------------------------------------------------------------ gating
def gate(outcomes: Mapping[str, str], verdict: str, entries: Sequence[Deviation], today: _dt.date, *,
         incomplete: bool | None = None, profile: str | None = None) -> GateResult:
    """The exit code of a run under an expect file, and the notices to print and report.

    outcomes: requirement id -> pass | fail | warn | skip | not_tested (the run's, whole).
    verdict: the run's certification verdict (unchanged by this).
    incomplete: whether the run is INCOMPLETE for a reason other than its fails (a MUST not tested,
        stopped early, a subset run). The runner knows; when it is not given it is taken from the
        verdict (INCOMPLETE) or, for a NON_CONFORMANT run, from any MUST with outcome not_tested.
    profile: the run's profile. An entry is "no longer needed" only when the run exercised what it
        covers and it passed: each requirement it matches ran and passed, at a profile that sends all of
        its cases (standard or full: smoke sends one case per constraint, so a pass there says nothing of
        the case that failed). Otherwise the entry is "not exercised by this run" and kept. Without a
        profile (a caller that does not know it) a pass is taken as exercised.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    notices: list[str] = []
    new: list[str] = []
    listed: list[str] = []
    reported_expired: set[int] = set()
    for rid, outcome in outcomes.items():
        if outcome != "fail":
            continue
        matching = [e for e in entries if e.matches(rid)]
        live = [e for e in matching if not e.expired(today)]
        if live:
            e = max(live, key=lambda d: d.expires)
            listed.append(rid)
            notices.append(f"known deviation: {rid} fails ({e.label()}, until {e.expires}: {e.reason})")
        elif matching:
            e = max(matching, key=lambda d: d.expires)
            new.append(rid)
            reported_expired.update(d.entry for d in matching)
            notices.append(f"expired deviation: {rid} fails and {e.label()} expired on {e.expires}: "
                           "the fail counts as new")
        else:
            new.append(rid)
            notices.append(f"new fail: {rid} (not in the expect file)")
    expired: list[Deviation] = []
    passing: list[Deviation] = []
    unexercised: list[Deviation] = []
    partial = profile is not None and not profile_named(profile).fully_exercising  # smoke: one case a constraint
    for e in entries:
        matched = [o for r, o in outcomes.items() if e.matches(r)]
        if e.expired(today):
            expired.append(e)
        if matched and all(o == "pass" for o in matched) and not partial:
            passing.append(e)
            notices.append(f"{e.label()} is no longer needed: {_which(e, outcomes)} now "
                           f"{'passes' if len(matched) == 1 else 'pass'}; remove the entry")
        elif e.expired(today) and e.entry not in reported_expired:
            notices.append(f"{e.label()} expired on {e.expires}: remove it, or renew it if the deviation remains")
        elif "fail" not in matched and "warn" not in matched:
            unexercised.append(e)
            if not matched:
                why = "none of its requirements ran (a subset)"
            elif partial and all(o == "pass" for o in matched):
                why = (f"the {profile} profile sends fewer of its cases than standard, so its pass does not "
                       "show that the case that failed now passes")
            else:
                why = "its requirement was not tested or skipped"
            notices.append(f"{e.label()} was not exercised by this run ({why}): kept")
    if incomplete is None:
        incomplete = verdict == "INCOMPLETE" or (verdict == "NON_CONFORMANT" and _must_not_tested(outcomes))
    if new:
        code = 1
    elif verdict == "NON_CONFORMANT" and not listed:
        code = 1  # a NON_CONFORMANT run with no failing requirement to weigh: nothing to excuse it
        notices.append("the run is NON_CONFORMANT without a failing requirement: the expect file cannot excuse it")
    elif incomplete:
        code = 3
    else:
        code = 0
    return GateResult(exit_code=code, notices=notices, new_fails=tuple(new), listed_fails=tuple(listed),
                      expired=tuple(expired), now_passing=tuple(passing), not_exercised=tuple(unexercised))


def _which(e: Deviation, outcomes: Mapping[str, str]) -> str:
    ids = [r for r in outcomes if e.matches(r)]
    return ids[0] if len(ids) == 1 else f"its {len(ids)} requirements ({e.id})"


def _must_not_tested(outcomes: Mapping[str, str]) -> bool:
    from fibrecert import contracts

    reqs = contracts.requirements()
    return any(o == "not_tested" and rid in reqs and reqs[rid].level == "MUST" for rid, o in outcomes.items())
