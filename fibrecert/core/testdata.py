"""The target file's test data that a run uses up: ALA `active_services`, each ceased at most once."""

from __future__ import annotations

import threading
from typing import Sequence


class OutOfTestData(Exception):
    """The target file's test data (e.g. active_services) is exhausted."""


class ServicePool:
    """`active_services` of the target file: each is leased to one case at a time and ceased at most once."""

    def __init__(self, services: Sequence[str]):
        self._left = list(services)
        self._lock = threading.Lock()
        self.consumed: list[str] = []

    def take(self) -> str:
        with self._lock:
            if not self._left:
                raise OutOfTestData("active_services in the target file are used up "
                                    "(each is ceased once; add more to test this requirement)")
            service = self._left.pop(0)
            self.consumed.append(service)
            return service

    def release(self, service: str) -> None:
        """Give back a service the target refused to cease (it is still active)."""
        with self._lock:
            if service in self.consumed:
                self.consumed.remove(service)
            self._left.insert(0, service)

    @property
    def left(self) -> int:
        with self._lock:
            return len(self._left)

    def unused(self) -> list[str]:
        """The services not ceased (yet): what a run gives back to the ledger at its end."""
        with self._lock:
            consumed = set(self.consumed)
            return [s for s in self._left if s not in consumed]
