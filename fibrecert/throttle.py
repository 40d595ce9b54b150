"""Documented throttling: a target that answers 429 (Too Many Requests) or 503 (Service Unavailable) with a
`Retry-After` header has not answered the request; it has asked to be asked again later (RFC 9110
section 10.2.3, RFC 6585 section 4). fibrecert waits as long as it says and sends the same request again;
the answer that finally comes is the one the checks judge. A throttle is never a failure.

Bounded, so that a run never hangs on a target that keeps saying "later":
- one `Retry-After` longer than MAX_WAIT seconds is not waited for;
- the waits of one request together never exceed MAX_WAIT_PER_REQUEST seconds, and a request is sent at
  most MAX_SENDS times.
A request that runs into a bound is not sent again. A 429 past the bounds is no answer: its exchange ends
as THROTTLED, so the checks resting on it are not exercised (`not_tested` unless another exchange exercised
them). A 503 still 503 past the bounds is kept as the answer: a 5xx to what the client sent, judged by
ROB-001/ROB-011 like any 5xx. Either way the run's facts say how many requests that was, and a run with any
is INCOMPLETE at best (reports/model.py). A 429 or 503 without a usable `Retry-After` is an answer like any
other (a 503 is a 5xx: ROB-001/ROB-011).

`Retry-After` is either a number of seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2026 07:28:00 GMT`).
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import re
import threading
from typing import Any

__all__ = ["THROTTLE_STATUSES", "MAX_WAIT", "MAX_WAIT_PER_REQUEST", "MAX_SENDS", "retry_after", "Throttling"]

THROTTLE_STATUSES = frozenset({429, 503})
MAX_WAIT = 30.0
MAX_WAIT_PER_REQUEST = 30.0
MAX_SENDS = 8

_SECONDS = re.compile(r"[0-9]{1,10}")


def retry_after(value: str | None, now: _dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value, or None when it is absent or not one of its two forms.
    An HTTP-date in the past means now (0)."""
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return float(int(value))
    if not value or len(value) > 64:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 9110: HTTP-dates are GMT ("-0000" parses without a zone)
        when = when.replace(tzinfo=_dt.timezone.utc)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def throttle_wait(status: int | None, headers: dict[str, str]) -> float | None:
    """How long a documented throttle asks to wait: a 429 or 503 answer with a usable Retry-After; None
    for any other answer."""
    if status not in THROTTLE_STATUSES:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    return retry_after(value)


class Throttling:
    """The run's throttling facts (thread-safe): what the target answered 429/503 with Retry-After, how
    long fibrecert waited, and how many requests it gave up on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers: dict[int, int] = {}
        self.waited = 0.0
        self.requests: int = 0      # requests throttled at least once
        self.gave_up: int = 0       # requests not sent again (a bound was reached)
        self.resent: int = 0        # sends beyond each request's first (not in results' requests_sent)
        self.longest = 0.0          # the longest single wait asked for

    def throttled(self, status: int, asked: float, first: bool) -> None:
        with self._lock:
            self.answers[status] = self.answers.get(status, 0) + 1
            self.longest = max(self.longest, asked)
            if first:
                self.requests += 1

    def waited_for(self, seconds: float) -> None:
        """Waited `seconds`; the request is sent again next."""
        with self._lock:
            self.waited += seconds
            self.resent += 1

    def give_up(self) -> None:
        with self._lock:
            self.gave_up += 1

    def facts(self) -> dict[str, Any]:
        """results.json's `throttling` (the same keys whether or not the target throttled)."""
        with self._lock:
            return {"answers_429": self.answers.get(429, 0), "answers_503": self.answers.get(503, 0),
                    "requests_throttled": self.requests, "waited_s": round(self.waited, 3),
                    "longest_retry_after_s": round(self.longest, 3), "requests_not_resent": self.gave_up,
                    "resends": self.resent, "max_wait_s": MAX_WAIT, "max_wait_per_request_s": MAX_WAIT_PER_REQUEST,
                    "max_sends": MAX_SENDS}

    def line(self) -> str:
        """One line for the terminal and the report, or "" when the target never throttled."""
        f = self.facts()
        return describe(f)


def describe(f: dict[str, Any] | None) -> str:
    """The throttling facts in one sentence ("" when nothing was throttled)."""
    if not f or not (f.get("answers_429") or f.get("answers_503")):
        return ""
    parts = [f"{f[k]} HTTP {k[-3:]}" for k in ("answers_429", "answers_503") if f.get(k)]
    text = (f"throttled: {' and '.join(parts)} with Retry-After on {f.get('requests_throttled', 0)} requests; "
            f"waited {f.get('waited_s', 0):.1f} s in all and sent them again ({f.get('resends', 0)} sends beyond "
            "the requests' first, not counted in the requests sent; a throttle is never a failure)")
    if f.get("requests_not_resent"):
        text += (f"; {f['requests_not_resent']} requests not sent again past a bound (a Retry-After over "
                 f"{f.get('max_wait_s', MAX_WAIT):g} s, waits over {f.get('max_wait_per_request_s', MAX_WAIT_PER_REQUEST):g} s "
                 f"for one request, or still throttled after {f.get('max_sends', MAX_SENDS)} sends): a 429 is no answer "
                 "(its checks are not_tested), a 503 is kept as the answer (a 5xx); the run is INCOMPLETE at best")
    return text
