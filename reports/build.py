"""Build the run's `RunResult` from the recorder and the catalogue (used by the pytest plugin)."""

from __future__ import annotations

import datetime as _dt
import shlex
import time
from typing import Any

from fibrecert import CONTRACT_VERSIONS, __version__, contracts

from .model import RequirementResult, RunResult, outcome_for


def replay_line(results_path: str, exchange_id: str) -> str:
    return f"fibrecert replay {shlex.quote(results_path)} {exchange_id}"


def build_result(ctx: Any) -> RunResult:
    rec = ctx.recorder
    results_path = str((ctx.report_dir / "results.json") if ctx.report_dir else "results.json")
    rows: list[RequirementResult] = []
    roles = ctx.target.ala.roles if ctx.target.ala else ()
    for req in contracts.requirements().values():
        if req.api not in ctx.apis:
            continue
        skipped = list(rec.skipped.get(req.id, []))
        if req.api == "ala" and req.role and req.role not in roles:
            skipped.append(f"the target file declares no ALA {req.role} role")
        outcome, reason = outcome_for(req.level, rec.passes.get(req.id, 0), rec.failure_counts.get(req.id, 0),
                                      rec.not_tested.get(req.id, []), skipped, rec.errors.get(req.id, []))
        evidence: list[dict[str, Any]] = []
        for failure in rec.failures.get(req.id, []):
            *earlier, last = failure.exchanges
            item = last.evidence(ctx.secrets)
            scrub = ctx.secrets.scrub
            item.update({"expected": scrub(failure.declared), "observed": scrub(failure.observed), "test": failure.test,
                         "replay": replay_line(results_path, last.id)})
            if earlier:
                item["sequence"] = [e.evidence(ctx.secrets) for e in earlier]
            evidence.append(item)
        if outcome in ("fail", "warn") and not evidence:  # pragma: no cover - recorder keeps some
            reason = "failure recorded without evidence"
        rows.append(RequirementResult(
            id=req.id, api=req.api, operation=req.operation, level=req.level, basis=req.basis, text=req.text,
            source=req.source, quote=req.quote, outcome=outcome, cases=len(rec.cases.get(req.id, ())),
            reason=ctx.secrets.scrub(reason), evidence=evidence, tests=sorted(rec.tests.get(req.id, ())), role=req.role))
    notes = []
    if ctx.target.ala:
        notes.append("ALA access is also limited to agreed source IP addresses; that restriction cannot "
                     "be tested from the suite.")
    finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return RunResult(
        tool={"name": "fibrecert", "version": __version__},
        contracts={api: CONTRACT_VERSIONS[api] for api in ctx.apis},
        target={api: v for api, v in ctx.target.public().items() if api in ctx.apis},
        seed=ctx.seed, profile=ctx.profile.name, started_at=ctx.started_at, finished_at=finished,
        duration_s=time.monotonic() - ctx.started, requests_sent=ctx.transport.sent, requirements=rows,
        stopped_early=[ctx.secrets.scrub(s) for s in rec.stopped_early], target_file=str(ctx.target.path), notes=notes)
