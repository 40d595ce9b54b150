"""`fibrecert run`: certify a target (or the embedded sandbox) by running the suites under pytest,
then print the verdict and return its exit code. Progress is one listener over the run's events."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pytest

from fibrecert.target import TargetError, load_target



def _suites_dir() -> Path:
    import fibrecert.suites

    return Path(fibrecert.suites.__file__).resolve().parent


@dataclass
class RunOptions:
    target: str | None = None
    api: str = "all"
    profile: str = "standard"
    report_dir: str = "reports/latest"
    seed: int | None = None
    max_rps: float | None = None
    quiet: bool = False
    defects: tuple[str, ...] = ()  # embedded sandbox only (self-tests)
    events: str | None = None      # write the run's events here as NDJSON (one JSON object a line)


class Progress:
    """Prints one line per finished test: API, operations touched, tests done, requests, failures."""

    def __init__(self, out: TextIO, quiet: bool):
        self.out, self.quiet = out, quiet
        self.total = 0
        self.done = 0
        self.failures = 0
        self.sent = 0
        self.ops: set[str] = set()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "exchange":
            self.ops.add(event["operation"])
            self.sent = event["sent"]
        elif kind == "check" and not event["passed"]:
            self.failures += 1
        elif kind == "test_start":
            self.ops = set()
        elif kind == "test_end":
            self.done += 1
            if not self.quiet:
                ops = ", ".join(sorted(self.ops)) or "-"
                name = event["test"].split("::")[-1].removeprefix("test_").replace("_", " ")
                self.out.write(f"[{self.done:>3}/{self.total}] {event['api']:<9} {ops:<44.44} "
                               f"requests {self.sent:>5}  failures {self.failures:>3}  {name[:60]}\n")
                self.out.flush()


def terminal_safe(text: str, limit: int = 300) -> str:
    """Text that came from the target, made safe for a terminal: control characters (escape
    sequences included) are shown as escapes, never interpreted, and the line is kept short."""
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


class EventLog:
    """Every event of the run, time-stamped, as NDJSON: another handler over the same stream."""

    def __init__(self, path: Path):
        import json

        self._json = json
        self.started = time.monotonic()
        self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def __call__(self, event: dict[str, Any]) -> None:
        self.fh.write(self._json.dumps({"t": round(time.monotonic() - self.started, 4), **event}) + "\n")

    def close(self) -> None:
        self.fh.close()


class _RunnerPlugin:
    def __init__(self, progress: Progress, extra: list[Any] | None = None):
        self.progress = progress
        self.extra = extra or []
        self.result: Any = None

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        from fibrecert.suites.plugin import CTX_KEY

        ctx = config.stash.get(CTX_KEY, None)
        if ctx is not None:
            ctx.recorder.listeners.append(self.progress)
            ctx.recorder.listeners.extend(self.extra)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.total = len(session.items)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from fibrecert.suites.plugin import RESULT_KEY

        self.result = session.config.stash.get(RESULT_KEY, None)


def run(opts: RunOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    sandbox = None
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-"))
    try:
        if opts.target:
            try:
                target = load_target(opts.target)
            except TargetError as exc:
                err.write(f"fibrecert: {exc}\n")
                return 2
            target_file = Path(opts.target)
            if opts.api != "all" and opts.api not in target.apis:
                err.write(f"fibrecert: {target_file}: has no [{opts.api}] section to test (--api {opts.api})\n")
                return 2
        else:
            from fibrecert.sandbox import Sandbox

            try:
                sandbox = Sandbox(workdir / "sandbox", defects=opts.defects).start()
            except ValueError as exc:
                err.write(f"fibrecert: {exc}\n")
                return 2
            target_file = sandbox.write_target(workdir / "target.toml")
            if not opts.quiet:
                out.write(f"Embedded reference sandbox: ALA {sandbox.ala_url} (buyer {sandbox.ala_buyer_url}), "
                          f"Fibre Cafe {sandbox.fibrecafe_url}\n")
        report_dir = Path(opts.report_dir)
        try:
            report_dir.mkdir(parents=True, exist_ok=True)
            probe = report_dir / ".fibrecert-write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            err.write(f"fibrecert: --report-dir {report_dir}: cannot write there ({exc.strerror})\n")
            return 2
        seed = opts.seed if opts.seed is not None else int.from_bytes(os.urandom(3), "big")
        ini = workdir / "pytest.ini"
        ini.write_text("[pytest]\n")
        suites = _suites_dir()
        args = [str(suites), "-c", str(ini), "--rootdir", str(suites), "-p", "no:cacheprovider",
                "-p", "no:terminal", "-p", "no:randomly", "-p", "no:xdist", "--capture=no",
                "-W", "ignore::DeprecationWarning", "-W", "ignore::pytest.PytestUnraisableExceptionWarning",
                "--target", str(target_file), "--fibrecert-profile", opts.profile,
                "--fibrecert-seed", str(seed), "--fibrecert-api", opts.api, "--report-dir", str(report_dir)]
        if opts.max_rps:
            args += ["--max-rps", str(opts.max_rps)]
        progress = Progress(out, opts.quiet)
        events = EventLog(Path(opts.events)) if opts.events else None
        plugin = _RunnerPlugin(progress, [events] if events else [])
        if not opts.quiet:
            out.write(f"fibrecert run: profile {opts.profile}, seed {seed}, target {'embedded sandbox' if sandbox else target_file}\n")
        started = time.monotonic()
        try:
            code = pytest.main(args, plugins=[plugin])
        finally:
            if events:
                events.close()
        result = plugin.result
        if result is None:
            err.write(f"fibrecert: the run did not complete (pytest exit {int(code)}); no report was written\n")
            return 2 if int(code) == 4 else 3
        counts = result.counts()
        out.write(f"{result.verdict}: " + ", ".join(f"{counts[o]} {o}" for o in counts) +
                  f" ({len(result.requirements)} requirements, {result.requests_sent} requests, "
                  f"{time.monotonic() - started:.1f} s, seed {seed})\n")
        for reason in result.stopped_early:
            out.write(f"  stopped early: {terminal_safe(reason)}\n")
        for r in result.requirements:
            if r.outcome in ("fail", "warn", "not_tested"):
                detail = r.evidence[0]["observed"] if r.evidence else r.reason
                out.write(f"  {r.outcome:<10} {r.id:<14} {terminal_safe(detail)}\n")
        out.write(f"Report: {report_dir / 'index.html'} (also results.json, junit.xml)\n")
        return result.exit_code
    finally:
        if sandbox is not None:
            sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
