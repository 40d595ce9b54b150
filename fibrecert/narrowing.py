"""Naming the trigger of a failure on valid input (docs/reading-a-report.md#trigger).

When a request the contract calls valid, sent with the right credentials, is refused (a fault or an
error where acceptance was due) or answered with a 5xx, the engine narrows it down at the end of the test
that sent it, with a bounded number of extra requests:

1. the plainest valid request of the same shape (every field the contract's plain example value, e.g.
   `fibrecert`; target facts and test data as in the failing case) is sent: when it fails the same way,
   the values are not the trigger, and that is the finding;
2. otherwise the failing request is shrunk towards that plain request (delta debugging over its fields:
   the plain request with a subset of the failing case's field values, halving the subset while it still
   fails the same way) to the smallest set of fields that still fails: the minimal failing request;
3. each of those fields is classified (non-ASCII text, whitespace, at its maximum or minimum length, a
   particular enum value, empty, a large number, a date) and the minimal failing request is sent again
   with only that property of the value taken away (the same text in ASCII, one character shorter, the
   plain example's value...): when that one is accepted, the field and the value class are named.

Hypothesis' own shrinker is not used: the engine draws a test's values first and sends them later, many at
once, so a shrinker cannot wait on the target between two draws; and shrinking a text towards the
shortest string says less about a 5xx than taking whole fields back to a value known to be accepted.
(Stateful sequences are shrunk as programs of steps: suites/sequences.py.)

The finding becomes the note of the first evidence of each requirement the failure was judged for (the
minimal failing request, recorded as featured evidence), in every report format.

Bounds: at most REQUESTS_PER_FAILURE requests per narrowed failure (a probe that needs an order first
counts both requests), one failure narrowed per test (the one with the smallest exchange id, so the same
seed narrows the same case), at most REQUESTS_PER_RUN in a run, and at most CEASES_PER_RUN ALA active
services ceased by narrowing in a run, taken from the services the run claimed (a probe the target refuses
gives its service back). When a bound is reached, narrowing stops and says what it found so far.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from fibrecert.apis import dialect
from fibrecert.core.case import ORDER, JsonBody, SoapBody, id_key
from fibrecert.core.events import CheckDone
from fibrecert.narrowforms import MISSING, Path
from fibrecert.narrowforms import Stop as _Stop
from fibrecert.narrowforms import get as _get
from fibrecert.narrowforms import set_ as _set

REQUESTS_PER_FAILURE = 16
REQUESTS_PER_RUN = 160
CEASES_PER_RUN = 8
# Checks whose failure on a valid request means "refused, or crashed, where acceptance was due", and
# whose arguments do not depend on the request's values (so the same check judges every probe).
_ACCEPTANCE = ("status_in", "no_server_error")
_ROB = ("ROB-001", "ROB-011")

@dataclass
class _Candidate:
    exchanges: tuple[Any, ...]
    failures: list[tuple[str, str, tuple[Any, ...]]] = field(default_factory=list)  # (requirement, check, args)


def _acceptance_failure(check: str, args: tuple[Any, ...]) -> bool:
    if check == "no_server_error":
        return True
    return check == "status_in" and bool(args) and all(isinstance(a, int) and 200 <= a < 300 for a in args)


# ------------------------------------------------------------------------------------ paths and values
def _differences(failing: Any, good: Any, path: Path = ()) -> list[Path]:
    """The fields (paths) where the failing value and the plain one differ, as deep as both have the same
    structure."""
    if isinstance(failing, dict) and isinstance(good, dict):
        out: list[Path] = []
        for k in [*good, *(k for k in failing if k not in good)]:
            out += _differences(failing.get(k, MISSING), good.get(k, MISSING), (*path, k))
        return out
    if isinstance(failing, list) and isinstance(good, list) and len(failing) == len(good):
        out = []
        for i, (f, g) in enumerate(zip(failing, good)):
            out += _differences(f, g, (*path, i))
        return out
    if failing is MISSING and good is MISSING:
        return []
    return [] if (type(failing) is type(good) and failing == good) else [path]


def _hybrid(good: Any, failing: Any, fields: list[Path]) -> Any:
    out = copy.deepcopy(good)
    for p in sorted(fields, key=len):
        if _get(out, p[:-1]) is MISSING:
            continue
        _set(out, p, _get(failing, p))
    return out


def field_name(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f"/{part}" if text else str(part))
    return text


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text)} characters)"
    return repr(text) if isinstance(value, str) else text


# ------------------------------------------------------------------------------------ value classes
@dataclass(frozen=True)
class ValueClass:
    label: str          # what the failing value is: "non-ASCII text"
    neutral: Any        # the same value without that property (MISSING: the field left out)
    neutral_label: str  # what the contrast sends: "ASCII"


def value_classes(value: Any, plain: Any, facets: dict[str, Any]) -> list[ValueClass]:
    """The classes the failing value falls in, most specific first, each with the value that differs
    from it only in that respect."""
    out: list[ValueClass] = []
    enum = facets.get("enum")
    if value is MISSING:
        return [ValueClass("left out (an optional field absent)", plain, "it present")]
    if enum and value in enum:
        other = plain if plain is not MISSING and plain != value else next((e for e in enum if e != value), None)
        if other is not None:
            out.append(ValueClass(f"the documented value {value!r}", other, repr(other)))
        return out
    if isinstance(value, str):
        lo, hi = facets.get("minLength"), facets.get("maxLength")
        if any(ord(c) > 127 for c in value):
            ascii_text = "".join(c if ord(c) < 128 else "x" for c in value)
            out.append(ValueClass("non-ASCII text", ascii_text, "ASCII"))
        if value != value.strip() or any(c in value for c in "\t\n\r") or "  " in value:
            squeezed = " ".join(value.split()) or "x"
            out.append(ValueClass("whitespace-significant text (leading or trailing spaces, tabs, line breaks)",
                                  squeezed, "the same text with that whitespace squeezed out"))
        if hi is not None and len(value) == hi and (lo is None or hi - 1 >= lo):
            out.append(ValueClass(f"a value at its maximum length ({hi} characters)", value[:hi - 1],
                                  f"{hi - 1} characters"))
        if lo and len(value) == lo and (hi is None or lo + 1 <= hi):
            out.append(ValueClass(f"a value at its minimum length ({lo} character{'s' if lo > 1 else ''})",
                                  value + (value[-1] if value else "x"), f"{lo + 1} characters"))
        if value == "":
            out.append(ValueClass("an empty value (the optional field present but empty)",
                                  MISSING if facets.get("optional") else plain,
                                  "it left out" if facets.get("optional") else "a plain value"))
        if facets.get("date"):
            out.append(ValueClass(f"the date {value}", plain, f"the date {plain}"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if abs(value) > 2**31 - 1:
            out.append(ValueClass(f"a large number ({value}, beyond 32 bits)", plain, repr(plain)))
    if plain is not MISSING and plain != value:
        out.append(ValueClass(f"the value {_short(value)}", plain, f"the plain value {_short(plain)}"))
    return out


# ------------------------------------------------------------------------------------ the narrower
class Narrower:
    """Subscribed to the run's events: remembers, per test, the failures on valid requests it could
    narrow; `after_test` narrows the first of them (by exchange id) in the test's own lane."""

    def __init__(self, engine: Any):
        self.engine = engine
        self._lock = threading.Lock()
        self._by_test: dict[str, dict[str, _Candidate]] = {}
        self._narrowing: set[str] = set()
        self.sent = 0
        self.ceased = 0

    # -- collecting
    def observe(self, event: Any) -> None:
        if not isinstance(event, CheckDone) or event.passed or not event.exercised or event.featured:
            return
        if not _acceptance_failure(event.check, tuple(event.args)):
            return
        ex = event.exchange
        case = ex.case
        if not ex.answered or case.constraint or not isinstance(case.body, (SoapBody, JsonBody)):
            return
        if not self._default_identity(case) or getattr(self.engine.lane, "sequence", None) is not None:
            return
        earlier = [e.id for e in event.exchanges[:-1]]
        order = case.binding(ORDER)
        if earlier and (len(earlier) > 1 or order is None or order.source != earlier[0]):
            return  # judged in a longer chain (a sequence): not a single valid request
        test = event.test or case.test
        with self._lock:
            if test in self._narrowing:
                return
            cands = self._by_test.setdefault(test, {})
            cand = cands.get(ex.id)
            if cand is None:
                cand = cands[ex.id] = _Candidate(tuple(event.exchanges))
            elif len(event.exchanges) > len(cand.exchanges):  # the chain it was judged in (the order first)
                cand.exchanges = tuple(event.exchanges)
            cand.failures.append((event.requirement, event.check, tuple(event.args)))

    def _default_identity(self, case: Any) -> bool:
        from fibrecert.apis import dialect

        default = dialect(case.api).default_identity(case.operation)
        return default is not None and case.identity == default

    # -- narrowing
    def after_test(self, test: str) -> None:
        with self._lock:
            cands = self._by_test.pop(test, None)
            if not cands:
                return
            self._narrowing.add(test)
        try:
            if self.engine.interrupted:
                return
            # the first failure (by exchange id) of a requirement the test itself declares: ROB-* is judged
            # on every exchange, also on the orders a test places only to work on them
            own = [i for i in sorted(cands, key=id_key) if any(r not in _ROB for r, _, _ in cands[i].failures)]
            if not own:
                return
            cand = cands[own[0]]
            _Narrowing(self, cand, test).run()
        except Exception:  # noqa: BLE001 - narrowing explains a failure; it never adds one of its own
            pass
        finally:
            with self._lock:
                self._narrowing.discard(test)
                self._by_test.pop(test, None)


class _Narrowing:
    def __init__(self, narrower: Narrower, cand: _Candidate, test: str):
        self.narrower, self.engine, self.cand, self.test = narrower, narrower.engine, cand, test
        self.original = cand.exchanges[-1]
        self.case = self.original.case
        self.sent = 0
        self.probes = 0
        from fibrecert.checking import CHECKS

        requirement, check, args = next((f for f in cand.failures if f[0] not in _ROB), cand.failures[0])
        self.judge = (CHECKS[check], args)

    # -- one probe
    def _budget(self, cost: int) -> None:
        n = self.narrower
        with n._lock:  # noqa: SLF001
            if self.sent + cost > REQUESTS_PER_FAILURE:
                raise _Stop(f"the bound of {REQUESTS_PER_FAILURE} extra requests per failure was reached")
            if n.sent + cost > REQUESTS_PER_RUN:
                raise _Stop(f"the run's bound of {REQUESTS_PER_RUN} narrowing requests was reached")
            n.sent += cost
        self.sent += cost

    def _service(self) -> str:
        n = self.narrower
        with n._lock:  # noqa: SLF001
            if n.ceased >= CEASES_PER_RUN:
                raise _Stop(f"the run's allowance of {CEASES_PER_RUN} active services for narrowing is spent")
            n.ceased += 1
        try:
            return self.engine.services.take()
        except Exception:
            with n._lock:  # noqa: SLF001
                n.ceased -= 1
            raise _Stop("no active service is left for narrowing") from None

    def _give_back(self, ex: Any, service: str) -> None:
        if ex.status is not None and 400 <= ex.status < 500:  # refused: the service is still active
            self.engine.services.release(service)
            with self.narrower._lock:  # noqa: SLF001
                self.narrower.ceased -= 1

    def _service_path(self) -> Path | None:
        return next((tuple(b.path.split(".")) for k, b in self.case.bindings if k == "service" and b.path), None)

    def _setup(self) -> Callable[[Any], list[Any]]:
        """What a probe must send first: the order it works on (a cancellation), and the active service
        an ALA ceaseOrder ceases."""
        form, case = self.form, self.case
        order = case.binding(ORDER)
        service_path = self._service_path()

        def setup(data: Any) -> list[Any]:
            chain: list[Any] = []
            if order is not None and order.path:
                placed, new = form.place_order(self._budget)
                chain.extend(placed)
                _set(data, tuple(order.path.split(".")), new)
            if service_path is not None:
                _set(data, service_path, self._service())
            return chain

        return setup

    def probe(self, data: Any, what: str) -> tuple[str, list[Any]]:
        """Send one variant: "fails" (the same way as the original), "accepted", "other" (another answer),
        or "invalid" (not valid against the contract: not sent)."""
        if not self.form.valid(data):
            return "invalid", []
        self._budget(1)
        self.probes += 1
        setup = self._setup()
        service_path = self._service_path()
        holder: dict[str, Any] = {}

        def prepared(d: Any) -> list[Any]:
            chain = setup(d)
            if service_path is not None:
                holder["service"] = _get(d, service_path)
            return chain

        try:
            chain = self.form.send(data, f"narrowing {self.original.id}: {what}", prepared)
        except _Stop:  # it was never sent (no service left for it, no order to work on)
            with self.narrower._lock:  # noqa: SLF001
                self.narrower.sent -= 1
            self.sent -= 1
            self.probes -= 1
            raise
        last = chain[-1]
        if "service" in holder:
            self._give_back(last, holder["service"])
        fn, args = self.judge
        outcome = self.engine.run_check(fn, chain, *args)
        if not outcome.exercised:
            return "other", chain
        if outcome.passed:
            return "accepted", chain
        return ("fails" if last.status == self.original.status else "other"), chain

    # -- the search
    def run(self) -> None:
        engine = self.engine
        if engine.clients.get(self.case.api) is None:
            return
        self.form = dialect(self.case.api).narrowing_form(engine, self.case)
        if not self.form.ok or not self.form.valid(self.form.failing):
            return  # not a request the contract calls valid: nothing to narrow
        engine.enter(engine.sub_lane("n"))
        try:
            minimal, lines = self._search()
        finally:
            engine.leave()
        if minimal:  # the original itself (a bound stopped the shrinking) was counted already
            self._record(minimal, lines, counted=minimal[-1] is not self.original)
        elif lines:  # not named (a bound): said on the failing request itself, which was counted already
            self._record(list(self.cand.exchanges), lines, counted=False)

    def _search(self) -> tuple[list[Any] | None, list[str]]:
        form = self.form
        failing, good = form.failing, form.good
        fields = [p for p in _differences(failing, good) if p not in form.pinned]
        status = f"HTTP {self.original.status}"
        try:
            verdict, plain = self.probe(good, "the plain valid request of this shape")
        except _Stop as stop:
            return None, [f"Trigger not named: {stop}."]
        if verdict == "fails":
            return plain, [f"Trigger: not a field value: the plainest valid request of this shape (every field a plain "
                           f"example value, {plain[-1].id}) got {status} too.",
                           f"{self._spent()}."]
        if verdict != "accepted":
            return None, []
        minimal, chain, stopped = self._ddmin(fields)
        if not minimal:
            return None, []
        names = ", ".join(f"`{field_name(p)}`" for p in minimal)
        lines: list[str] = []
        confirmed: list[str] = []
        accepted_ids: list[str] = []
        hybrid = _hybrid(good, failing, minimal)
        for p in minimal[:3]:
            if stopped:
                break
            value = _get(failing, p)
            found = None
            for cls in value_classes(value, _get(good, p), form.facets(p))[:3]:
                variant = copy.deepcopy(hybrid)
                if _get(variant, p[:-1]) is MISSING:
                    continue
                _set(variant, p, cls.neutral)
                try:
                    verdict, contrast = self.probe(variant, f"`{field_name(p)}` as {cls.neutral_label}")
                except _Stop as stop:
                    stopped = str(stop)
                    break
                if verdict == "accepted":
                    found = cls
                    accepted_ids.append(contrast[-1].id)
                    break
            if found is not None:
                shown = "" if str(value) in found.label else f" ({_short(value)})"
                confirmed.append(f"`{field_name(p)}` holding {found.label}{shown}; the same request with "
                                 f"{found.neutral_label} there is accepted ({accepted_ids[-1]})")
        if confirmed:
            lines.append("Trigger: " + "; and ".join(confirmed) + ".")
        elif stopped:
            lines.append(f"Trigger not named: narrowed to {names} when a bound stopped it.")
        elif len(minimal) == 1:
            p = minimal[0]
            lines.append(f"Trigger: `{field_name(p)}` holding {_short(_get(failing, p))}; the plain valid request "
                         f"with only this field taken from the failing case fails, the plain request itself is accepted.")
        else:
            lines.append(f"Trigger: the fields {names} together; the plain valid request with only these fields "
                         f"taken from the failing case fails, and with any one of them plain it does not fail the same way.")
        if chain[-1] is self.original:
            lines.append(f"Smallest failing request found: {self.original.id} itself, {status}.")
        else:
            lines.append(f"Minimal failing request: {chain[-1].id} (the plain valid request of this shape with only "
                         f"{names} as in {self.original.id}), {status}.")
        lines.append(self._spent() + (f"; stopped early: {stopped}" if stopped else "") + ".")
        return chain, lines

    def _spent(self) -> str:
        return (f"Narrowed with {self.sent} extra request{'s' if self.sent != 1 else ''} "
                f"(bound {REQUESTS_PER_FAILURE})")

    def _ddmin(self, fields: list[Path]) -> tuple[list[Path], list[Any], str]:
        """Delta debugging: the smallest subset of `fields` (taken from the failing case into the plain
        request) that still fails the same way. The whole set fails (the original), none does not."""
        form = self.form
        current, chain = list(fields), [self.original]
        n = 2
        stopped = ""
        tried: dict[tuple[Path, ...], str] = {}

        def test(subset: list[Path]) -> bool:
            nonlocal chain
            key = tuple(subset)
            if key in tried:
                return tried[key] == "fails"
            verdict, sent = self.probe(_hybrid(form.good, form.failing, subset),
                                       f"{len(subset)} of the failing case's fields")
            tried[key] = verdict
            if verdict == "fails":
                chain = sent
            return verdict == "fails"

        try:
            while len(current) >= 2:
                size = -(-len(current) // n)
                chunks = [current[i:i + size] for i in range(0, len(current), size)]
                for chunk in chunks:
                    if test(chunk):
                        current, n = chunk, 2
                        break
                else:
                    for chunk in chunks if n > 2 else []:
                        rest = [p for p in current if p not in chunk]
                        if test(rest):
                            current, n = rest, max(n - 1, 2)
                            break
                    else:
                        if n >= len(current):
                            break
                        n = min(len(current), n * 2)
        except _Stop as stop:
            stopped = str(stop)
        if chain[-1] is self.original and current and not stopped:
            # the original is the smallest failing request found: send its plain-valued hybrid once to have one
            try:
                verdict, sent = self.probe(_hybrid(form.good, form.failing, current),
                                           f"{len(current)} of the failing case's fields")
                if verdict == "fails":
                    chain = sent
            except _Stop as stop:
                stopped = stopped or str(stop)
        return current, chain, stopped

    def _record(self, chain: list[Any], lines: list[str], counted: bool = True) -> None:
        from fibrecert.checking import CHECKS

        note = "\n".join(lines)
        engine = self.engine
        for requirement, check, args in dict.fromkeys(self.cand.failures):
            judged = tuple(chain) if requirement not in _ROB else (chain[-1],)  # ROB-*: judged alone
            outcome = engine.run_check(CHECKS[check], judged, *args)
            if not outcome.exercised or outcome.passed:
                continue
            engine.bus.emit(CheckDone(requirement=requirement, exchanges=judged, check=outcome.check,
                                      args=tuple(outcome.args), passed=False, observed=outcome.observed,
                                      declared=outcome.declared, test=self.test, featured=True, note=note,
                                      counted=counted and requirement not in _ROB))
