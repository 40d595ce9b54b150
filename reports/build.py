"""Build the run's `RunResult` from the result model's typed snapshot and the catalogue.

This is where evidence leaves the engine's memory for the report files: every piece passes through the
one redaction function (`fibrecert.core.redaction.redact`, via `Exchange.evidence`) here.
"""

from __future__ import annotations

import datetime as _dt
import shlex
import time
from typing import Any

from fibrecert import __version__, contracts
from fibrecert.apis import contract_versions
from fibrecert.core.redaction import redact
from fibrecert.core.results import Observation, RequirementState
from fibrecert.scope import assess
from fibrecert.signing import digests
from fibrecert.wording import LIST_LIMIT, shown_path, statuses

from .model import RequirementResult, RunResult, outcome_for


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


def _target_file(engine: Any) -> str | None:
    """The target file for replay, relative to the report folder (where results.json is; replay resolves
    it from there, whatever folder it is started in), never absolute; None for the embedded sandbox's (a
    temporary file, gone after the run), or when it cannot be named without an absolute path (replay
    then asks for --target)."""
    given = getattr(engine, "target_file", engine.target.path)
    if not given:
        return None
    from pathlib import Path

    report = Path(engine.report_dir) if engine.report_dir is not None else Path.cwd()
    return shown_path(Path(given).resolve(), fallback="", base=report) or None


def build_result(engine: Any, *, interrupted: bool = False) -> RunResult:
    snap = engine.results.snapshot()
    secrets = engine.secrets
    # The replay line names results.json relative to where the run was started: no absolute path.
    # (or, when that cannot be said without it, as the file beside the report: results.json).
    results_path = shown_path((engine.report_dir / "results.json") if engine.report_dir else "results.json",
                              fallback="results.json")
    roles = engine.target.ala.roles if engine.target.ala else ()
    selected = set(engine.requirement_ids())
    rows: list[RequirementResult] = []
    for req in contracts.requirements().values():
        if req.id not in selected:
            continue
        st = snap.requirements.get(req.id) or RequirementState(req.id)
        skipped = list(st.skipped)
        if req.api == "ala" and req.role and req.role not in roles:
            skipped.append(f"the target file declares no ALA {req.role} role")
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
    notes = []
    if engine.target.ala and "ala" in engine.apis:
        notes.append("ALA access is also limited to agreed source IP addresses; that restriction cannot "
                     "be tested from the suite.")
    finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return RunResult(
        tool={"name": "fibrecert", "version": __version__},
        contracts={api: contract_versions()[api] for api in engine.apis},
        target={api: v for api, v in engine.target.public().items() if api in engine.apis},
        seed=engine.seed, profile=engine.profile.name, started_at=engine.started_at, finished_at=finished,
        duration_s=time.monotonic() - engine.started, requests_sent=snap.requests_sent, requirements=rows,
        stopped_early=[redact(s, secrets) for s in snap.stopped_early], target_file=_target_file(engine),
        notes=notes, exchanges=redact([r.to_json() for r in snap.exchanges], secrets),
        interrupted=interrupted, selection=engine.selection_text, concurrency=engine.concurrency,
        signature=engine.signature,
        test_data={"active_services_ceased": sorted(engine.services.consumed)} if engine.target.ala else {},
        scope=assess(engine.profile.name, embedded=getattr(engine, "embedded", False), selection=engine.selection_text),
        digests=digests(),
        server_certificates={o: sorted(fps) for o, fps in sorted(getattr(engine, "certificates_seen", {}).items())},
        throttling=engine.transport.throttling.facts())
