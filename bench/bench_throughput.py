"""Requests per second, side by side on one target (issue 12), and the cost of a distant target.

Usage:
  python bench/bench_throughput.py [--repeat 3] [--examples 50] [--at MS]   fibrecert vs plain schemathesis
  python bench/bench_throughput.py --latency 50 [--repeat 3]          standard at 0 ms vs 50 ms per answer

Side by side: one reference sandbox, started in this process (its Fibre Cafe server counts the requests
it answers; token requests are not counted). Against it, alternately, each a fresh process (so start-up
counts, as a user sees it):
- schemathesis: `schemathesis run <openapi.yaml> --url <fc>/v1 -H "Authorization: Bearer <token>"
  --tls-verify <ca> --checks all --continue-on-failure -n N --seed 1` (the issue's invocation, plus
  --continue-on-failure: otherwise it stops an operation at its first failure, and the sandbox's
  rightful 422 for a random orderId is one, so it would send a few dozen requests and stop);
- fibrecert: `fibrecert run --target T --api fibrecafe --profile standard --seed 1 --quiet --events E`.
--at MS: the shared sandbox holds every answer and handshake MS milliseconds (a target across the
internet); default 0 (loopback).
Check results per request: fibrecert's from its event stream (every check event, and those that exercised
a requirement, per exchange); schemathesis' from its NDJSON report (`--report ndjson`: every check result
it recorded; it records the checks of `--checks all` on every response, applicable or not).

--latency MS: two sandboxes, one holding every answer and TLS handshake MS milliseconds (`fibrecert
sandbox --latency-ms`), the other not; `fibrecert run --target T --profile standard --seed 1` (both
APIs) against each, alternately. The goal: at 50 ms, at most 1.25x the time at 0 ms.

Prints Markdown tables of medians.
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

import requests

from fibrecert.contracts import OPENAPI_PATH
from fibrecert.sandbox import TENANT_A, Sandbox

from bench_vs_schemathesis import Counted  # a sibling script: bench/ is on sys.path when run as a script


def start(workdir: Path, latency_ms: float = 0.0, services: int = 4000) -> tuple[Sandbox, Counted, Path]:
    sb = Sandbox(workdir / f"s-{time.monotonic_ns()}", latency_ms=latency_ms, services=services).start()
    counted = Counted(sb.servers[2].app)
    sb.servers[2].app = counted
    return sb, counted, sb.write_target(workdir / f"t-{time.monotonic_ns()}.toml")


def run_fibrecert(workdir: Path, target: Path, counted: Counted, api: str = "fibrecafe") -> dict:
    report, events = workdir / f"r-{time.monotonic_ns()}", workdir / f"e-{time.monotonic_ns()}.ndjson"
    before = counted.count
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "fibrecert", "run", "--target", str(target), "--api", api,
                    "--profile", "standard", "--seed", "1", "--quiet", "--report-dir", str(report),
                    "--events", str(events)], capture_output=True, check=False)
    wall = time.monotonic() - t0
    data = json.loads((report / "results.json").read_text())
    exchanges = checks = exercised = 0
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "exchange":
            exchanges += 1
        elif event["type"] == "check":
            checks += 1
            exercised += bool(event.get("exercised"))
    return {"wall": wall, "requests": counted.count - before, "sent": data["requests_sent"],
            "checks_per_request": checks / max(exchanges, 1), "exercised_per_request": exercised / max(exchanges, 1),
            "verdict": data["verdict"]}


def run_schemathesis(sb: Sandbox, counted: Counted, workdir: Path, examples: int) -> dict:
    token = requests.post(f"{sb.fibrecafe_url}/auth/tenant/access-token", data={"grant_type": "client_credentials"},
                          auth=(TENANT_A, sb.tenant_secret(TENANT_A)), verify=str(sb.pki.ca),
                          timeout=10).json()["access_token"]
    before = counted.count
    reports = workdir / f"st-{time.monotonic_ns()}"
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI_PATH), "--url", sb.fibrecafe_url,
                           "-H", f"Authorization: Bearer {token}", "--tls-verify", str(sb.pki.ca), "--checks", "all",
                           "--continue-on-failure", "--seed", "1", "-n", str(examples),
                           "--report", "ndjson", "--report-dir", str(reports)],
                          capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    requests_answered = counted.count - before
    # Its NDJSON report: every check result it recorded, per scenario, and those that found something
    # to judge (a check not applicable to a response is recorded as a success all the same).
    checks = 0
    for path in reports.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            scenario = json.loads(line).get("ScenarioFinished")
            if scenario:
                checks += sum(len(v) for v in (scenario["recorder"].get("checks") or {}).values())
    return {"wall": wall, "requests": requests_answered,
            "checks_per_request": (checks / requests_answered) if requests_answered else None,
            "exercised_per_request": None, "exit": done.returncode}


def side_by_side(repeat: int, examples: int, at_ms: float = 0.0) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-throughput-"))
    sb, counted, target = start(workdir, latency_ms=at_ms)
    rows: dict[str, list[dict]] = {"schemathesis": [], "fibrecert": []}
    try:
        for i in range(repeat):
            order = ["schemathesis", "fibrecert"] if i % 2 == 0 else ["fibrecert", "schemathesis"]
            for tool in order:
                r = (run_schemathesis(sb, counted, workdir, examples) if tool == "schemathesis"
                     else run_fibrecert(workdir, target, counted))
                rows[tool].append(r)
                print(f"  {tool}: {r['requests']} requests in {r['wall']:.1f} s", file=sys.stderr)
    finally:
        sb.stop()
    print(f"| Fibre Cafe, same sandbox ({at_ms:g} ms added per answer), median of {repeat} | requests | wall time (process start included) "
          f"| requests/s | check results per request | of them, checks that judged something |")
    print("| --- | --- | --- | --- | --- | --- |")
    rate = {}
    for tool, label in (("schemathesis", f"`schemathesis run --checks all --continue-on-failure -n {examples}`"),
                        ("fibrecert", "`fibrecert run --api fibrecafe --profile standard`")):
        rs = rows[tool]
        rate[tool] = statistics.median(r["requests"] / r["wall"] for r in rs)
        cpr = [r["checks_per_request"] for r in rs if r["checks_per_request"] is not None]
        epr = [r["exercised_per_request"] for r in rs if r["exercised_per_request"] is not None]
        checks = f"{statistics.median(cpr):.1f}" if cpr else "n/a"
        judged = f"{statistics.median(epr):.1f}" if epr else "not recorded"
        print(f"| {label} | {statistics.median(r['requests'] for r in rs):.0f} | "
              f"{statistics.median(r['wall'] for r in rs):.1f} s | {rate[tool]:.1f} | {checks} | {judged} |")
    print(f"\nfibrecert / schemathesis requests per second: {rate['fibrecert'] / rate['schemathesis']:.1f}x")


def latency(repeat: int, ms: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-latency-"))
    near, near_count, near_target = start(workdir)
    far, far_count, far_target = start(workdir, latency_ms=ms)
    walls: dict[float, list[float]] = {0.0: [], ms: []}
    sent: dict[float, list[int]] = {0.0: [], ms: []}
    try:
        for i in range(repeat):
            pairs = [(0.0, near_target, near_count), (ms, far_target, far_count)]
            for lat, target, counted in (pairs if i % 2 == 0 else pairs[::-1]):
                r = run_fibrecert(workdir, target, counted, api="all")
                walls[lat].append(r["wall"])
                sent[lat].append(r["sent"])
                print(f"  {lat:g} ms: {r['sent']} requests in {r['wall']:.1f} s ({r['verdict']})", file=sys.stderr)
    finally:
        near.stop()
        far.stop()
    print(f"| `fibrecert run --profile standard` (both APIs), median of {repeat} | requests | wall time |")
    print("| --- | --- | --- |")
    for lat in (0.0, ms):
        print(f"| {lat:g} ms added to every answer and handshake | {statistics.median(sent[lat]):.0f} | "
              f"{statistics.median(walls[lat]):.1f} s |")
    print(f"\n{ms:g} ms / 0 ms: {statistics.median(walls[ms]) / statistics.median(walls[0.0]):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--examples", type=int, default=50, help="schemathesis -n (the issue used 50)")
    ap.add_argument("--latency", type=float, default=None, metavar="MS",
                    help="instead: standard at 0 ms vs MS ms added to every answer")
    ap.add_argument("--at", type=float, default=0.0, metavar="MS",
                    help="side by side against a sandbox adding MS ms to every answer and handshake")
    args = ap.parse_args()
    if args.latency is not None:
        latency(args.repeat, args.latency)
    else:
        side_by_side(args.repeat, args.examples, args.at)


if __name__ == "__main__":
    main()
