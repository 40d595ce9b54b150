"""Stateful certification: the engine that sends sequences of real calls to a target and compares every
answer with a model of what the target should remember (the models live beside their flows:
suites/ala/model.py, suites/fibrecafe/model.py; the machines in suites/ala/test_ala_stateful.py and
suites/fibrecafe/test_fc_stateful.py).

Every step's answer is judged by a registered check on the whole sequence so far (the chain: replay sends
it again, in order, on fresh state). A check whose failure leaves the model unable to predict what comes
next is fatal and ends the sequence; others are noted and the sequence goes on. Everywhere else in the
suites a check records its outcome instead of raising; sequences are the deliberate exception, so that a
failing sequence can be shrunk here - not by Hypothesis: each candidate is sent to the real target and,
for ALA, ceases real active services, so the shrinker works on the program of steps (rule calls with the
orders they use), slicing it to the failing order's steps and then deleting one step at a time (with the
steps that depend on it). Shrinking is bounded (`SequenceBudget`); the shortest failing sequence per
requirement is then recorded once, whole.

Generated sequences come from Hypothesis rule-based state machines, several explorers at once (each in a
lane of its own, from its own seed), since sequences are independent of one another; a sequence keeps
its order.
"""

from __future__ import annotations

import functools
import inspect
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from hypothesis.stateful import RuleBasedStateMachine

from fibrecert.checking import CheckOutcome
from fibrecert.core.exchange import Exchange, TargetUnreachable
from fibrecert.core.profile import SequenceBudget
from fibrecert.core.testdata import OutOfTestData

# budgets: the profile's `sequences` (fibrecert/core/profile.py, SequenceBudget)
IN_FLIGHT = "in_flight"
CANCEL_PENDING = "cancel_pending"   # ALA: cancellationStatus Pending; Fibre Cafe: cancellation accepted (201)
ACTIVE, CEASED = "active", "ceased"


# ------------------------------------------------------------------------------------ programs
class Ref(str):
    """A step argument that names an order created by an earlier step of the sequence."""


@dataclass
class Step:
    rule: str
    args: dict[str, Any]
    creates: str | None = None

    def names(self) -> set[str]:
        return {v for v in self.args.values() if isinstance(v, Ref)} | ({self.creates} if self.creates else set())


def recorded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Put under @rule: the call (rule name, arguments, orders by name) joins the machine's program,
    so that a failing sequence can be run again, shorter, on fresh state."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def step(self: "SequenceMachine", *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        call = dict(list(bound.arguments.items())[1:])
        entry = Step(fn.__name__, {k: Ref(v.name) if _is_order(v) else v for k, v in call.items()})
        self.program.append(entry)
        result = fn(self, **call)
        if _is_order(result):
            entry.creates = result.name
        return result

    return step


def _without(program: list[Step], i: int) -> list[Step] | None:
    """The program without step i and every later step using an order it (transitively) created;
    None when that would remove the last (failing) step."""
    removed, gone = {i}, set(filter(None, [program[i].creates]))
    for j in range(i + 1, len(program)):
        if program[j].names() & gone:
            removed.add(j)
            gone |= program[j].names()
    if len(program) - 1 in removed:
        return None
    return [s for k, s in enumerate(program) if k not in removed]


def _slice(program: list[Step]) -> list[Step]:
    """The failing (last) step and the earlier steps touching its orders, transitively."""
    keep, names = [len(program) - 1], program[-1].names()
    for k in range(len(program) - 2, -1, -1):
        if program[k].names() & names:
            keep.append(k)
            names |= program[k].names()
    return [program[k] for k in sorted(keep)]


class ModelOrder:
    """What an order of a model (suites/ala/model.py, suites/fibrecafe/model.py) is: a named object
    (`o1`, `o2`...), passed between the steps of a program by its `name`."""

    name: str


def _is_order(value: Any) -> bool:
    return isinstance(value, ModelOrder)


# ------------------------------------------------------------------------------------ engine
@dataclass
class Failure:
    requirement: str
    outcome: CheckOutcome
    exchanges: list[Exchange]
    steps: list[str]
    program: list[Step] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return (len(self.steps), len(self.exchanges))


class SequenceFailed(AssertionError):
    """A step's answer disagreed with the model (raised inside sequences only)."""

    def __init__(self, failure: Failure):
        super().__init__(f"{failure.requirement}: {failure.outcome.observed} / Declared: {failure.outcome.declared}")
        self.failure = failure


class _Stopped(Exception):
    """The target became unreachable during a sequence; the session holds the reason."""


class _Unanswered(Exception):
    """A step got no complete answer: the model cannot say what comes next (ROB-* records why)."""


class _OutOfBudget(Exception):
    """Shrinking has spent its budget."""


_VIOLATIONS: dict[str, type[SequenceFailed]] = {}
_VIOLATIONS_LOCK = threading.Lock()


def _violation(requirement: str) -> type[SequenceFailed]:
    """One exception type per requirement (Hypothesis tells failures apart by type and place)."""
    with _VIOLATIONS_LOCK:
        if requirement not in _VIOLATIONS:
            _VIOLATIONS[requirement] = type(f"Violated_{requirement.replace('-', '_')}", (SequenceFailed,), {})
        return _VIOLATIONS[requirement]


class Session:
    """One suite test's sequences: the engine, its `verify`, the budgets, and the shortest failures found.
    Shared by the test's explorers and flows, which run side by side: every change is under a lock."""

    def __init__(self, run: Any, verify: Any, *, seed: int, ceases: int | None = None):
        self.run, self.verify = run, verify
        self.budget: SequenceBudget = run.profile.sequences
        self.seed = seed
        self.rng = random.Random(seed)
        self.failures: dict[str, Failure] = {}
        self.first_sizes: dict[str, tuple[int, int]] = {}
        self.stop: BaseException | None = None
        self.out_of_data: str | None = None
        self.shrink_sent = 0
        self.ceases_left = self.budget.ceases if ceases is None else ceases
        self.shrink_ceases_left = self.budget.shrink_ceases
        self.seen: dict[tuple[Any, ...], Exchange] = {}   # ids across all sequences of the test
        self._local = threading.local()
        self.lock = threading.RLock()

    @property
    def shrinking(self) -> bool:
        return getattr(self._local, "shrinking", False)

    @shrinking.setter
    def shrinking(self, value: bool) -> None:
        self._local.shrinking = value

    # -- budgets
    def may_cease(self) -> bool:
        """An active service may be ceased (ALA): the target file has one left and the budget allows.
        An explorer spends a share of the budget of its own (`_explorer`), never what the explorers beside
        it have left: which rules a sequence may draw must not depend on how fast the others ran."""
        if self.run.services.left == 0:
            self.out_of_data = ("active_services in the target file are used up (each is ceased once; "
                                "add more to test this requirement)")
            return False
        own = self._own_budget()
        with self.lock:
            if own is not None:
                return own[0] > 0
            return (self.shrink_ceases_left if self.shrinking else self.ceases_left) > 0

    def take_service(self) -> str:
        own = self._own_budget()
        with self.lock:
            if own is not None:
                own[0] -= 1
            elif self.shrinking:
                if self.shrink_ceases_left <= 0:
                    raise _OutOfBudget("shrinking has ceased as many active services as it may")
                self.shrink_ceases_left -= 1
            else:
                self.ceases_left -= 1
        return self.run.services.take()

    def give_back(self) -> None:
        """A service taken with take_service() that the target left active (given back to the pool):
        it returns to the budget it was taken from."""
        own = self._own_budget()
        with self.lock:
            if own is not None:
                own[0] += 1
            elif self.shrinking:
                self.shrink_ceases_left += 1
            else:
                self.ceases_left += 1

    def _own_budget(self) -> list[int] | None:
        """The ceases left to the explorer whose lane this is (a one-item list), if it is one."""
        if self.shrinking:
            return None
        return getattr(self.run.lane, "explorer_ceases", {}).get(id(self))

    def sent_one(self) -> None:
        if self.shrinking:
            with self.lock:
                self.shrink_sent += 1

    # -- outcomes
    def found(self, failure: Failure) -> None:
        with self.lock:
            self.first_sizes.setdefault(failure.requirement, failure.size)
            old = self.failures.get(failure.requirement)
            if old is None or failure.size < old.size or (failure.size == old.size and self.shrinking):
                self.failures[failure.requirement] = failure

    def record(self) -> None:
        """Record the shortest failing sequence of each violated requirement, whole, as its evidence."""
        with self.lock:
            failures, self.failures = sorted(self.failures.items()), {}
        for requirement, f in failures:
            first = self.first_sizes.get(requirement, f.size)
            shrunk = f", shrunk from {first[0]}" if first[0] > f.size[0] else ""
            path = " → ".join(f.steps)
            outcome = CheckOutcome(f.outcome.check, f.outcome.args, exercised=True, passed=False,
                                   observed=f"{f.outcome.observed} (step {len(f.steps)} of {len(f.steps)}{shrunk}: {path})",
                                   declared=f.outcome.declared)
            self.verify.record(requirement, f.exchanges, outcome, featured=True)


class SequenceMachine(RuleBasedStateMachine):
    """Base of the API state machines: every exchange a sequence sends is logged in order (the chain each
    later case depends on), and every check's outcome recorded. A failed check records the sequence so
    far as the failure. It is *fatal* when the model can no longer predict what comes next (an
    unexpected status, no order reference): the step raises at once. Otherwise (an echo, a schema detail,
    a fault's shape) the sequence goes on, so later steps still exercise their requirements, and raises
    when it ends."""

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.run = session.run
        self.log: list[Exchange] = []
        self.steps: list[str] = []
        self.program: list[Step] = []
        self.deviations: list[Failure] = []
        self.violations: set[str] = set()
        self.failed = False
        lane = self.run.lane  # a machine's own randomness: deterministic whatever runs beside it
        lane.machines += 1
        self.rng = random.Random(f"{session.seed}:{lane.prefix}:{lane.machines}")

    def teardown(self) -> None:
        if self.deviations and not self.failed:
            self.failed = True
            first = self.deviations[0]
            raise _violation(first.requirement)(first)

    def replay(self, program: list[Step]) -> None:
        """Run a recorded program again on this (fresh) machine, orders mapped by name."""
        orders: dict[str, Any] = {}
        for step in program:
            args = {k: orders[v] if isinstance(v, Ref) else v for k, v in step.args.items()}
            result = getattr(self, step.rule)(**args)
            if step.creates:
                orders[step.creates] = result

    # -- sending
    def step(self, text: str) -> None:
        self.steps.append(text)

    def call(self, send: Callable[..., Exchange], *args: Any, **kwargs: Any) -> Exchange:
        """Send one step: the case depends on every earlier exchange of this sequence."""
        lane = self.run.lane
        outer, lane.sequence = lane.sequence, self.log
        try:
            ex = send(*args, **kwargs)
        except TargetUnreachable as exc:
            with self.session.lock:
                self.session.stop = self.session.stop or exc
            raise _Stopped(str(exc)) from None
        finally:
            lane.sequence = outer
        if not self.log or self.log[-1] is not ex:
            self.log.append(ex)
        self.session.sent_one()
        return ex

    # -- judging
    def _failure(self, requirement: str, outcome: CheckOutcome) -> Failure:
        failure = Failure(requirement, outcome, list(self.log), list(self.steps), list(self.program))
        self.session.found(failure)
        self.violations.add(requirement)
        return failure

    def check(self, requirement: str, check: Callable[..., Any], *args: Any, fatal: bool = True) -> Any:
        """Run a registered check on the sequence so far (its last exchange, or all of it for a relation
        check); a pass is recorded at once. A failure stops the sequence (fatal) or is noted (returns
        None). A step without a complete answer exercises nothing and ends the sequence."""
        outcome = self.run.run_check(check, self.log, *args)
        if not outcome.exercised:
            self.session.verify.record(requirement, list(self.log), outcome)
            raise _Unanswered(outcome.observed)
        if outcome.passed:
            self.session.verify.record(requirement, list(self.log), outcome)
            return outcome.value
        failure = self._failure(requirement, outcome)
        if fatal:
            self.failed = True
            raise _violation(requirement)(failure)
        self.deviations.append(failure)
        return None

    def unique(self, requirement: str, kind: tuple[Any, ...], what: str) -> None:
        """A target-assigned id must be new: within the sequence (a fatal model violation) and across the
        test's sequences (recorded with the first exchange that had it)."""
        from fibrecert.suites import checks as c

        ex = self.log[-1]
        self.check(requirement, c.distinct_ids, what)
        value = c.assigned_id(ex)
        with self.session.lock:
            first = self.session.seen.setdefault((*kind, value), ex)
        if first is not ex:
            outcome = self.run.run_check(c.distinct_ids, [first, ex], what)
            self.session.verify.record(requirement, [first, ex], outcome)


def _run(session: Session, factory: Callable[[], SequenceMachine], program: list[Step]) -> set[str]:
    """Send a program on a fresh machine; the requirements it violated."""
    machine = factory()
    try:
        machine.replay(program)
        machine.teardown()
    except (SequenceFailed, _Unanswered):
        pass
    except OutOfTestData:
        raise _OutOfBudget("active_services used up") from None
    return machine.violations


def shrink(session: Session, factory: Callable[[], SequenceMachine], requirement: str) -> None:
    """Shrink the shortest failing sequence of `requirement`: first to the steps touching the failing
    step's orders, then by deleting one step at a time (last to first), keeping every deletion after
    which the requirement still fails. Stops when nothing more can go, or at the budget."""
    best = session.failures[requirement].program
    budget = session.budget

    def still_fails(candidate: list[Step]) -> bool:
        if session.shrink_sent >= budget.shrink_requests:
            raise _OutOfBudget("shrinking has sent as many requests as it may")
        return requirement in _run(session, factory, candidate)

    session.shrinking = True
    try:
        sliced = _slice(best)
        if len(sliced) < len(best) and still_fails(sliced):
            best = sliced
        progress = True
        while progress:
            progress = False
            for i in range(len(best) - 2, -1, -1):
                candidate = _without(best, i)
                if candidate is not None and still_fails(candidate):
                    best, progress = candidate, True
                    break
    except _OutOfBudget:
        pass
    finally:
        session.shrinking = False


def run_flows(session: Session, factory: Callable[[], SequenceMachine],
              flows: list[tuple[Callable[[Any], None], tuple[str, ...]]]) -> None:
    """Scripted flows, side by side: each on a fresh machine and model, so each is its own short
    sequence. A flow that runs out of test data marks what it would have exercised not_tested."""
    def one(flow_and_exercises: tuple[Callable[[Any], None], tuple[str, ...]]) -> None:
        flow, exercises = flow_and_exercises
        machine = factory()
        try:
            flow(machine)
            machine.teardown()
        except (SequenceFailed, _Unanswered):
            return
        except OutOfTestData as exc:
            session.verify.not_tested(exercises, str(exc))

    try:
        session.run.each(flows, one)
    except _Stopped:
        pass
    if session.stop is not None:
        session.record()
        raise session.stop
    session.record()


def explore(session: Session, factory: Callable[[], SequenceMachine]) -> None:
    """Generated sequences: `budget.explorers` Hypothesis explorers side by side, each drawing up to its
    share of `budget.sequences` sequences of up to `budget.steps` rule calls, reproducibly from the run's
    seed, until one fails; the shortest failing sequence of each violated requirement is then shrunk
    (within the budget) and recorded."""
    budget = session.budget
    explorers = max(1, min(budget.explorers, budget.sequences))
    seeds = [session.rng.getrandbits(31) for _ in range(explorers)]

    def split(total: int) -> list[int]:
        return [total // explorers + (1 if i < total % explorers else 0) for i in range(explorers)]

    session.run.each(list(zip(seeds, split(budget.sequences), split(session.ceases_left))),
                     lambda s: _explorer(session, factory, *s))
    if session.stop is not None:
        session.record()
        raise session.stop
    try:
        for requirement in sorted(session.failures):
            if session.failures[requirement].program:
                shrink(session, factory, requirement)
    except _Stopped:
        assert session.stop is not None
        session.record()
        raise session.stop from None
    session.record()


def _explorer(session: Session, factory: Callable[[], SequenceMachine], seed: int, sequences: int,
              ceases: int) -> None:
    import hypothesis
    from hypothesis import HealthCheck, Phase, Verbosity
    from hypothesis.control import current_build_context
    from hypothesis.errors import HypothesisException
    from hypothesis.stateful import run_state_machine_as_test

    if sequences <= 0:
        return

    def new_machine() -> SequenceMachine:
        # Hypothesis replays a failing example once more to report it: not against a stateful target
        # (it would cease more services); the failure is already recorded, and shrunk later.
        if session.stop is not None or current_build_context().is_final:
            hypothesis.reject()
        return factory()

    hypothesis.seed(seed)(new_machine)
    # Health checks: too_slow is off (it times generation plus the target's answers on whatever machine
    # runs the suite); filter_too_much stays on. HealthCheck.nested_given does not apply here.
    settings = hypothesis.settings(
        max_examples=sequences, stateful_step_count=budget_steps(session), database=None, deadline=None,
        phases=[Phase.generate], suppress_health_check=[HealthCheck.too_slow], verbosity=Verbosity.quiet,
        derandomize=False, print_blob=False)
    lane = session.run.lane  # this explorer's own: its share of the ceases is kept there
    lane.explorer_ceases = own = {**lane.explorer_ceases, id(session): [ceases]}
    try:
        run_state_machine_as_test(new_machine, settings=settings)
    except Exception as exc:  # noqa: BLE001 - sorted below: the target's failures, or a fibrecert bug
        if session.stop is not None:
            return
        ours = (SequenceFailed, _Stopped, _Unanswered, HypothesisException)
        if any(not isinstance(e, ours) for e in _leaves(exc)):
            raise
    finally:
        with session.lock:
            session.ceases_left -= ceases - own[id(session)][0]


def budget_steps(session: Session) -> int:
    return session.budget.steps


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]
