"""results.json (keys as in shared/spec/cli-and-target.md)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from .model import RunResult

_LONE_SURROGATES = re.compile("[\ud800-\udfff]")


def json_safe(value: Any) -> Any:
    """Strict JSON whatever the evidence holds: a lone surrogate (cannot be UTF-8) becomes U+FFFD, a
    NaN or an infinity (not JSON) null, as JSON.stringify does; anything else not JSON, its str()."""
    if isinstance(value, str):
        return _LONE_SURROGATES.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def render(result: RunResult) -> str:
    return json.dumps(json_safe(result.to_json()), indent=2, ensure_ascii=False, allow_nan=False,
                      default=lambda v: json_safe(str(v))) + "\n"


def write(result: RunResult, directory: Path) -> Path:
    from .writers import atomic_write

    return atomic_write(Path(directory) / "results.json", render(result))
