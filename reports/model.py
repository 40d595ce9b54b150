"""The result model of a run: one per run, rendered by every writer (JSON, JUnit, HTML), so the
formats cannot disagree. Built from the recorder's observations and the requirement catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("pass", "fail", "warn", "skip", "not_tested")
VERDICTS = ("CONFORMANT", "NON_CONFORMANT", "INCOMPLETE")
EXIT_CODES = {"CONFORMANT": 0, "NON_CONFORMANT": 1, "INCOMPLETE": 3}


@dataclass
class RequirementResult:
    id: str
    api: str
    operation: str
    level: str
    basis: str
    text: str
    source: str
    quote: str
    outcome: str
    cases: int
    reason: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    role: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "api": self.api, "operation": self.operation, "level": self.level,
            "basis": self.basis, "text": self.text, "source": self.source, "quote": self.quote,
            "outcome": self.outcome, "cases": self.cases, "evidence": self.evidence, "tests": self.tests,
        }
        if self.role:
            out["role"] = self.role
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class RunResult:
    tool: dict[str, str]
    contracts: dict[str, str]
    target: dict[str, Any]
    seed: int
    profile: str
    started_at: str
    finished_at: str
    duration_s: float
    requests_sent: int
    requirements: list[RequirementResult]
    stopped_early: list[str] = field(default_factory=list)
    target_file: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return compute_verdict(self.requirements, self.stopped_early)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def counts(self) -> dict[str, int]:
        c = {o: 0 for o in OUTCOMES}
        for r in self.requirements:
            c[r.outcome] += 1
        return c

    def counts_by_level(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.requirements:
            out.setdefault(r.level, {o: 0 for o in OUTCOMES})[r.outcome] += 1
        return out

    def by_operation(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.requirements:
            out.setdefault(r.operation, {o: 0 for o in OUTCOMES})[r.outcome] += 1
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "contracts": self.contracts,
            "target": self.target,
            "target_file": self.target_file,
            "seed": self.seed,
            "profile": self.profile,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": round(self.duration_s, 3),
            "requests_sent": self.requests_sent,
            "verdict": self.verdict,
            "stopped_early": self.stopped_early,
            "counts": self.counts(),
            "notes": self.notes,
            "requirements": [r.to_json() for r in self.requirements],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunResult":
        reqs = [RequirementResult(
            id=r["id"], api=r.get("api", ""), operation=r["operation"], level=r["level"], basis=r["basis"],
            text=r["text"], source=r.get("source", ""), quote=r.get("quote", ""), outcome=r["outcome"],
            cases=r.get("cases", 0), reason=r.get("reason", ""), evidence=r.get("evidence", []),
            tests=r.get("tests", []), role=r.get("role")) for r in data["requirements"]]
        return cls(tool=data["tool"], contracts=data["contracts"], target=data.get("target", {}),
                   seed=data["seed"], profile=data["profile"], started_at=data["started_at"],
                   finished_at=data["finished_at"], duration_s=data.get("duration_s", 0.0),
                   requests_sent=data.get("requests_sent", 0), requirements=reqs,
                   stopped_early=data.get("stopped_early", []), target_file=data.get("target_file"),
                   notes=data.get("notes", []))


def outcome_for(level: str, passes: int, failures: int, not_tested: list[str], skipped: list[str],
                errors: list[str] | None = None) -> tuple[str, str]:
    """The outcome of one requirement, and its reason when it is not a plain pass/fail.

    fail/warn beat everything; a test that errored makes the requirement not_tested even when other
    cases passed (part of it went unexercised); data running out after some passes is still a pass."""
    if failures:
        return ("fail" if level == "MUST" else "warn"), ""
    if errors:
        return "not_tested", "; ".join(dict.fromkeys(errors))
    if passes:
        return "pass", ""
    if not_tested:
        return "not_tested", "; ".join(dict.fromkeys(not_tested))
    if skipped:
        return "skip", "; ".join(dict.fromkeys(skipped))
    return "not_tested", "no test exercised it in this run"


def compute_verdict(requirements: list[RequirementResult], stopped_early: list[str]) -> str:
    if any(r.outcome == "fail" for r in requirements):
        return "NON_CONFORMANT"
    if stopped_early or any(r.outcome == "not_tested" and r.level == "MUST" for r in requirements):
        return "INCOMPLETE"
    return "CONFORMANT"
