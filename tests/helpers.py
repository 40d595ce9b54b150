"""Helpers shared by the project's tests (imported as a plain module: tests/ is on sys.path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fibrecert(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI exactly as a user would, in a subprocess (`run` gets a fixed seed unless given one,
    so the project's tests are deterministic)."""
    if args and args[0] == "run" and "--seed" not in args:
        args = (*args, "--seed", "20261122")
    return subprocess.run([sys.executable, "-m", "fibrecert", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=str(REPO))


def results(report_dir: Path) -> dict:
    return json.loads((report_dir / "results.json").read_text(encoding="utf-8"))


def outcomes(report_dir: Path) -> dict[str, str]:
    return {r["id"]: r["outcome"] for r in results(report_dir)["requirements"]}
