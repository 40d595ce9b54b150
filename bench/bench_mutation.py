"""Mutation score: how many of the sandbox's named defects each profile detects, and how fast.

For each profile and each defect: `fibrecert run --profile P --api <its API> --sandbox-defect D --seed 1
--events ev.ndjson` against the embedded sandbox. Detected = a requirement the defect declares ends
`fail` or `warn`; time to detection = the time stamp of the first failing check on a declared
requirement in the event stream. Also a clean run per API and profile (false alarms = any fail/warn).
Runs two at a time (two cores). Prints Markdown. Usage:
    python bench/bench_mutation.py [--profiles smoke,standard,full] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fibrecert.sandbox import DEFECTS


def one(workdir: Path, profile: str, api: str, defect: str | None) -> dict:
    tag = f"{profile}-{api}-{defect or 'clean'}"
    report, events = workdir / tag, workdir / f"{tag}.ndjson"
    cmd = [sys.executable, "-m", "fibrecert", "run", "--profile", profile, "--api", api, "--seed", "1", "--quiet",
           "--report-dir", str(report), "--events", str(events)]
    if defect:
        cmd += ["--sandbox-defect", defect]
    t0 = time.monotonic()
    subprocess.run(cmd, capture_output=True)
    wall = time.monotonic() - t0
    data = json.loads((report / "results.json").read_text())
    bad = {r["id"] for r in data["requirements"] if r["outcome"] in ("fail", "warn")}
    declared = set(DEFECTS[defect].violates) if defect else set()
    allowed = set(DEFECTS[defect].declared) if defect else set()  # may_also: allowed, not required
    ttd = None
    for line in events.read_text().splitlines():
        e = json.loads(line)
        if e["type"] == "check" and not e["passed"] and e["requirement"] in declared:
            ttd = e["t"]
            break
    return {"profile": profile, "api": api, "defect": defect, "detected": bool(bad & declared),
            "unrelated": sorted(bad - allowed), "ttd": ttd, "wall": wall, "requests": data["requests_sent"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="smoke,standard,full")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-mutation-"))
    jobs = []
    for profile in args.profiles.split(","):
        for api in ("ala", "fibrecafe"):
            jobs.append((profile, api, None))
        for d in sorted(DEFECTS):
            jobs.append((profile, "ala" if d.startswith("ala-") else "fibrecafe", d))
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: one(workdir, *j), jobs))
    print("| profile | defects detected | score | false alarms on the clean sandbox | unrelated failures | "
          "time to detection (median / max) | wall time per run (median) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for profile in args.profiles.split(","):
        rows = [r for r in results if r["profile"] == profile and r["defect"]]
        clean = [r for r in results if r["profile"] == profile and not r["defect"]]
        found = [r for r in rows if r["detected"]]
        ttds = [r["ttd"] for r in found if r["ttd"] is not None]
        alarms = sorted({x for r in clean for x in r["unrelated"]})
        unrelated = sum(1 for r in rows if r["unrelated"])
        print(f"| {profile} | {len(found)}/{len(rows)} | {100 * len(found) / len(rows):.0f}% | {', '.join(alarms) or 'none'} | "
              f"{unrelated} | {statistics.median(ttds):.1f} s / {max(ttds):.1f} s | "
              f"{statistics.median(r['wall'] for r in rows):.1f} s |")
    profiles = args.profiles.split(",")
    print("\n| defect | violates | " + " | ".join(f"{p}: detected (time to detection)" for p in profiles) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in profiles) + " |")
    for d in sorted(DEFECTS):
        cells = []
        for p in profiles:
            r = next(x for x in results if x["profile"] == p and x["defect"] == d)
            cells.append(("yes" if r["detected"] else "**no**") + (f" ({r['ttd']:.1f} s)" if r["ttd"] is not None else "")
                         + (f"; also {', '.join(r['unrelated'])}" if r["unrelated"] else ""))
        print(f"| {d} | {', '.join(DEFECTS[d].violates)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
