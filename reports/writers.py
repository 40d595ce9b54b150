"""Write every format from one model. A last pass scrubs every known secret from every file."""

from __future__ import annotations

from pathlib import Path

from fibrecert.transport import SecretRegistry

from . import html_writer, json_writer, junit_writer
from .model import RunResult

WRITERS = (json_writer, junit_writer, html_writer)


def write_all(result: RunResult, directory: Path, *, secrets: SecretRegistry | None = None) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [w.write(result, directory) for w in WRITERS]
    if secrets is not None:
        for path in paths:
            text = path.read_text(encoding="utf-8")
            clean = secrets.scrub(text)
            if clean != text:
                path.write_text(clean, encoding="utf-8")
    return paths
