"""The test-data ledger (fibrecert.ledger): what earlier runs used up, beside the target file.

Concurrency is tested with real processes writing to the same ledger at once: no entry may be lost
and no service may be claimed twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fibrecert.ledger import Ledger, LedgerError, NotEnoughServices, Use, ledger_path

SERVICES = [f"CF-SVC-{i:05d}" for i in range(1, 11)]
WHEN = dt.datetime(2026, 6, 1, 10, 15, 3, tzinfo=dt.timezone.utc)
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("target, ledger", [
    ("dir/vendor.toml", "dir/vendor.ledger.json"),
    ("dir/vendor.TOML", "dir/vendor.ledger.json"),
    ("a.b.toml", "a.b.ledger.json"),
    ("target", "target.ledger.json"),
    ("target.conf", "target.conf.ledger.json"),
])
def test_the_ledger_lives_beside_the_target_file(target: str, ledger: str) -> None:
    assert ledger_path(target) == Path(ledger)
    assert Ledger.for_target(target).path == Path(ledger)


def test_no_ledger_yet_means_nothing_used(tmp_path: Path) -> None:
    ledger = Ledger.for_target(tmp_path / "t.toml")
    assert ledger.entries() == [] and ledger.remaining(SERVICES) == SERVICES
    assert not ledger.path.exists()


def test_record_then_remaining(tmp_path: Path) -> None:
    ledger = Ledger.for_target(tmp_path / "t.toml")
    ledger.record("run-1", SERVICES[:3], WHEN)
    ledger.record("run-2", [SERVICES[5], SERVICES[1]], WHEN + dt.timedelta(hours=1))  # SVC-2 already used
    assert ledger.remaining(SERVICES) == [SERVICES[3], SERVICES[4], *SERVICES[6:]]
    assert ledger.entries() == [Use(SERVICES[0], "run-1", "2026-06-01T10:15:03Z"),
                                Use(SERVICES[1], "run-1", "2026-06-01T10:15:03Z"),
                                Use(SERVICES[2], "run-1", "2026-06-01T10:15:03Z"),
                                Use(SERVICES[5], "run-2", "2026-06-01T11:15:03Z")]
    data = json.loads(ledger.path.read_text())
    assert data["fibrecert_ledger"] == 1 and data["used"][0] == {"service": SERVICES[0], "run": "run-1",
                                                                  "at": "2026-06-01T10:15:03Z"}
    # a new Ledger object (the next run) sees the same
    assert Ledger.for_target(tmp_path / "t.toml").remaining(SERVICES[:4]) == [SERVICES[3]]


def test_recording_nothing_writes_nothing(tmp_path: Path) -> None:
    ledger = Ledger.for_target(tmp_path / "t.toml")
    ledger.record("run-1", [], WHEN)
    assert not ledger.path.exists()


def test_times_are_utc(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.json")
    ledger.record("r", ["A"], dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    assert ledger.entries()[0].at == "2026-06-01T10:00:00Z"


def test_claim_takes_from_the_front_and_release_gives_back(tmp_path: Path) -> None:
    ledger = Ledger.for_target(tmp_path / "t.toml")
    ledger.record("old", [SERVICES[0]], WHEN)
    assert ledger.claim("run-1", SERVICES, 3, WHEN) == SERVICES[1:4]
    assert ledger.remaining(SERVICES) == SERVICES[4:]
    ledger.release("run-1", [SERVICES[2], SERVICES[3], SERVICES[0]])  # SVC-1 is old's: not released
    assert ledger.remaining(SERVICES) == [SERVICES[2], SERVICES[3], *SERVICES[4:]]
    assert ledger.claim("run-2", SERVICES[:3], 5) == [SERVICES[2]]  # fewer remain than asked


def test_require_names_what_remains_and_what_is_needed(tmp_path: Path) -> None:
    ledger = Ledger.for_target(tmp_path / "t.toml")
    ledger.record("run-1", SERVICES[:8], WHEN)
    assert ledger.require(SERVICES, 2, profile="smoke") == SERVICES[8:]
    with pytest.raises(NotEnoughServices) as info:
        ledger.require(SERVICES, 12, profile="standard")
    assert str(info.value) == (f"{ledger.path}: only 2 of the 10 active_services are unused (the others were "
                               "ceased by earlier runs, or are claimed by a run in progress); the standard profile needs 12: add fresh ones to "
                               "[ala] active_services")
    assert isinstance(info.value, LedgerError)


@pytest.mark.parametrize("content, what", [
    (b"{not json", "not JSON at line 1"),
    (b"\xff\xfe", "not JSON"),
    (b"[]", "not a fibrecert ledger (format 1)"),
    (b'{"fibrecert_ledger": 2, "used": []}', "not a fibrecert ledger (format 1)"),
    (b'{"fibrecert_ledger": 1, "used": {}}', '"used" is not a list'),
    (b'{"fibrecert_ledger": 1, "used": [{"service": "A", "run": "r", "at": "t"}, {"service": "B"}]}',
     "entry 2 is not {service, run, at}"),
])
def test_a_corrupt_ledger_is_one_line(tmp_path: Path, content: bytes, what: str) -> None:
    ledger = Ledger.for_target(tmp_path / "t.toml")
    ledger.path.write_bytes(content)
    for action in (lambda: ledger.remaining(SERVICES), lambda: ledger.record("r", ["X"], WHEN)):
        with pytest.raises(LedgerError) as info:
            action()
        assert str(info.value) == (f"{ledger.path}: corrupt ledger ({what}): repair it, or move it aside and "
                                   "list only fresh active_services in the target file")
    assert ledger.path.read_bytes() == content  # never overwritten


def test_the_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger.for_target(tmp_path / "t.toml")
    ledger.record("run-1", SERVICES[:2], WHEN)
    before = ledger.path.read_bytes()

    def fail_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail_replace)
    with pytest.raises(LedgerError, match=r"cannot write the ledger \(No space left on device\)"):
        ledger.record("run-2", SERVICES[2:4], WHEN)
    assert ledger.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.ledger.json", "t.ledger.json.lock"]


_WORKER = """
import sys
from fibrecert.ledger import Ledger
path, run, mode = sys.argv[1], sys.argv[2], sys.argv[3]
ledger = Ledger(path)
services = [f"S{i:04d}" for i in range(200)]
if mode == "record":
    for i in range(25):
        ledger.record(run, [f"{run}-{i}"])
else:
    got = []
    for _ in range(10):
        got += ledger.claim(run, services, 4)
    print(",".join(got))
"""


def _workers(tmp_path: Path, mode: str, n: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path / "l.json"), f"run{k}", mode],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for k in range(n)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_runs_at_once_lose_no_entry(tmp_path: Path) -> None:
    _workers(tmp_path, "record", 4)
    uses = Ledger(tmp_path / "l.json").entries()
    assert sorted(u.service for u in uses) == sorted(f"run{k}-{i}" for k in range(4) for i in range(25))


def test_runs_at_once_never_claim_the_same_service(tmp_path: Path) -> None:
    outs = _workers(tmp_path, "claim", 4)
    claimed = [s for out in outs for s in out.split(",") if s]
    assert len(claimed) == 160 and len(set(claimed)) == 160
    assert {u.service for u in Ledger(tmp_path / "l.json").entries()} == set(claimed)
