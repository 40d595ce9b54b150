"""Checks: small registered functions that judge exchanges, and the two every exchange is judged by.

A check takes the last exchange (or, `relation=True`, the whole chain) and returns a value, or raises
`CheckFailed` with what was observed and what the contract declares. The suites' checks are in
suites/checks.py; the registry and the robustness checks (ROB-*: no 5xx, no hang; judged by the engine on
every exchange, whatever the test) live here, below the engine, so that the engine, the narrowing of a
failure and replay find a check by its name without importing the suites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from fibrecert.core.exchange import THROTTLED, Exchange

CHECKS: dict[str, Callable[..., Any]] = {}
CHECK_META: dict[str, dict[str, bool]] = {}


class CheckFailed(AssertionError):
    """A check's negative result: what was observed, and what the contract declares."""

    def __init__(self, observed: str, declared: str):
        super().__init__(f"{observed} / Declared: {declared}")
        self.observed, self.declared = observed, declared


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    args: tuple[Any, ...]
    exercised: bool
    passed: bool
    value: Any = None
    observed: str = ""
    declared: str = ""


def check(fn: Callable[..., Any] | None = None, *, on_refusal: bool = False, relation: bool = False) -> Any:
    """Register a check. `on_refusal`: the check judges an exchange that got no complete answer too (a
    refusal at the TLS handshake is what it is about); any other check on such an exchange is not run and
    exercises nothing. `relation`: the check receives the whole chain of exchanges, not only the last."""
    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        assert f.__name__ not in CHECKS, f.__name__
        CHECKS[f.__name__] = f
        CHECK_META[f.__name__] = {"on_refusal": on_refusal, "relation": relation}
        return f

    return register(fn) if fn is not None else register


def run_check(fn: Callable[..., Any], exchanges: list[Exchange], *args: Any) -> CheckOutcome:
    """Run one check: an exchange without a complete HTTP answer exercises only the checks that are about
    that very refusal (`on_refusal`); for any other it is recorded as unanswered, never as a pass."""
    name = getattr(fn, "__name__", str(fn))
    meta = CHECK_META.get(name, {})
    last = exchanges[-1]
    # A check rests on every exchange of its chain: one still throttled past fibrecert's bounds had no
    # answer (fibrecert/throttle.py), so neither a refusal check nor a later step's answer earns a pass.
    throttled = next((x for x in exchanges if x.error == THROTTLED), None)
    if throttled is not None:
        return CheckOutcome(name, args, exercised=False, passed=False,
                            observed=f"no complete answer to {throttled.operation} ({throttled.id}) in its "
                                     f"sequence: {throttled.describe()}")
    if not last.answered and not meta.get("on_refusal"):
        return CheckOutcome(name, args, exercised=False, passed=False,
                            observed=f"no complete answer: {last.describe()}")
    try:
        value = fn(list(exchanges) if meta.get("relation") else last, *args)
    except CheckFailed as failure:
        return CheckOutcome(name, args, exercised=True, passed=False, observed=failure.observed,
                            declared=failure.declared)
    return CheckOutcome(name, args, exercised=True, passed=True, value=value if value is not None else True)


# ----------------------------------------------------------------------------------- robustness (ROB-*)
@check
def no_server_error(ex: Exchange) -> None:
    """Profile (ALA rule 12, Fibre Cafe decision 6): nothing the client sends may produce a 5xx."""
    if ex.status is not None and ex.status >= 500:
        raise CheckFailed(f"Received HTTP {ex.status}", "no 5xx in answer to any request")


@check(on_refusal=True)
def answered_in_time(ex: Exchange) -> None:
    """Profile (ALA rule 12, Fibre Cafe decision 6): an answer within the target file's timeout."""
    if ex.error in ("timeout", "dropped"):
        raise CheckFailed(f"Received no complete answer: {ex.describe()}",
                          "an HTTP answer within the request timeout")
