"""The result model: one handler over the run's events that remembers, per requirement, what was
observed, and hands the report builder a typed snapshot.

Memory stays bounded whatever the target sends: every exchange is kept as a compact record (its Case,
its outcome, the checks run on it: what results.json needs for replay), and only a bounded sample keeps
bodies (cut to what evidence shows): per requirement the MAX_VIOLATIONS violating cases with the smallest
exchange ids, and for a pass the first exchange plus the first of each distinct (operation, answer)
signature, MAX_PASS_SAMPLES in all. Choosing by exchange id, not by arrival, keeps the report the same
whatever the concurrency.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from fibrecert.core.case import id_key
from fibrecert.core.events import CheckDone, ExchangeDone, Marked, RunStarted, StoppedEarly
from fibrecert.core.exchange import Exchange

MAX_VIOLATIONS = 5
MAX_PASS_SAMPLES = 3


@dataclass(frozen=True)
class Observation:
    """A check's result kept as evidence: the judged exchange last, the chain before it."""
    exchanges: tuple[Exchange, ...]
    check: str
    args: tuple[Any, ...]
    passed: bool
    observed: str
    declared: str
    test: str
    note: str = ""  # what narrowing found (fibrecert/narrowing.py)

    @property
    def exchange(self) -> Exchange:
        return self.exchanges[-1]

    @property
    def key(self) -> tuple[Any, ...]:
        return id_key(self.exchange.id)


@dataclass
class RequirementState:
    id: str
    passes: int = 0
    violations: int = 0
    unanswered: int = 0                                   # checks on exchanges that got no complete answer
    cases: set[str] = field(default_factory=set)          # exchanges that exercised it
    values: set[str] = field(default_factory=set)         # tags of the cases that exercised it
    constraints: Counter = field(default_factory=Counter)  # constraint id -> cases attacking it
    violation_samples: list[Observation] = field(default_factory=list)
    featured: list[Observation] = field(default_factory=list)   # shown before the others (shrunk sequences)
    pass_samples: dict[Any, Observation] = field(default_factory=dict)  # signature -> first observation
    not_tested: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tests: set[str] = field(default_factory=set)

    def violating_evidence(self) -> list[Observation]:
        """Featured violations first (a failure on valid input narrowed to its trigger, then shrunk
        sequences, each in id order), then the others by id, at most MAX_VIOLATIONS in all."""
        featured = sorted(self.featured, key=lambda o: (not o.note, o.key))  # a named trigger first
        shown = {(o.exchange.id, o.check) for o in featured}
        rest = [o for o in self.violation_samples if (o.exchange.id, o.check) not in shown]
        return (featured + rest)[:MAX_VIOLATIONS]

    def passing_evidence(self) -> list[Observation]:
        """The first pass, then the first of other signatures, MAX_PASS_SAMPLES at most, in id order."""
        ordered = sorted(self.pass_samples.values(), key=lambda o: o.key)
        return ordered[:MAX_PASS_SAMPLES]


@dataclass
class ExchangeRecord:
    id: str
    test: str
    case: dict[str, Any] | None
    api: str
    operation: str
    status: int | None
    error: str | None
    elapsed_ms: float
    checks: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] | None = None  # fibrecert/observed.py: what `fibrecert audit` compares
    throttled: dict[str, Any] | None = None  # sent again after 429/503 with Retry-After (fibrecert/throttle.py)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "api": self.api, "operation": self.operation}
        if self.test and self.case is None:
            out["test"] = self.test
        out["answer"] = self.status if self.error is None else self.error
        out["elapsed_ms"] = self.elapsed_ms
        if self.throttled:
            out["throttled"] = self.throttled
        if self.facts:
            out["facts"] = self.facts
        if self.case is not None:
            out["case"] = self.case
        out["checks"] = self.checks
        return out


@dataclass
class RunSnapshot:
    requirements: dict[str, RequirementState]
    exchanges: list[ExchangeRecord]
    stopped_early: list[str]
    requests_sent: int


def _json_safe(args: tuple[Any, ...]) -> list[Any]:
    out = []
    for a in args:
        if a is None or isinstance(a, (str, int, float, bool)):
            out.append(a)
        elif isinstance(a, (list, tuple)) and all(isinstance(x, (str, int, float, bool)) for x in a):
            out.append(list(a))
        else:
            out.append(repr(a)[:200])
    return out


class ResultModel:
    """Subscribe to the run's EventBus; `snapshot()` at the end. `facts(exchange)` gives what an answer
    shows that audit later compares (the run passes its dialects', fibrecert/observed.py)."""

    def __init__(self, facts: Callable[[Exchange], dict[str, Any]] | None = None) -> None:
        self._facts = facts
        self.requirements: dict[str, RequirementState] = {}
        self.exchanges: dict[str, ExchangeRecord] = {}
        self.stopped_early: list[str] = []
        self.requests_sent = 0
        self._lock = threading.Lock()

    def state(self, requirement: str) -> RequirementState:
        if requirement not in self.requirements:
            self.requirements[requirement] = RequirementState(requirement)
        return self.requirements[requirement]

    def __call__(self, event: Any) -> None:
        found = (self._facts(event.exchange) if self._facts is not None and isinstance(event, ExchangeDone)
                 else None)  # outside the lock
        with self._lock:
            if isinstance(event, ExchangeDone):
                self._exchange(event.exchange, found)
            elif isinstance(event, CheckDone):
                self._check(event)
            elif isinstance(event, Marked):
                st = self.state(event.requirement)
                {"not_tested": st.not_tested, "skip": st.skipped, "error": st.errors}[event.outcome].append(event.reason)
            elif isinstance(event, RunStarted):
                for requirement, test in event.serves:
                    self.state(requirement).tests.add(test)
            elif isinstance(event, StoppedEarly):
                if event.reason not in self.stopped_early:
                    self.stopped_early.append(event.reason)

    def _exchange(self, ex: Exchange, found: dict[str, Any] | None = None) -> None:
        self.requests_sent += 1
        case = ex.case
        self.exchanges[ex.id] = ExchangeRecord(
            id=ex.id, test=case.test, case=case.to_json(),
            api=ex.api, operation=ex.operation, status=ex.status, error=ex.error,
            elapsed_ms=round(ex.elapsed * 1000, 1), facts=found,
            throttled={"answers": ex.throttled, "waited_s": round(ex.throttle_wait, 3)}
            if ex.throttled else None)

    def _check(self, event: CheckDone) -> None:
        ex = event.exchange
        st = self.state(event.requirement)
        record = self.exchanges.get(ex.id)
        if record is not None and event.counted:
            entry: dict[str, Any] = {"requirement": event.requirement, "check": event.check,
                                     "args": _json_safe(event.args),
                                     "outcome": ("pass" if event.passed else "violation") if event.exercised else "unanswered"}
            chain = [e.id for e in event.exchanges[:-1]]
            if chain:
                entry["chain"] = chain
            record.checks.append(entry)
        if not event.exercised:
            st.unanswered += 1
            return
        if not event.counted:  # counted when it happened: only shown first now, with what was found
            if event.featured and len(st.featured) < MAX_VIOLATIONS:
                st.featured.append(Observation(tuple(e.trimmed() for e in event.exchanges), event.check,
                                               tuple(event.args), event.passed, event.observed, event.declared,
                                               event.test, event.note))
            return
        st.cases.add(ex.id)
        st.values.update(ex.case.tags)
        if ex.case.constraint:
            st.constraints[ex.case.constraint] += 1
        obs = Observation(tuple(e.trimmed() for e in event.exchanges), event.check, tuple(event.args),
                          event.passed, event.observed, event.declared, event.test, event.note)
        if event.passed:
            st.passes += 1
            signature = (ex.operation, ex.status)
            held = st.pass_samples.get(signature)
            if held is None or obs.key < held.key:
                st.pass_samples[signature] = obs
            return
        st.violations += 1
        if event.featured:
            if len(st.featured) < MAX_VIOLATIONS:
                st.featured.append(obs)
            return
        samples = st.violation_samples
        keys = [o.key for o in samples]
        at = bisect.bisect(keys, obs.key)
        if at < MAX_VIOLATIONS:
            samples.insert(at, obs)
            del samples[MAX_VIOLATIONS:]

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            return RunSnapshot(requirements=dict(self.requirements),
                               exchanges=sorted(self.exchanges.values(), key=lambda r: id_key(r.id)),
                               stopped_early=list(self.stopped_early), requests_sent=self.requests_sent)
