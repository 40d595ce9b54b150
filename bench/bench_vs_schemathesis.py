"""Side by side: fibrecert vs plain `schemathesis run` on the same Fibre Cafe contract, against the
same defective sandboxes, with (about) the same request budget.

For every Fibre Cafe defect (and the clean sandbox, for false alarms):
- fibrecert: `fibrecert run --target T --api fibrecafe --profile standard --seed 1`; detected when a
  requirement the defect declares ends `fail` or `warn`;
- schemathesis: `schemathesis run contracts/fibrecafe/1.17/openapi.yaml --url ... -H "Authorization:
  Bearer <token>" --checks all --seed 1 -n N`, N chosen so that it sends about as many requests as
  fibrecert did on the clean sandbox; detected when it reports a failure that it does not also report
  on the clean sandbox (its clean-sandbox findings are shown as its false alarms).
Requests are counted at the sandbox. Prints Markdown tables. Usage: python bench/bench_vs_schemathesis.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import requests

from fibrecert.contracts import OPENAPI_PATH
from fibrecert.sandbox import DEFECTS, TENANT_A, Sandbox


class Counted:
    def __init__(self, app):  # noqa: ANN001
        self.app, self.count = app, 0

    def __call__(self, environ, start_response):  # noqa: ANN001
        if "access-token" not in environ.get("PATH_INFO", ""):
            self.count += 1
        return self.app(environ, start_response)


def start(workdir: Path, defect: str | None) -> tuple[Sandbox, Counted, Path]:
    sb = Sandbox(workdir / f"s-{defect or 'clean'}-{time.monotonic_ns()}", defects=(defect,) if defect else ()).start()
    counted = Counted(sb.servers[2].app)
    sb.servers[2].app = counted
    return sb, counted, sb.write_target(workdir / f"t-{defect or 'clean'}-{time.monotonic_ns()}.toml")


def run_fibrecert(workdir: Path, defect: str | None) -> dict:
    sb, counted, target = start(workdir, defect)
    report = workdir / f"fc-{defect or 'clean'}"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "fibrecert", "run", "--target", str(target), "--api", "fibrecafe",
                    "--profile", "standard", "--seed", "1", "--quiet", "--report-dir", str(report)],
                   capture_output=True)
    wall = time.monotonic() - t0
    sb.stop()
    data = json.loads((report / "results.json").read_text())
    bad = {r["id"] for r in data["requirements"] if r["outcome"] in ("fail", "warn")}
    declared = set(DEFECTS[defect].violates) if defect else set()
    return {"detected": bool(bad & declared) if defect else None, "false_alarms": sorted(bad - declared),
            "requests": counted.count, "wall": wall}


def schemathesis_failures(report_dir: Path) -> set[str]:
    """(operation: failure code) pairs from schemathesis' JUnit report (codes such as ST108, ST201)."""
    out: set[str] = set()
    for junit in report_dir.glob("junit*.xml"):
        for case in ET.parse(junit).getroot().iter("testcase"):
            for f in list(case.iter("failure")) + list(case.iter("error")):
                for code in re.split(r",\s*", f.get("message") or "failure"):
                    out.add(f"{case.get('name')}: {code}")
    return out


def run_schemathesis(workdir: Path, defect: str | None, examples: int) -> dict:
    sb, counted, _ = start(workdir, defect)
    token = requests.post(f"{sb.fibrecafe_url}/auth/tenant/access-token", data={"grant_type": "client_credentials"},
                          auth=(TENANT_A, sb.tenant_secret(TENANT_A)), verify=str(sb.pki.ca), timeout=10).json()["access_token"]
    report = workdir / f"st-{defect or 'clean'}-{examples}"
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI_PATH), "--url", sb.fibrecafe_url,
                           "-H", f"Authorization: Bearer {token}", "--tls-verify", str(sb.pki.ca), "--checks", "all",
                           "--seed", "1", "-n", str(examples), "--report", "junit", "--report-dir", str(report)], capture_output=True, text=True)
    wall = time.monotonic() - t0
    sb.stop()
    return {"failures": schemathesis_failures(report), "requests": counted.count, "wall": wall,
            "exit": done.returncode}


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="fibrecert-vs-st-"))
    fc_defects = sorted(d for d in DEFECTS if d.startswith("fc-"))
    clean = run_fibrecert(workdir, None)
    probe = run_schemathesis(workdir, None, 20)
    per_example = max(probe["requests"] / 20, 1.0)
    examples = max(5, round(clean["requests"] / per_example))
    st_clean = run_schemathesis(workdir, None, examples)
    print(f"Request budget: fibrecert sent {clean['requests']} Fibre Cafe requests to the clean sandbox; "
          f"schemathesis with -n {examples} sent {st_clean['requests']}.\n")
    print("| defect | violates | fibrecert | requests | time | schemathesis | requests | time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    found = {"fibrecert": 0, "schemathesis": 0}
    for d in fc_defects:
        f = run_fibrecert(workdir, d)
        s = run_schemathesis(workdir, d, examples)
        new = s["failures"] - st_clean["failures"]
        found["fibrecert"] += bool(f["detected"])
        found["schemathesis"] += bool(new)
        print(f"| {d} | {', '.join(DEFECTS[d].violates)} | {'caught' if f['detected'] else 'missed'} | {f['requests']} | "
              f"{f['wall']:.1f} s | {'caught' if new else 'missed'} | {s['requests']} | {s['wall']:.1f} s |")
    print(f"| **total** | | **{found['fibrecert']}/{len(fc_defects)}** | | | **{found['schemathesis']}/{len(fc_defects)}** | | |")
    print(f"\nOn the clean sandbox: fibrecert false alarms: {clean['false_alarms'] or 'none'}; "
          f"schemathesis reported {len(st_clean['failures'])} failure kind(s): "
          + "; ".join(sorted(st_clean["failures"])[:8]))


if __name__ == "__main__":
    main()
