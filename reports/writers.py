"""Write every format from one model, each file atomically (a temporary file renamed into place), so
that an interrupted run never leaves a half-written results.json, junit.xml or index.html.

Redaction happened when the model was built (reports/build.py); the writers render what they are given.
"""

from __future__ import annotations

import os
from pathlib import Path

from fibrecert.safefiles import write_private

from . import html_writer, json_writer, junit_writer
from .model import RunResult

WRITERS = (json_writer, junit_writer, html_writer)


def atomic_write(path: Path, data: bytes | str) -> Path:
    """`path` created or replaced atomically, with the usual mode (a report is for sharing: not 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return write_private(path, data, mode=0o666 & ~umask)


def write_all(result: RunResult, directory: Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [w.write(result, directory) for w in WRITERS]
