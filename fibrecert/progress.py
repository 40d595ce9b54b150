"""What the terminal shows during and after a run: a handler over the engine's events, and the summary.

On a terminal: one live line (tests done of all, ETA, requests per API, requirements failed and warned
so far), redrawn in place at most ten times a second. The ETA weighs the tests still to run by what each
is expected to cost (fibrecert/expected_cost.py, measured per profile on the reference sandbox: the
requests it sends and how long it lasts): the larger of the expected requests left at this run's recent
rate, and the longest test left at this run's pace. It is shown only once it means something (a few
seconds of sending, a share of the work done, and a steady rate or a quarter of the tests finished),
never from the first test alone; with `-v` also one line per finished test. In a
CI log (not a terminal): plain lines, one every few seconds at most. Colour only on a terminal, never
with NO_COLOR. At the end: the fail / warn / not_tested requirements, a table per operation, the report's
path, and the verdict line last. Everything that came from the target is redacted and neutralised.
"""

from __future__ import annotations

import collections
import os
import statistics
import time
from typing import Any, TextIO

from fibrecert import contracts
from fibrecert.core.events import CheckDone, ExchangeDone, RunStarted, TestFinished, TestStarted
from fibrecert.wording import one_line, shown_path, terminal_safe

_COLOURS = {"pass": "32", "fail": "31", "warn": "33", "skip": "90", "not_tested": "35",
            "CONFORMANT": "1;32", "NON_CONFORMANT": "1;31", "INCOMPLETE": "1;33"}
PLAIN_INTERVAL = 5.0
LIVE_INTERVAL = 0.1
ETA_MIN_SECONDS = 2.0    # of sending before any ETA
ETA_MIN_SHARE = 0.05     # of the run's expected work done before any ETA
ETA_WINDOW = 3.0         # seconds: the rate is the recent one (a run ramps up, then its tail slows)
PACE_TESTS = 15          # the pace: the median of how long the last tests took against what was expected
PACE_MIN_SECONDS = 0.5   # (tests expected to last less are too short to say)
ETA_STEADY = 0.6         # the rate of the last window within this factor of the one before: it means something


def _safe(text: str, limit: int = 300) -> str:
    return terminal_safe(text, limit)


class Progress:
    def __init__(self, out: TextIO, *, quiet: bool = False, verbose: bool = False, tty: bool | None = None,
                 colour: bool | None = None, expected: dict[str, dict[str, tuple[int, float]]] | None = None,
                 clock: Any = time.monotonic):
        self.out, self.quiet, self.verbose = out, quiet, verbose
        self.tty = bool(tty if tty is not None else getattr(out, "isatty", lambda: False)())
        self.colour = self.tty and not os.environ.get("NO_COLOR") if colour is None else colour
        self.total = 0
        self.done = 0
        self.requests: dict[str, int] = {}
        self.failed: set[str] = set()
        self.warned: set[str] = set()
        self.clock = clock
        self.started = clock()
        self._last = 0.0
        if expected is None:
            from fibrecert.expected_cost import EXPECTED_COST

            expected = EXPECTED_COST
        self._table = expected
        self.weights: dict[str, float] = {}     # test -> expected requests + 1 (the test itself)
        self.seconds: dict[str, float] = {}     # test -> expected seconds from its start to its end
        self.started_at: dict[str, float] = {}
        self._paces: collections.deque[float] = collections.deque(maxlen=PACE_TESTS)  # lasted / expected
        self.sent_by_test: dict[str, int] = {}
        self.finished: set[str] = set()
        self.first_sent: float | None = None
        self._eta_shown = False
        self.work_done = 0.0                     # expected requests sent, plus one per finished test
        self._samples: collections.deque[tuple[float, float]] = collections.deque()  # (time, work_done)
        self._live = False
        self._levels = {r.id: r.level for r in contracts.requirements().values()}

    def paint(self, text: str, what: str) -> str:
        return f"\x1b[{_COLOURS[what]}m{text}\x1b[0m" if self.colour and what in _COLOURS else text

    # ------------------------------------------------------------------ events
    def __call__(self, event: Any) -> None:
        try:
            self._event(event)
        except OSError:  # the terminal or pipe went away (e.g. `| head`): the run goes on, quietly
            self.quiet, self.verbose = True, False

    def _event(self, event: Any) -> None:
        if isinstance(event, RunStarted):
            self.total, self.started = event.tests, self.clock()
            table = self._table.get(event.profile, {})
            typical = (statistics.median(r for r, _ in table.values()), statistics.median(s for _, s in table.values())) \
                if table else (0, 0.0)
            tests = getattr(event, "test_ids", ())
            self.weights = {t: table.get(t, typical)[0] + 1.0 for t in tests}
            self.seconds = {t: float(table.get(t, typical)[1]) for t in tests}
        elif isinstance(event, ExchangeDone):
            self.requests[event.exchange.api] = self.requests.get(event.exchange.api, 0) + 1
            test = event.exchange.case.test
            sent = self.sent_by_test[test] = self.sent_by_test.get(test, 0) + 1
            if test in self.weights and test not in self.finished and sent <= self.weights[test] - 1:
                self._work(1.0)
            if self.first_sent is None:
                self.first_sent = self.clock()
        elif isinstance(event, CheckDone) and event.exercised and not event.passed:
            (self.failed if self._levels.get(event.requirement) == "MUST" else self.warned).add(event.requirement)
        elif isinstance(event, TestStarted):
            self.started_at[event.test] = self.clock()
        elif isinstance(event, TestFinished):
            self.done += 1
            if event.test in self.started_at and self.seconds.get(event.test, 0.0) >= PACE_MIN_SECONDS:
                self._paces.append((self.clock() - self.started_at[event.test]) / self.seconds[event.test])
            if event.test in self.weights and event.test not in self.finished:
                weight = self.weights[event.test]
                self._work(weight - min(self.sent_by_test.get(event.test, 0), weight - 1))
            self.finished.add(event.test)
            if self.verbose and not self.quiet:
                name = event.test.split("::")[-1].removeprefix("test_").replace("_", " ")
                self._clear()
                mark = {"passed": "ok", "failed": "FAIL", "skipped": "skip", "error": "ERROR"}[event.outcome]
                line = f"[{self.done:>3}/{self.total}] {mark:<5} {event.api:<9} {_safe(name, 200)}"
                if event.reason and event.outcome != "passed":
                    line += f"  ({_safe(event.reason, 120)})"
                self.out.write(line + "\n")
                self.out.flush()
            self._tick(final=self.done == self.total)

    def _work(self, amount: float) -> None:
        now = self.clock()
        self.work_done += amount
        self._samples.append((now, self.work_done))
        while len(self._samples) > 2 and self._samples[1][0] <= now - 2 * ETA_WINDOW:
            self._samples.popleft()

    def _work_at(self, when: float) -> tuple[float, float]:
        """(time, work done) of the last sample at or before `when` (the oldest kept, if none is)."""
        best = self._samples[0]
        for sample in self._samples:
            if sample[0] > when:
                break
            best = sample
        return best

    def eta(self) -> float | None:
        """Seconds left, or None until that means something. The larger of:

        - throughput: the expected work left (each unfinished test's expected requests not yet sent, plus
          one for the test itself) at the rate work was done over the last two windows of ETA_WINDOW s;
        - the longest running test: a test that generates much and sends little lasts long for its
          requests; each running test's expected seconds, at this run's pace (the median of how long
          the last PACE_TESTS finished tests lasted against what was expected of them), less what it has run already (a test not
          started yet is in the throughput: how long it waits for its turn is not its own length).

        Meaningful: ETA_MIN_SECONDS of sending, ETA_MIN_SHARE of the expected work done, two windows of
        history, and a steady rate (the last window's within ETA_STEADY of the one before: a run ramps up
        while its first tests generate, and an ETA from the ramp would be several times too long) or a
        quarter of the tests finished. Once shown, it stays (re-estimated at each redraw)."""
        if not self.weights or self.first_sent is None or self.done >= self.total or not self._samples:
            return None
        now = self.clock()
        total = sum(self.weights.values())
        if now - self.first_sent < ETA_MIN_SECONDS or self.work_done < ETA_MIN_SHARE * total:
            return None
        oldest, _ = self._samples[0]
        if now - oldest < 2 * ETA_WINDOW * 0.9:
            return None
        t1, w1 = self._work_at(now - ETA_WINDOW)
        t0, w0 = self._work_at(now - 2 * ETA_WINDOW)
        recent = (self.work_done - w1) / max(now - t1, 1e-9)
        before = (w1 - w0) / max(t1 - t0, 1e-9)
        if not self._eta_shown:
            steady = recent > 0 and before > 0 and ETA_STEADY <= recent / before <= 1 / ETA_STEADY
            if not steady and self.done < self.total / 4:
                return None
            self._eta_shown = True
        rate = (self.work_done - w0) / max(now - t0, 1e-9)
        throughput = max(total - self.work_done, 0.0) / rate if rate > 0 else 0.0
        pace = min(max(statistics.median(self._paces), 0.25), 20.0) if self._paces else 1.0
        longest = max((pace * self.seconds.get(t, 0.0) - (now - self.started_at[t])
                       for t in self.started_at if t in self.weights and t not in self.finished), default=0.0)
        return max(throughput, longest, 0.0)

    def status(self) -> str:
        elapsed = self.clock() - self.started
        left = self.eta()
        eta = f", ETA {left:.0f} s" if left is not None else ""
        apis = " ".join(f"{api} {n}" for api, n in sorted(self.requests.items())) or "0"
        fails = self.paint(f"{len(self.failed)} failed", "fail") if self.failed else "0 failed"
        warns = self.paint(f"{len(self.warned)} warned", "warn") if self.warned else "0 warned"
        return (f"tests {self.done}/{self.total} ({elapsed:.0f} s{eta}) · requests {apis} · "
                f"requirements {fails}, {warns}")

    def _tick(self, final: bool = False) -> None:
        if self.quiet:
            return
        now = self.clock()
        if self.tty:
            if final or now - self._last >= LIVE_INTERVAL:
                self._last = now
                self.out.write("\r\x1b[2K" + self.status())
                self._live = True
                self.out.flush()
        elif final or now - self._last >= PLAIN_INTERVAL:
            self._last = now
            self.out.write(self.status() + "\n")
            self.out.flush()

    def _clear(self) -> None:
        if self._live:
            self.out.write("\r\x1b[2K")
            self._live = False

    # ------------------------------------------------------------------ the end
    def summary(self, result: Any, report_dir: Any, seconds: float) -> None:
        """Printed even with --quiet: the verdict is the product."""
        out = self.out
        self._clear()
        if self._live or (self.tty and not self.quiet):
            out.write("\n")
        for reason in result.incomplete_reasons:
            out.write(f"  incomplete: {_safe(reason)}\n")
        from fibrecert.throttle import describe

        throttled = describe(getattr(result, "throttling", None))
        if throttled:
            out.write(f"  {throttled}\n")
        for r in result.requirements:
            if r.outcome in ("fail", "warn", "not_tested"):
                first = next((e for e in r.evidence if e.get("kind") == "violation"), None)
                detail = one_line(f"{first['observed']} / Declared: {first['expected']}" if first else r.reason, 200)
                count = f" ({r.violations} violations)" if r.violations > 1 else ""
                out.write(f"  {self.paint(f'{r.outcome:<10}', r.outcome)} {r.id:<14} {_safe(detail)}{count}\n")
                note = (first or {}).get("note") or ""
                if note.startswith("Trigger"):  # what narrowing found (fibrecert/narrowing.py): its first line
                    out.write(f"  {'':<10} {'':<14} {_safe(note.splitlines()[0])}\n")
        by_op = result.by_operation()
        width = max([len(op) for op in by_op] + [9])
        columns = ("pass", "fail", "warn", "skip", "not_tested")
        out.write(f"  {'operation':<{width}}  " + "  ".join(f"{c:>10}" for c in columns) + "\n")
        for op, counts in by_op.items():
            cells = [self.paint(f"{counts[c]:>10}", c) if counts[c] and c != "pass" else f"{counts[c]:>10}"
                     for c in columns]
            out.write(f"  {op:<{width}}  " + "  ".join(cells) + "\n")
        from fibrecert.scope import headline

        out.write(f"Scope: {_safe(headline(getattr(result, 'scope', None)))}\n")
        out.write(f"Report: {shown_path(report_dir)}/index.html (also results.json, junit.xml)\n")
        counts = result.counts()
        verdict = self.paint(result.verdict, result.verdict)
        out.write(f"{verdict}: " + ", ".join(f"{counts[o]} {o}" for o in counts) +
                  f" ({len(result.requirements)} requirements, {result.requests_sent} requests, {seconds:.1f} s, "
                  f"seed {result.seed})\n")
        out.flush()
