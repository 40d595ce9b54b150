"""Before / after a change to the engine: the same `fibrecert run` from two checkouts, side by side.

Each round runs, one after the other (alternating which goes first), the embedded-sandbox run
`python -m fibrecert run --profile P --seed S --quiet --report-dir D` with each checkout's Python, and
records the wall time (process start to exit), the requests sent and the verdict. It ends with the medians
and with what must not change between the two: the keys of results.json (every key path, lists
collapsed), the verdict, and each requirement's outcome.

Usage: python bench/bench_before_after.py BEFORE_PYTHON AFTER_PYTHON [--profile standard] [--rounds 5]
       [--seed 1]
where each PYTHON is a checkout's venv interpreter (e.g. /work/wt/before/.venv/bin/python, made with
`git worktree add --detach /work/wt/before <commit>` and `pip install -e .` there). Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON document (list items merged under `[]`, keys that are URLs as `<origin>`:
    the sandbox's ports differ from run to run)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            key = "<origin>" if key.startswith(("https://", "http://")) else key
            path = f"{prefix}.{key}" if prefix else key
            out.add(path)
            out |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            out |= key_paths(item, prefix + "[]")
    return out


def one_run(python: str, profile: str, seed: int, folder: Path) -> dict[str, Any]:
    report = folder / "report"
    started = time.monotonic()
    done = subprocess.run([python, "-m", "fibrecert", "run", "--profile", profile, "--seed", str(seed), "--quiet",
                           "--report-dir", str(report)], capture_output=True, text=True, cwd=folder)
    wall = time.monotonic() - started
    data = json.loads((report / "results.json").read_text())
    return {"wall": wall, "code": done.returncode, "requests": data["requests_sent"], "verdict": data["verdict"],
            "keys": key_paths(data), "outcomes": {r["id"]: r["outcome"] for r in data["requirements"]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for name in order:
                folder = Path(tmp) / f"{name}-{i}"
                folder.mkdir()
                runs[name].append(one_run(getattr(args, name), args.profile, args.seed, folder))
    print(f"`fibrecert run --profile {args.profile} --seed {args.seed}` on the embedded sandbox, "
          f"{args.rounds} rounds, alternating\n")
    print("| checkout | median wall time | min-max | requests (median) | verdict | exit |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, rs in runs.items():
        walls = [r["wall"] for r in rs]
        print(f"| {name} | {statistics.median(walls):.2f} s | {min(walls):.2f}-{max(walls):.2f} s | "
              f"{statistics.median(r['requests'] for r in rs):.0f} | {', '.join(sorted({r['verdict'] for r in rs}))} | "
              f"{', '.join(sorted({str(r['code']) for r in rs}))} |")
    before, after = runs["before"][0], runs["after"][0]
    ratio = statistics.median(r["wall"] for r in runs["after"]) / statistics.median(r["wall"] for r in runs["before"])
    print(f"\nafter / before (median wall time): {ratio:.2f}x")
    gone, new = sorted(before["keys"] - after["keys"]), sorted(after["keys"] - before["keys"])
    print(f"results.json key paths: {len(before['keys'])} before, {len(after['keys'])} after; "
          f"missing after: {gone or 'none'}; new after: {new or 'none'}")
    changed = sorted(k for k in before["outcomes"] if before["outcomes"][k] != after["outcomes"].get(k))
    print(f"requirement outcomes that differ: {changed or 'none'} (of {len(before['outcomes'])})")
    return 0 if not gone and not new and not changed else 1


if __name__ == "__main__":
    raise SystemExit(main())
