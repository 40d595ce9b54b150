"""The report is a handler over the run's events (reports/build.py): RunEnding carries the run's facts,
the handler builds the result from them and the result model's snapshot, writes the three files, and
the facts reach the outside handlers (terminal, event log) redacted by the bus, like every event."""

from __future__ import annotations

import json

from fibrecert.core.events import EventBus, Marked, RunEnding, RunFacts, RunFinished
from fibrecert.core.redaction import SecretRegistry
from fibrecert.core.results import ResultModel
from fibrecert.reports.build import ReportHandler

SECRET = "s3cr3t-value-7f1e"


def _facts(**over: object) -> RunFacts:
    values: dict = dict(
        seed=7, profile="smoke", apis=("fibrecafe",), requirement_ids=("FC-SO-001",),
        target={"fibrecafe": {"base_url": "https://fc.example/v1", "token_url": "https://fc.example/token"}},
        sections=("fibrecafe",), roles={}, target_file="../t.toml", results_path="r/results.json", started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:05+00:00", duration_s=5.0, selection="FC-SO-001 only", concurrency=2,
        throttling={"answers_429": 0}, interrupted=True)
    values.update(over)
    return RunFacts(**values)


def test_the_report_handler_builds_and_writes_the_report_on_run_ending(tmp_path):
    bus = EventBus(SecretRegistry([SECRET]))
    model = ResultModel()
    report = ReportHandler(model, bus.secrets, tmp_path / "r")
    bus.subscribe(model)
    bus.subscribe(report)
    seen: list = []
    bus.subscribe(seen.append, outside=True)
    bus.emit(Marked("FC-SO-001", "not_tested", f"the target answered {SECRET}"))
    assert report.result is None  # nothing before the run ends
    bus.emit(RunEnding(_facts(signature={"fingerprint": SECRET})))
    result = report.result
    assert result is not None and result.seed == 7 and result.profile == "smoke" and result.interrupted
    assert [r.id for r in result.requirements] == ["FC-SO-001"] and result.requirements[0].outcome == "not_tested"
    assert SECRET not in result.requirements[0].reason
    assert {p.name for p in report.written} == {"results.json", "junit.xml", "index.html"}
    data = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
    assert data["selection"] == "FC-SO-001 only" and data["concurrency"] == 2 and data["test_data"] == {}
    assert data["target_file"] == "../t.toml"
    # the outside handlers get the facts redacted, once, by the bus
    ending = next(e for e in seen if isinstance(e, RunEnding))
    assert ending.facts.signature == {"fingerprint": "[REDACTED]"} and ending.facts.seed == 7
    bus.emit(RunFinished(result.verdict, dict(result.counts()), result.requests_sent, result.duration_s))
    assert isinstance(seen[-1], RunFinished) and seen[-1].verdict == "INCOMPLETE"


def test_without_a_report_folder_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = ResultModel()
    report = ReportHandler(model, None)
    report(RunEnding(_facts()))
    assert report.result is not None and report.written == [] and list(tmp_path.iterdir()) == []
