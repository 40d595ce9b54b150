"""Results survive interruption, and nothing is left behind (issue 11): Ctrl-C or SIGTERM during a run
still writes a report marked INCOMPLETE with what was observed, a second Ctrl-C stops at once, a crash in
one test leaves the others' results and a report, report files are written atomically, and no temporary
folder of fibrecert's (they hold generated private keys) remains after run, replay or report."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from helpers import REPO, fibrecert, pytest_suites, results

pytestmark = pytest.mark.slow


def _start(args: list[str], tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, "-m", "fibrecert", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(REPO), env=env)


def _wait_for_requests(report_events: Path, at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if report_events.exists() and report_events.read_text().count('"type": "exchange"') >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError("the run sent nothing")


def _children(pid: int) -> list[int]:
    """The processes `pid` started (the forked embedded sandbox), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if Path(f"/proc/{p}").exists()
                 and (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")]
    return alive


def _assert_valid_incomplete_report(report: Path) -> dict:
    data = results(report)
    ET.parse(report / "junit.xml")
    assert "INCOMPLETE" in (report / "index.html").read_text()
    assert data["verdict"] == "INCOMPLETE" and data["interrupted"] is True
    assert data["exchanges"], "what was observed before the interruption is in the report"
    assert not [p for p in report.iterdir() if p.name.startswith(".")], "a temporary file was left in the report folder"
    return data


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_still_writes_an_incomplete_report(tmp_path, sig):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    report, events = tmp_path / "r", tmp_path / "events.ndjson"
    proc = _start(["run", "--profile", "full", "--report-dir", str(report), "--seed", "1", "--quiet",
                   "--events", str(events)], tmp)
    try:
        _wait_for_requests(events, 20)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    assert "Traceback" not in out + err
    assert "interrupted" in err
    data = _assert_valid_incomplete_report(report)
    assert any("interrupted" in r for r in [*data["stopped_early"], "the run was interrupted"])
    assert not list(tmp.iterdir()), f"left behind: {list(tmp.iterdir())}"


def test_a_second_ctrl_c_stops_at_once(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    report, events = tmp_path / "r", tmp_path / "events.ndjson"
    proc = _start(["run", "--profile", "full", "--report-dir", str(report), "--seed", "1", "--quiet",
                   "--events", str(events)], tmp)
    sandbox: list[int] = []
    try:
        _wait_for_requests(events, 20)
        sandbox = _children(proc.pid)
        # Freeze the sandbox so the requests in flight wait (up to the target's timeout): the first
        # Ctrl-C's orderly finish then cannot be over before the second arrives (unfrozen, it can take
        # under 50 ms, and the second Ctrl-C would find the run already ended).
        for pid in sandbox:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(0.3)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr], daemon=True).start()
        proc.send_signal(signal.SIGINT)
        # The second Ctrl-C only once the run has taken the first (two signals that arrive before the
        # interpreter looks are one: on a loaded machine a fixed pause is not enough to tell them apart).
        deadline = time.monotonic() + 30
        while "interrupted: finishing the report" not in lines.get(timeout=max(0.1, deadline - time.monotonic())):
            pass
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        stopped_in = time.monotonic() - started
    finally:
        for pid in sandbox:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    # at once: the orderly finish would wait for the frozen sandbox's answers (the target's timeout) and
    # then for the sandbox to stop; a bound well below that, generous for a loaded machine
    assert stopped_in < 4.0
    assert sandbox, "the embedded sandbox runs in a child process"
    assert not _gone_within(sandbox, 10), "the embedded sandbox outlived the run"
    # the folders with the sandbox's client secrets and the untrusted CA's key went too (issue 18)
    assert not [p for p in tmp.iterdir() if p.name.startswith("fibrecert-")], list(tmp.iterdir())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_run_leaves_no_sandbox_behind(tmp_path):
    """SIGKILL gives the run no chance to stop its sandbox: the sandbox notices the run is gone."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    events = tmp_path / "events.ndjson"
    proc = _start(["run", "--profile", "full", "--report-dir", str(tmp_path / "r"), "--seed", "1", "--quiet",
                   "--events", str(events)], tmp)
    try:
        _wait_for_requests(events, 5)
        sandbox = _children(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sandbox, "the embedded sandbox runs in a child process"
    leftover = _gone_within(sandbox, 10)
    for pid in leftover:
        os.kill(pid, signal.SIGKILL)
    assert not leftover, "the embedded sandbox outlived a killed run"


def test_report_files_are_replaced_atomically(tmp_path, monkeypatch):
    """A writer that fails half way leaves the previous file whole, and no temporary file behind."""
    from fibrecert.reports import writers

    (tmp_path / "results.json").write_text('{"old": true}')
    real = os.replace

    def failing(src, dst):  # noqa: ANN001
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        writers.atomic_write(tmp_path / "results.json", "x" * 100_000)
    monkeypatch.setattr(os, "replace", real)
    assert json.loads((tmp_path / "results.json").read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


CRASH_PLUGIN = '''
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if item.name == "test_token_endpoint_issues_a_bearer_token_to_a_known_tenant":
            def crash(*args, **kwargs):
                raise ZeroDivisionError("a bug inside one test")
            item.obj = crash
'''


def test_a_crash_inside_one_test_leaves_a_report_with_everything_else(tmp_path, start_sandbox):
    sb = start_sandbox()
    target = sb.write_target(tmp_path / "t.toml")
    (tmp_path / "crash_plugin.py").write_text(CRASH_PLUGIN)
    import fibrecert.suites as suites

    done = pytest_suites(str(Path(suites.__file__).parent), "--target", str(target), "--fibrecert-profile", "smoke",
                         "--fibrecert-api", "fibrecafe", "-p", "crash_plugin", "--report-dir", str(tmp_path / "r"),
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]  # pytest: one test errored
    data = results(tmp_path / "r")
    by_id = {r["id"]: r for r in data["requirements"]}
    assert by_id["FC-AUTH-001"]["outcome"] == "not_tested"
    assert "ZeroDivisionError" in by_id["FC-AUTH-001"]["reason"]
    assert data["verdict"] == "INCOMPLETE"
    assert sum(r["outcome"] == "pass" for r in data["requirements"]) > 20  # the other tests' results are all there


def test_no_temporary_folder_remains_after_run_replay_or_report(tmp_path, start_sandbox):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    sb = start_sandbox(defects=("fc-double-cancel",))
    target = sb.write_target(tmp_path / "t.toml")
    done = fibrecert("run", "--target", str(target), "--profile", "smoke", "--quiet", "--report-dir",
                     str(tmp_path / "r"), env=env)  # a failed run (NON_CONFORMANT), with ALA's untrusted-CA key made
    assert done.returncode == 1, done.stdout + done.stderr
    assert not list(tmp.iterdir()), list(tmp.iterdir())
    ok = fibrecert("run", "--profile", "smoke", "--api", "ala", "--quiet", "--report-dir", str(tmp_path / "e"), env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr  # a finished run of the embedded sandbox
    assert not list(tmp.iterdir()), list(tmp.iterdir())
    exchange = results(tmp_path / "r")["exchanges"][0]["id"]
    fibrecert("replay", str(tmp_path / "r" / "results.json"), exchange, env=env)
    assert not list(tmp.iterdir()), list(tmp.iterdir())
    fibrecert("report", str(tmp_path / "r" / "results.json"), "-o", str(tmp_path / "again"), env=env)
    assert not list(tmp.iterdir()), list(tmp.iterdir())
