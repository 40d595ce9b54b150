"""Benchmark `fibrecert run` per profile: wall time, requests sent, requests/s.

Usage: python bench/bench_profiles.py [--profiles smoke,standard,full] [--repeat 3] [--external]

Each run is a fresh `python -m fibrecert run --quiet --seed 1 --events E` subprocess (so import time
counts, as a user would see it). With --external the target is a `fibrecert sandbox` in a separate
process. Also measured per run: process start to the first request (the events file is watched while the
run goes), the most CPU time one test spent generating (`generating_ms` of its `test_finished` event),
checks per request and the active services ceased. Prints a Markdown table (medians of the repeats).
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
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while proc.poll() is None:
        if first is None and events.exists() and '"type": "exchange"' in events.read_text():
            first = time.monotonic() - started
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    data = json.loads((report / "results.json").read_text())
    records = [json.loads(line) for line in events.read_text().splitlines()]
    exchanges = sum(r["type"] == "exchange" for r in records)
    checks = sum(r["type"] == "check" and r.get("exercised", False) for r in records)
    generating = max((r.get("generating_ms", 0.0) for r in records if r["type"] == "test_finished"), default=0.0)
    return {"wall": elapsed, "requests": data["requests_sent"], "verdict": data["verdict"],
            "first": first if first is not None else elapsed, "generating_ms": generating,
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
          "request | most generating in one test | checks per request | active services ceased | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
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
               for k in ("wall", "requests", "first", "generating_ms", "checks_per_request", "ceased")}
        verdicts = sorted({r["verdict"] for r in runs})
        where = "external sandbox process" if args.external else "embedded sandbox"
        print(f"| {profile} | {where} | {med['wall']:.1f} s | {med['requests']:.0f} | {med['requests'] / med['wall']:.0f} | "
              f"{med['first']:.2f} s | {med['generating_ms']:.0f} ms | {med['checks_per_request']:.1f} | "
              f"{med['ceased']:.0f} | {', '.join(verdicts)} |")


if __name__ == "__main__":
    main()
