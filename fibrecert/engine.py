"""The run engine: a plain object that the pytest plugin adapts (so `fibrecert run` and
`pytest suites --target FILE` are the same run).

    Case --send--> Exchange --checks--> CheckDone events --> handlers (progress, NDJSON log, result model)

- Cases get deterministic ids from where they are made: `X017.3` is the third exchange of the 17th test
  (collection order), `X017-2.1` the first of that test's second fanned-out case; `P.n` are the run's
  own preparation (tokens). The same seed gives the same cases and ids whatever the concurrency.
- Concurrency lives here: `each()` fans a test's independent cases out over the run's lanes; the
  transport admits at most `concurrency` requests at once, never faster than `--max-rps`. A sequence
  (one lane) keeps its order.
- A check's result is earned: an exchange without a complete HTTP answer exercises only the checks that
  are about that very refusal (`@check(on_refusal=True)`); for any other check it is recorded as
  unanswered, never as a pass.
- Robustness (ROB-*) is checked on every exchange, whatever the test.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import random
import shutil
import threading
import time
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from fibrecert import contracts, endpoints, observed
from fibrecert.apis import Dialect, dialect
from fibrecert.apis import section as target_section
from fibrecert.checking import CheckOutcome, answered_in_time, no_server_error, run_check
from fibrecert.core.case import ORDER, Binding, Body, Case
from fibrecert.core.events import (CheckDone, EventBus, ExchangeDone, Marked, RunEnding, RunFacts, RunFinished,
                                   RunStarted, StoppedEarly)
from fibrecert.core.exchange import DROPPED, THROTTLED, TIMEOUT, TLS_REFUSED, UNREACHABLE, Exchange, TargetUnreachable
from fibrecert.core.identity import Credentials, Identity
from fibrecert.core.profile import Profile, profile_named
from fibrecert.core.redaction import SecretRegistry
from fibrecert.core.results import ResultModel
from fibrecert.core.testdata import OutOfTestData, ServicePool
from fibrecert.narrowing import Narrower
from fibrecert.scope import origin_of
from fibrecert.target import Target
from fibrecert.transport import RateLimiter, Transport
from fibrecert.wording import shown_path


def _serialise_ast_parse() -> None:
    """CPython before 3.13 keeps the AST converter's recursion depth in state shared by threads
    (gh-106905): two threads parsing at once can fail with "SystemError: AST constructor recursion depth
    mismatch". Hypothesis parses source while it generates (filter analysis, lambda descriptions) and the
    engine generates in several threads at once, so parsing is serialised (it is rare and quick)."""
    import ast
    import sys

    if sys.version_info >= (3, 13) or getattr(ast.parse, "__fibrecert_serialised__", False):
        return
    parse, lock = ast.parse, threading.RLock()

    def serialised(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    serialised.__fibrecert_serialised__ = True  # type: ignore[attr-defined]
    serialised.__doc__ = parse.__doc__
    ast.parse = serialised  # type: ignore[assignment]


_serialise_ast_parse()

_SHARED_PRNG: random.Random | None = None


def share_hypothesis_prng() -> None:
    """Give this thread the PRNG every other generating thread uses. Hypothesis keeps one PRNG per thread
    and registers each new one with a full `gc.collect()`: with two thread pools of `--concurrency`
    threads that is dozens of full collections of a large heap, holding the interpreter for over a
    second. Generation is serialised by the engine (one thread at a time), so one PRNG serves all.
    Called first by the warm-up, before the loaded contracts are frozen out of the collector's sight
    (`register_random` looks for the PRNG's referrers among the objects the collector sees)."""
    global _SHARED_PRNG
    try:
        import hypothesis.core
        from hypothesis import register_random
    except ImportError:  # pragma: no cover
        return
    if _SHARED_PRNG is None:
        _SHARED_PRNG = random.Random()
        register_random(_SHARED_PRNG)
        _pin_hypothesis_constants()
    local = getattr(hypothesis.core, "threadlocal", None)
    if local is not None and getattr(local, "_hypothesis_global_random", True) is None:
        local._hypothesis_global_random = _SHARED_PRNG

def _pin_hypothesis_constants() -> None:
    """Keep the source code of whatever is imported out of the generated values. Hypothesis now and then
    draws a constant found in "local" modules (here: fibrecert's own), collected from the modules imported
    when a draw first needs them and cached from then on. Which modules that are depends on what other
    threads have imported by then, so the same seed gave other cases from one run to the next (a
    stateful Fibre Cafe explorer ran a 1-step sequence instead of 28 when the ALA tests ran beside it).
    Only Hypothesis' own constants stay: the same seed, the same cases, whatever ran first. This reaches
    into Hypothesis' internals (6.170); if they change shape, the run goes on unpinned, with a warning
    (tests/test_engine.py's subprocess test then fails, as it should)."""
    try:
        from hypothesis.internal.conjecture import providers

        if getattr(providers._get_local_constants, "_fibrecert_pinned", False):
            return
        pinned = type(providers._local_constants)()  # no constants at all

        def local_constants() -> Any:
            return pinned

        local_constants._fibrecert_pinned = True  # type: ignore[attr-defined]
        providers._get_local_constants = local_constants
        # what was cached from the constants seen so far (the cache is per thread: a new one for all)
        providers.CONSTANTS_CACHE = type(providers.CONSTANTS_CACHE)(providers.CONSTANTS_CACHE.max_size)
    except Exception as exc:  # noqa: BLE001 - a newer Hypothesis: generate anyway, and say so
        import warnings

        warnings.warn(f"fibrecert could not pin Hypothesis' local constants ({type(exc).__name__}: {exc}); "
                      "a seed may not reproduce the same cases", RuntimeWarning, stacklevel=2)


STOP_AFTER_THROTTLES = 3  # requests in a row throttled past the bounds (throttle.py): the API is given up
DEFAULT_CONCURRENCY = 16


class RunInterrupted(TargetUnreachable):
    """The run was interrupted (Ctrl-C, SIGTERM): nothing more is sent."""


class NoExamples(Exception):
    """A generator produced no example: what it was to exercise stays not_tested."""


def _thread_clock() -> Any:
    """This thread's CPU clock, readable from any thread (Linux), or None: read this thread's own."""
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None


def _clock_now(clock: Any) -> float:
    return time.thread_time() if clock is None else time.clock_gettime(clock)


class _Lane:
    """Where a case is made: a test (or the run's preparation) and its position in a fan-out."""

    def __init__(self, prefix: str, test: str = "", serves: tuple[str, ...] = (), api: str = "", depth: int = 0):
        self.prefix, self.test, self.serves, self.api = prefix, test, serves, api
        self.depth = depth
        self._steps = itertools.count(1)
        self._lanes = itertools.count(1)
        self._messages = itertools.count(1)
        self._tokens = itertools.count(1)
        self.sequence: list[Exchange] | None = None  # set while a stateful sequence runs in this lane
        self.machines = 0  # state machines started in this lane (suites/sequences.py: their seeds)
        self.explorer_ceases: dict[int, list[int]] = {}  # a session's explorer's own cease budget (sequences.py)

    def next_id(self) -> str:
        return f"X{self.prefix}.{next(self._steps)}"

    def child(self) -> "_Lane":
        return _Lane(f"{self.prefix}-{next(self._lanes)}", self.test, self.serves, self.api, self.depth + 1)

    def message_suffix(self) -> str:
        return f"{self.prefix}.{next(self._messages)}"

    def next_token(self) -> int:
        return next(self._tokens)


class _Jobs:
    """Work waiting for a lane thread, first items first: the first item of every fan-out is started
    before the rest of any fan-out, so a test that has just begun sends its first request as soon as a
    thread is free, not after the hundreds queued by the tests before it (the drawing goes on meanwhile).
    The pool gets one `run_next` per job and each picks the most urgent job when it starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: deque[tuple[Future, Callable[..., Any], tuple[Any, ...]]] = deque()
        self._rest: deque[tuple[Future, Callable[..., Any], tuple[Any, ...]]] = deque()

    def submit(self, pool: ThreadPoolExecutor, first: bool, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        with self._lock:
            (self._first if first else self._rest).append((future, fn, args))
        try:
            ticket = pool.submit(self.run_next)
        except RuntimeError:  # the pool is shut down (the run is closing): nothing will run it
            self.cancel_all()
        else:
            ticket.add_done_callback(self._ticket_done)
        return future

    def _ticket_done(self, ticket: Future) -> None:
        """A pool that drops a `run_next` (shut down, or broken: an initializer failed) leaves a job that
        nothing will run: end every waiting job now, or whoever joins its fan-out would wait forever."""
        if ticket.cancelled():
            self.cancel_all()
        elif ticket.exception() is not None:
            self.cancel_all(ticket.exception())

    def run_next(self) -> None:
        with self._lock:
            if not (self._first or self._rest):
                return
            future, fn, args = self._first.popleft() if self._first else self._rest.popleft()
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever joins the fan-out, as a pool would
            future.set_exception(exc)
        else:
            future.set_result(result)

    def cancel_all(self, error: BaseException | None = None) -> None:
        """End every waiting job: cancelled, or failed with `error`."""
        with self._lock:
            left = [*self._first, *self._rest]
            self._first.clear()
            self._rest.clear()
        for future, _, _ in left:
            if error is None:
                future.cancel()
            elif future.set_running_or_notify_cancel():
                future.set_exception(error)


class _FanOut:
    """Items started in lanes of their own as they come (in a pool, or one after the other), joined in
    item order."""

    def __init__(self, engine: "Engine", parent: _Lane, fn: Callable[[Any], Any], pool: ThreadPoolExecutor | None):
        self.engine, self.parent, self.fn, self.pool = engine, parent, fn, pool
        self.results: list[Any] = []
        self.futures: list[Any] = []
        self.stop: BaseException | None = None
        self.error: BaseException | None = None

    def _one(self, lane: _Lane, item: Any) -> Any:
        engine = self.engine
        engine.enter(lane)
        try:
            return self.fn(item)
        finally:
            engine.leave()

    def _pooled(self, lane: _Lane, item: Any) -> Any:
        local = self.engine._local
        local.in_pool = True
        try:
            return self._one(lane, item)
        finally:
            local.in_pool = False

    def submit(self, item: Any) -> None:
        lane = self.parent.child()
        if self.pool is not None:
            self.futures.append(self.engine._jobs.submit(self.pool, not self.futures, self._pooled, lane, item))  # noqa: SLF001
            return
        try:
            self.results.append(self._one(lane, item))
        except (TargetUnreachable, OutOfTestData) as exc:
            self.stop = self.stop or exc
            self.results.append(None)

    def join(self, raising: bool = True) -> list[Any]:
        for f in self.futures:
            try:
                self.results.append(f.result())
            except (TargetUnreachable, OutOfTestData) as exc:
                self.results.append(None)
                self.stop = self.stop or exc
            except BaseException as exc:  # noqa: BLE001 - re-raised below, in item order
                self.results.append(None)
                self.error = self.error or exc
        self.futures = []
        if raising and self.error is not None:
            raise self.error
        if raising and self.stop is not None:
            raise self.stop
        return self.results


class Engine:
    def __init__(self, target: Target, *, profile: Profile | str = "standard", seed: int | None = None,
                 apis: Iterable[str] | None = None, max_rps: float | None = None,
                 concurrency: int = DEFAULT_CONCURRENCY, selection: set[str] | None = None,
                 selection_text: str = "", report_dir: Path | None = None):
        self.target = target
        self.profile = profile_named(profile)
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(3), "big")
        self.apis = tuple(a for a in target.apis if apis is None or a in tuple(apis))
        self.concurrency = max(1, int(concurrency))
        self.selection, self.selection_text = selection, selection_text
        self.report_dir = report_dir
        self.bus = EventBus()
        self.results = ResultModel(facts=observed.facts)
        self.bus.subscribe(self.results)
        self.narrower = Narrower(self)  # names the trigger of a failure on valid input (fibrecert/narrowing.py)
        self.bus.subscribe(self.narrower.observe)
        self.secrets = SecretRegistry(target.secrets())
        self.bus.secrets = self.secrets  # what leaves memory is redacted once, by the bus
        self.transport = Transport(secrets=self.secrets, limiter=RateLimiter(max_rps), max_in_flight=self.concurrency,
                                   allowed_origins=endpoints.target_origins(target))
        from fibrecert.safefiles import private_tempdir

        # 0700, owner recorded: the untrusted CA's key made for SEC-002; removed by close() or, after a
        # kill, by the next fibrecert (safefiles.sweep_stale)
        self.workdir = private_tempdir("fibrecert-run-")
        # the dialects of the APIs this run certifies: the engine itself names no API
        self.dialects: dict[str, Dialect] = {a: dialect(a) for a in self.apis}
        self.credentials = Credentials(target, self.secrets, self.workdir, token_source=self._fetch_token)
        self.run_tag = f"{random.Random(self.seed).getrandbits(32):08x}{os.urandom(4).hex()}"  # run-unique: a target remembers messageIds across runs
        self.started_at = _now()
        self.started = time.monotonic()
        self.unreachable: dict[str, str] = {}
        self._timeouts: dict[str, int] = {}
        self._throttled: dict[str, int] = {}  # requests in a row throttled past the bounds, per API
        self._assigned: dict[tuple[str, str], str] = {}    # (api, order value) -> exchange that assigned it
        self._lock = threading.Lock()
        self._gen_lock = threading.RLock()
        self._examples: dict[str, Any] = {}
        self._generating: dict[str, float] = {}
        self._open_generating: dict[str, dict[object, tuple[Any, float]]] = {}
        self._generating_before_first: dict[str, float] = {}
        self._frozen = False
        self._local = threading.local()
        self._prep = _Lane("P")
        self._pool: ThreadPoolExecutor | None = None
        self._jobs = _Jobs()
        self.services = ServicePool([s for a in target.apis for s in dialect(a).active_services(target)])
        self.clients: dict[str, Any] = {a: d.client(self) for a, d in self.dialects.items()}
        self.closed = False
        self.interrupted = False
        self.server_certificates: dict[str, str] = {}  # api -> fingerprint of the certificate seen on the wire
        # origin (scheme://host:port) -> every server certificate fingerprint that answered there in this run
        self.certificates_seen: dict[str, set[str]] = {}
        self.embedded = False  # the target is fibrecert's own embedded sandbox (never a certification)
        # the target file results.json names for replay (`fibrecert run` sets None for the embedded sandbox's)
        self.target_file: str | None = str(target.path) if target.path else None
        self.signature: dict[str, str] | None = None    # the signing key's fingerprint, when the run is signed

    # ------------------------------------------------------------------ lifecycle
    def start(self, tests: int = 0, test_ids: tuple[str, ...] = (), serves: tuple[tuple[str, str], ...] = ()) -> None:
        """The first event of a run: what it runs, and which requirements each test declares (`serves`)."""
        self.bus.emit(RunStarted(profile=self.profile.name, seed=self.seed, apis=self.apis, tests=tests,
                                 requirements=len(self.requirement_ids()), concurrency=self.concurrency,
                                 target={a: v for a, v in self.target.public().items() if a in self.apis},
                                 test_ids=tuple(test_ids), serves=tuple(serves)))

    def facts(self, *, interrupted: bool = False) -> RunFacts:
        """What the report says about this run that no other event carries (fibrecert/core/events.py)."""
        return RunFacts(
            seed=self.seed, profile=self.profile.name, apis=tuple(self.apis),
            requirement_ids=tuple(self.requirement_ids()),
            target={a: v for a, v in self.target.public().items() if a in self.apis},
            sections=self.target.apis,
            roles={a: tuple(s.roles) for a, s in self.target.sections.items() if hasattr(s, "roles")},
            target_file=self._shown_target_file(), results_path=shown_path(
                (Path(self.report_dir) / "results.json") if self.report_dir else "results.json", fallback="results.json"),
            started_at=self.started_at, finished_at=_now(), duration_s=time.monotonic() - self.started,
            selection=self.selection_text, concurrency=self.concurrency, signature=self.signature,
            services_ceased=tuple(sorted(self.services.consumed)), embedded=self.embedded,
            server_certificates={o: tuple(sorted(fps)) for o, fps in sorted(self.certificates_seen.items())},
            throttling=self.transport.throttling.facts(), interrupted=interrupted)

    def _shown_target_file(self) -> str | None:
        """The target file for replay, relative to the report folder (where results.json is; replay resolves
        it from there, whatever folder it is started in), never absolute; None for the embedded sandbox's (a
        temporary file, gone after the run), or when it cannot be named without an absolute path (replay
        then asks for --target)."""
        if not self.target_file:
            return None
        report = Path(self.report_dir) if self.report_dir is not None else Path.cwd()
        return shown_path(Path(self.target_file).resolve(), fallback="", base=report) or None

    def end(self, *, interrupted: bool = False) -> None:
        """The run is over: RunEnding carries its facts (the report handler builds the result from them and
        the events before). `finish` follows, with that result's verdict."""
        self.bus.emit(RunEnding(self.facts(interrupted=interrupted)))

    def finish(self, result: Any) -> None:
        """The last event of a run: its verdict, once the result is built from the events before it."""
        self.bus.emit(RunFinished(verdict=result.verdict, counts=dict(result.counts()),
                                  requests=result.requests_sent, duration_s=round(result.duration_s, 3)))

    def warm_up(self) -> None:
        """Load, in one thread, what the tests would otherwise load side by side: the contracts, their
        validators and the generators' modules (a module imported by two threads at once can be seen
        half-initialised by one of them)."""
        from fibrecert import strategies

        with self._gen_lock:
            share_hypothesis_prng()
            strategies.inventory()
            for api_dialect in self.dialects.values():
                api_dialect.warm_up(self.target)
        # What is loaded now (contracts, validators, strategies) lives as long as the run: the cyclic
        # collector need not walk it again on every full collection while the tests run.
        if not self._frozen:
            gc.collect()
            gc.freeze()
            self._frozen = True

    def prepare(self) -> None:
        """Load what the tests use, open the connections and let each dialect fetch what it needs up front
        (Fibre Cafe's tokens, so that no test's exchange ids depend on which test happened to ask first)."""
        self.warm_up()
        for api_dialect in self.dialects.values():
            try:
                api_dialect.prepare(self)
            except TargetUnreachable:  # said by a StoppedEarly event; the API's tests end at once
                pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.transport.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self._frozen:  # a process that runs again (tests, a notebook) gets its collector back
            gc.unfreeze()

    def requirement_ids(self) -> list[str]:
        reqs = [r.id for r in contracts.requirements().values() if r.api in self.apis]
        if self.selection is not None:
            reqs = [r for r in reqs if r in self.selection]
        return reqs

    # ------------------------------------------------------------------ lanes (where a case is made)
    def test_lane(self, index: int, test: str, serves: tuple[str, ...], api: str) -> _Lane:
        return _Lane(f"{index:03d}", test, serves, api)

    def sub_lane(self, suffix: str) -> _Lane:
        """A lane below the current one, for work of the run's own on a test's behalf (the narrowing of a
        failure: `X017n.1`)."""
        lane = self.lane
        return _Lane(f"{lane.prefix}{suffix}", lane.test, lane.serves, lane.api, lane.depth + 1)

    def enter(self, lane: _Lane) -> None:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        stack.append(lane)

    def leave(self) -> None:
        self._local.stack.pop()

    @property
    def lane(self) -> _Lane:
        stack = getattr(self._local, "stack", None)
        return stack[-1] if stack else self._prep

    @property
    def prep_lane(self) -> _Lane:
        """The run's own preparation (`P.n`: tokens)."""
        return self._prep

    @property
    def current_test(self) -> str:
        return self.lane.test

    def case_seed(self, test: str | None = None) -> int:
        return zlib.crc32(f"{self.seed}:{test if test is not None else self.current_test}".encode()) & 0x7FFFFFFF

    # ------------------------------------------------------------------ concurrency
    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="fibrecert-lane",
                                                initializer=share_hypothesis_prng)
            return self._pool

    def each(self, items: Iterable[Any], fn: Callable[[Any], Any]) -> list[Any]:
        """Run `fn` over independent items, each in a lane of its own (so its exchanges get the same ids
        whether it runs alone or beside others), concurrently up to the run's bound. `items` may be lazy:
        each is started as soon as it is produced. Results come back in item order; the first exception
        (in item order) is raised once every item has finished."""
        fan = self._fan_out(fn)
        for item in items:
            fan.submit(item)
        return fan.join()

    def _fan_out(self, fn: Callable[[Any], Any]) -> "_FanOut":
        parent = self.lane
        sequential = self.concurrency == 1 or parent.depth >= 1 or getattr(self._local, "in_pool", False)
        return _FanOut(self, parent, fn, None if sequential else self._executor())

    # ------------------------------------------------------------------ generation
    def draw(self, strategy: Any, examples: int, on_value: Callable[[Any], None] | None = None) -> list[Any]:
        """`examples` values from a Hypothesis strategy, reproducibly from the run's seed and the test;
        `on_value` (if given) is handed each value as soon as it is drawn.

        Health checks stay on, except `too_slow`: it times generation on whatever machine runs the
        suite (a busy CI runner says nothing about the target); generation cost lives in bench/."""
        import hypothesis
        from hypothesis import HealthCheck, Phase, Verbosity

        collected: list[Any] = []

        @hypothesis.seed(self.case_seed())
        @hypothesis.settings(max_examples=examples, database=None, deadline=None,
                             phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow],
                             verbosity=Verbosity.quiet, derandomize=False, print_blob=False)
        @hypothesis.given(strategy)
        def collect(value: Any) -> None:
            collected.append(value)
            if on_value is not None:
                on_value(value)

        with self._gen_lock, self.generating():
            collect()
        return collected

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        """Count the CPU time of the block as the current test's generating time (bench/ reads it from
        the `test_finished` events: no test should spend over a second generating before its first
        request). The block's thread clock stays readable from other threads while it runs, so the
        test's first send can tell how much of it was spent before that request."""
        test = self.lane.test
        clock = _thread_clock()
        started, token = _clock_now(clock), object()
        with self._lock:
            self._open_generating.setdefault(test, {})[token] = (clock, started)
        try:
            yield
        finally:
            spent = _clock_now(clock) - started
            with self._lock:
                self._open_generating[test].pop(token, None)
                self._generating[test] = self._generating.get(test, 0.0) + spent

    def _first_send(self, test: str) -> None:
        """Note how much CPU `test` had spent generating when it sent its first request."""
        with self._lock:
            if test in self._generating_before_first:
                return
            spent = self._generating.get(test, 0.0)
            for clock, started in self._open_generating.get(test, {}).values():
                if clock is not None:  # another thread's clock is readable only where it has an id (Linux)
                    spent += time.clock_gettime(clock) - started
            self._generating_before_first[test] = spent

    def generating_seconds(self, test: str) -> tuple[float, float]:
        """CPU time spent drawing examples for `test` (waits for the generator excluded): in all, and
        before its first request (all of it, if it sent none)."""
        with self._lock:
            total = self._generating.get(test, 0.0)
            return total, self._generating_before_first.get(test, total)

    def example(self, key: str, strategy: Any) -> Any:
        """One value of `strategy`, drawn once per run for `key` (reproducibly from the seed and the key,
        whichever test asks first) and handed out as a fresh copy: the base of cases that each change one
        thing (remove an element, a field) needs no new draw each time."""
        import copy

        with self._gen_lock:
            if key not in self._examples:
                lane = self.lane
                self.enter(_Lane(lane.prefix, f"example:{key}", lane.serves, lane.api))
                try:
                    values = self.draw(strategy, 1)
                finally:
                    self.leave()
                if not values:
                    raise NoExamples(f"the generator produced no example for {key}")
                self._examples[key] = values[0]
            return copy.deepcopy(self._examples[key])

    def explore(self, strategy: Any, fn: Callable[[Any], None], *, examples: int | None = None) -> int:
        """Send each drawn example in its own lane, the first while the rest are still being drawn (the
        values, and so the cases, are the same as drawing them all first). A strategy that yields nothing
        is an error of the test: its requirements become not_tested."""
        fan = self._fan_out(fn)
        try:
            values = self.draw(strategy, examples or self.profile.examples,
                               on_value=fan.submit if fan.pool is not None else None)
        except BaseException:
            fan.join(raising=False)
            raise
        if not values:
            raise NoExamples("the generator produced no example")
        if fan.pool is None:  # sequential: send after drawing (a lane may draw too, under the same lock)
            for value in values:
                fan.submit(value)
        fan.join()
        return len(values)

    # ------------------------------------------------------------------ cases and sending
    def new_case(self, *, api: str, operation: str, endpoint: str, path: str, identity: Identity, body: Body,
                 method: str = "POST", headers: dict[str, str] | None = None, omit_headers: Sequence[str] = (),
                 bindings: dict[str, Binding] | None = None, constraint: str | None = None, note: str = "",
                 tags: Iterable[str] = (), may_be_refused: bool = False) -> Case:
        lane = self.lane
        binds = dict(bindings or {})
        after: list[str] = []
        order = binds.get(ORDER) or self._order_binding(api, operation, body)
        if order is not None:
            binds[ORDER] = order
            if order.source:
                after.append(order.source)
        if lane.sequence:
            after.extend(e.id for e in lane.sequence)
        case = Case(id=lane.next_id(), api=api, operation=operation, endpoint=endpoint, path=path, identity=identity,
                    body=body, method=method, headers=tuple((headers or {}).items()), omit_headers=tuple(omit_headers),
                    bindings=tuple(sorted(binds.items())), after=tuple(dict.fromkeys(after)), test=lane.test,
                    serves=lane.serves, constraint=constraint, note=note,
                    tags=frozenset(tags) | self._tags(api, method, identity, body), may_be_refused=may_be_refused)
        return case

    def message_id(self, generated: str = "") -> str:
        """messageId is "A unique ID to identify the message": a repeat may rightly be answered with the
        first answer or a fault (profile rule 11), so every message the suite sends gets its own, keeping
        the generated text in front of a run-unique, deterministic suffix."""
        return f"{generated}~{self.run_tag}-{self.lane.message_suffix()}"

    def token(self, kind: str = "hex", size: int = 12) -> str:
        """A value that must differ between cases (a serviceId, a reference, a UUID), derived from the seed
        and where the case is made, so that the same seed sends the same cases whatever the concurrency."""
        import hashlib
        import uuid

        lane = self.lane
        digest = hashlib.sha256(f"{self.seed}:{lane.prefix}:{lane.next_token()}".encode()).hexdigest()
        if kind == "uuid":
            return str(uuid.UUID(hex=digest[:32], version=4))
        return digest[:size]

    def _order_binding(self, api: str, operation: str, body: Body) -> Binding | None:
        """A case naming an order an earlier answer assigned is bound to it (replay carries the new one)."""
        named = dialect(api).order_named(operation, body)
        if named is None:
            return None
        value, path = named
        with self._lock:
            source = self._assigned.get((api, value))
        return Binding(value, path, source) if source else None

    def url(self, case: Case) -> str:
        """The target file's URL for the case's operation (fibrecert/endpoints.py: never recorded text;
        EndpointError when the case's endpoint or path is not its operation's)."""
        return endpoints.url_for(self.target, case.api, case.operation, case.endpoint, case.path)

    def interrupt(self) -> None:
        """Stop sending: every later send raises RunInterrupted, so the tests in flight end quickly."""
        self.interrupted = True
        self.transport.interrupt()

    def send(self, case: Case) -> Exchange:
        if self.interrupted:
            raise RunInterrupted("the run was interrupted")
        if case.api in self.unreachable:
            raise TargetUnreachable(self.unreachable[case.api])
        test = self.lane.test
        if test and test not in self._generating_before_first:
            self._first_send(test)
        section = target_section(self.target, case.api)
        url = endpoints.check_case(self.target, case)  # before any credential is looked at
        wire = dialect(case.api).sending(case, self.credentials)

        def attempt() -> Exchange:
            return self.transport.send(case, url=url, headers=wire.headers, body=wire.body,
                                       verify=str(section.ca_bundle) if section.ca_bundle else True,
                                       cert=wire.cert, timeout=section.timeout)

        ex = attempt()
        if ex.error == TLS_REFUSED and not case.refusal_expected and not self.interrupted:
            # A handshake that failed with valid credentials never reached HTTP: nothing was processed, so
            # it is safe to try once more (a busy target drops a handshake now and then) before the API is
            # given up as unreachable.
            time.sleep(0.1)
            ex = attempt()
        self._remember_assigned(ex)
        if ex.server_certificate:
            if case.api not in self.server_certificates:
                self.server_certificates[case.api] = ex.server_certificate
            self.certificates_seen.setdefault(origin_of(ex.url), set()).add(ex.server_certificate)
        self.bus.emit(ExchangeDone(ex))
        self._robustness(ex)
        lane = self.lane
        if lane.sequence is not None:
            lane.sequence.append(ex)
        self._breaker(ex)
        return ex

    def _remember_assigned(self, ex: Exchange) -> None:
        value = dialect(ex.api).order_assigned(ex)
        if value:
            with self._lock:
                self._assigned.setdefault((ex.api, value), ex.id)

    def _breaker(self, ex: Exchange) -> None:
        """Stop sending to an API that no longer answers: after the profile's `stop_after_timeouts`
        consecutive timeouts, or STOP_AFTER_THROTTLES requests in a row throttled past fibrecert's bounds
        (429/503 with Retry-After, not sent again: throttle.py), or when it cannot be reached with valid
        credentials, the API is unusable."""
        reason = None
        why = "target unreachable"
        with self._lock:
            if ex.throttle_bound and not self.interrupted:
                self._throttled[ex.api] = self._throttled.get(ex.api, 0) + 1
                if self._throttled[ex.api] >= STOP_AFTER_THROTTLES:
                    why = "target throttling past fibrecert's bounds"
                    reason = (f"{ex.api} {ex.url}: {STOP_AFTER_THROTTLES} requests in a row throttled past "
                              f"the bounds ({ex.throttle_bound})")
            elif ex.error == UNREACHABLE or (ex.error == TLS_REFUSED and not ex.refusal_expected):
                reason = f"{ex.api} {ex.url}: {ex.describe()}"
            elif ex.error == TIMEOUT:
                self._timeouts[ex.api] = self._timeouts.get(ex.api, 0) + 1
                if self._timeouts[ex.api] >= self.profile.stop_after_timeouts:
                    reason = (f"{ex.api} {ex.url}: stopped answering ({self.profile.stop_after_timeouts} timeouts "
                              "in a row)")
            elif ex.error is None:
                self._timeouts[ex.api] = 0
                self._throttled[ex.api] = 0
            if reason and ex.api not in self.unreachable:
                self.unreachable[ex.api] = reason
            elif reason:
                reason = None
        if reason:
            self.bus.emit(StoppedEarly(f"{why}: {reason}"))
            raise TargetUnreachable(reason)
        if ex.api in self.unreachable:
            raise TargetUnreachable(self.unreachable[ex.api])

    def _robustness(self, ex: Exchange) -> None:
        """ROB-*: no 5xx (judged on every answer), no hang (judged on every exchange that got past the
        handshake; a deliberate credential's refusal is its own requirement's business)."""
        rob_5xx, rob_hang = dialect(ex.api).rob
        if ex.error == THROTTLED:  # still throttled past fibrecert's bounds: no answer to judge (throttle.py)
            return
        if ex.answered or (ex.status is not None and ex.status >= 500):
            self.record(rob_5xx, [ex], self.run_check(no_server_error, [ex]))
        if ex.error in (UNREACHABLE, TLS_REFUSED) or (ex.refusal_expected and ex.error == DROPPED):
            return
        self.record(rob_hang, [ex], self.run_check(answered_in_time, [ex]))

    # ------------------------------------------------------------------ checks
    def run_check(self, fn: Callable[..., Any], exchanges: Sequence[Exchange], *args: Any) -> CheckOutcome:
        return run_check(fn, list(exchanges), *args)

    def record(self, requirement: str, exchanges: Sequence[Exchange], outcome: CheckOutcome, test: str = "",
               featured: bool = False) -> None:
        self.bus.emit(CheckDone(requirement=requirement, exchanges=tuple(exchanges), check=outcome.check,
                                args=tuple(outcome.args), passed=outcome.passed, exercised=outcome.exercised,
                                observed=outcome.observed, declared=outcome.declared,
                                test=test or self.current_test, featured=featured))

    def mark(self, requirement: str, outcome: str, reason: str, test: str = "") -> None:
        self.bus.emit(Marked(requirement, outcome, reason, test or self.current_test))

    def stop_early(self, reason: str) -> None:
        self.bus.emit(StoppedEarly(reason))

    # ------------------------------------------------------------------ giving up on an API
    def give_up(self, api: str, reason: str) -> None:
        """`api` cannot be used any more (its dialect found it so): nothing more is sent to it."""
        with self._lock:
            self.unreachable.setdefault(api, reason)
        self.bus.emit(StoppedEarly(f"target unreachable: {reason}"))
        raise TargetUnreachable(reason)

    def _fetch_token(self, tenant: str) -> str:
        """The credentials' token source: the dialect that issues tokens fetches one."""
        issuer = next(d for d in self.dialects.values() if hasattr(d, "fetch_token"))
        return issuer.fetch_token(self, tenant)  # type: ignore[attr-defined]

    @staticmethod
    def _tags(api: str, method: str, identity: Identity, body: Body) -> frozenset[str]:
        """The values a case exercises, named as requirements name them: `method=GET`, `identity=no-token`,
        and each documented enum value it sends (`reasonCode=OTHER`, `cfh:newOrderType=WLTO`)."""
        return frozenset({f"method={method}", f"identity={identity.name}", *dialect(api).enum_tags(body)})


def _now() -> str:
    import datetime as _dt

    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
