"""What the terminal shows during and after a run: a handler over the engine's events, and the summary.

On a terminal: one live line (tests done of all, ETA, requests per API, requirements failed and warned
so far), redrawn in place at most ten times a second; with `-v` also one line per finished test. In a
CI log (not a terminal): plain lines, one every few seconds at most. Colour only on a terminal, never
with NO_COLOR. At the end: the fail / warn / not_tested requirements, a table per operation, the report's
path, and the verdict line last. Everything that came from the target is redacted and neutralised.
"""

from __future__ import annotations

import os
import time
from typing import Any, TextIO

from fibrecert import contracts

_COLOURS = {"pass": "32", "fail": "31", "warn": "33", "skip": "90", "not_tested": "35",
            "CONFORMANT": "1;32", "NON_CONFORMANT": "1;31", "INCOMPLETE": "1;33"}
PLAIN_INTERVAL = 5.0
LIVE_INTERVAL = 0.1


def _safe(text: str, limit: int = 300) -> str:
    from fibrecert.runner import terminal_safe

    return terminal_safe(text, limit)


class Progress:
    def __init__(self, out: TextIO, *, quiet: bool = False, verbose: bool = False, tty: bool | None = None,
                 colour: bool | None = None):
        self.out, self.quiet, self.verbose = out, quiet, verbose
        self.tty = bool(tty if tty is not None else getattr(out, "isatty", lambda: False)())
        self.colour = self.tty and not os.environ.get("NO_COLOR") if colour is None else colour
        self.total = 0
        self.done = 0
        self.requests: dict[str, int] = {}
        self.failed: set[str] = set()
        self.warned: set[str] = set()
        self.started = time.monotonic()
        self._last = 0.0
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
        kind = event.type
        if kind == "run_started":
            self.total, self.started = event.tests, time.monotonic()
        elif kind == "exchange":
            self.requests[event.exchange.api] = self.requests.get(event.exchange.api, 0) + 1
        elif kind == "check" and event.exercised and not event.passed:
            (self.failed if self._levels.get(event.requirement) == "MUST" else self.warned).add(event.requirement)
        elif kind == "test_finished":
            self.done += 1
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

    def status(self) -> str:
        elapsed = time.monotonic() - self.started
        eta = ""
        if self.done and self.total and self.done < self.total:
            eta = f", ETA {elapsed / self.done * (self.total - self.done):.0f} s"
        apis = " ".join(f"{api} {n}" for api, n in sorted(self.requests.items())) or "0"
        fails = self.paint(f"{len(self.failed)} failed", "fail") if self.failed else "0 failed"
        warns = self.paint(f"{len(self.warned)} warned", "warn") if self.warned else "0 warned"
        return (f"tests {self.done}/{self.total} ({elapsed:.0f} s{eta}) · requests {apis} · "
                f"requirements {fails}, {warns}")

    def _tick(self, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
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
        for r in result.requirements:
            if r.outcome in ("fail", "warn", "not_tested"):
                first = next((e for e in r.evidence if e.get("kind") == "violation"), None)
                detail = f"{first['observed']} / Declared: {first['expected']}" if first else r.reason
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
        out.write(f"Report: {report_dir}/index.html (also results.json, junit.xml)\n")
        counts = result.counts()
        verdict = self.paint(result.verdict, result.verdict)
        out.write(f"{verdict}: " + ", ".join(f"{counts[o]} {o}" for o in counts) +
                  f" ({len(result.requirements)} requirements, {result.requests_sent} requests, {seconds:.1f} s, "
                  f"seed {result.seed})\n")
        out.flush()
