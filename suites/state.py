"""Stateful certification: a model of what a target should remember, and the engine that sends
sequences of real calls to it and compares every answer with the model.

Models (`AlaModel`, `FibreCafeModel`) are plain state, no I/O: orders with their owner and state,
services and their cease state, the message ids a sequence has used. The machines in
`suites/ala/test_ala_stateful.py` and `suites/fibrecafe/test_fc_stateful.py` (Hypothesis rule-based
state machines over `SequenceMachine`) send the calls, read the model, and update it.

Everywhere else in the suites a check records its outcome instead of raising, so Hypothesis never
shrinks or replays against a stateful target. Sequences are the deliberate exception: a step whose
answer disagrees with the model raises `SequenceFailed`, which ends the sequence and Hypothesis'
generation. The failing sequence is then shrunk here, not by Hypothesis: each candidate is sent to the
real target and, for ALA, ceases real active services, so the shrinker works on the program of steps
(rule calls with the orders they use), slicing it to the failing order's steps and then deleting one
step at a time (with the steps that depend on it). Hypothesis' own shrinker, working on raw choices,
spent about 80 sequences and 48 active services to take a 4-step double cancel to 3 steps; this one
takes 3 or 4 sequences. Every candidate starts from an empty model and creates its own orders, so it
runs on fresh state. Shrinking is bounded (`SequenceBudget`); the shortest failing sequence per
requirement is then recorded once, whole, with `verify.fail`: its last exchange is the failing one,
the earlier ones are the sequence that led there.
"""

from __future__ import annotations

import functools
import inspect
import random
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn

from hypothesis.stateful import RuleBasedStateMachine

from fibrecert.transport import Exchange, TargetUnreachable

from .checks import CheckFailed
from .clients import OutOfTestData


# ------------------------------------------------------------------------------------ budgets
@dataclass(frozen=True)
class SequenceBudget:
    sequences: int          # generated sequences (Hypothesis examples), at most
    steps: int              # most steps (rule calls) in one generated sequence
    ceases: int             # ALA active services the generated sequences may cease
    shrink_requests: int    # requests the shrinking of failing sequences may send
    shrink_ceases: int      # ALA active services the shrinking may cease


BUDGETS = {
    "smoke": SequenceBudget(sequences=2, steps=6, ceases=4, shrink_requests=60, shrink_ceases=8),
    "standard": SequenceBudget(sequences=8, steps=10, ceases=20, shrink_requests=150, shrink_ceases=16),
    "full": SequenceBudget(sequences=25, steps=25, ceases=60, shrink_requests=400, shrink_ceases=40),
}


# ------------------------------------------------------------------------------------ models
IN_FLIGHT = "in_flight"
CANCEL_PENDING = "cancel_pending"   # ALA: cancellationStatus Pending; Fibre Cafe: cancellation accepted (201)
ACTIVE, CEASED = "active", "ceased"


@dataclass(eq=False)
class AlaOrder:
    name: str                   # o1, o2, ... within one sequence
    ref: str                    # the sellerOrderReference the target gave
    service: str
    correlation_id: str         # the order's event chain: its cease, repeats and cancels carry it
    buyer_order_ref: str
    cease: dict[str, Any]       # the ceaseOrder as sent (messageId included), for repeats
    state: str = IN_FLIGHT
    refused_intruder: str = ""  # the SEC requirement of another buyer's refused cancel since the owner's last one

    def __repr__(self) -> str:  # how Hypothesis and the step log name it
        return self.name


class AlaModel:
    """What an ALA seller should remember within one sequence (profile rule 11)."""

    def __init__(self) -> None:
        self.orders: dict[str, AlaOrder] = {}            # by sellerOrderReference
        self.services: dict[str, str] = {}               # serviceIdentifier -> active | ceased
        self.messages: dict[str, str] = {}               # messageId of an accepted ceaseOrder -> its sellerOrderReference
        self.names = 0

    def next_name(self) -> str:
        self.names += 1
        return f"o{self.names}"

    def service_state(self, service: str) -> str:
        return self.services.get(service, ACTIVE)

    def placed(self, order: AlaOrder) -> None:
        self.orders[order.ref] = order
        self.services[order.service] = CEASED
        self.messages[order.cease["message"]["messageId"]] = order.ref

    def cancelled(self, order: AlaOrder) -> None:
        order.state, order.refused_intruder = CANCEL_PENDING, ""

    def knows(self, ref: str) -> bool:
        return ref in self.orders


@dataclass(eq=False)
class FcOrder:
    name: str
    id: int
    tenant: str                 # "a" or "b"
    order_type: str
    state: str = IN_FLIGHT
    refused_intruder: bool = False

    def __repr__(self) -> str:
        return self.name


class FibreCafeModel:
    """What the Fibre Cafe should remember within one sequence (profile decisions 2-4)."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, int], FcOrder] = {}  # (tenant, id)
        self.cancellation_ids: set[int] = set()
        self.names = 0

    def next_name(self) -> str:
        self.names += 1
        return f"o{self.names}"

    def issued(self, tenant: str, order_id: int) -> bool:
        return (tenant, order_id) in self.orders

    def created(self, order: FcOrder) -> None:
        self.orders[(order.tenant, order.id)] = order

    def cancelled(self, order: FcOrder, cancellation_id: int | None) -> None:
        order.state, order.refused_intruder = CANCEL_PENDING, False
        if cancellation_id is not None:
            self.cancellation_ids.add(cancellation_id)


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
        entry = Step(fn.__name__, {k: Ref(v.name) if isinstance(v, (AlaOrder, FcOrder)) else v
                                   for k, v in call.items()})
        self.program.append(entry)
        result = fn(self, **call)
        if isinstance(result, (AlaOrder, FcOrder)):
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


# ------------------------------------------------------------------------------------ engine
@dataclass
class Failure:
    requirement: str
    observed: str
    declared: str
    exchanges: list[Exchange]
    steps: list[str]
    program: list[Step] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return (len(self.steps), len(self.exchanges))


class SequenceFailed(AssertionError):
    """A step's answer disagreed with the model (raised inside sequences only)."""

    def __init__(self, failure: Failure):
        super().__init__(f"{failure.requirement}: {failure.observed} / Declared: {failure.declared}")
        self.failure = failure


class _Stopped(Exception):
    """The target became unreachable during a sequence; the session holds the reason."""


class _OutOfBudget(Exception):
    """Shrinking has spent its budget."""


_VIOLATIONS: dict[str, type[SequenceFailed]] = {}


def _violation(requirement: str) -> type[SequenceFailed]:
    """One exception type per requirement (Hypothesis tells failures apart by type and place)."""
    if requirement not in _VIOLATIONS:
        _VIOLATIONS[requirement] = type(f"Violated_{requirement.replace('-', '_')}", (SequenceFailed,), {})
    return _VIOLATIONS[requirement]


class Session:
    """One suite test's sequences: the run, its `verify`, the budgets, and the shortest failures found."""

    def __init__(self, run: Any, verify: Any, *, seed: int, ceases: int | None = None):
        self.run, self.verify = run, verify
        self.budget = BUDGETS.get(run.profile.name, BUDGETS["standard"])
        self.seed = seed
        self.rng = random.Random(seed)
        self.failures: dict[str, Failure] = {}
        self.first_sizes: dict[str, tuple[int, int]] = {}
        self.stop: BaseException | None = None
        self.out_of_data: str | None = None
        self.shrinking = False
        self.shrink_sent = 0
        self.ceases_left = self.budget.ceases if ceases is None else ceases
        self.shrink_ceases_left = self.budget.shrink_ceases
        self.seen: dict[tuple[Any, ...], Exchange] = {}   # ids across all sequences of the test
        self.repeated: set[str] = set()                   # requirements a repeated id was recorded for

    # -- budgets
    def may_cease(self) -> bool:
        """An active service may be ceased (ALA): the target file has one left and the budget allows."""
        if self.run.ala.services.left == 0:
            self.out_of_data = ("active_services in the target file are used up (each is ceased once; "
                                "add more to test this requirement)")
            return False
        return (self.shrink_ceases_left if self.shrinking else self.ceases_left) > 0

    def take_service(self) -> str:
        if self.shrinking:
            if self.shrink_ceases_left <= 0:
                raise _OutOfBudget("shrinking has ceased as many active services as it may")
            self.shrink_ceases_left -= 1
        else:
            self.ceases_left -= 1
        return self.run.ala.services.take()

    def sent_one(self) -> None:
        if self.shrinking:
            self.shrink_sent += 1

    # -- outcomes
    def found(self, failure: Failure) -> None:
        self.first_sizes.setdefault(failure.requirement, failure.size)
        old = self.failures.get(failure.requirement)
        if old is None or failure.size <= old.size:  # ties: the later (a shrunk candidate) wins
            self.failures[failure.requirement] = failure

    def record(self) -> None:
        """Record the shortest failing sequence of each violated requirement, whole, as its evidence."""
        for requirement, f in sorted(self.failures.items()):
            first = self.first_sizes.get(requirement, f.size)
            shrunk = f", shrunk from {first[0]}" if first[0] > f.size[0] else ""
            path = " → ".join(f.steps)
            observed = f"{f.observed} (step {len(f.steps)} of {len(f.steps)}{shrunk}: {path})"
            self.verify.fail(requirement, f.exchanges, observed, f.declared)
        self.failures.clear()


class SequenceMachine(RuleBasedStateMachine):
    """Base of the API state machines: every exchange a sequence sends is logged in order, and every
    check's outcome recorded. A failed check records the sequence so far as the failure. It is *fatal*
    when the model can no longer predict what comes next (an unexpected status, no order reference):
    the step raises at once. Otherwise (an echo, a schema detail, a fault's shape) the sequence goes on,
    so later steps still exercise their requirements, and raises when it ends."""

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.log: list[Exchange] = []
        self.steps: list[str] = []
        self.program: list[Step] = []
        self.deviations: list[Failure] = []
        self.violations: set[str] = set()
        self.failed = False

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
        try:
            ex = send(*args, **kwargs)
        except TargetUnreachable as exc:
            self.session.stop = exc
            raise _Stopped(str(exc)) from None
        self.log.append(ex)
        self.session.sent_one()
        return ex

    # -- judging
    def _failure(self, requirement: str, observed: str, declared: str) -> Failure:
        failure = Failure(requirement, observed, declared, list(self.log), list(self.steps), list(self.program))
        self.session.found(failure)
        self.violations.add(requirement)
        return failure

    def violated(self, requirement: str, observed: str, declared: str) -> NoReturn:
        """A fatal disagreement with the model: the sequence stops here."""
        failure = self._failure(requirement, observed, declared)
        self.failed = True
        raise _violation(requirement)(failure)

    def deviated(self, requirement: str, observed: str, declared: str) -> None:
        """A disagreement the model can live with: recorded now, raised when the sequence ends."""
        self.deviations.append(self._failure(requirement, observed, declared))

    def passed(self, requirement: str) -> None:
        self.session.verify.passed(requirement, [self.log[-1]])

    def check(self, requirement: str, check: Callable[..., Any], *args: Any, fatal: bool = True) -> Any:
        """Run a registered check on the latest exchange; on failure stop the sequence (fatal) or note
        the deviation and return None; on success record a pass and return the check's value."""
        try:
            value = check(self.log[-1], *args)
        except CheckFailed as failure:
            if fatal:
                self.violated(requirement, failure.observed, failure.declared)
            self.deviated(requirement, failure.observed, failure.declared)
            return None
        self.passed(requirement)
        return value if value is not None else True

    def unique(self, requirement: str, kind: tuple[Any, ...], value: Any, in_sequence: bool, what: str) -> None:
        """A target-assigned id must be new: within the sequence (a model violation) and across the
        test's sequences (recorded directly, with the first exchange that had it)."""
        ex = self.log[-1]
        if in_sequence:
            self.violated(requirement, f"Received {what} {value!r} a second time in this sequence",
                          f"a {what} not given to any other {kind[0]}")
        first = self.session.seen.get((*kind, value))
        if first is not None and first.id != ex.id:
            if requirement not in self.session.repeated:  # once per test: the sequences say the rest
                self.session.repeated.add(requirement)
                self.session.verify.fail(requirement, [first, ex], f"Received {what} {value!r} twice, in two "
                                         "sequences", f"a {what} not given to any other {kind[0]}")
            return
        self.session.seen[(*kind, value)] = ex
        self.passed(requirement)


def _run(session: Session, factory: Callable[[], SequenceMachine], program: list[Step]) -> set[str]:
    """Send a program on a fresh machine; the requirements it violated."""
    machine = factory()
    try:
        machine.replay(program)
        machine.teardown()
    except SequenceFailed:
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
    """Scripted flows: each on a fresh machine and model, so each is its own short sequence. A flow
    that runs out of test data marks what it would have exercised not_tested."""
    for flow, exercises in flows:
        machine = factory()
        try:
            flow(machine)
            machine.teardown()
        except SequenceFailed:
            continue
        except OutOfTestData as exc:
            session.verify.not_tested(exercises, str(exc))
        except _Stopped:
            assert session.stop is not None
            raise session.stop from None
    session.record()


def explore(session: Session, factory: Callable[[], SequenceMachine]) -> None:
    """Generated sequences: Hypothesis draws up to `budget.sequences` sequences of up to `budget.steps`
    rule calls, reproducibly from the run's seed, until one fails; the shortest failing sequence of
    each violated requirement is then shrunk (within the budget) and recorded."""
    import hypothesis
    from hypothesis import HealthCheck, Phase, Verbosity
    from hypothesis.control import current_build_context
    from hypothesis.errors import HypothesisException
    from hypothesis.stateful import run_state_machine_as_test

    budget = session.budget

    def new_machine() -> SequenceMachine:
        # Hypothesis replays a failing example once more to report it: not against a stateful target
        # (it would cease more services); the failure is already recorded, and shrunk below.
        if session.stop is not None or current_build_context().is_final:
            hypothesis.reject()
        return factory()

    hypothesis.seed(session.seed)(new_machine)
    settings = hypothesis.settings(
        max_examples=budget.sequences, stateful_step_count=budget.steps, database=None, deadline=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
        derandomize=False, print_blob=False)
    try:
        run_state_machine_as_test(new_machine, settings=settings)
    except Exception as exc:  # noqa: BLE001 - sorted below: the target's failures, or a fibrecert bug
        if session.stop is not None:
            raise session.stop from None
        ours = (SequenceFailed, _Stopped, HypothesisException)
        if any(not isinstance(e, ours) for e in _leaves(exc)):
            session.record()
            raise
    if session.stop is not None:
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


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]
