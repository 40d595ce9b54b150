"""Benchmark the negative generation: time from `strategies.negatives(...)` to the list, per operation
and profile, and how many negatives each profile sends.

Usage: python bench/bench_negatives.py [--repeat 7]

Each profile is measured in a fresh interpreter (`python -c`), so the first call pays what a run pays
(reading the contract into the inventory, compiling the validators); later calls reuse those caches and
are reported as the median of --repeat calls. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

PROBE = r"""
import json, statistics, sys, time
from fibrecert import strategies
operation, profile, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
payload = strategies.example(operation)
started = time.perf_counter()
first = strategies.negatives(operation, payload, profile, 1)
cold = time.perf_counter() - started
warm = []
for seed in range(repeat):
    started = time.perf_counter()
    strategies.negatives(operation, payload, profile, seed + 2)
    warm.append(time.perf_counter() - started)
print(json.dumps({"count": len(first), "cold": cold, "warm": statistics.median(warm)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    operations = ["ceaseOrder", "cancelOrder", "unsolicitedCeaseRequest", "/service-orders",
                  "/service-order-cancellations"]
    print(f"| operation | profile | negatives | first call | later calls (median of {args.repeat}) |")
    print("| --- | --- | --- | --- | --- |")
    for operation in operations:
        for profile in ("smoke", "standard", "full"):
            out = subprocess.run([sys.executable, "-c", PROBE, operation, profile, str(args.repeat)],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"| `{operation}` | {profile} | {r['count']} | {r['cold'] * 1000:.0f} ms | {r['warm'] * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
