"""The test-data ledger: which `active_services` earlier runs have used up (ceased for real).

It lives beside the target file: `NAME.toml` -> `NAME.ledger.json`:

    {
      "fibrecert_ledger": 1,
      "used": [
        {"service": "CF-SVC-00001", "run": "20260601T101500Z-3f2a", "at": "2026-06-01T10:15:03Z"},
        ...
      ]
    }

Every change is a read-modify-write under an exclusive lock (`NAME.ledger.json.lock`, flock) and
lands with an atomic rename (a temporary file in the same folder, fsync, os.replace), so that two
runs at once never lose each other's entries and a reader never sees half a file.

A run should `claim()` the services it may use before its first request (recorded at once, so that
a run that crashes midway never leaves a ceased service looking fresh, and two runs at once never get
the same service), then `release()` those it did not cease. `record()` adds uses after the fact.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

__all__ = ["Ledger", "LedgerError", "NotEnoughServices", "Use", "ledger_path"]

FORMAT = 1
LOCK_TIMEOUT = 10.0


class LedgerError(Exception):
    """A ledger that cannot be read or written: one line, exit code 2."""


class NotEnoughServices(LedgerError):
    """Too few unused active_services for the run: one line, exit code 2."""


@dataclass(frozen=True)
class Use:
    service: str
    run: str
    at: str  # ISO 8601, UTC, seconds: 2026-06-01T10:15:03Z


def ledger_path(target_path: str | os.PathLike[str]) -> Path:
    """NAME.toml -> NAME.ledger.json (any other name: NAME.ext.ledger.json), in the same folder."""
    p = Path(target_path)
    stem = p.stem if p.suffix.lower() == ".toml" else p.name
    return p.with_name(f"{stem}.ledger.json")


def _stamp(when: _dt.datetime | None) -> str:
    when = when or _dt.datetime.now(_dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ledger:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @classmethod
    def for_target(cls, target_path: str | os.PathLike[str]) -> "Ledger":
        return cls(ledger_path(target_path))

    # ---------------------------------------------------------------------- reading
    def entries(self) -> list[Use]:
        """Every recorded use, oldest first; [] when there is no ledger yet."""
        return self._read()

    def used(self) -> set[str]:
        return {u.service for u in self._read()}

    def remaining(self, active_services: Iterable[str]) -> list[str]:
        """The active_services no run has used yet, in their order."""
        used = self.used()
        return [s for s in active_services if s not in used]

    def require(self, active_services: Sequence[str], needed: int, *, profile: str = "this") -> list[str]:
        """The unused services, or NotEnoughServices (one line) when fewer than `needed` remain.
        A check only: a run takes its services with `claim_at_least` (check and claim in one step)."""
        left = self.remaining(active_services)
        self._enough(left, active_services, needed, profile)
        return left

    def _enough(self, left: Sequence[str], active_services: Sequence[str], needed: int, profile: str) -> None:
        if len(left) < needed:
            raise NotEnoughServices(
                f"{self.path}: only {len(left)} of the {len(active_services)} active_services are unused "
                f"(the others were ceased by earlier runs, or are claimed by a run in progress); the {profile} "
                f"profile needs {needed}: add fresh ones to [ala] active_services")

    # ---------------------------------------------------------------------- writing
    def record(self, run_id: str, consumed: Iterable[str], when: _dt.datetime | None = None) -> None:
        """Add that `run_id` used `consumed` (a service already recorded is left as it was)."""
        consumed = list(dict.fromkeys(consumed))
        if not consumed:
            return
        at = _stamp(when)
        with self._locked():
            uses = self._read()
            known = {u.service for u in uses}
            uses += [Use(s, run_id, at) for s in consumed if s not in known]
            self._write(uses)

    def claim(self, run_id: str, active_services: Sequence[str], count: int,
              when: _dt.datetime | None = None) -> list[str]:
        """Atomically take the first `count` unused services for `run_id` and record them as used;
        returns them (fewer when fewer remain: compare with what the run needs)."""
        at = _stamp(when)
        with self._locked():
            uses = self._read()
            used = {u.service for u in uses}
            taken = [s for s in active_services if s not in used][: max(count, 0)]
            if taken:
                self._write(uses + [Use(s, run_id, at) for s in taken])
        return taken

    def claim_at_least(self, run_id: str, active_services: Sequence[str], needed: int, wanted: int, *,
                       profile: str = "this", when: _dt.datetime | None = None) -> tuple[list[str], int]:
        """Check and claim in one step under the lock: NotEnoughServices (one line, saying how many
        remain) when fewer than `needed` are unused; otherwise take up to `max(needed, wanted)` of them for
        `run_id`, recorded at once. Returns (the services taken, how many were unused before)."""
        at = _stamp(when)
        with self._locked():
            uses = self._read()
            used = {u.service for u in uses}
            left = [s for s in dict.fromkeys(active_services) if s not in used]
            self._enough(left, active_services, needed, profile)
            taken = left[: max(needed, wanted, 0)]
            if taken:
                self._write(uses + [Use(s, run_id, at) for s in taken])
        return taken, len(left)

    def release(self, run_id: str, services: Iterable[str]) -> None:
        """Give back services `run_id` claimed but did not use (they were never ceased)."""
        back = set(services)
        if not back:
            return
        with self._locked():
            uses = self._read()
            kept = [u for u in uses if not (u.run == run_id and u.service in back)]
            if len(kept) != len(uses):
                self._write(kept)

    # ---------------------------------------------------------------------- plumbing
    def _read(self) -> list[Use]:
        from fibrecert.safefiles import MAX_JSON_BYTES, InputError, check_depth, read_regular

        if not os.path.lexists(self.path):
            return []
        try:  # a regular file only (never a FIFO or /dev/zero), of bounded size
            raw = read_regular(self.path, "ledger", MAX_JSON_BYTES)
        except InputError as exc:
            raise LedgerError(str(exc)) from None
        try:
            data = json.loads(raw.decode("utf-8"))
            check_depth(data, 8)  # {"used": [{...}]}: three levels deep
        except RecursionError:
            raise self._corrupt("nested too deeply") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise self._corrupt(f"not JSON{where}") from None
        except ValueError as exc:
            raise self._corrupt(str(exc)) from None
        if not isinstance(data, dict) or data.get("fibrecert_ledger") != FORMAT:
            raise self._corrupt(f"not a fibrecert ledger (format {FORMAT})")
        uses = data.get("used")
        if not isinstance(uses, list):
            raise self._corrupt('"used" is not a list')
        out = []
        for n, item in enumerate(uses, start=1):
            if not (isinstance(item, dict) and all(isinstance(item.get(k), str) and item.get(k)
                                                   for k in ("service", "run", "at"))):
                raise self._corrupt(f"entry {n} is not {{service, run, at}}")
            out.append(Use(item["service"], item["run"], item["at"]))
        return out

    def _corrupt(self, what: str) -> LedgerError:
        return LedgerError(f"{self.path}: corrupt ledger ({what}): repair it, or move it aside and list only "
                           "fresh active_services in the target file")

    def _write(self, uses: list[Use]) -> None:
        data: dict[str, Any] = {"fibrecert_ledger": FORMAT, "used": [asdict(u) for u in uses]}
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot write the ledger ({exc.strerror or type(exc).__name__})") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise LedgerError(f"{self.path}: cannot write the ledger ({exc.strerror or type(exc).__name__})") from None
        _fsync_dir(self.path.parent)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(f"{self.lock_path}: cannot open the ledger's lock file "
                              f"({exc.strerror or type(exc).__name__})") from None
        try:
            _lock(fd, self.lock_path)
            yield
        finally:
            _unlock(fd)
            os.close(fd)


def _lock(fd: int, path: Path) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except (BlockingIOError, PermissionError) if os.name != "nt" else OSError:  # held by another run
            if time.monotonic() > deadline:
                raise LedgerError(f"{path}: the ledger stayed locked by another run for {LOCK_TIMEOUT:g} s") from None
            time.sleep(0.01)


def _unlock(fd: int) -> None:
    try:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
