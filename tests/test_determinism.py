"""The same seed gives the same cases whatever the load and the concurrency (README: `--seed`): the same
seeded run three times against fresh reference sandboxes - as it is, on one core shared with busy
processes, and one request at a time - sends the same exchanges (the same operations, identities, bodies,
bindings and checks, in the same order within each lane: a test, a fanned-out case, a stateful sequence)
and puts the same exchanges in the report's evidence, in the same order - once the
values that must be fresh in every run are set aside: messageIds' run tag, UUIDs, time stamps, the
active services a lane happened to take from the shared pool, and the ids the target assigned
(sellerOrderReference, a Fibre Cafe order id), which depend on which lane reached the target first.

Kept short: the smoke profile and a subset that holds, for both APIs, the stateful explorers and flows
(INT-*), the generated valid traffic, a large fan-out of negatives and the malformed envelopes (raw
bodies, bound to the messageId they carry whichever thread issued it)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import zlib
from collections import defaultdict
from pathlib import Path

import pytest

from fibrecert import embedded
from fibrecert.runner import RunOptions, run

pytestmark = pytest.mark.slow

SEED = 4242
ONLY = ("INT-*", "ALA-CEASE-001", "ALA-CEASE-008", "ALA-SOAP-001", "FC-SO-001", "FC-SO-007")
BUSY_SECONDS = 120  # a busy process stops by itself after this, whatever happens to the test

FRESH = [  # (pattern, what it stands for): values that differ between runs by design
    (re.compile(r"~[0-9a-f]{12,}-"), "~<run>-"),
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?"), "<time>"),
    (re.compile(r"CF-SVC-[0-9A-F]{6}-B?\d{4,5}"), "<service>"),
    (re.compile(r"CF-ORD-[0-9A-F]{16}"), "<order>"),
    (re.compile(r"(orderId\W{0,8})\d{1,9}\b"), r"\1<order id>"),
]


def _fresh(text: str) -> str:
    for pattern, stands_for in FRESH:
        text = pattern.sub(stands_for, text)
    return text


def _lanes(results: Path) -> dict[str, list[dict]]:
    """Every exchange of a run as it was sent, fresh values set aside, per lane in the lane's order; and
    under "evidence", the exchanges each requirement shows, in the report's order."""
    lanes: dict[str, list[dict]] = defaultdict(list)
    data = json.loads(results.read_text())
    lanes["evidence"] = [{"requirement": r["id"], "outcome": r["outcome"],
                          "exchanges": [e.get("exchange") for e in r.get("evidence", [])]} for r in data["requirements"]]
    for ex in data["exchanges"]:
        case = ex["case"]
        body = dict(case.get("body") or {})
        if "zlib_b64" in body:
            body["zlib_b64"] = zlib.decompress(base64.b64decode(body["zlib_b64"])).decode("utf-8", "replace")
        lane, step = ex["id"].rsplit(".", 1)
        lanes[lane].append({
            "step": step, "operation": ex["operation"], "method": case.get("method"), "identity": case.get("identity"),
            "test": case.get("test"), "constraint": case.get("constraint"), "note": _fresh(case.get("note") or ""),
            "headers": _fresh(json.dumps(case.get("headers"))), "body": _fresh(json.dumps(body, sort_keys=True)),
            "after": case.get("after"),
            "bindings": {k: (b.get("path"), b.get("source")) for k, b in (case.get("bindings") or {}).items()},
            "checks": [(c["requirement"], c["check"], c["outcome"]) for c in ex.get("checks", [])],
        })
    return lanes


def _run(tmp_path: Path, name: str, concurrency: int | None = None) -> Path:
    work = tmp_path / name
    sandbox = embedded.start(work / "state", work / "sandbox.toml")
    try:
        # a patient target file: the loaded run is judged on what it sends, not on how fast it was answered
        target = work / "target.toml"
        target.write_text(re.sub(r"(?m)^timeout = .*$", "timeout = 30", sandbox.target_file.read_text()))
        out, err = io.StringIO(), io.StringIO()
        code = run(RunOptions(target=str(target), profile="smoke", seed=SEED, only=ONLY, quiet=True,
                              concurrency=concurrency, report_dir=str(work / "report")), out=out, err=err)
    finally:
        sandbox.stop()
    assert code == 3, out.getvalue() + err.getvalue()  # a subset: INCOMPLETE, with nothing failed
    return work / "report" / "results.json"


def _differences(a_run: dict[str, list[dict]], b_run: dict[str, list[dict]]) -> list[str]:
    differing = []
    for lane in sorted(set(a_run) | set(b_run)):
        a, b = a_run.get(lane, []), b_run.get(lane, [])
        if a != b:
            at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            x, y = (a[at] if at < len(a) else {}), (b[at] if at < len(b) else {})
            differing.append(f"{lane} item {at + 1} ({len(a)} vs {len(b)}): "
                             + "; ".join(f"{k}: {str(x.get(k))[:300]!r} vs {str(y.get(k))[:300]!r}"
                                         for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)))
    return differing


def test_the_same_seed_sends_the_same_cases_under_load_and_whatever_the_concurrency(tmp_path):
    quiet = _lanes(_run(tmp_path, "quiet"))
    # The loaded run and its sandbox share one core with two busy processes (a third of a core each, as on
    # a machine running three times as many processes as it has cores), and the other cores stay free for
    # the rest of the test suite; without CPU affinity, every core gets a busy process and one more.
    pinned = hasattr(os, "sched_setaffinity")
    cores = os.sched_getaffinity(0) if pinned else set()
    core = {min(cores)} if pinned else set()
    spin = (f"import os, time\nif {pinned}: os.sched_setaffinity(0, {core!r})\n"
            f"end = time.monotonic() + {BUSY_SECONDS}\nwhile time.monotonic() < end: pass")
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2 if pinned else (os.cpu_count() or 2) + 1)]
    try:
        if pinned:
            os.sched_setaffinity(0, core)
        loaded = _lanes(_run(tmp_path, "loaded"))
        assert all(p.poll() is None for p in busy), "the CPU stayed loaded for the whole run"
    finally:
        if pinned:
            os.sched_setaffinity(0, cores)
        for p in busy:
            p.kill()
            p.wait(10)
    one_at_a_time = _lanes(_run(tmp_path, "sequential", concurrency=1))
    sent = [e for lane, items in quiet.items() if lane != "evidence" for e in items]
    assert len(sent) > 200, "the subset is large enough to say something"
    assert {"stateful", "negative"} <= {word for e in sent for word in ("stateful", "negative") if word in (e["test"] or "")}
    assert quiet["evidence"] and all(r["outcome"] != "fail" for r in quiet["evidence"])
    differing = _differences(quiet, loaded)
    assert not differing, f"{len(differing)} lanes differ under load:\n" + "\n".join(differing[:10])
    differing = _differences(quiet, one_at_a_time)
    assert not differing, f"{len(differing)} lanes differ at concurrency 1:\n" + "\n".join(differing[:10])
