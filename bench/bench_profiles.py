"""Benchmark `fibrecert run` per profile: wall time, requests sent, requests/s.

Usage: python bench/bench_profiles.py [--profiles smoke,standard,full] [--repeat 3] [--external] [--svg FILE]

Each run is a fresh `python -m fibrecert run --quiet --seed 1 --events E` subprocess (so import time
counts, as a user would see it). With --external the target is a `fibrecert sandbox` in a separate
process. Also measured per run: process start to the first answered request (the first exchange event's
time on the run's clock, `t0_unix` + `t`, less the moment this script started the process), the most CPU
time one test spent generating (`generating_ms` of its `test_finished` event) and the most before its
first request (`generating_before_first_ms`), checks per request and the active services ceased. Prints a Markdown table (medians of the repeats);
with --svg, also plots every run's wall time against its requests (is the cost linear?).
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
    ap.add_argument("--svg", type=Path, help="also plot wall time against requests, every run, to this file")
    args = ap.parse_args()
    plotted: list[tuple[str, dict]] = []
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
        plotted += [(profile, r) for r in runs]
        verdicts = sorted({r["verdict"] for r in runs})
        where = "external sandbox process" if args.external else "embedded sandbox"
        print(f"| {profile} | {where} | {med['wall']:.1f} s | {med['requests']:.0f} | {med['requests'] / med['wall']:.0f} | "
              f"{med['first']:.2f} s | {med['generating_ms']:.0f} ms | {med['before_first']:.0f} ms | {med['checks_per_request']:.1f} | "
              f"{med['ceased']:.0f} | {', '.join(verdicts)} |")
    if args.svg:
        args.svg.write_text(svg(plotted))


def svg(runs: list[tuple[str, dict]]) -> str:
    """Wall time against requests, one dot per run, and the least-squares line: dots on the line mean the
    cost grows linearly with the requests (its intercept is the fixed cost of a run)."""
    w, h, pad = 560, 360, 50
    xmax = max(r["requests"] for _, r in runs) * 1.1
    ymax = max(r["wall"] for _, r in runs) * 1.1
    # least squares: wall = fixed + per_request * requests (the fixed part is start-up and the report)
    xs, ys = [r["requests"] for _, r in runs], [r["wall"] for _, r in runs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((a - mx) ** 2 for a in xs)
    per_request = sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / var if var else my / max(mx, 1)
    fixed = my - per_request * mx

    def x(v: float) -> float:
        return pad + v / xmax * (w - 2 * pad)

    def y(v: float) -> float:
        return h - pad - v / ymax * (h - 2 * pad)

    colours = {"smoke": "#1b7837", "standard": "#2166ac", "full": "#b2182b"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{pad}" y2="{pad}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">requests sent</text>',
             f'<text x="14" y="{h / 2}" transform="rotate(-90 14 {h / 2})" text-anchor="middle">wall time (s), '
             'process start included</text>',
             f'<line x1="{x(0)}" y1="{y(fixed)}" x2="{x(xmax)}" y2="{y(fixed + xmax * per_request)}" stroke="#999" '
             'stroke-dasharray="4 4"/>',
             f'<text x="{w - pad}" y="{pad - 8}" text-anchor="end" fill="#666">dashed, least squares: {fixed:.1f} s + '
             f'one request per {per_request * 1000:.1f} ms</text>']
    for tick in range(0, int(xmax) + 1, 500):
        parts.append(f'<text x="{x(tick)}" y="{h - pad + 16}" text-anchor="middle">{tick}</text>')
    for tick in range(0, int(ymax) + 1, 5):
        parts.append(f'<text x="{pad - 6}" y="{y(tick) + 4}" text-anchor="end">{tick}</text>')
    for profile, r in runs:
        parts.append(f'<circle cx="{x(r["requests"]):.1f}" cy="{y(r["wall"]):.1f}" r="4" '
                     f'fill="{colours.get(profile, "black")}"><title>{profile}: {r["requests"]} requests, '
                     f'{r["wall"]:.1f} s</title></circle>')
    for i, profile in enumerate(dict.fromkeys(p for p, _ in runs)):
        parts.append(f'<circle cx="{pad + 20}" cy="{pad + 8 + 16 * i}" r="4" fill="{colours.get(profile, "black")}"/>'
                     f'<text x="{pad + 30}" y="{pad + 12 + 16 * i}">{profile}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    main()
