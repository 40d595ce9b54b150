"""The fibrecert pytest plugin: thin adapters between pytest and the run engine (options, fixtures,
requirement markers, the test loop, outcomes). `pytest suites --target FILE` and `fibrecert run` share it:
`fibrecert run` hands over an engine it made; plain pytest makes one from the options.

pytest collects and selects the tests (markers, -k, fixtures) and sets each one up; the engine runs their
bodies concurrently (`--concurrency`), each in a lane of its own, and every outcome is reported back to
pytest in collection order.
"""

from __future__ import annotations

import functools
import inspect
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest
from _pytest.runner import CallInfo, call_and_report

from fibrecert import contracts
from fibrecert.core.events import TestFinished, TestStarted
from fibrecert.core.exchange import Exchange, TargetUnreachable
from fibrecert.core.profile import DEFAULT_PROFILE, PROFILES, Profile, profiles_help
from fibrecert.engine import (DEFAULT_CONCURRENCY, Engine, NoExamples, OutOfTestData, RunInterrupted,
                              share_hypothesis_prng)
from fibrecert.target import TargetError, load_target


SUITES_DIR = Path(__file__).resolve().parent
ENGINE_KEY = pytest.StashKey[Engine]()
RESULT_KEY = pytest.StashKey[Any]()
REPORT_KEY = pytest.StashKey[Any]()  # the report handler on the engine's bus (reports/build.py)


class Verifier:
    """The `verify` fixture: run a check for a requirement the test declares, record its outcome."""

    def __init__(self, engine: Engine, nodeid: str, declared: tuple[str, ...]):
        self.engine, self.nodeid, self.declared = engine, nodeid, set(declared)
        self.must_failures: list[str] = []
        self.should_failures: list[str] = []
        self._lock = threading.Lock()

    def _own(self, requirement: str) -> None:
        if requirement not in self.declared:
            raise AssertionError(f"{self.nodeid} checks {requirement} but its requirement marker does not declare it")

    def __call__(self, requirement: str, exchanges: Exchange | list[Exchange], check: Callable[..., Any],
                 *args: Any) -> Any:
        exs = exchanges if isinstance(exchanges, list) else [exchanges]
        outcome = self.engine.run_check(check, exs, *args)
        self.record(requirement, exs, outcome)
        return outcome.value if outcome.passed else None

    def record(self, requirement: str, exchanges: list[Exchange], outcome: Any, *, featured: bool = False) -> None:
        self._own(requirement)
        self.engine.record(requirement, exchanges, outcome, self.nodeid, featured=featured)
        if outcome.exercised and not outcome.passed:
            line = f"{requirement}: {outcome.observed} / Declared: {outcome.declared}"
            with self._lock:
                level = contracts.requirements()[requirement].level
                (self.must_failures if level == "MUST" else self.should_failures).append(line)

    def not_tested(self, requirements: tuple[str, ...] | list[str], reason: str) -> None:
        for r in requirements:
            self._own(r)
            self.engine.mark(r, "not_tested", reason, self.nodeid)


# ------------------------------------------------------------------------------ pytest hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("fibrecert", "fibrecert conformance suites")
    g.addoption("--target", metavar="FILE", help="target file (TOML) to certify")
    g.addoption("--fibrecert-profile", choices=list(PROFILES), default=DEFAULT_PROFILE,
                help=f"how hard to search: {profiles_help()} (default: {DEFAULT_PROFILE})")
    g.addoption("--fibrecert-seed", type=int, default=None, help="seed, to reproduce a run exactly")
    g.addoption("--fibrecert-api", choices=["ala", "fibrecafe", "all"], default="all")
    g.addoption("--max-rps", type=float, default=None, help="never send more than R requests per second")
    g.addoption("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                help=f"requests in flight at once (default {DEFAULT_CONCURRENCY}; 1 = strictly sequential)")
    g.addoption("--report-dir", metavar="DIR", help="write index.html, results.json and junit.xml here")


class EngineAdapter:
    """Registered by `fibrecert run` with the engine it made (no options travel as text)."""

    def __init__(self, engine: Engine, report_dir: Path | None, write_reports: Callable[[Any], None] | None = None):
        self.engine, self.report_dir, self.write_reports = engine, report_dir, write_reports

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[ENGINE_KEY] = self.engine


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): catalogue requirement ids a suite test exercises")
    config.addinivalue_line("markers", "long_chain: a test whose requests wait on one another (sequences, lanes); "
                                       "started before the others, so a slow target's round trips overlap")
    if ENGINE_KEY not in config.stash and not _make_engine(config):
        return
    if not hasattr(config.option, "tbstyle"):
        # `fibrecert run` loads no terminal: a test's failure is reported from its exception (its first
        # line) and the events, never from pytest's traceback text, which would read each failing test's
        # source again (a quarter of a smoke run's CPU on a defective target). Plain pytest keeps --tb.
        config.option.tbstyle = "line"
    from fibrecert.reports.build import ReportHandler

    engine = config.stash[ENGINE_KEY]
    report = ReportHandler(engine.results, engine.secrets, engine.report_dir)  # builds and writes it on RunEnding
    engine.bus.subscribe(report)
    config.stash[REPORT_KEY] = report


def _make_engine(config: pytest.Config) -> bool:
    """`pytest suites --target FILE`: the engine, from the options (False without --target)."""
    target_file = config.getoption("--target", default=None)
    if not target_file:
        return False
    try:
        target = load_target(target_file)
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    api = config.getoption("--fibrecert-api")
    apis = tuple(a for a in target.apis if api in ("all", a))
    if not apis:
        raise pytest.UsageError(f"{target_file}: has no [{api}] section to test")
    report_dir = config.getoption("--report-dir")
    config.stash[ENGINE_KEY] = Engine(
        target, profile=config.getoption("--fibrecert-profile"), seed=config.getoption("--fibrecert-seed"),
        apis=apis, max_rps=config.getoption("--max-rps"), concurrency=config.getoption("--concurrency"),
        report_dir=Path(report_dir) if report_dir else None)
    return True


@functools.lru_cache(maxsize=256)
def _suite_parts(path: str) -> tuple[str, ...] | None:
    """The path of a test module relative to the suites' folder, or None outside it. Cached: resolving
    a path walks every component with lstat, and a run asks for each of its tests several times."""
    try:
        return Path(path).resolve().relative_to(SUITES_DIR).parts
    except ValueError:
        return None


def _is_suite_item(item: pytest.Item) -> bool:
    return _suite_parts(str(item.path)) is not None


def _api_of(item: pytest.Item) -> str:
    parts = _suite_parts(str(item.path))
    if parts is None:
        raise ValueError(f"{item.path} is not in the suites' folder")
    return parts[0]


def item_requirements(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(mark.args)
    return tuple(dict.fromkeys(ids))


def yielding_fixtures(item: pytest.Item) -> list[str]:
    """The fixtures of `item` that tear down after a `yield` (generator fixtures), by name."""
    info = getattr(item, "_fixtureinfo", None)
    names = []
    for name, defs in (info.name2fixturedefs.items() if info is not None else ()):
        func = getattr(defs[-1], "func", None) if defs else None
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            names.append(name)
    return sorted(names)


def refuse_yielding_fixtures(item: pytest.Item) -> None:
    """A suite test's body runs in a worker thread of the engine, while pytest goes on to set up the next
    tests and tears this one's fixtures down at once (its setup state is a stack, in the order the tests
    start): a fixture's teardown after `yield` would run while the test is still sending. Refused, with
    the way out."""
    found = yielding_fixtures(item)
    if found:
        raise pytest.UsageError(
            f"{item.nodeid}: uses fixture(s) that tear down after yield ({', '.join(found)}): a suite test's body "
            "runs concurrently after pytest has torn its fixtures down, so the teardown would run mid-test. "
            "Return the value from the fixture instead, and undo what the test changed in the test itself.")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    known = contracts.requirements()
    engine = config.stash.get(ENGINE_KEY, None)
    keep, drop = [], []
    for item in items:
        if not _is_suite_item(item):
            keep.append(item)
            continue
        ids = item_requirements(item)
        if not ids:
            raise pytest.UsageError(f"{item.nodeid}: a suite test must carry @pytest.mark.requirement(...)")
        refuse_yielding_fixtures(item)
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: requirement {unknown[0]} is not in the catalogue")
        if engine is not None and (_api_of(item) not in engine.apis
                                   or (engine.selection is not None and not set(ids) & engine.selection)):
            drop.append(item)
            continue
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ------------------------------------------------------------------------------ the test loop
def _call(engine: Engine, item: pytest.Item, index: int) -> CallInfo:
    """Run one suite test's body (in a worker thread), in the engine's lane for it."""
    ids = item_requirements(item)
    api = _api_of(item)
    verifier: Verifier | None = getattr(item, "_fibrecert_verifier", None)
    lane = engine.test_lane(index, item.nodeid, ids, api)
    engine.bus.emit(TestStarted(item.nodeid, api))

    def body() -> None:
        engine.enter(lane)
        try:
            if api in engine.unreachable:
                raise TargetUnreachable(engine.unreachable[api])
            try:
                item.runtest()
            finally:  # name the trigger of its first failure on valid input (only when one failed)
                engine.narrower.after_test(item.nodeid)
        finally:
            engine.leave()
        if verifier is not None and verifier.must_failures:
            raise AssertionError("\n".join(verifier.must_failures))

    call = CallInfo.from_call(body, when="call", reraise=(KeyboardInterrupt,))
    outcome, reason = "passed", ""
    if call.excinfo is not None:
        exc = call.excinfo.value
        first_line = (str(exc).strip().splitlines() or [""])[0]
        if isinstance(exc, (TargetUnreachable, OutOfTestData)):
            why = (str(exc) if isinstance(exc, (RunInterrupted, OutOfTestData)) else
                   f"target throttling past fibrecert's bounds: {exc}" if "in a row throttled past" in str(exc)
                   else f"target unreachable: {exc}")
            for r in ids:
                engine.mark(r, "not_tested", why, item.nodeid)
            call = CallInfo.from_call(lambda: pytest.skip(why), when="call")
            outcome, reason = "skipped", why
        elif isinstance(exc, pytest.skip.Exception):
            outcome, reason = "skipped", first_line
        elif isinstance(exc, AssertionError) and verifier is not None and verifier.must_failures:
            outcome, reason = "failed", first_line
        else:
            what = "produced no example" if isinstance(exc, NoExamples) else f"{type(exc).__name__}: {first_line}"
            for r in ids:
                engine.mark(r, "error", f"{item.nodeid} could not run: {what}"[:300], item.nodeid)
            outcome, reason = "error", what
    generating, before_first = engine.generating_seconds(item.nodeid)
    engine.bus.emit(TestFinished(item.nodeid, api, outcome, reason, generating_ms=round(generating * 1000, 1),
                                 generating_before_first_ms=round(before_first * 1000, 1)))
    return call


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    engine = session.config.stash.get(ENGINE_KEY, None)
    if engine is None or session.config.option.collectonly:
        return None
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} error(s) during collection")
    items = list(session.items)
    engine.start(len(items), tuple(item.nodeid for item in items),
                 serves=tuple((r, item.nodeid) for item in items for r in item_requirements(item)))
    engine.prepare()
    # Tests whose requests wait on one another start first: against a target 50 ms away their chains of
    # round trips are the run's critical path. Results are still reported in collection order, and the
    # cases do not depend on the order (each test's ids and values come from its collection index).
    order = sorted(range(len(items)), key=lambda i: (items[i].get_closest_marker("long_chain") is None, i))
    workers = ThreadPoolExecutor(max_workers=engine.concurrency, thread_name_prefix="fibrecert-test",
                                 initializer=share_hypothesis_prng)
    pending: dict[int, tuple[pytest.Item, list[Any], Future | None]] = {}
    reported = [0]
    try:
        for k, i in enumerate(order):
            item = items[i]
            # pytest sets up and tears down in the order the tests are started (its setup state is a stack)
            nextitem = items[order[k + 1]] if k + 1 < len(order) else None
            reports = [call_and_report(item, "setup", log=False)]
            future = None
            if reports[0].passed and _is_suite_item(item):
                future = workers.submit(_call, engine, item, i + 1)
            elif reports[0].passed:  # a non-suite test in the same session: run it here, as pytest would
                reports.append(call_and_report(item, "call", log=False))
            pending[i] = (item, reports, future)
            reports.append(call_and_report(item, "teardown", log=False, nextitem=nextitem))
            _flush(pending, reported, block=False)
            if session.shouldstop or session.shouldfail:
                break
        _flush(pending, reported, block=True)
    finally:
        workers.shutdown(wait=True, cancel_futures=True)
    return True


def _flush(pending: dict[int, tuple[pytest.Item, list[Any], Future | None]], reported: list[int], *,
           block: bool) -> None:
    """Report finished tests to pytest, in collection order (`reported[0]`: the next index to report);
    with `block`, every test still pending (after a stop, the indices may have gaps)."""
    while pending and (block or reported[0] in pending):
        index = min(pending) if block else reported[0]
        item, reports, future = pending[index]
        if future is not None and not block and not future.done():
            return
        del pending[index]
        reported[0] = index + 1
        if future is not None:
            call = future.result()
            rep = item.ihook.pytest_runtest_makereport(item=item, call=call)
            reports.insert(1, rep)
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        for rep in reports:
            item.ihook.pytest_runtest_logreport(report=rep)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    engine = session.config.stash.get(ENGINE_KEY, None)
    report = session.config.stash.get(REPORT_KEY, None)
    if engine is None or report is None or RESULT_KEY in session.config.stash:
        return
    engine.end(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)  # the report handler builds and writes
    engine.finish(report.result)  # the verdict, last
    session.config.stash[RESULT_KEY] = report.result
    engine.close()


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def run(pytestconfig: pytest.Config) -> Engine:
    engine = pytestconfig.stash.get(ENGINE_KEY, None)
    if engine is None:
        pytest.skip("the suites need a target: pytest suites --target FILE (or: fibrecert run)")
    return engine


@pytest.fixture
def verify(request: pytest.FixtureRequest, run: Engine) -> Verifier:
    v = Verifier(run, request.node.nodeid, item_requirements(request.node))
    request.node._fibrecert_verifier = v
    return v


def api_client(run: Engine, api: str) -> Any:
    """The client an API's suites send with (its dialect's, made by the engine); the test is skipped when
    the target file has no section for the API. Each API's suites name it in a fixture of their own
    conftest.py (suites/ala/conftest.py: `ala`; suites/fibrecafe/conftest.py: `fc`)."""
    if run.clients.get(api) is None:
        pytest.skip(f"the target file has no [{api}] section")
    return run.clients[api]


def skip_unless(run: Engine, request: pytest.FixtureRequest, condition: bool, reason: str) -> None:
    """Skip a test as not applicable to this target, recording the reason on its requirements."""
    if not condition:
        for r in item_requirements(request.node):
            run.mark(r, "skip", reason, request.node.nodeid)
        pytest.skip(reason)


@pytest.fixture
def profile(run: Engine) -> Profile:
    return run.profile


def require_data(verify: Verifier, condition: bool, requirements: tuple[str, ...], reason: str) -> None:
    """Mark requirements not_tested (never silently passed) when the target file lacks test data."""
    if not condition:
        verify.not_tested(requirements, reason)
        pytest.skip(reason)
