"""`fibrecert run`: certify a target (or the embedded sandbox): load the target once, make the engine,
hand it to pytest (which collects and selects the suites), then print the verdict and return its exit
code. Terminal progress, the NDJSON event log and the report (reports/build.py: built and written when
the run's `RunEnding` event comes) are handlers over the engine's events.

Interruption: the first Ctrl-C (or SIGTERM) stops sending, lets the tests in flight end, and still writes
the report, marked INCOMPLETE ("interrupted"); a second one stops at once.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from fibrecert.apis import dialect
from fibrecert.core.profile import Profile
from fibrecert.target import TargetError, load_target
from fibrecert.wording import shown_path, terminal_safe


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
    expect: str | None = None      # known deviations: the exit code gates on regressions only


def _safe_lines(message: object) -> str:
    """An error message for the terminal: each of its lines made terminal_safe (a message may be several
    lines on purpose; a value quoted in it never adds lines or escape sequences)."""
    return "\n".join(terminal_safe(line, 500) for line in str(message).splitlines() or [""])


class EventLog:
    """Every event of the run, time-stamped, as NDJSON: another handler over the stream, subscribed as
    one that takes events out of memory (the bus hands it events with their secrets redacted)."""

    def __init__(self, path: Path):
        import json

        self._json = json
        self.started, self.started_unix = time.monotonic(), time.time()
        self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def __call__(self, event: Any) -> None:
        from fibrecert.core.events import CheckDone, ExchangeDone, RunStarted

        record: dict[str, Any] = {"t": round(time.monotonic() - self.started, 4), "type": event.type}
        if isinstance(event, ExchangeDone):
            ex = event.exchange
            record.update({"id": ex.id, "api": ex.api, "operation": ex.operation, "identity": str(ex.identity),
                           "test": ex.case.test, "answer": ex.status if ex.error is None else ex.error,
                           "elapsed_ms": round(ex.elapsed * 1000, 1)})
        elif isinstance(event, CheckDone):
            record.update({"requirement": event.requirement, "exchange": event.exchange.id, "check": event.check,
                           "passed": event.passed, "exercised": event.exercised, "test": event.test})
            if event.exercised and not event.passed:
                record.update({"observed": event.observed, "declared": event.declared})
            if event.note:  # the trigger narrowing named (fibrecert/narrowing.py)
                record["note"] = event.note
        else:
            # a record an event carries (RunEnding's facts) as a JSON object
            record.update({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
                           for k, v in vars(event).items() if k != "type"})
            if isinstance(event, RunStarted):  # what "t" counts from, as Unix time
                record["t0_unix"] = round(self.started_unix, 4)
        self.fh.write(self._json.dumps(record, default=str) + "\n")

    def close(self) -> None:
        self.fh.close()


class _Interrupts:
    """First Ctrl-C / SIGTERM: stop sending and finish the report. Second: stop at once."""

    def __init__(self, err: TextIO):
        self.err = err
        self.engine: Any = None
        self.folders: list[Path] = []  # removed even by a second interrupt (they hold secrets)
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
            for folder in [*self.folders, *([self.engine.workdir] if self.engine is not None else [])]:
                shutil.rmtree(folder, ignore_errors=True)
            os._exit(130)
        self.err.write("\nfibrecert: interrupted: finishing the report of what was observed "
                       "(Ctrl-C again stops at once)\n")
        self.err.flush()
        if self.engine is not None:
            self.engine.interrupt()
        raise KeyboardInterrupt


def _claim_services(ledger: Any, engine: Any, target: Any, profile: Profile, out: TextIO, *, quiet: bool,
                    command: str = "") -> list[str]:
    """Take the services this run may cease from the ledger (so a crash never leaves a ceased service
    looking fresh, and two runs at once never share one), say how many remain, refuse too few."""
    from fibrecert.core.testdata import ServicePool

    listed = [s for api in engine.apis for s in dialect(api).active_services(target)]
    needed = profile.services_needed  # what the profile ceases and a third more (fibrecert/core/profile.py)
    # one step under the ledger's lock: check that `needed` remain and take them (two runs starting
    # together can never both pass the check and then share, or run short of, the services)
    claimed, remaining = ledger.claim_at_least(engine.run_tag, listed, needed, needed * 3 // 2, profile=profile.name,
                                               command=command, running=True)
    engine.services = ServicePool(claimed)  # the ALA client reads the engine's pool
    if not quiet:
        # the pool holds exactly what was claimed: the run can never cease more (engine.ServicePool)
        out.write(f"  test data: {remaining} of the target file's {len(listed)} active_services are unused "
                  f"(ledger {ledger.path.name}); this run ceases at most {len(claimed)} (claimed now; the "
                  f"{profile.name} profile ceases about {profile.services_ceased}; what it does not cease is given "
                  f"back at the end)\n")
    return claimed


def _command(opts: RunOptions, seed: int) -> str:
    """What the ledger records as having used a run's services: the run's command, in short."""
    parts = ["fibrecert run", f"--profile {opts.profile}", f"--seed {seed}"]
    if opts.api != "all":
        parts.append(f"--api {opts.api}")
    if opts.only or opts.skip:
        parts.append("(a subset)")
    parts.append(f"--report-dir {opts.report_dir}")
    return " ".join(parts)


def _settle_services(ledger: Any, engine: Any) -> None:
    """Give back the claimed services the run did not cease (finished, failed or interrupted)."""
    unused = engine.services.unused()
    try:
        ledger.settle(engine.run_tag, unused)
    except Exception as exc:  # noqa: BLE001 - never lose the report over the ledger
        sys.stderr.write(f"fibrecert: the ledger was not updated: {exc}\n")


def _fingerprints(target: Any, findings: list[Any]) -> dict[str, str]:
    """API -> "SHA256:<hex>" of the server certificate preflight saw at its base URL."""
    out = {}
    for f in findings:
        if f.server_cert_sha256 and f.key == "base_url" and f.api not in out:
            out[f.api] = "SHA256:" + f.server_cert_sha256.lower()
    return out


def _preflight_failed(engine: Any, failed: list[Any], report_dir: Path, out: TextIO, err: TextIO, ledger: Any) -> int:
    """One line per failing endpoint (cause and fix), a report saying the same (INCOMPLETE), and exit 5:
    nothing was tested (not 3, which says the suites ran but something was left untested)."""
    from fibrecert import contracts
    from fibrecert.cli_help import EXIT_NOTHING_TESTED
    from fibrecert.reports.build import ReportHandler

    broken = {f.api for f in failed}
    for f in failed:
        err.write(f"fibrecert: preflight: {terminal_safe(f.line(), 500)}\n")
        engine.stop_early(f"preflight: {f.line()}")
    for rid in engine.requirement_ids():
        if contracts.requirements()[rid].api in broken:
            engine.mark(rid, "not_tested", "preflight failed: " + "; ".join(f.line() for f in failed
                                                                              if f.api == contracts.requirements()[rid].api))
    report = ReportHandler(engine.results, engine.secrets, report_dir)
    engine.bus.subscribe(report)
    engine.start(0)
    engine.end()  # RunEnding: the report handler builds the result and writes the report
    result = report.result
    engine.finish(result)
    out.write(f"Report: {shown_path(report_dir)}/index.html (also results.json, junit.xml)\n")
    out.write(f"{result.verdict}: the target failed the preflight; nothing was tested "
              f"(exit {EXIT_NOTHING_TESTED})\n")
    return EXIT_NOTHING_TESTED


class _ResultCatcher:
    def __init__(self) -> None:
        self.result: Any = None

    def pytest_sessionfinish(self, session: Any) -> None:
        from fibrecert.suites.plugin import RESULT_KEY

        self.result = session.config.stash.get(RESULT_KEY, None)


def run(opts: RunOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    import pytest

    out, err = out or sys.stdout, err or sys.stderr  # read now: the streams may have been replaced

    from fibrecert.engine import DEFAULT_CONCURRENCY, Engine
    from fibrecert.progress import Progress
    from fibrecert.suites.plugin import EngineAdapter

    sandbox = None
    engine = None
    ledger = None
    events = None
    from fibrecert.safefiles import private_tempdir

    workdir = private_tempdir("fibrecert-")  # 0700; the embedded sandbox's secrets: removed in finally
    interrupts = _Interrupts(err)
    interrupts.folders.append(workdir)
    try:
        with interrupts:
            if opts.target:
                try:
                    target = load_target(opts.target)
                except TargetError as exc:
                    err.write(f"fibrecert: {_safe_lines(exc)}\n")
                    return 2
                from fibrecert.endpoints import EndpointError, check_target

                try:  # every URL requests will go to: a usable port, no user info (docs/security.md)
                    check_target(target)
                except EndpointError as exc:
                    err.write(f"fibrecert: {_safe_lines(f'{target.path}: {exc}')}\n")
                    return 2
                if opts.api != "all" and opts.api not in target.apis:
                    err.write(f"fibrecert: {opts.target}: has no [{opts.api}] section to test (--api {opts.api})\n")
                    return 2
            else:
                from fibrecert import contracts, embedded

                contracts.ala_schema()  # loaded once, before the fork: the sandbox inherits it, the run needs it too

                try:
                    sandbox = embedded.start(workdir / "sandbox", workdir / "target.toml", defects=opts.defects)
                except ValueError as exc:
                    err.write(f"fibrecert: {_safe_lines(exc)}\n")
                    return 2
                except OSError as exc:
                    err.write(f"fibrecert: cannot start the embedded sandbox: {exc}\n")
                    return 2
                target = load_target(sandbox.target_file)
            apis = tuple(a for a in target.apis if opts.api in ("all", a))
            from fibrecert import contracts
            from fibrecert.selection import SelectionError, select

            try:
                chosen = select([r.id for r in contracts.requirements().values() if r.api in apis],
                                opts.only, opts.skip)
            except SelectionError as exc:
                err.write(f"fibrecert: {_safe_lines(exc)}\n")
                return 2
            selection = set(chosen.ids) if chosen.is_subset else None
            selection_text = chosen.describe() if chosen.is_subset else ""
            deviations = None
            if opts.expect:
                from fibrecert.expect import ExpectError, load_expect

                try:
                    deviations = load_expect(opts.expect, known_ids=list(contracts.requirements()))
                except ExpectError as exc:
                    err.write(f"fibrecert: {_safe_lines(exc)}\n")
                    return 2
            signing_key = None
            if opts.sign:
                from fibrecert import signing

                try:  # before any request: a bad key is a configuration error
                    signing_key = signing.load_private_key(opts.sign)
                except signing.SigningError as exc:
                    err.write(f"fibrecert: --sign: {terminal_safe(str(exc), 500)}\n")
                    return 2
            if opts.events:  # opened before anything is sent: a path that cannot be written is a usage error
                try:
                    events = EventLog(Path(opts.events))
                except (OSError, ValueError) as exc:
                    err.write(f"fibrecert: --events {terminal_safe(opts.events, 200)}: cannot write there "
                              f"({getattr(exc, 'strerror', None) or exc})\n")
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
            engine.embedded = sandbox is not None
            # What results.json names for replay: the file as given (shown relative, never absolute);
            # none for the embedded sandbox's temporary one.
            engine.target_file = opts.target if opts.target else None
            if not opts.quiet:
                where = (f"embedded reference sandbox (ALA {sandbox.ala_url}, Fibre Cafe {sandbox.fibrecafe_url})"
                         if sandbox else shown_path(opts.target))
                out.write(f"fibrecert run: profile {opts.profile}, seed {engine.seed}, concurrency "
                          f"{engine.concurrency}, target {where}\n")
                if selection_text:
                    out.write(f"  selection: {selection_text} (a subset is never CONFORMANT)\n")
                from fibrecert.request_budget import budget_line

                budget = budget_line(opts.profile, apis, opts.max_rps, subset=bool(selection_text))
                if budget:
                    out.write(f"  {budget}\n")
                out.flush()
            interrupts.engine = engine
            ledger = None
            if opts.target and any(dialect(api).uses_test_data for api in apis):
                from fibrecert.ledger import Ledger, LedgerError

                try:
                    claiming = Ledger.for_target(opts.target)
                    _claim_services(claiming, engine, target, engine.profile, out, quiet=opts.quiet,
                                    command=_command(opts, engine.seed))
                    ledger = claiming  # settled at the end; a run that claimed nothing gives nothing back
                except LedgerError as exc:
                    err.write(f"fibrecert: {_safe_lines(exc)}\n")
                    return 2
            if signing_key is not None:
                engine.signature = {"fingerprint": signing.fingerprint(signing_key), "algorithm": "Ed25519 (JWS EdDSA)"}
            progress = Progress(out, quiet=opts.quiet, verbose=opts.verbose)
            if not opts.quiet:  # --quiet shows no progress: only the summary, from the result
                engine.bus.subscribe(progress, outside=True)
            if events:
                engine.bus.subscribe(events, outside=True)
            from fibrecert import preflight

            findings = preflight.probe(target, apis, timeout=min(5.0, max(target.sections[api].timeout for api in apis)))
            for api, fp in _fingerprints(target, findings).items():
                engine.server_certificates.setdefault(api, fp)
            failed = preflight.failures(findings)
            if failed:
                return _preflight_failed(engine, failed, report_dir, out, err, ledger)
            ini = workdir / "pytest.ini"
            ini.write_text("[pytest]\n")
            suites = _suites_dir()
            # Only the fibrecert plugin: no third-party plugin is looked up or loaded (PYTEST_DISABLE_PLUGIN_AUTOLOAD).
            args = [str(suites), "-c", str(ini), "--rootdir", str(suites), "-p", "fibrecert.suites.plugin",
                    "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:unraisableexception",
                    "-p", "no:threadexception", "-p", "no:faulthandler", "-p", "no:doctest", "-p", "no:junitxml",
                    "-p", "no:pastebin", "-p", "no:nose", "-p", "no:stepwise", "-p", "no:legacypath",
                    "--capture=no", "--assert=plain",
                    "-W", "ignore::DeprecationWarning", "-W", "ignore::pytest.PytestUnraisableExceptionWarning"]
            catcher = _ResultCatcher()
            started = time.monotonic()
            autoload = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
            try:
                code = pytest.main(args, plugins=[EngineAdapter(engine, report_dir), catcher])
            except KeyboardInterrupt:
                code = pytest.ExitCode.INTERRUPTED
            finally:
                if autoload is None:
                    os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
                else:
                    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = autoload
                if events:
                    events.close()
                    events = None
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
                    out.write(f"Signed: {shown_path(certificate)} (key {engine.signature['fingerprint']})\n")
            progress.summary(result, report_dir, time.monotonic() - started)
            if deviations is not None:
                import datetime as _dt

                from fibrecert.expect import gate

                outcome = gate({r.id: r.outcome for r in result.requirements}, result.verdict, deviations,
                               _dt.date.today(), incomplete=bool(result.incomplete_reasons) or any(
                                   r.outcome == "not_tested" and r.level == "MUST" for r in result.requirements),
                               profile=opts.profile)
                for notice in outcome.notices:
                    out.write(f"  expect: {terminal_safe(notice, 500)}\n")
                out.write(f"--expect {opts.expect}: exit {outcome.exit_code} "
                          f"({'a new fail' if outcome.new_fails else 'no new fail'}; "
                          f"the certification verdict stays {result.verdict})\n")
                return outcome.exit_code
            return result.exit_code
    finally:
        # The handlers stay in place through the clean-up: a Ctrl-C after an earlier one stops at once
        # (os._exit 130) even while the sandbox is being stopped (a frozen sandbox would hold its join).
        with interrupts:
            try:
                if events is not None:
                    events.close()
                if engine is not None:
                    if ledger is not None:
                        _settle_services(ledger, engine)
                    engine.close()
                if sandbox is not None:
                    sandbox.stop()
            finally:  # even when a late second Ctrl-C interrupts the steps above: the folder holds secrets
                if engine is not None:
                    shutil.rmtree(engine.workdir, ignore_errors=True)
                shutil.rmtree(workdir, ignore_errors=True)
