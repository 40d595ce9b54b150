"""Benchmark `fibrecert run` per profile: wall time, requests sent, requests/s.

Usage: python bench/bench_profiles.py [--profiles smoke,standard,full] [--repeat 3] [--external]

Each run is a fresh `python -m fibrecert run --quiet --seed 1` subprocess (so import time counts, as a
user would see it). With --external the target is a `fibrecert sandbox` in a separate process, so the
client and the server do not share one interpreter. Prints a Markdown table (median of the repeats).
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


def one_run(profile: str, target: Path | None, workdir: Path) -> tuple[float, int, str]:
    report = workdir / f"r-{profile}-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "fibrecert", "run", "--profile", profile, "--quiet", "--seed", "1",
           "--report-dir", str(report)]
    if target:
        cmd += ["--target", str(target)]
    started = time.monotonic()
    subprocess.run(cmd, check=False, capture_output=True)
    elapsed = time.monotonic() - started
    data = json.loads((report / "results.json").read_text())
    return elapsed, data["requests_sent"], data["verdict"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="smoke,standard")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--external", action="store_true", help="target a `fibrecert sandbox` in another process")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-bench-"))
    print(f"| profile | target | wall time (median of {args.repeat}) | requests | requests/s | verdict |")
    print("| --- | --- | --- | --- | --- | --- |")
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
        wall = statistics.median(r[0] for r in runs)
        requests = runs[0][1]
        verdicts = sorted({r[2] for r in runs})
        where = "external sandbox process" if args.external else "embedded sandbox"
        print(f"| {profile} | {where} | {wall:.1f} s | {requests} | {requests / wall:.0f} | {', '.join(verdicts)} |")


if __name__ == "__main__":
    main()
