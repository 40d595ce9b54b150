"""results.json (keys as in shared/spec/cli-and-target.md)."""

from __future__ import annotations

import json
from pathlib import Path

from .model import RunResult


def render(result: RunResult) -> str:
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"


def write(result: RunResult, directory: Path) -> Path:
    from .writers import atomic_write

    return atomic_write(Path(directory) / "results.json", render(result))
