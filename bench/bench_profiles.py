"""Benchmark `fibrecert run` per profile: wall time, requests sent, requests/s.

Usage: python bench/bench_profiles.py [--profiles smoke,standard,full] [--repeat 3] [--external]

Each run is a fresh `python -m fibrecert run --quiet --seed 1 --events E` subprocess (so import time
counts, as a user would see it). With --external the target is a `fibrecert sandbox` in a separate
process. Also measured per run: process start to the first answered request (the first exchange event's
time on the run's clock, `t0_unix` + `t`, less the moment this script started the process), the most CPU
time one test spent generating (`generating_ms` of its `test_finished` event) and the most before its
first request (`generating_before_first_ms`), checks per request and the active services ceased. Prints a Markdown table (medians of the repeats).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(profile: str, target: Path | None, workdir: Path) -> dict:
    report = workdir / f"r-{profile}-{time.monotonic_ns()}"
    events = workdir / f"e-{profile}-{time.monotonic_ns()}.ndjson"
    cmd = [sys.executable, "-m", "fibrecert", "run", "--profile", profile, "--quiet", "--seed", "1",
           "--report-dir", str(report), "--events", str(events)]
    if target:
        cmd += ["--target", str(target)]
    started, started_unix = time.monotonic(), time.time()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.monotonic() - started
    data = json.loads((report / "results.json").read_text())
    records = [json.loads(line) for line in events.read_text().splitlines()]
    # The first exchange's time on the run's own clock ("t" counts from t0_unix, in run_started).
    t0 = next(r["t0_unix"] for r in records if r["type"] == "run_started")
    first_t = min((r["t"] for r in records if r["type"] == "exchange"), default=None)
    first = (t0 + first_t - started_unix) if first_t is not None else None
    exchanges = sum(r["type"] == "exchange" for r in records)
    checks = sum(r["type"] == "check" and r.get("exercised", False) for r in records)
    generating = max((r.get("generating_ms", 0.0) for r in records if r["type"] == "test_finished"), default=0.0)
    # CPU one test spent generating before its first request was sent (draws only; waits for a free
    # slot under --concurrency, and the answer's round trip, are not generating).
    before_first = max((r.get("generating_before_first_ms", 0.0) for r in records if r["type"] == "test_finished"),
                       default=0.0)
    return {"wall": elapsed, "requests": data["requests_sent"], "verdict": data["verdict"],
            "first": first if first is not None else elapsed, "generating_ms": generating, "before_first": before_first,
            "checks_per_request": checks / max(exchanges, 1),
            "ceased": len((data.get("test_data") or {}).get("active_services_ceased", []))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="smoke,standard")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--external", action="store_true", help="target a `fibrecert sandbox` in another process")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-bench-"))
    print(f"| profile | target | wall time (median of {args.repeat}) | requests | requests/s | start to first "
          "request | most generating in one test | most generating in one test before its first request | checks per request | active services ceased | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for profile in args.profiles.split(","):
        runs = []
        for n in range(args.repeat):
            if not args.external:
                runs.append(one_run(profile, None, workdir))
                continue
            # a fresh sandbox process per run: active services are ceased for real, once each
            target = workdir / f"target-{profile}-{n}.toml"
            sandbox = subprocess.Popen([sys.executable, "-m", "fibrecert", "sandbox", "--state-dir",
                                        str(workdir / f"s-{profile}-{n}"), "--target-file", str(target)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while not target.exists():
                    time.sleep(0.1)
                time.sleep(0.3)
                runs.append(one_run(profile, target, workdir))
            finally:
                sandbox.terminate()
                sandbox.wait(timeout=10)
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("wall", "requests", "first", "generating_ms", "before_first", "checks_per_request", "ceased")}
        verdicts = sorted({r["verdict"] for r in runs})
        where = "external sandbox process" if args.external else "embedded sandbox"
        print(f"| {profile} | {where} | {med['wall']:.1f} s | {med['requests']:.0f} | {med['requests'] / med['wall']:.0f} | "
              f"{med['first']:.2f} s | {med['generating_ms']:.0f} ms | {med['before_first']:.0f} ms | {med['checks_per_request']:.1f} | "
              f"{med['ceased']:.0f} | {', '.join(verdicts)} |")


if __name__ == "__main__":
    main()
