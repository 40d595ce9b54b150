"""Build the run's `RunResult` from the result model's typed snapshot, the run's facts and the catalogue;
`ReportHandler` does it as a handler over the run's events.

The report handler is subscribed to the engine's bus like every other output. It waits for `RunEnding`
(fibrecert/core/events.py), which carries the run's facts (`RunFacts`: seed, profile, times, selection,
target, ...); it then builds the result from those facts and the result model's snapshot of the events
before it, writes the three report files into the folder it was given, and keeps the result in
`.result`. Whoever ended the run then emits `RunFinished` with that result's verdict (`Engine.finish`):

    engine.end(interrupted=...)   # RunEnding(facts): the report handler builds and writes
    engine.finish(report.result)  # RunFinished(verdict, counts, ...): the last event

It reads nothing of the engine: what it needs is in the events.

This is where evidence leaves the engine's memory for the report files: every piece passes through the
one redaction function (`fibrecert.core.redaction.redact`, via `Exchange.evidence`) here (the handler
gets the events as they are, since evidence is redacted before its bodies are cut; the terminal and the
event log get events the bus has redacted).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from fibrecert import __version__, contracts
from fibrecert.apis import contract_versions, dialect
from fibrecert.core.events import RunEnding, RunFacts
from fibrecert.core.redaction import SecretRegistry, redact
from fibrecert.core.results import Observation, RequirementState, ResultModel, RunSnapshot
from fibrecert.scope import assess
from fibrecert.signing import digests
from fibrecert.wording import LIST_LIMIT, statuses

from .model import RequirementResult, RunResult, outcome_for
from .writers import write_all


def replay_line(results_path: str, exchange_id: str) -> str:
    return f"fibrecert replay {shlex.quote(results_path)} {exchange_id}"


def _checked(obs: Observation) -> str:
    """What a pass was checked for, readable: a status set as ranges ("status_in(any HTTP 4xx)"), a long
    list of arguments abbreviated with a count."""
    if obs.check in ("status_in", "status_not_in") and obs.args and all(isinstance(a, int) for a in obs.args):
        return f"{obs.check}({statuses(obs.args)})"
    args = [repr(a) for a in obs.args]
    if len(args) > LIST_LIMIT:
        args = args[:LIST_LIMIT - 1] + [f"… ({len(obs.args)} values)"]
    return f"{obs.check}({', '.join(args)})"


def _evidence(obs: Observation, kind: str, secrets: Any, results_path: str) -> dict[str, Any]:
    *earlier, last = obs.exchanges
    item = last.evidence(secrets)
    item.update({
        "kind": kind,
        "check": obs.check,
        "expected": redact(obs.declared, secrets) if kind == "violation" else _checked(obs),
        "observed": redact(obs.observed, secrets) if kind == "violation" else "as declared",
        "test": obs.test,
        "replay": replay_line(results_path, last.id),
    })
    if last.case.constraint:
        item["constraint"] = last.case.constraint
    if obs.note or last.case.note:
        item["note"] = redact(obs.note or last.case.note, secrets)
    if earlier:
        item["sequence"] = [e.evidence(secrets) for e in earlier]
    return item


def build_result(facts: RunFacts, snap: RunSnapshot, secrets: SecretRegistry | None) -> RunResult:
    """The run's result: the requirements selected (`facts.requirement_ids`), each judged from what the
    events recorded (`snap`), and the run's facts; everything shown redacted with `secrets`."""
    # The replay line names results.json relative to where the run was started: no absolute path
    # (or, when that cannot be said without it, as the file beside the report: results.json).
    results_path = facts.results_path
    selected = set(facts.requirement_ids)
    rows: list[RequirementResult] = []
    for req in contracts.requirements().values():
        if req.id not in selected:
            continue
        st = snap.requirements.get(req.id) or RequirementState(req.id)
        skipped = list(st.skipped)
        if req.role and req.role not in facts.roles.get(req.api, ()):
            skipped.append(f"the target file declares no {dialect(req.api).short_name} {req.role} role")
        missing = [v for v in req.exercise if v not in st.values]
        outcome, reason = outcome_for(req.level, st.passes, st.violations, st.not_tested, skipped, st.errors,
                                      unanswered=st.unanswered, missing_values=missing)
        evidence = [_evidence(o, "violation", secrets, results_path) for o in st.violating_evidence()]
        evidence += [_evidence(o, "pass", secrets, results_path) for o in st.passing_evidence()]
        rows.append(RequirementResult(
            id=req.id, api=req.api, operation=req.operation, level=req.level, basis=req.basis, text=req.text,
            source=req.source, quote=req.quote, outcome=outcome, cases=len(st.cases), reason=redact(reason, secrets),
            evidence=evidence, tests=sorted(st.tests), role=req.role, violations=st.violations, passes=st.passes,
            constraints=dict(sorted(st.constraints.items())), choice=req.choice))
    notes = [note for api in facts.apis for note in dialect(api).report_notes]
    return RunResult(
        tool={"name": "fibrecert", "version": __version__},
        contracts={api: contract_versions()[api] for api in facts.apis},
        target=dict(facts.target),
        seed=facts.seed, profile=facts.profile, started_at=facts.started_at, finished_at=facts.finished_at,
        duration_s=facts.duration_s, requests_sent=snap.requests_sent, requirements=rows,
        stopped_early=[redact(s, secrets) for s in snap.stopped_early], target_file=facts.target_file,
        notes=notes, exchanges=redact([r.to_json() for r in snap.exchanges], secrets),
        interrupted=facts.interrupted, selection=facts.selection, concurrency=facts.concurrency,
        signature=dict(facts.signature) if facts.signature is not None else None,
        test_data=({"active_services_ceased": sorted(facts.services_ceased)}
                   if any(dialect(api).uses_test_data for api in facts.sections) else {}),
        scope=assess(facts.profile, embedded=facts.embedded, selection=facts.selection),
        digests=digests(),
        server_certificates={o: sorted(fps) for o, fps in sorted(facts.server_certificates.items())},
        throttling=dict(facts.throttling))


class ReportHandler:
    """The report as a handler over the run's events (subscribe it to the engine's bus, in memory: not
    as an outside handler). On `RunEnding` it builds the `RunResult` from the event's facts and `results`'
    snapshot, writes index.html, results.json and junit.xml into `report_dir` when one is given, and
    keeps the result in `.result` (for the verdict event, the exit code, pytest's stash)."""

    def __init__(self, results: ResultModel, secrets: SecretRegistry | None, report_dir: Path | str | None = None):
        self.results, self.secrets = results, secrets
        self.report_dir = Path(report_dir) if report_dir is not None else None
        self.result: RunResult | None = None
        self.written: list[Path] = []

    def __call__(self, event: Any) -> None:
        if isinstance(event, RunEnding):
            self.result = build_result(event.facts, self.results.snapshot(), self.secrets)
            if self.report_dir is not None:
                self.written = write_all(self.result, self.report_dir)
