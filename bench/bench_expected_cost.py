"""Measure what each test of each profile costs against the reference sandbox, and write it as
fibrecert/expected_cost.py: the weights of the progress line's ETA (fibrecert.progress).

Usage: python bench/bench_expected_cost.py [--profiles smoke,standard,full] [--seeds 1,2] [--check]

Each run is `python -m fibrecert run --profile P --seed S --quiet --events E` against the embedded
sandbox. A test's cost is the number of `exchange` events that name it and the seconds from its
`test_started` to its `test_finished` event (a test that generates much and sends little, such as a
Hypothesis test of every order type, is long for its requests); the median over the seeds. With
--check, nothing is written: it prints how far the shipped table is from a fresh measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "fibrecert" / "expected_cost.py"


def measure(profile: str, seed: int, workdir: Path) -> dict[str, tuple[int, float]]:
    events = workdir / f"e-{profile}-{seed}.ndjson"
    done = subprocess.run([sys.executable, "-m", "fibrecert", "run", "--profile", profile, "--seed", str(seed),
                           "--quiet", "--report-dir", str(workdir / f"r-{profile}-{seed}"), "--events", str(events)],
                          check=False, cwd=workdir, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{profile} seed {seed}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    counts: Counter[str] = Counter()
    tests: list[str] = []
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for line in events.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["type"] == "run_started":
            tests = list(event.get("test_ids") or [])
        elif event["type"] == "exchange" and event.get("test"):
            counts[event["test"]] += 1
        elif event["type"] == "test_started":
            started[event["test"]] = event["t"]
        elif event["type"] == "test_finished" and event["test"] in started:
            seconds[event["test"]] = event["t"] - started[event["test"]]
    return {t: (counts.get(t, 0), seconds.get(t, 0.0)) for t in tests}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="smoke,standard,full")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    table: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for profile in args.profiles.split(","):
            runs = [measure(profile, int(s), Path(tmp)) for s in args.seeds.split(",")]
            tests = list(dict.fromkeys(t for run in runs for t in run))
            table[profile] = {t: (int(statistics.median(run.get(t, (0, 0.0))[0] for run in runs)),
                                  round(statistics.median(run.get(t, (0, 0.0))[1] for run in runs), 2))
                              for t in tests}
            print(f"{profile}: {len(tests)} tests, {sum(r for r, _ in table[profile].values())} requests expected",
                  file=sys.stderr)
    if args.check:
        from fibrecert.expected_cost import EXPECTED_COST

        for profile, costs in table.items():
            shipped = EXPECTED_COST.get(profile, {})
            print(f"{profile}: measured {sum(r for r, _ in costs.values())}, shipped "
                  f"{sum(r for r, _ in shipped.values())} requests")
        return 0
    lines = ['"""What each test costs against the reference sandbox, per profile: (requests it sends, seconds from',
             "its start to its end), the weights of the progress line's ETA (fibrecert.progress). Measured and",
             "written by bench/bench_expected_cost.py (the median of its seeds; the seconds on a shared",
             '2-core machine, so only their proportions matter); a test not listed weighs the median of its profile."""',
             "", "EXPECTED_COST: dict[str, dict[str, tuple[int, float]]] = {"]
    for profile, costs in table.items():
        lines.append(f"    {profile!r}: {{")
        lines += [f"        {test!r}: ({n}, {sec})," for test, (n, sec) in costs.items()]
        lines.append("    },")
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
