"""`fibrecert run`: certify a target (or the embedded sandbox): load the target once, make the engine,
hand it to pytest (which collects and selects the suites), then print the verdict and return its exit
code. Terminal progress and the NDJSON event log are handlers over the engine's events.

Interruption: the first Ctrl-C (or SIGTERM) stops sending, lets the tests in flight end, and still writes
the report, marked INCOMPLETE ("interrupted"); a second one stops at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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
    verbose: bool = False
    defects: tuple[str, ...] = ()  # embedded sandbox only (self-tests)
    events: str | None = None      # write the run's events here as NDJSON (one JSON object a line)
    concurrency: int | None = None
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    sign: str | None = None        # a private key file, or env:VAR: sign the report (certificate.json)


def terminal_safe(text: str, limit: int = 300) -> str:
    """Text that came from the target, made safe for a terminal: control characters (escape sequences
    included) are shown as escapes, never interpreted, and the line is kept short."""
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


class EventLog:
    """Every event of the run, time-stamped, as NDJSON (secrets redacted): another handler over the stream."""

    def __init__(self, path: Path, secrets: Any):
        import json

        self._json, self.secrets = json, secrets
        self.started = time.monotonic()
        self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def __call__(self, event: Any) -> None:
        from fibrecert.redaction import redact

        record: dict[str, Any] = {"t": round(time.monotonic() - self.started, 4), "type": event.type}
        if event.type == "exchange":
            ex = event.exchange
            record.update({"id": ex.id, "api": ex.api, "operation": ex.operation, "identity": str(ex.identity),
                           "test": getattr(ex.case, "test", ""), "answer": ex.status if ex.error is None else ex.error,
                           "elapsed_ms": round(ex.elapsed * 1000, 1)})
        elif event.type == "check":
            record.update({"requirement": event.requirement, "exchange": event.exchange.id, "check": event.check,
                           "passed": event.passed, "exercised": event.exercised, "test": event.test})
            if event.exercised and not event.passed:
                record.update({"observed": event.observed, "declared": event.declared})
        else:
            record.update({k: v for k, v in vars(event).items() if k != "type"})
        self.fh.write(self._json.dumps(redact(record, self.secrets), default=str) + "\n")

    def close(self) -> None:
        self.fh.close()


def _select(only: tuple[str, ...], skip: tuple[str, ...], apis: tuple[str, ...]) -> tuple[set[str] | None, str]:
    from fnmatch import fnmatchcase

    from fibrecert import contracts

    ids = [r.id for r in contracts.requirements().values() if r.api in apis]
    if not only and not skip:
        return None, ""
    chosen = set(ids)
    if only:
        chosen = set()
        for pattern in only:
            hit = {i for i in ids if fnmatchcase(i, pattern)}
            if not hit:
                raise TargetError(f"--only {pattern}: matches no requirement (see fibrecert requirements)")
            chosen |= hit
    for pattern in skip:
        hit = {i for i in ids if fnmatchcase(i, pattern)}
        if not hit:
            raise TargetError(f"--skip {pattern}: matches no requirement (see fibrecert requirements)")
        chosen -= hit
    text = " ".join([*(f"--only {p}" for p in only), *(f"--skip {p}" for p in skip)])
    return chosen, f"{text}: {len(chosen)} of {len(ids)} requirements"


class _Interrupts:
    """First Ctrl-C / SIGTERM: stop sending and finish the report. Second: stop at once."""

    def __init__(self, err: TextIO):
        self.err = err
        self.engine: Any = None
        self.count = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Interrupts":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            self.err.write("\nfibrecert: stopped at once (second interrupt); the report was not finished\n")
            self.err.flush()
            os._exit(130)
        self.err.write("\nfibrecert: interrupted: finishing the report of what was observed "
                       "(Ctrl-C again stops at once)\n")
        self.err.flush()
        if self.engine is not None:
            self.engine.interrupt()
        raise KeyboardInterrupt


class _ResultCatcher:
    def __init__(self) -> None:
        self.result: Any = None

    def pytest_sessionfinish(self, session: Any) -> None:
        from fibrecert.suites.plugin import RESULT_KEY

        self.result = session.config.stash.get(RESULT_KEY, None)


def run(opts: RunOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    import pytest

    from fibrecert.engine import DEFAULT_CONCURRENCY, Engine
    from fibrecert.progress import Progress
    from fibrecert.suites.plugin import EngineAdapter

    sandbox = None
    engine = None
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-"))
    interrupts = _Interrupts(err)
    try:
        with interrupts:
            if opts.target:
                try:
                    target = load_target(opts.target)
                except TargetError as exc:
                    err.write(f"fibrecert: {exc}\n")
                    return 2
                if opts.api != "all" and opts.api not in target.apis:
                    err.write(f"fibrecert: {opts.target}: has no [{opts.api}] section to test (--api {opts.api})\n")
                    return 2
            else:
                from fibrecert import embedded

                try:
                    sandbox = embedded.start(workdir / "sandbox", workdir / "target.toml", defects=opts.defects)
                except ValueError as exc:
                    err.write(f"fibrecert: {exc}\n")
                    return 2
                except OSError as exc:
                    err.write(f"fibrecert: cannot start the embedded sandbox: {exc}\n")
                    return 2
                target = load_target(sandbox.target_file)
            apis = tuple(a for a in target.apis if opts.api in ("all", a))
            try:
                selection, selection_text = _select(opts.only, opts.skip, apis)
            except TargetError as exc:
                err.write(f"fibrecert: {exc}\n")
                return 2
            signing_key = None
            if opts.sign:
                from fibrecert import signing

                try:  # before any request: a bad key is a configuration error
                    signing_key = signing.load_private_key(opts.sign)
                except signing.SigningError as exc:
                    err.write(f"fibrecert: --sign: {exc}\n")
                    return 2
            report_dir = Path(opts.report_dir)
            try:
                report_dir.mkdir(parents=True, exist_ok=True)
                probe = report_dir / ".fibrecert-write-test"
                probe.write_text("")
                probe.unlink()
            except OSError as exc:
                err.write(f"fibrecert: --report-dir {report_dir}: cannot write there ({exc.strerror})\n")
                return 2
            engine = Engine(target, profile=opts.profile, seed=opts.seed, apis=apis, max_rps=opts.max_rps,
                            concurrency=opts.concurrency or DEFAULT_CONCURRENCY, selection=selection,
                            selection_text=selection_text, report_dir=report_dir)
            interrupts.engine = engine
            if signing_key is not None:
                engine.signature = {"fingerprint": signing.fingerprint(signing_key), "algorithm": "Ed25519 (JWS EdDSA)"}
            progress = Progress(out, quiet=opts.quiet, verbose=opts.verbose)
            engine.bus.subscribe(progress)
            events = EventLog(Path(opts.events), engine.secrets) if opts.events else None
            if events:
                engine.bus.subscribe(events)
            if not opts.quiet:
                where = (f"embedded reference sandbox (ALA {sandbox.ala_url}, Fibre Cafe {sandbox.fibrecafe_url})"
                         if sandbox else str(opts.target))
                out.write(f"fibrecert run: profile {opts.profile}, seed {engine.seed}, concurrency "
                          f"{engine.concurrency}, target {where}\n")
                if selection_text:
                    out.write(f"  selection: {selection_text} (a subset is never CONFORMANT)\n")
                out.flush()
            ini = workdir / "pytest.ini"
            ini.write_text("[pytest]\n")
            suites = _suites_dir()
            args = [str(suites), "-c", str(ini), "--rootdir", str(suites), "-p", "no:cacheprovider",
                    "-p", "no:terminal", "-p", "no:randomly", "-p", "no:xdist", "-p", "no:unraisableexception",
                    "-p", "no:threadexception", "-p", "no:faulthandler", "--capture=no", "--assert=plain",
                    "-W", "ignore::DeprecationWarning", "-W", "ignore::pytest.PytestUnraisableExceptionWarning"]
            catcher = _ResultCatcher()
            started = time.monotonic()
            try:
                code = pytest.main(args, plugins=[EngineAdapter(engine, report_dir), catcher])
            except KeyboardInterrupt:
                code = pytest.ExitCode.INTERRUPTED
            finally:
                if events:
                    events.close()
            result = catcher.result
            if result is None:
                err.write(f"fibrecert: the run did not complete (pytest exit {int(code)}); no report was written\n")
                return 2 if int(code) == 4 else 3
            if signing_key is not None:
                import json

                written = json.loads((report_dir / "results.json").read_text(encoding="utf-8"))
                certificate = signing.sign_report(report_dir, signing_key, facts=signing.facts_from_results(
                    written, engine.server_certificates))
                if not opts.quiet:
                    out.write(f"Signed: {certificate} (key {engine.signature['fingerprint']})\n")
            progress.summary(result, report_dir, time.monotonic() - started)
            return result.exit_code
    finally:
        if engine is not None:
            engine.close()
        if sandbox is not None:
            sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
