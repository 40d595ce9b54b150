"""The result model of a run: one per run, rendered by every writer (JSON, JUnit, HTML), so the
formats cannot disagree. Built from the result model's snapshot (fibrecert/core/results.py) and the requirement catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
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
    violations: int = 0                                          # every violating check, counted
    passes: int = 0                                              # every passing check, counted
    constraints: dict[str, int] = field(default_factory=dict)    # contract constraint -> cases attacking it
    choice: str | None = None                                    # SHOULD: the profile choice it rests on

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "api": self.api, "operation": self.operation, "level": self.level,
            "basis": self.basis, "text": self.text, "source": self.source, "quote": self.quote,
            "outcome": self.outcome, "cases": self.cases, "violations": self.violations, "passes": self.passes,
            "evidence": self.evidence, "tests": self.tests,
        }
        if self.constraints:
            out["constraints"] = self.constraints
        if self.role:
            out["role"] = self.role
        if self.choice:
            out["choice"] = self.choice
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
    exchanges: list[dict[str, Any]] = field(default_factory=list)  # every exchange: its case, answer, checks
    interrupted: bool = False       # the run was stopped (Ctrl-C, SIGTERM) before it finished
    selection: str = ""             # --only/--skip: the subset of requirements this run was limited to
    concurrency: int = 1
    signature: dict[str, Any] | None = None  # the signing key's fingerprint when the run is signed
    test_data: dict[str, Any] = field(default_factory=dict)  # what the run consumed (active services ceased)
    scope: dict[str, Any] | None = None     # fibrecert/scope.py: a certification or not, and why not
    digests: dict[str, str] = field(default_factory=dict)    # {"contracts", "catalogue"}: SHA-256 (scope.py)
    server_certificates: dict[str, list[str]] = field(default_factory=dict)  # origin -> fingerprints that answered
    throttling: dict[str, Any] = field(default_factory=dict)  # 429/503 with Retry-After: fibrecert/throttle.py

    def api_of(self, exchange_id: str, default: str = "") -> str:
        """The API an exchange of the run was sent to (its record in `exchanges` says), else `default`."""
        return self._apis.get(exchange_id) or default

    @cached_property
    def _apis(self) -> dict[str, str]:
        return {e["id"]: e["api"] for e in self.exchanges
                if isinstance(e, dict) and isinstance(e.get("id"), str) and isinstance(e.get("api"), str)}

    @property
    def incomplete_reasons(self) -> list[str]:
        reasons = []
        if self.interrupted:
            reasons.append("the run was interrupted before it finished")
        if self.selection:
            reasons.append(f"the run was limited to a subset of the requirements ({self.selection})")
        reasons.extend(self.stopped_early)
        not_resent = (self.throttling or {}).get("requests_not_resent") or 0
        if not_resent:  # fibrecert/throttle.py: what was asked of them was never answered within the bounds
            reasons.append(f"{not_resent} requests throttled past fibrecert's bounds were not answered "
                           "(429/503 with Retry-After, not sent again)")
        return reasons

    @property
    def verdict(self) -> str:
        return compute_verdict(self.requirements, self.incomplete_reasons)

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
            "interrupted": self.interrupted,
            "selection": self.selection,
            "stopped_early": self.stopped_early,
            "concurrency": self.concurrency,
            "counts": self.counts(),
            "scope": self.scope,
            "digests": self.digests,
            "server_certificates": self.server_certificates,
            "notes": self.notes,
            **({"signature": self.signature} if self.signature else {}),
            "test_data": self.test_data,
            "throttling": self.throttling,
            "requirements": [r.to_json() for r in self.requirements],
            "exchanges": self.exchanges,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunResult":
        reqs = [RequirementResult(
            id=r["id"], api=r.get("api", ""), operation=r["operation"], level=r["level"], basis=r["basis"],
            text=r["text"], source=r.get("source", ""), quote=r.get("quote", ""), outcome=r["outcome"],
            cases=r.get("cases", 0), reason=r.get("reason", ""), evidence=r.get("evidence", []),
            tests=r.get("tests", []), role=r.get("role"), violations=r.get("violations", 0),
            passes=r.get("passes", 0), constraints=r.get("constraints", {}), choice=r.get("choice"))
            for r in data["requirements"]]
        return cls(tool=data["tool"], contracts=data["contracts"], target=data.get("target", {}),
                   seed=data["seed"], profile=data["profile"], started_at=data["started_at"],
                   finished_at=data["finished_at"], duration_s=data.get("duration_s", 0.0),
                   requests_sent=data.get("requests_sent", 0), requirements=reqs,
                   stopped_early=data.get("stopped_early", []), target_file=data.get("target_file"),
                   notes=data.get("notes", []), exchanges=data.get("exchanges", []),
                   interrupted=data.get("interrupted", False), selection=data.get("selection", ""),
                   concurrency=data.get("concurrency", 1), signature=data.get("signature"),
                   test_data=data.get("test_data", {}), scope=data.get("scope"),
                   digests=data.get("digests", {}), server_certificates=data.get("server_certificates", {}),
                   throttling=data.get("throttling", {}))


def outcome_for(level: str, passes: int, failures: int, not_tested: list[str], skipped: list[str],
                errors: list[str] | None = None, *, unanswered: int = 0,
                missing_values: list[str] | None = None) -> tuple[str, str]:
    """The outcome of one requirement, and its reason when it is not a plain pass/fail.

    fail/warn beat everything. A pass is earned: at least one answered exchange exercised it, every
    value it names was sent or seen (`missing_values` lists those that were not), and no test of it
    errored (part of it went unexercised). Data running out after some passes is still a pass."""
    if failures:
        return ("fail" if level == "MUST" else "warn"), ""
    if errors:
        return "not_tested", "; ".join(dict.fromkeys(errors))
    if passes and missing_values:
        from fibrecert.wording import values

        return "not_tested", "never sent or seen: " + values(missing_values, limit=10, conjunction="and")
    if passes:
        return "pass", ""
    if not_tested:
        return "not_tested", "; ".join(dict.fromkeys(not_tested))
    if skipped:
        return "skip", "; ".join(dict.fromkeys(skipped))
    if unanswered:
        return "not_tested", (f"no exchange that would exercise it got a complete answer ({unanswered} "
                              "checked exchange(s) were refused, dropped, timed out or throttled)")
    return "not_tested", "no test exercised it in this run"


def compute_verdict(requirements: list[RequirementResult], incomplete: list[str]) -> str:
    if any(r.outcome == "fail" for r in requirements):
        return "NON_CONFORMANT"
    if incomplete or any(r.outcome == "not_tested" and r.level == "MUST" for r in requirements):
        return "INCOMPLETE"
    return "CONFORMANT"
