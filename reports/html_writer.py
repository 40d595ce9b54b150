"""index.html: a self-contained page (CSS/JS inlined from templates/) rendered by Jinja with
autoescaping, so that anything that came from the target renders as text."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from .model import OUTCOMES, RunResult


def _pretty(body: str) -> str:
    """Pretty-print XML or JSON bodies for reading; anything else as it came."""
    text = body.strip()
    if not text:
        return ""
    if text[0] in "{[":
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return body
    if text[0] == "<":
        try:
            from lxml import etree

            from fibrecert.contracts.soap import safe_parser

            root = etree.fromstring(text.encode("utf-8"), safe_parser())
            for el in root.iter():
                if len(el) and el.text is not None and not el.text.strip():
                    el.text = None
                if el.tail is not None and not el.tail.strip():
                    el.tail = None
            etree.indent(root, space="  ")
            return etree.tostring(root, encoding="unicode")
        except Exception:
            return body
    return body


def _env() -> Environment:
    env = Environment(loader=PackageLoader("fibrecert.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pretty"] = _pretty
    return env


def render(result: RunResult) -> str:
    env = _env()
    assets = Path(__file__).resolve().parent / "templates"
    return env.get_template("report.html.j2").render(
        r=result, outcomes=OUTCOMES, css=(assets / "report.css").read_text(encoding="utf-8"),
        js=(assets / "report.js").read_text(encoding="utf-8"))


def write(result: RunResult, directory: Path) -> Path:
    path = directory / "index.html"
    path.write_text(render(result), encoding="utf-8")
    return path
