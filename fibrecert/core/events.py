"""The run's events: small typed records the engine emits and every output consumes (progress on the
terminal, the NDJSON event log, the result model, the report handler that writes the three report files,
the replay index). Checks and suites never format output; handlers never reach back into the engine.
Every handler recognises an event one way: by its class (`isinstance`); `type` is only what the event
log writes.

A run's stream, in order:

    RunStarted, then per test TestStarted ... (ExchangeDone, CheckDone, Marked, StoppedEarly) ...
    TestFinished, then
    RunEnding(facts)   the run is over; `facts` (RunFacts) is what the report says about the run that no
                       other event carries (seed, profile, times, selection, target, ...). The report
                       handler (reports/build.py) builds the RunResult from it and the result model's
                       snapshot of the events before it, and writes the report files;
    RunFinished        last: the verdict and counts of that result (the caller of `Engine.finish` hands
                       the result over, since only the report handler knows it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from fibrecert.core.exchange import Exchange


@dataclass(frozen=True)
class RunStarted:
    profile: str
    seed: int
    apis: tuple[str, ...]
    tests: int
    requirements: int
    concurrency: int
    target: dict[str, Any] = field(default_factory=dict)
    test_ids: tuple[str, ...] = ()  # the tests to run, in order (what the progress line's ETA weighs)
    serves: tuple[tuple[str, str], ...] = ()  # (requirement, test): what each test declares it exercises
    type: str = "run_started"


@dataclass(frozen=True)
class TestStarted:
    test: str
    api: str
    type: str = "test_started"


@dataclass(frozen=True)
class TestFinished:
    test: str
    api: str
    outcome: str            # passed | failed | skipped | error
    reason: str = ""
    generating_ms: float = 0.0  # CPU time this test's lanes spent generating (draws; waits excluded)
    generating_before_first_ms: float = 0.0  # ... of it, before the test's first request was sent
    type: str = "test_finished"


@dataclass(frozen=True)
class ExchangeDone:
    exchange: Exchange
    type: str = "exchange"


@dataclass(frozen=True)
class CheckDone:
    """One check's result for one requirement on one exchange (the last of `exchanges`; the earlier ones
    are the chain it was judged in). `exercised` is False when the exchange got no complete answer and the
    check is not about that refusal: such a result is neither a pass nor a fail."""
    requirement: str
    exchanges: tuple[Exchange, ...]
    check: str
    args: tuple[Any, ...]
    passed: bool
    exercised: bool = True
    observed: str = ""
    declared: str = ""
    test: str = ""
    featured: bool = False  # the evidence to show first (a failing sequence shrunk to its shortest)
    type: str = "check"
    note: str = ""          # what narrowing found (the trigger of a failure on valid input), shown with it
    counted: bool = True    # False: this result was already counted (only shown first, with its note)

    @property
    def exchange(self) -> Exchange:
        return self.exchanges[-1]


@dataclass(frozen=True)
class Marked:
    """A requirement that a test could not exercise (not_tested), that does not apply (skip), or whose
    test could not run (error)."""
    requirement: str
    outcome: str            # not_tested | skip | error
    reason: str
    test: str = ""
    type: str = "marked"


@dataclass(frozen=True)
class StoppedEarly:
    reason: str
    type: str = "stopped_early"


@dataclass(frozen=True)
class RunFacts:
    """What the report says about a run that the other events do not carry, as plain values (the engine
    knows them; the report handler reads nothing else of the engine)."""
    seed: int
    profile: str
    apis: tuple[str, ...]                   # the APIs this run certifies
    requirement_ids: tuple[str, ...]        # the requirements selected (all of the APIs', or a subset)
    target: dict[str, Any]                  # the target file's public part, for the APIs certified
    sections: tuple[str, ...]               # the APIs the target file has a section for (certified or not)
    roles: dict[str, tuple[str, ...]]       # API -> the roles its section declares (ALA: seller, buyer)
    # Paths as the outputs show them, never absolute (a report or an event log travels):
    target_file: str | None                 # the target file, relative to the report folder, for replay
    results_path: str                       # results.json, relative to where the run started (replay lines)
    started_at: str                         # ISO 8601, UTC
    finished_at: str
    duration_s: float
    selection: str = ""                     # --only/--skip, described ("" for every requirement)
    concurrency: int = 1
    signature: dict[str, str] | None = None  # the signing key's fingerprint, when the run is signed
    services_ceased: tuple[str, ...] = ()   # the target file's active_services this run ceased
    embedded: bool = False                  # the target is fibrecert's own embedded sandbox
    server_certificates: dict[str, tuple[str, ...]] = field(default_factory=dict)  # origin -> fingerprints
    throttling: dict[str, Any] = field(default_factory=dict)  # fibrecert/throttle.py: the run's facts
    interrupted: bool = False               # stopped (Ctrl-C, SIGTERM) before it finished


@dataclass(frozen=True)
class RunEnding:
    """The run is over (finished, stopped or interrupted): what the report is built from, with the
    events before it."""
    facts: RunFacts
    type: str = "run_ending"


@dataclass(frozen=True)
class RunFinished:
    verdict: str
    counts: dict[str, int]
    requests: int
    duration_s: float
    type: str = "run_finished"


Event = (RunStarted | TestStarted | TestFinished | ExchangeDone | CheckDone | Marked | StoppedEarly | RunEnding
         | RunFinished)
Handler = Callable[[Any], None]


class EventBus:
    """Delivers each event to every handler, one event at a time (handlers need no locking of their own).

    Handlers that take events out of memory (the terminal, the event log) subscribe with `outside=True`:
    they get the event with its text redacted (every secret of `secrets`), once, here; no output can
    forget it. The result model and the report handler, in memory, get the event as it is: the report
    handler redacts what it writes as it builds the report (evidence is redacted before its bodies are
    cut, which needs the exchange as it was)."""

    def __init__(self, secrets: Any = None) -> None:
        self.handlers: list[Handler] = []
        self.outside: list[Handler] = []
        self.secrets = secrets
        self._lock = threading.RLock()

    def subscribe(self, handler: Handler, *, outside: bool = False) -> None:
        with self._lock:
            (self.outside if outside else self.handlers).append(handler)

    def emit(self, event: Any) -> None:
        from fibrecert.core.redaction import redacted_event

        with self._lock:
            for handler in list(self.handlers):
                handler(event)
            if self.outside:
                shown = redacted_event(event, self.secrets)
                for handler in list(self.outside):
                    handler(shown)
