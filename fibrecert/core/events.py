"""The run's events: small typed records the engine emits and every output consumes (progress on the
terminal, the NDJSON event log, the result model behind the three report files, the replay index).
Checks and suites never format output; handlers never reach back into the engine.
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
class RunFinished:
    verdict: str
    counts: dict[str, int]
    requests: int
    duration_s: float
    type: str = "run_finished"


Event = RunStarted | TestStarted | TestFinished | ExchangeDone | CheckDone | Marked | StoppedEarly | RunFinished
Handler = Callable[[Any], None]


class EventBus:
    """Delivers each event to every handler, one event at a time (handlers need no locking of their own).

    Handlers that take events out of memory (the terminal, the event log) subscribe with `outside=True`:
    they get the event with its text redacted (every secret of `secrets`), once, here; no output can
    forget it. The result model, in memory, gets the event as it is (the report builder redacts what it
    writes)."""

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
