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
                               "[ala] active_services (or, once the vendor has re-provisioned the used ones: "
                               "fibrecert ledger TARGET --release-all)")
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


# ------------------------------------------------------------------------ `fibrecert ledger` (the tool)
def _target(tmp_path: Path, services: list[str]) -> Path:
    path = tmp_path / "vendor.toml"
    path.write_text("[ala]\nactive_services = [" + ", ".join(f'"{s}"' for s in services) + "]\n")
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from fibrecert.cli import main

    code = main(["ledger", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_ledger_tool_shows_used_and_unused_services_and_the_runs_that_used_them(tmp_path, capsys) -> None:
    target = _target(tmp_path, SERVICES)
    ledger = Ledger.for_target(target)
    code, out, err = _cli(capsys, str(target))
    assert code == 0 and err == "" and "none yet" in out and "10 in the target file: 10 unused, 0 used" in out
    ledger.claim("run-1", SERVICES, 3, WHEN, command="fibrecert run --profile smoke --seed 7 --report-dir r1")
    ledger.record("replay-ab", ["CF-SVC-00009", "OLD-SVC-1"], WHEN + dt.timedelta(hours=1),
                  command="fibrecert replay X017.3")
    code, out, err = _cli(capsys, str(target))
    assert code == 0 and err == ""
    assert "active_services: 10 in the target file: 6 unused, 4 used\n" in out
    assert "run-1      2026-06-01T10:15:03Z      3 services  fibrecert run --profile smoke --seed 7 --report-dir r1\n" in out
    assert "replay-ab  2026-06-01T11:15:03Z      2 services  fibrecert replay X017.3\n" in out
    assert "1 used services are no longer listed in the target file" in out
    assert f"fibrecert ledger {target} --release-all" in out
    code, out, _ = _cli(capsys, str(target), "--services")
    assert "  CF-SVC-00004  unused\n" in out and "  CF-SVC-00001  used by run-1 at 2026-06-01T10:15:03Z\n" in out
    assert "  OLD-SVC-1  used by replay-ab at 2026-06-01T11:15:03Z (not in the target file)\n" in out
    code, out, _ = _cli(capsys, str(target), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["active_services"] == 10 and len(data["unused"]) == 6
    assert [r["run"] for r in data["runs"]] == ["run-1", "replay-ab"] and data["not_in_target_file"] == ["OLD-SVC-1"]
    assert data["used"][0] == {"service": "CF-SVC-00001", "run": "run-1", "at": "2026-06-01T10:15:03Z",
                               "command": "fibrecert run --profile smoke --seed 7 --report-dir r1", "in_progress": False}


def test_release_by_service_by_run_and_all_says_what_it_did(tmp_path, capsys) -> None:
    target = _target(tmp_path, SERVICES)
    ledger = Ledger.for_target(target)
    ledger.record("run-1", SERVICES[:4], WHEN)
    ledger.record("run-2", SERVICES[4:7], WHEN)
    code, out, err = _cli(capsys, str(target), "--release", "CF-SVC-00002")
    assert (code, err) == (0, "")
    assert out == f"Released 1 service (run-1: 1) in {ledger.path}: 4 of the target file's 10 active_services are now unused\n"
    code, out, _ = _cli(capsys, str(target), "--release", "run-2", "CF-SVC-00001")
    assert out.startswith("Released 4 services (run-1: 1, run-2: 3) in ") and "8 of the target file's 10" in out
    assert ledger.remaining(SERVICES) == [s for s in SERVICES if s not in (SERVICES[2], SERVICES[3])]
    code, out, _ = _cli(capsys, str(target), "--release-all")
    assert code == 0 and "Released 2 services (run-1: 2)" in out and "10 of the target file's 10" in out
    assert ledger.entries() == []
    code, out, _ = _cli(capsys, str(target), "--release-all")
    assert code == 0 and out.startswith("Released nothing in ")


def test_release_of_an_unknown_id_changes_nothing_and_exits_2(tmp_path, capsys) -> None:
    target = _target(tmp_path, SERVICES)
    ledger = Ledger.for_target(target)
    ledger.record("run-1", SERVICES[:2], WHEN)
    before = ledger.path.read_bytes()
    code, out, err = _cli(capsys, str(target), "--release", "CF-SVC-00001", "NO-SUCH")
    assert (code, out) == (2, "") and err == (f"fibrecert: {ledger.path}: no service or run NO-SUCH in the ledger: "
                                              "nothing released (`fibrecert ledger TARGET` lists them)\n")
    assert ledger.path.read_bytes() == before
    code, out, err = _cli(capsys, str(target), "--release", "x", "--release-all")
    assert code == 2 and "do not go together" in err


@pytest.mark.parametrize("content, what", [
    ("[ala]\nactive_services = 3\n", "[ala] active_services: must be a list of non-empty strings"),
    ("not toml [", "not a target file (TOML"),
])
def test_the_ledger_tool_refuses_an_unusable_target_file_in_one_line(tmp_path, capsys, content, what) -> None:
    target = tmp_path / "t.toml"
    target.write_text(content)
    code, out, err = _cli(capsys, str(target))
    assert code == 2 and out == "" and what in err and err.count("\n") == 1
    code, out, err = _cli(capsys, str(tmp_path / "missing.toml"))
    assert code == 2 and out == "" and err.startswith("fibrecert: ")


def test_release_never_gives_back_what_a_run_in_progress_claimed(tmp_path, capsys) -> None:
    """A run records itself as running when it claims (this process here: in progress); a run whose
    process has ended is over, whatever its entry says."""
    target = _target(tmp_path, SERVICES)
    ledger = Ledger.for_target(target)
    ledger.claim_at_least("live", SERVICES, 3, 3, running=True)
    ledger.record("done", SERVICES[3:5], WHEN)
    data = json.loads(ledger.path.read_text())
    data["running"].append({"run": "crashed", "pid": _dead_pid(), "host": data["running"][0]["host"],
                            "since": data["running"][0]["since"]})
    data["used"].append({"service": SERVICES[5], "run": "crashed", "at": data["running"][0]["since"]})
    ledger.path.write_text(json.dumps(data))
    code, out, _ = _cli(capsys, str(target))
    assert "(of which 3 claimed by a run in progress)" in out and out.count("(in progress)") == 1
    code, out, err = _cli(capsys, str(target), "--release-all")
    assert code == 0 and "Released 3 services (done: 2, crashed: 1)" in out
    assert "Kept 3 claimed by a run in progress (live)" in out
    assert sorted(u.service for u in ledger.entries()) == SERVICES[:3]
    assert [r.run for r in ledger.running()] == ["live"]  # the crashed run's entry is gone
    code, out, _ = _cli(capsys, str(target), "--release", "live")
    assert "Released nothing" in out and "Kept 3" in out
    ledger.settle("live", SERVICES[1:3])  # the run ends: it ceased one, gives back two
    assert ledger.running() == [] and [u.service for u in ledger.entries()] == [SERVICES[0]]
    code, out, _ = _cli(capsys, str(target), "--release", "live")
    assert out.startswith("Released 1 service (live: 1)")


_CLAIMER = """
import sys
from fibrecert.ledger import Ledger
path, run = sys.argv[1], sys.argv[2]
ledger = Ledger(path)
services = [f"S{i:04d}" for i in range(400)]
got = list(ledger.claim_at_least(run, services, 1, 4, running=True)[0])  # in progress from here on
print("ready", flush=True)
sys.stdin.readline()  # every claimer is running: the test starts the releaser, then says go
for _ in range(14):
    got += ledger.claim_at_least(run, services, 1, 4, running=True)[0]
print(",".join(got), flush=True)
sys.stdin.read()  # in progress until the test closes stdin
"""

_RELEASER = """
import sys
from fibrecert.ledger import Ledger
ledger = Ledger(sys.argv[1])
released = 0
for _ in range(40):
    released += len(ledger.release_used(None).released)
print(released)
"""


def test_release_all_at_the_same_time_as_runs_claiming_never_frees_a_service_of_a_live_run(tmp_path) -> None:
    """Processes claiming (as runs in progress) while another releases everything over and over: every
    service a live run claimed stays recorded, none is claimed twice; once the runs have ended, all goes."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    path = str(tmp_path / "l.json")
    Ledger(path).record("old", [f"S{i:04d}" for i in range(300, 400)], WHEN)  # something to release
    claimers = [subprocess.Popen([sys.executable, "-c", _CLAIMER, path, f"run{k}"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for k in range(3)]
    for p in claimers:  # every claimer has claimed once and is recorded as running before any release
        assert p.stdout.readline().strip() == "ready", p.stderr.read() if p.poll() is not None else "not ready"
    assert {r.run for r in Ledger(path).running()} == {"run0", "run1", "run2"}
    releasing = subprocess.Popen([sys.executable, "-c", _RELEASER, path], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
    for p in claimers:  # go: the claims go on while the releaser releases everything over and over
        p.stdin.write("go\n")
        p.stdin.flush()
    _, releaser_err = releasing.communicate(timeout=120)
    assert releasing.returncode == 0, releaser_err
    claimed = []
    for p in claimers:
        line = p.stdout.readline().strip()
        assert line, p.stderr.read() if p.poll() is not None else "no claims"
        claimed += line.split(",")
    try:
        releaser = subprocess.run([sys.executable, "-c", _RELEASER, path], capture_output=True, text=True, env=env,
                                  timeout=120)  # again, now that every claim is made
        assert len(claimed) == 180 and len(set(claimed)) == 180  # never the same service twice
        assert {u.service for u in Ledger(path).entries()} == set(claimed)  # nothing of a live run was freed
    finally:
        for p in claimers:
            p.stdin.close()
            p.wait(30)
    assert len(Ledger(path).release_used(None).released) == 180 and Ledger(path).entries() == []


def test_a_run_says_up_front_how_many_services_it_may_cease_and_never_ceases_more(tmp_path, start_sandbox, capsys) -> None:
    """Against the real sandbox: the preamble names the most the run may cease (what it claimed); the
    sandbox's own store shows no more ceased; the ledger keeps exactly what was ceased, with the command,
    and no run in progress once it has ended."""
    import io
    import re

    from fibrecert.runner import RunOptions, run

    sb = start_sandbox()
    target = sb.write_target(tmp_path / "t.toml", services=36)  # the smoke profile starts with at least 30
    listed = json.loads("[" + target.read_text().split("active_services = [")[1].split("]")[0] + "]")
    out, err = io.StringIO(), io.StringIO()
    code = run(RunOptions(target=str(target), api="ala", profile="smoke", seed=5, report_dir=str(tmp_path / "r")),
               out=out, err=err)
    assert code == 0, out.getvalue() + err.getvalue()
    said = re.search(r"test data: 36 of the target file's 36 active_services are unused \(ledger t\.ledger\.json\); "
                     r"this run ceases at most (\d+) ", out.getvalue())
    assert said, out.getvalue()
    at_most = int(said.group(1))
    assert 0 < at_most <= 36  # what it claimed: at most what the target file lists
    ceased_on_target = set(listed) - set(sb.store.active_services("SPDEV1"))
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    ceased = data["test_data"]["active_services_ceased"]
    assert 0 < len(ceased_on_target) <= at_most and ceased_on_target <= set(ceased) and len(ceased) <= at_most
    ledger = Ledger.for_target(target)
    assert sorted(u.service for u in ledger.entries()) == sorted(ceased) and ledger.running() == []
    assert {u.command for u in ledger.entries()} == {f"fibrecert run --profile smoke --seed 5 --api ala "
                                                     f"--report-dir {tmp_path / 'r'}"}
    code, shown, _ = _cli(capsys, str(target))
    assert code == 0 and f"{len(ceased)} services  fibrecert run --profile smoke --seed 5" in shown


def test_a_run_with_no_active_services_listed_stops_before_it_sends_anything(tmp_path, start_sandbox) -> None:
    """An [ala] section whose active_services is empty: the ledger says how few there are and the run
    exits 2 at the start, sending nothing (not an INCOMPLETE run with every cease left not_tested)."""
    import io

    from fibrecert.runner import RunOptions, run

    sb = start_sandbox()
    target = sb.write_target(tmp_path / "t.toml", services=36)
    text = target.read_text()
    start = text.index("active_services = [")
    target.write_text(text[:start] + "active_services = []" + text[text.index("]", start) + 1:])
    before = sb.store.active_services("SPDEV1")
    out, err = io.StringIO(), io.StringIO()
    code = run(RunOptions(target=str(target), api="ala", profile="smoke", seed=5, report_dir=str(tmp_path / "r")),
               out=out, err=err)
    assert code == 2, out.getvalue() + err.getvalue()
    assert "only 0 of the 0 active_services are unused" in err.getvalue(), err.getvalue()
    assert sb.store.active_services("SPDEV1") == before


def test_the_pool_of_a_run_never_hands_out_more_than_it_was_given() -> None:
    from fibrecert.engine import OutOfTestData, ServicePool

    pool = ServicePool(SERVICES[:3])
    taken = [pool.take() for _ in range(3)]
    pool.release(taken[1])  # refused by the target: still active, may be used again
    assert pool.take() == taken[1]
    with pytest.raises(OutOfTestData):
        pool.take()
    assert sorted(pool.consumed) == sorted(SERVICES[:3])


def test_release_all_during_a_replay_that_ceases_keeps_what_the_replay_claimed(tmp_path, start_sandbox) -> None:
    """Against the real sandbox: `replay --allow-cease` records itself as in progress when it claims the
    service it is about to cease; a `--release-all` while its ceaseOrder is on the wire (made by the
    sandbox's ALA server as the request arrives) keeps that service; once the replay has ended, it is
    no longer in progress."""
    import io

    from fibrecert.replay import replay
    from fibrecert.runner import RunOptions, run

    sb = start_sandbox()
    target = sb.write_target(tmp_path / "t.toml", services=36)
    out, err = io.StringIO(), io.StringIO()
    assert run(RunOptions(target=str(target), api="ala", profile="smoke", seed=5, report_dir=str(tmp_path / "r")),
               out=out, err=err) == 0, out.getvalue() + err.getvalue()
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    cease = next(x for x in data["exchanges"] if x["operation"] == "POST /ceaseOrder" and x["answer"] == 200
                 and "service" in x["case"].get("bindings", {}))
    ledger = Ledger.for_target(target)
    app = sb.servers[0].app
    during: dict[str, object] = {}

    def releasing(environ: dict, start_response):  # noqa: ANN001
        if environ["REQUEST_METHOD"] == "POST" and "running" not in during:
            during["running"] = [r.run for r in ledger.running()]
            during["released"] = ledger.release_used(None)
        return app(environ, start_response)

    sb.servers[0].app = releasing
    out, err = io.StringIO(), io.StringIO()
    code = replay(str(tmp_path / "r" / "results.json"), cease["id"], allow_cease=True, out=out, err=err)
    assert code == 0, out.getvalue() + err.getvalue()
    released = during["released"]
    replays = [r for r in during["running"] if r.startswith("replay-")]  # type: ignore[union-attr]
    assert len(replays) == 1, during
    assert [u.run for u in released.kept] == replays  # type: ignore[union-attr]
    assert not any(u.run == replays[0] for u in released.released)  # type: ignore[union-attr]
    ceased = released.kept[0].service  # type: ignore[union-attr]
    assert ceased not in sb.store.active_services("SPDEV1")  # it was ceased, and is still recorded as used
    assert [u.service for u in ledger.entries()] == [ceased] and ledger.running() == []


@pytest.mark.parametrize("entry, what", [
    ({"pid": 2**70}, "pid is not a process id"),
    ({"pid": 0}, "pid is not a process id"),
    ({"since": "yesterday"}, "since is not a UTC time"),
])
def test_a_running_entry_with_an_impossible_pid_or_time_is_a_corrupt_ledger(tmp_path, capsys, entry, what) -> None:
    """Never a traceback (os.kill on a pid past pid_t overflows), never an entry that counts as over
    because its time cannot be read: the ledger is refused in one line, exit 2, nothing released."""
    target = _target(tmp_path, SERVICES)
    ledger = Ledger.for_target(target)
    ledger.claim_at_least("live", SERVICES, 3, 3, running=True)
    data = json.loads(ledger.path.read_text())
    data["running"][0].update(entry)
    ledger.path.write_text(json.dumps(data))
    for args in ((), ("--release-all",)):
        code, out, err = _cli(capsys, str(target), *args)
        assert code == 2 and out == "" and what in err and len(err.strip().splitlines()) == 1, err
    assert sorted(json.loads(ledger.path.read_text())["used"], key=str) == sorted(data["used"], key=str)


def test_a_running_entry_whose_time_cannot_be_read_counts_as_in_progress() -> None:
    from fibrecert.ledger import Running

    assert Running("r", 4711, "elsewhere", "not a time").in_progress()
    assert Running("r", 2**70, __import__("socket").gethostname(), "2999-01-01T00:00:00Z").in_progress()
