"""The request budget a run announces before it starts: how many requests its profile is expected to send
(fibrecert/expected_cost.py, measured per test on the reference sandbox) and, under `--max-rps`, the least
time that takes. A vendor whose sandbox is rationed sees the cost before the first request."""

from __future__ import annotations

from typing import Iterable

from fibrecert.apis import dialect

__all__ = ["expected_requests", "budget_line"]


def expected_requests(profile: str, apis: Iterable[str]) -> dict[str, int]:
    """API -> the requests its tests sent at this profile on the reference sandbox (0 when not measured)."""
    from fibrecert.expected_cost import EXPECTED_COST

    table = EXPECTED_COST.get(profile, {})
    return {api: sum(n for test, (n, _) in table.items() if test.startswith(f"{api}/")) for api in apis}


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def budget_line(profile: str, apis: Iterable[str], max_rps: float | None, *, subset: bool = False) -> str:
    """One line for the run's preamble, e.g. "request budget: about 1226 requests (ALA 509, Fibre Cafe 717:
    what the standard profile sends to a conformant target; ...); at --max-rps 10 that takes at least 2 min
    03 s". A subset (--only/--skip) sends fewer: "at most about"."""
    per_api = expected_requests(profile, apis)
    total = sum(per_api.values())
    if not total:
        return ""
    parts = ", ".join(f"{dialect(a).short_name} {n}" for a, n in per_api.items())
    line = (f"request budget: {'at most ' if subset else ''}about {total} requests ({parts}: what the {profile} "
            "profile sends to a conformant target; narrowing a failure adds at most 16 per failure)")
    if max_rps:
        line += f"; at --max-rps {max_rps:g} that takes at least {_duration(total / max_rps)}"
    else:
        line += "; no --max-rps: as fast as the target answers"
    return line
