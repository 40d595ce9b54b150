"""The target file (TOML): what to certify and with which credentials (docs/target-file.md).

The file is checked whole before any request is sent: every problem found (template placeholders,
unknown keys, unset environment variables, missing files, bad URLs, ports and values) is listed at once
in one `TargetError`, a line each naming the section and the key. Secret values are held in `Secret` so
that they never print. The reading is fibrecert/targetfile.py's; each section's keys and checks are its
API's dialect's (`load_section`, `target_keys`).
"""

from __future__ import annotations

import os

from fibrecert.apis import DIALECTS
from fibrecert.targetfile import PLACEHOLDER, ClientIdentity, Secret, Target, TargetError, read_target

__all__ = ["PLACEHOLDER", "ClientIdentity", "Secret", "Target", "TargetError", "load_target"]


def load_target(path: str | os.PathLike[str]) -> Target:
    """Read and check a target file whole; raise TargetError listing every problem found (one line each)."""
    return read_target(path, {d.name: d.load_section for d in DIALECTS.values()})
