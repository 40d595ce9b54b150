"""What a run spends (requests, active services ceased) and what it buys (how soon each sandbox defect is
detected), per profile: the measurement behind issue 22's budgets.

For every sandbox defect (sandbox/defects.py) and each profile, the run of its API against the embedded
sandbox with that defect switched on, with a fixed seed, in process (as tests/test_defect_selftest.py
does: one sandbox per API and worker, switched from defect to defect, each run naming services it has not
ceased yet); and a clean run per API. Recorded per run:

- detected: the defect's primary requirement (the first it `violates`) ends fail/warn, and nothing fails
  that it does not declare (the self-test's own conditions);
- first detection: the first failing check on a requirement the defect `violates`, as the request index
  of its exchange (1-based, in the order the exchanges were answered) and its time on the run's clock
  (`t` of the check event: when the run knew). By default with `--concurrency 1`: one request at a
  time, so the index is the same from run to run (at 16 in flight it moves by tens with the scheduling)
  and is what a vendor's rate limit turns into time;
- requests sent, active services ceased; per test (clean runs): requests and services, each service
  sorted by what it was for: `accepted` (a cease the target accepted: a valid cease, a stateful order),
  `spent` (taken from the pool and not given back, although no cease of it was accepted: a conforming
  target leaves it active).

Runs are split over `--jobs` worker processes (default 2: two cores). Writes the raw records as JSON
(`--out`), prints Markdown; `--compare OLD.json` prints the before/after mutation table.

Usage:
    python bench/bench_budget.py --profiles smoke,standard --out before.json
    python bench/bench_budget.py --profiles smoke,standard --out after.json --compare before.json
    python bench/bench_budget.py --compare-only before.json after.json
    python bench/bench_budget.py --profiles standard --defects ala-x,fc-y --clean-only
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

SEED = 1


def _api(defect: str | None, api: str | None = None) -> str:
    if defect is None:
        assert api
        return api
    return "ala" if defect.startswith("ala-") else "fibrecafe"


def analyse(report: Path, events: Path, defect: str | None) -> dict:
    from fibrecert.sandbox import DEFECTS

    data = json.loads((report / "results.json").read_text())
    outcomes = {r["id"]: r["outcome"] for r in data["requirements"]}
    caught = {r for r, o in outcomes.items() if o in ("fail", "warn")}
    order: dict[str, int] = {}
    first = None
    violates = set(DEFECTS[defect].violates) if defect else set()
    for line in events.read_text().splitlines():
        e = json.loads(line)
        if e["type"] == "exchange":
            order.setdefault(e["id"], len(order) + 1)
        elif (first is None and e["type"] == "check" and not e["passed"] and e.get("exercised")
              and e["requirement"] in violates):
            first = {"index": order.get(e["exchange"]), "t": e["t"], "requirement": e["requirement"],
                     "exchange": e["exchange"], "test": e.get("test", "")}
    ceased = set((data.get("test_data") or {}).get("active_services_ceased", []))
    per_test: dict[str, dict] = defaultdict(lambda: {"requests": 0, "accepted": 0, "spent": 0})
    by_service: dict[str, tuple[str, bool]] = {}
    for ex in data["exchanges"]:
        case = ex["case"]
        test = case.get("test") or "(run)"
        per_test[test]["requests"] += 1
        service = ((case.get("bindings") or {}).get("service") or {}).get("value")
        if service in ceased and case.get("operation") == "POST /ceaseOrder":
            ok = str(ex.get("answer")) == "200"
            seen = by_service.get(service)
            if seen is None or (ok and not seen[1]):
                by_service[service] = (test, ok)
    for service in ceased:
        test, ok = by_service.get(service, ("(unattributed)", False))
        per_test[test]["accepted" if ok else "spent"] += 1
    declared = set(DEFECTS[defect].declared) if defect else set()
    return {
        "defect": defect, "verdict": data["verdict"],
        "requests": data["requests_sent"], "ceased": len(ceased), "duration_s": data["duration_s"],
        "caught": sorted(caught),
        "detected": bool(defect) and DEFECTS[defect].violates[0] in caught,
        "undeclared": sorted(caught - declared),
        "first": first, "per_test": dict(per_test),
    }


def worker(profile: str, jobs: list[tuple[str | None, str]], out: Path, seed: int, concurrency: int) -> None:
    """Runs the given (defect or None, api) in this process, one sandbox per API, appending records."""
    from fibrecert import embedded
    from fibrecert.runner import RunOptions, run

    root = Path(tempfile.mkdtemp(prefix="fibrecert-budget-"))
    sandboxes: dict[str, object] = {}
    try:
        for n, (defect, api) in enumerate(jobs):
            if api not in sandboxes:
                sandboxes[api] = embedded.start(root / f"state-{api}", root / f"target-{api}.toml", services=6000)
            sb = sandboxes[api]
            target = sb.reconfigure((defect,) if defect else (), root / f"t{n}.toml", services=400, timeout=10)
            report, events = root / f"r{n}", root / f"e{n}.ndjson"
            t0 = time.monotonic()
            code = run(RunOptions(target=str(target), api=api, profile=profile, report_dir=str(report), seed=seed,
                                  quiet=True, events=str(events), concurrency=concurrency), out=io.StringIO(), err=io.StringIO())
            record = analyse(report, events, defect)
            record.update({"profile": profile, "api": api, "exit": code, "wall": round(time.monotonic() - t0, 2)})
            with out.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
    finally:
        for sb in sandboxes.values():
            sb.stop()  # type: ignore[attr-defined]


def measure(profiles: list[str], defects: list[str], clean: bool, jobs: int, seed: int, concurrency: int) -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-budget-"))
    procs = []
    for profile in profiles:
        todo: list[tuple[str | None, str]] = [(None, a) for a in ("ala", "fibrecafe")] if clean else []
        todo += [(d, _api(d)) for d in defects]
        todo.sort(key=lambda j: j[1])  # one sandbox per API and worker, mostly
        for w in range(jobs):
            chunk = todo[w::jobs]
            if not chunk:
                continue
            spec = workdir / f"jobs-{profile}-{w}.json"
            spec.write_text(json.dumps(chunk))
            out = workdir / f"out-{profile}-{w}.ndjson"
            procs.append((subprocess.Popen([sys.executable, __file__, "--worker", str(spec), "--profiles", profile,
                                            "--seed", str(seed), "--concurrency", str(concurrency),
                                            "--out", str(out)]), out))
        for p, _ in procs:  # profiles one after another: each keeps the machine to itself
            p.wait()
    records = []
    for _, out in procs:
        if out.exists():
            records += [json.loads(line) for line in out.read_text().splitlines()]
    return records


def summary(records: list[dict]) -> str:
    lines = ["| profile | API | requests (clean run) | active services ceased (clean run) | defects detected | "
             "undeclared failures | first detection, request index (median / max) | time (median / max) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for profile in dict.fromkeys(r["profile"] for r in records):
        for api in ("ala", "fibrecafe"):
            rs = [r for r in records if r["profile"] == profile and r["api"] == api]
            clean = [r for r in rs if r["defect"] is None]
            ds = [r for r in rs if r["defect"]]
            idx = [r["first"]["index"] for r in ds if r["first"] and r["first"]["index"]]
            ts = [r["first"]["t"] for r in ds if r["first"]]
            lines.append(f"| {profile} | {api} | {clean[0]['requests'] if clean else '-'} | "
                         f"{clean[0]['ceased'] if clean else '-'} | {sum(r['detected'] for r in ds)}/{len(ds)} | "
                         f"{sum(bool(r['undeclared']) for r in ds)} | "
                         f"{statistics.median(idx) if idx else '-'} / {max(idx) if idx else '-'} | "
                         f"{statistics.median(ts) if ts else 0:.1f} s / {max(ts) if ts else 0:.1f} s |")
    return "\n".join(lines)


def per_test(records: list[dict]) -> str:
    lines = []
    for r in records:
        if r["defect"] is not None:
            continue
        lines.append(f"\n{r['profile']} {r['api']}: {r['requests']} requests, {r['ceased']} services ceased\n")
        lines.append("| test | requests | services accepted | services spent |")
        lines.append("| --- | ---: | ---: | ---: |")
        for test, v in sorted(r["per_test"].items(), key=lambda kv: (-kv[1]["accepted"] - kv[1]["spent"],
                                                                     -kv[1]["requests"])):
            lines.append(f"| {test} | {v['requests']} | {v['accepted']} | {v['spent']} |")
    return "\n".join(lines)


def compare(before: list[dict], after: list[dict]) -> str:
    """The mutation table: per defect and profile, detected and first detection, before and after."""
    def key(records: list[dict]) -> dict:
        return {(r["profile"], r["defect"]): r for r in records if r["defect"]}

    b, a = key(before), key(after)
    profiles = list(dict.fromkeys(p for p, _ in b))
    head = "| defect | " + " | ".join(f"{p} before | {p} after" for p in profiles) + " |"
    lines = [head, "| --- | " + " | ".join("--- | ---" for _ in profiles) + " |"]
    later = []

    def cell(r: dict | None) -> str:
        if r is None:
            return "-"
        if not r["detected"]:
            return "**missed**" + (f"; also {', '.join(r['undeclared'])}" if r["undeclared"] else "")
        f = r["first"]
        text = f"#{f['index']} ({f['t']:.1f} s)" if f else "yes"
        return text + (f"; also {', '.join(r['undeclared'])}" if r["undeclared"] else "")

    for d in sorted({d for _, d in b} | {d for _, d in a}):
        cells = []
        for p in profiles:
            rb, ra = b.get((p, d)), a.get((p, d))
            cells += [cell(rb), cell(ra)]
            if rb and ra and rb["first"] and ra["first"] and rb["first"]["index"] and ra["first"]["index"] \
                    and ra["first"]["index"] > rb["first"]["index"]:
                later.append(f"{p} {d}: #{rb['first']['index']} -> #{ra['first']['index']} "
                             f"({rb['first']['t']:.1f} s -> {ra['first']['t']:.1f} s)")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    if later:
        lines.append("\nLater by request index: " + "; ".join(later))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="smoke,standard")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--concurrency", type=int, default=1,
                    help="requests in flight (default 1: one request at a time, so the request index of the first "
                         "detection is the same from run to run, and is what a rate-limited run would see)")
    ap.add_argument("--defects", default="", help="comma-separated; default: every defect")
    ap.add_argument("--clean-only", action="store_true", help="only the clean runs (requests and services per test)")
    ap.add_argument("--no-clean", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--compare", type=Path, help="an earlier --out: print the before/after mutation table")
    ap.add_argument("--compare-only", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--per-test", action="store_true", help="also print requests and services per test (clean runs)")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.profiles, [tuple(j) for j in json.loads(args.worker.read_text())], args.out, args.seed,
               args.concurrency)
        return
    if args.compare_only:
        load = [[json.loads(x) for x in p.read_text().splitlines()] for p in args.compare_only]
        print(summary(load[0]) + "\n\n" + summary(load[1]) + "\n\n" + compare(*load))
        return
    from fibrecert.sandbox import DEFECTS

    defects = [] if args.clean_only else ([d for d in args.defects.split(",") if d] or sorted(DEFECTS))
    records = measure(args.profiles.split(","), defects, not args.no_clean, args.jobs, args.seed, args.concurrency)
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(summary(records))
    if args.per_test or args.clean_only:
        print(per_test(records))
    if args.compare:
        print("\n" + compare([json.loads(x) for x in args.compare.read_text().splitlines()], records))


if __name__ == "__main__":
    main()
