"""The fibrecert pytest plugin: thin adapters between pytest and the run (options, fixtures,
requirement markers, outcomes). `pytest suites --target FILE` and `fibrecert run` share it.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from fibrecert import contracts
from fibrecert.target import Target, TargetError, load_target
from fibrecert.transport import (DROPPED, TLS_REFUSED, Exchange, RateLimiter, SecretRegistry,
                                 TargetUnreachable, Transport)

from .checks import CheckFailed, answered_in_time, no_server_error
from .clients import AlaClient, FibreCafeClient, OutOfTestData
from .profiles import PROFILES, Profile
from .recorder import Recorder

SUITES_DIR = Path(__file__).resolve().parent
ROB = {"ala": ("ROB-001", "ROB-002"), "fibrecafe": ("ROB-011", "ROB-012")}
CTX_KEY = pytest.StashKey["RunContext"]()
RESULT_KEY = pytest.StashKey[Any]()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunContext:
    target: Target
    profile: Profile
    seed: int
    apis: tuple[str, ...]
    report_dir: Path | None
    max_rps: float | None
    recorder: Recorder = field(default_factory=Recorder)
    started_at: str = field(default_factory=_now)
    started: float = field(default_factory=time.monotonic)
    current_test: str = ""
    unreachable: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.secrets = SecretRegistry(self.target.secrets())
        self.transport = Transport(secrets=self.secrets, limiter=RateLimiter(self.max_rps),
                                   on_exchange=self._on_exchange)
        self.workdir = Path(tempfile.mkdtemp(prefix="fibrecert-run-"))
        self.ala = AlaClient(self.target.ala, self.transport, self.workdir) if self.target.ala else None
        self.fc = FibreCafeClient(self.target.fibrecafe, self.transport) if self.target.fibrecafe else None

    def _on_exchange(self, ex: Exchange) -> None:
        """Robustness checks apply to every exchange, whatever the test (ROB-*, MUST)."""
        rob_5xx, rob_hang = ROB[ex.api]
        for requirement, fn in ((rob_5xx, no_server_error), (rob_hang, answered_in_time)):
            if fn is answered_in_time and ex.refusal_expected and ex.error in (DROPPED, TLS_REFUSED):
                continue
            if ex.error == "unreachable":
                continue
            try:
                fn(ex)
            except CheckFailed as failure:
                self.recorder.record(requirement, passed=False, test=self.current_test, exchanges=[ex],
                                     observed=failure.observed, declared=failure.declared)
            else:
                self.recorder.record(requirement, passed=True, test=self.current_test, exchanges=[ex])
        self.recorder.emit({"type": "exchange", "api": ex.api, "operation": ex.operation, "sent": self.transport.sent})

    def case_seed(self, nodeid: str) -> int:
        return zlib.crc32(f"{self.seed}:{nodeid}".encode()) & 0x7FFFFFFF

    def explore(self, strategy: Any, fn: Callable[[Any], None], *, examples: int | None = None) -> int:
        """Run `fn` over `examples` values drawn from `strategy`, reproducibly from the run's seed.

        Checks record outcomes rather than raise, so every example is sent and Hypothesis never
        shrinks or replays against a stateful target. Returns how many examples ran."""
        import hypothesis
        from hypothesis import HealthCheck, Phase, Verbosity

        ran = 0
        stop: dict[str, BaseException] = {}

        @hypothesis.seed(self.case_seed(self.current_test))
        @hypothesis.settings(max_examples=examples or self.profile.examples, database=None, deadline=None,
                             phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                             verbosity=Verbosity.quiet, derandomize=False)
        @hypothesis.given(strategy)
        def run(value: Any) -> None:
            nonlocal ran
            if stop:
                return
            try:
                fn(value)
                ran += 1
            except (TargetUnreachable, OutOfTestData) as exc:
                stop["exc"] = exc

        run()
        if stop:
            raise stop["exc"]
        return ran


class Verifier:
    """The `verify` fixture: run a check for a requirement the test declares, record the outcome."""

    def __init__(self, ctx: RunContext, nodeid: str, declared: tuple[str, ...]):
        self.ctx, self.nodeid, self.declared = ctx, nodeid, set(declared)
        self.must_failures: list[str] = []
        self.should_failures: list[str] = []

    def _level(self, requirement: str) -> str:
        return contracts.requirements()[requirement].level

    def _own(self, requirement: str) -> None:
        if requirement not in self.declared:
            raise AssertionError(f"{self.nodeid} checks {requirement} but its requirement marker "
                                 f"does not declare it")

    def __call__(self, requirement: str, exchanges: Exchange | list[Exchange], check: Callable[..., Any],
                 *args: Any, **kwargs: Any) -> Any:
        self._own(requirement)
        exs = exchanges if isinstance(exchanges, list) else [exchanges]
        try:
            value = check(exs[-1], *args, **kwargs)
        except CheckFailed as failure:
            self.fail(requirement, exs, failure.observed, failure.declared)
            return None
        self.ctx.recorder.record(requirement, passed=True, test=self.nodeid, exchanges=exs)
        return value if value is not None else True

    def fail(self, requirement: str, exchanges: list[Exchange], observed: str, declared: str) -> None:
        self._own(requirement)
        self.ctx.recorder.record(requirement, passed=False, test=self.nodeid, exchanges=exchanges,
                                 observed=observed, declared=declared)
        line = f"{requirement}: {observed} / Declared: {declared}"
        (self.must_failures if self._level(requirement) == "MUST" else self.should_failures).append(line)

    def passed(self, requirement: str, exchanges: list[Exchange]) -> None:
        self._own(requirement)
        self.ctx.recorder.record(requirement, passed=True, test=self.nodeid, exchanges=exchanges)

    def not_tested(self, requirements: tuple[str, ...] | list[str], reason: str) -> None:
        for r in requirements:
            self._own(r)
            self.ctx.recorder.mark_not_tested(r, reason)


# ------------------------------------------------------------------------------ pytest hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("fibrecert", "fibrecert conformance suites")
    g.addoption("--target", metavar="FILE", help="target file (TOML) to certify")
    g.addoption("--fibrecert-profile", choices=sorted(PROFILES), default="standard",
                help="how hard to search (default: standard, the certification profile)")
    g.addoption("--fibrecert-seed", type=int, default=None, help="seed, to reproduce a run exactly")
    g.addoption("--fibrecert-api", choices=["ala", "fibrecafe", "all"], default="all")
    g.addoption("--max-rps", type=float, default=None, help="never send more than R requests per second")
    g.addoption("--report-dir", metavar="DIR", help="write index.html, results.json and junit.xml here")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): catalogue requirement ids a suite test exercises")
    target_file = config.getoption("--target", default=None)
    if not target_file:
        return
    try:
        target = load_target(target_file)
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    api = config.getoption("--fibrecert-api")
    apis = tuple(a for a in target.apis if api in ("all", a))
    if not apis:
        raise pytest.UsageError(f"{target_file}: has no [{api}] section to test")
    seed = config.getoption("--fibrecert-seed")
    if seed is None:
        seed = int.from_bytes(os.urandom(3), "big")
    report_dir = config.getoption("--report-dir")
    config.stash[CTX_KEY] = RunContext(
        target=target, profile=PROFILES[config.getoption("--fibrecert-profile")], seed=seed, apis=apis,
        report_dir=Path(report_dir) if report_dir else None, max_rps=config.getoption("--max-rps"))


def _is_suite_item(item: pytest.Item) -> bool:
    try:
        Path(str(item.path)).resolve().relative_to(SUITES_DIR)
        return True
    except ValueError:
        return False


def _api_of(item: pytest.Item) -> str:
    return Path(str(item.path)).resolve().relative_to(SUITES_DIR).parts[0]


def item_requirements(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(mark.args)
    return tuple(dict.fromkeys(ids))


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    known = contracts.requirements()
    ctx = config.stash.get(CTX_KEY, None)
    keep, drop = [], []
    for item in items:
        if not _is_suite_item(item):
            keep.append(item)
            continue
        ids = item_requirements(item)
        if not ids:
            raise pytest.UsageError(f"{item.nodeid}: a suite test must carry @pytest.mark.requirement(...)")
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: requirement {unknown[0]} is not in the catalogue")
        if ctx is not None and _api_of(item) not in ctx.apis:
            drop.append(item)
            continue
        keep.append(item)
        if ctx is not None:
            for r in ids:
                ctx.recorder.declare(r, item.nodeid)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):  # type: ignore[no-untyped-def]
    ctx = item.config.stash.get(CTX_KEY, None)
    if ctx is None or not _is_suite_item(item):
        yield
        return
    ctx.current_test = item.nodeid
    ctx.recorder.emit({"type": "test_start", "test": item.nodeid, "api": _api_of(item)})
    outcome = yield
    ids = item_requirements(item)
    verifier: Verifier | None = getattr(item, "_fibrecert_verifier", None)
    excinfo = outcome.excinfo
    if excinfo is not None:
        exc = excinfo[1]
        if isinstance(exc, TargetUnreachable):
            ctx.unreachable.setdefault(_api_of(item), str(exc))
            ctx.recorder.stop_early(f"target unreachable: {exc}")
            for r in ids:
                ctx.recorder.mark_not_tested(r, f"target unreachable: {exc}")
            outcome.force_exception(pytest.skip.Exception(f"target unreachable: {exc}", _use_item_location=True))
        elif isinstance(exc, OutOfTestData):
            for r in ids:
                ctx.recorder.mark_not_tested(r, str(exc))
            outcome.force_exception(pytest.skip.Exception(str(exc), _use_item_location=True))
        elif not isinstance(exc, pytest.skip.Exception):
            first_line = (str(exc).strip().splitlines() or [""])[0]
            for r in ids:
                ctx.recorder.mark_error(r, f"{item.nodeid} could not run: {type(exc).__name__}: {first_line}"[:300])
    elif verifier is not None and verifier.must_failures:
        outcome.force_exception(AssertionError("\n".join(verifier.must_failures)))
    ctx.recorder.emit({"type": "test_end", "test": item.nodeid, "api": _api_of(item)})


def pytest_runtest_setup(item: pytest.Item) -> None:
    ctx = item.config.stash.get(CTX_KEY, None)
    if ctx is None or not _is_suite_item(item):
        return
    ctx.current_test = item.nodeid
    api = _api_of(item)
    if api in ctx.unreachable:
        for r in item_requirements(item):
            ctx.recorder.mark_not_tested(r, f"target unreachable: {ctx.unreachable[api]}")
        pytest.skip(f"target unreachable: {ctx.unreachable[api]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    ctx = session.config.stash.get(CTX_KEY, None)
    if ctx is None:
        return
    from fibrecert.reports.build import build_result
    from fibrecert.reports.writers import write_all

    ctx.transport.close()
    result = build_result(ctx)
    session.config.stash[RESULT_KEY] = result
    if ctx.report_dir is not None:
        write_all(result, ctx.report_dir, secrets=ctx.secrets)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def run(pytestconfig: pytest.Config) -> RunContext:
    ctx = pytestconfig.stash.get(CTX_KEY, None)
    if ctx is None:
        pytest.skip("the suites need a target: pytest suites --target FILE (or: fibrecert run)")
    return ctx


@pytest.fixture
def verify(request: pytest.FixtureRequest, run: RunContext) -> Verifier:
    v = Verifier(run, request.node.nodeid, item_requirements(request.node))
    request.node._fibrecert_verifier = v
    return v


@pytest.fixture
def ala(run: RunContext, request: pytest.FixtureRequest) -> AlaClient:
    if run.ala is None:
        pytest.skip("the target file has no [ala] section")
    return run.ala


@pytest.fixture
def fc(run: RunContext) -> FibreCafeClient:
    if run.fc is None:
        pytest.skip("the target file has no [fibrecafe] section")
    return run.fc


def skip_unless(run: RunContext, request: pytest.FixtureRequest, condition: bool, reason: str) -> None:
    """Skip a test as not applicable to this target, recording the reason on its requirements."""
    if not condition:
        for r in item_requirements(request.node):
            run.recorder.mark_skipped(r, reason)
        pytest.skip(reason)


@pytest.fixture
def ala_buyer_role(run: RunContext, ala: AlaClient, request: pytest.FixtureRequest) -> AlaClient:
    skip_unless(run, request, "buyer" in ala.target.roles,
                "the target file declares no ALA buyer role (buyer_base_url)")
    return ala


@pytest.fixture
def profile(run: RunContext) -> Profile:
    return run.profile


def require_data(verify: Verifier, condition: bool, requirements: tuple[str, ...], reason: str) -> None:
    """Mark requirements not_tested (never silently passed) when the target file lacks test data."""
    if not condition:
        verify.not_tested(requirements, reason)
        pytest.skip(reason)
