"""Observations of a run: what each requirement saw, per case. The engine emits; writers render.

A check's result is recorded against a requirement id. A failure keeps its evidence (the exchange,
what was observed, what the contract declares); passes are counted. Events go to listeners
(the CLI's progress printer) as small dicts; nothing here prints.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from fibrecert.transport import Exchange

MAX_EVIDENCE = 3


@dataclass
class Failure:
    requirement: str
    observed: str
    declared: str
    test: str
    exchanges: list[Exchange]


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.passes: dict[str, int] = defaultdict(int)
        self.failures: dict[str, list[Failure]] = defaultdict(list)
        self.failure_counts: dict[str, int] = defaultdict(int)
        self.cases: dict[str, set[str]] = defaultdict(set)
        self.not_tested: dict[str, list[str]] = defaultdict(list)
        self.skipped: dict[str, list[str]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.tests: dict[str, set[str]] = defaultdict(set)
        self.stopped_early: list[str] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def emit(self, event: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event)

    def declare(self, requirement: str, test: str) -> None:
        self.tests[requirement].add(test)

    def record(self, requirement: str, *, passed: bool, test: str, exchanges: list[Exchange],
               observed: str = "", declared: str = "") -> None:
        with self._lock:
            for ex in exchanges:
                self.cases[requirement].add(ex.id)
            if passed:
                self.passes[requirement] += 1
            else:
                self.failure_counts[requirement] += 1
                if len(self.failures[requirement]) < MAX_EVIDENCE:
                    self.failures[requirement].append(Failure(requirement, observed, declared, test, exchanges))
        self.emit({"type": "check", "requirement": requirement, "passed": passed, "test": test})

    def mark_not_tested(self, requirement: str, reason: str) -> None:
        with self._lock:
            self.not_tested[requirement].append(reason)

    def mark_error(self, requirement: str, reason: str) -> None:
        """A test of this requirement could not run (a fibrecert bug or a broken generator): part of
        the requirement went unexercised, so it can no longer be a pass."""
        with self._lock:
            self.errors[requirement].append(reason)

    def mark_skipped(self, requirement: str, reason: str) -> None:
        with self._lock:
            self.skipped[requirement].append(reason)

    def stop_early(self, reason: str) -> None:
        with self._lock:
            if reason not in self.stopped_early:
                self.stopped_early.append(reason)
