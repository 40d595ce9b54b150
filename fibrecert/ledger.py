"""The test-data ledger: which `active_services` earlier runs have used up (ceased for real).

It lives beside the target file: `NAME.toml` -> `NAME.ledger.json`:

    {
      "fibrecert_ledger": 1,
      "used": [
        {"service": "CF-SVC-00001", "run": "3f2a09c1d4e5f6a7", "at": "2026-06-01T10:15:03Z",
         "command": "fibrecert run --profile standard --seed 4128 --report-dir reports/latest"},
        ...
      ],
      "running": [
        {"run": "3f2a09c1d4e5f6a7", "pid": 4711, "host": "ci-7", "since": "2026-06-01T10:15:03Z"}
      ]
    }

`command` (what used the service) is optional; `running` lists the runs that have claimed services and
not finished yet: `fibrecert ledger TARGET --release` never gives back what a run still in progress may
cease (a run whose process is gone, on this host, or that started over a day ago, is over).

Every change is a read-modify-write under an exclusive lock (`NAME.ledger.json.lock`, flock) and
lands with an atomic rename (a temporary file in the same folder, fsync, os.replace), so that two
runs at once never lose each other's entries and a reader never sees half a file.

A run should `claim()` the services it may use before its first request (recorded at once, so that
a run that crashes midway never leaves a ceased service looking fresh, and two runs at once never get
the same service), as in progress (`running=True`: runs, replays and audits alike), then `settle()`
in a `finally`, giving back those it did not cease. `record()` adds uses after the fact.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

__all__ = ["Ledger", "LedgerError", "NotEnoughServices", "Use", "Running", "Released", "ledger_path"]

FORMAT = 1
LOCK_TIMEOUT = 10.0
RUN_AT_MOST = _dt.timedelta(days=1)  # a run "running" for longer than this has ended (killed, crashed)
MAX_PID = 2**31 - 1  # a pid_t; a "running" entry with a pid outside 1..MAX_PID is corrupt
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


class LedgerError(Exception):
    """A ledger that cannot be read or written: one line, exit code 2."""


class NotEnoughServices(LedgerError):
    """Too few unused active_services for the run: one line, exit code 2."""


@dataclass(frozen=True)
class Use:
    service: str
    run: str
    at: str  # ISO 8601, UTC, seconds: 2026-06-01T10:15:03Z
    command: str = ""  # what used it (fibrecert run --profile ..., replay X017.3, audit); "" when not recorded


@dataclass(frozen=True)
class Running:
    """A run that has claimed services and not finished: what it claimed may be ceased at any moment."""
    run: str
    pid: int
    host: str
    since: str

    def in_progress(self, now: _dt.datetime | None = None) -> bool:
        """Whether the run may still be going: its process is alive on this host (or, on another host,
        it started less than a day ago: fibrecert cannot see that host's processes)."""
        now = now or _dt.datetime.now(_dt.timezone.utc)
        try:
            since = _dt.datetime.strptime(self.since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            return True  # when it started is unknown: it may be going (the reader rejects such an entry anyway)
        if now - since > RUN_AT_MOST:
            return False
        if self.host != socket.gethostname():
            return True
        if not 0 < self.pid <= MAX_PID or self.pid == os.getpid():  # 0 or negative would name a process group
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OSError, OverflowError):
            return True  # another user's process: alive
        return True


@dataclass(frozen=True)
class Released:
    """What `release` gave back, and what it kept because a run still in progress claimed it."""
    released: list[Use]
    kept: list[Use]


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
                f"profile needs {needed}: add fresh ones to [ala] active_services (or, once the vendor has "
                f"re-provisioned the used ones: fibrecert ledger TARGET --release-all)")

    # ---------------------------------------------------------------------- writing
    def record(self, run_id: str, consumed: Iterable[str], when: _dt.datetime | None = None, *,
               command: str = "") -> None:
        """Add that `run_id` used `consumed` (a service already recorded is left as it was)."""
        consumed = list(dict.fromkeys(consumed))
        if not consumed:
            return
        at = _stamp(when)
        with self._locked():
            uses, running = self._read_all()
            known = {u.service for u in uses}
            uses += [Use(s, run_id, at, command) for s in consumed if s not in known]
            self._write(uses, running)

    def claim(self, run_id: str, active_services: Sequence[str], count: int,
              when: _dt.datetime | None = None, *, command: str = "", running: bool = False) -> list[str]:
        """Atomically take the first `count` unused services for `run_id` and record them as used;
        returns them (fewer when fewer remain: compare with what the run needs).
        `running`: also record `run_id` as in progress (this process) until `settle()`, so that a
        `--release` meanwhile leaves what it claimed alone (replay and audit --allow-cease)."""
        at = _stamp(when)
        with self._locked():
            uses, runs = self._read_all()
            used = {u.service for u in uses}
            taken = [s for s in active_services if s not in used][: max(count, 0)]
            if running:
                runs = [r for r in runs if r.run != run_id] + [Running(run_id, os.getpid(), socket.gethostname(), at)]
            if taken or running:
                self._write(uses + [Use(s, run_id, at, command) for s in taken], runs)
        return taken

    def claim_at_least(self, run_id: str, active_services: Sequence[str], needed: int, wanted: int, *,
                       profile: str = "this", when: _dt.datetime | None = None, command: str = "",
                       running: bool = False) -> tuple[list[str], int]:
        """Check and claim in one step under the lock: NotEnoughServices (one line, saying how many
        remain) when fewer than `needed` are unused; otherwise take up to `max(needed, wanted)` of them for
        `run_id`, recorded at once. Returns (the services taken, how many were unused before).
        `running`: also record the run as in progress (this process) until `settle()`, so that a
        `--release` meanwhile leaves its services alone."""
        at = _stamp(when)
        with self._locked():
            uses, runs = self._read_all()
            used = {u.service for u in uses}
            left = [s for s in dict.fromkeys(active_services) if s not in used]
            self._enough(left, active_services, needed, profile)
            taken = left[: max(needed, wanted, 0)]
            if running:
                runs = [r for r in runs if r.run != run_id] + [Running(run_id, os.getpid(), socket.gethostname(), at)]
            if taken or running:
                self._write(uses + [Use(s, run_id, at, command) for s in taken], runs)
        return taken, len(left)

    def release(self, run_id: str, services: Iterable[str]) -> None:
        """Give back services `run_id` claimed but did not use (they were never ceased)."""
        back = set(services)
        if not back:
            return
        with self._locked():
            uses, running = self._read_all()
            kept = [u for u in uses if not (u.run == run_id and u.service in back)]
            if len(kept) != len(uses):
                self._write(kept, running)

    def settle(self, run_id: str, unused: Iterable[str]) -> None:
        """The end of a run: give back what it claimed and did not cease, and record it as no longer in
        progress (one step under the lock)."""
        back = set(unused)
        with self._locked():
            uses, running = self._read_all()
            kept = [u for u in uses if not (u.run == run_id and u.service in back)]
            runs = [r for r in running if r.run != run_id]
            if len(kept) != len(uses) or len(runs) != len(running):
                self._write(kept, runs)

    def running(self) -> list[Running]:
        """The runs recorded as in progress (some may have ended without saying so: `in_progress()`)."""
        return self._read_all()[1]

    def release_used(self, ids: Sequence[str] | None, now: _dt.datetime | None = None) -> Released:
        """The vendor has re-provisioned their sandbox: give back the services `ids` name (each a service
        or a run id; None: every service), except those a run still in progress claimed (it may cease them
        at any moment). Unknown ids: LedgerError naming them, nothing released. One step under the lock."""
        with self._locked():
            uses, running = self._read_all()
            live = {r.run for r in running if r.in_progress(now)}
            if ids is None:
                chosen = list(uses)
            else:
                services, runs = {u.service for u in uses}, {u.run for u in uses}
                unknown = [i for i in dict.fromkeys(ids) if i not in services and i not in runs]
                if unknown:
                    shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                    raise LedgerError(f"{self.path}: no service or run {shown} in the ledger: nothing released "
                                      "(`fibrecert ledger TARGET` lists them)")
                wanted = set(ids)
                chosen = [u for u in uses if u.service in wanted or u.run in wanted]
            kept = [u for u in chosen if u.run in live]
            released = [u for u in chosen if u.run not in live]
            if released:
                gone = {u.service for u in released}
                self._write([u for u in uses if u.service not in gone], [r for r in running if r.run in live])
        return Released(released, kept)

    # ---------------------------------------------------------------------- plumbing
    def _read(self) -> list[Use]:
        return self._read_all()[0]

    def _read_all(self) -> tuple[list[Use], list[Running]]:
        from fibrecert.safefiles import MAX_JSON_BYTES, InputError, check_depth, read_regular

        if not os.path.lexists(self.path):
            return [], []
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
            command = item.get("command", "")
            if not isinstance(command, str):
                raise self._corrupt(f"entry {n}: command is not a string")
            out.append(Use(item["service"], item["run"], item["at"], command))
        runs = data.get("running", [])
        if not isinstance(runs, list):
            raise self._corrupt('"running" is not a list')
        running = []
        for n, item in enumerate(runs, start=1):
            if not (isinstance(item, dict) and all(isinstance(item.get(k), str) and item.get(k)
                                                   for k in ("run", "host", "since"))
                    and isinstance(item.get("pid"), int) and not isinstance(item.get("pid"), bool)):
                raise self._corrupt(f"running entry {n} is not {{run, pid, host, since}}")
            if not 0 < item["pid"] <= MAX_PID:
                raise self._corrupt(f"running entry {n}: pid is not a process id (1 to {MAX_PID})")
            try:
                _dt.datetime.strptime(item["since"], _STAMP)
            except ValueError:
                raise self._corrupt(f"running entry {n}: since is not a UTC time like 2026-06-01T10:15:03Z") from None
            running.append(Running(item["run"], item["pid"], item["host"], item["since"]))
        return out, running

    def _corrupt(self, what: str) -> LedgerError:
        return LedgerError(f"{self.path}: corrupt ledger ({what}): repair it, or move it aside and list only "
                           "fresh active_services in the target file")

    def _write(self, uses: list[Use], running: list[Running]) -> None:
        data: dict[str, Any] = {"fibrecert_ledger": FORMAT,
                                "used": [{k: v for k, v in asdict(u).items() if v or k != "command"} for u in uses]}
        if running:
            data["running"] = [asdict(r) for r in running]
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
