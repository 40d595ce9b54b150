"""Write every format from one model, each file atomically (a temporary file renamed into place), so
that an interrupted run never leaves a half-written results.json, junit.xml or index.html.

Redaction happened when the model was built (reports/build.py); the writers render what they are given.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import html_writer, json_writer, junit_writer
from .model import RunResult

WRITERS = (json_writer, junit_writer, html_writer)


def atomic_write(path: Path, data: bytes | str) -> Path:
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # a report is for sharing: the usual mode, not mkstemp's 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_all(result: RunResult, directory: Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [w.write(result, directory) for w in WRITERS]
