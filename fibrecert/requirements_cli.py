"""`fibrecert requirements`: list the requirement catalogue (what a run certifies), as a table for a
terminal or as JSON for scripts; --only/--skip preview the selection a run would make."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from typing import Any, Sequence, TextIO

from fibrecert.apis import api_choices
from fibrecert.cli_help import HelpFormatter, exit_codes
from fibrecert.selection import SelectionError, select

__all__ = ["register", "run_requirements", "listing", "render_table", "render_json"]

COLUMNS = ("id", "level", "basis", "operation")
MIN_TEXT_WIDTH = 40  # narrower than this, the text goes on its own lines below the row


def listing(api: str = "all", level: str | None = None, only: Sequence[str] = (),
            skip: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The requirements of `api` (ala, fibrecafe, all) at `level` (MUST, SHOULD, None = both), narrowed
    by --only/--skip patterns (SelectionError on a pattern that matches nothing), in catalogue order."""
    from fibrecert import contracts

    reqs = [r for r in contracts.requirements().values() if api == "all" or r.api == api]
    if only or skip:
        chosen = select([r.id for r in reqs], only, skip)
        reqs = [r for r in reqs if r.id in chosen]
    if level:
        reqs = [r for r in reqs if r.level == level]
    return [{"id": r.id, "api": r.api, "level": r.level, "basis": r.basis, "operation": r.operation,
             "text": r.text, "source": r.source, **({"role": r.role} if r.role else {})} for r in reqs]


def render_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def render_table(rows: list[dict[str, Any]], width: int) -> str:
    """Aligned columns (id, level, basis, operation) then the text, wrapped to `width`; when the text
    column would be too narrow, the text goes on indented lines below its row."""
    if not rows:
        return "no requirement matches\n"
    sizes = [max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS]
    head_width = sum(sizes) + 2 * len(sizes)
    text_width = width - head_width
    below = text_width < MIN_TEXT_WIDTH
    lines = [("  ".join(c.upper().ljust(s) for c, s in zip(COLUMNS, sizes)) + ("" if below else "  TEXT")).rstrip()]
    for r in rows:
        head = "  ".join(str(r[c]).ljust(s) for c, s in zip(COLUMNS, sizes))
        if below:
            lines.append(head.rstrip())
            lines += textwrap.wrap(r["text"], width=max(width - 4, 20), initial_indent="    ",
                                   subsequent_indent="    ")
        else:
            wrapped = textwrap.wrap(r["text"], width=text_width) or [""]
            lines.append(f"{head}  {wrapped[0]}")
            lines += [" " * (head_width) + w for w in wrapped[1:]]
    must = sum(1 for r in rows if r["level"] == "MUST")
    lines.append(f"{len(rows)} requirements: {must} MUST, {len(rows) - must} SHOULD")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ CLI
def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `fibrecert requirements` to the CLI's sub-commands; `args.handler(args)` runs it."""
    p = subparsers.add_parser(
        "requirements", help="list the requirements a run certifies",
        description="List the requirement catalogue: id, level, basis, operation and what is required.\n"
                    "--only/--skip take the same patterns as `fibrecert run` (ids or globs such as\n"
                    "'FC-SOC-*'), to preview what a run with them would certify.",
        formatter_class=HelpFormatter,
        epilog=exit_codes("0  listed", "2  usage error (e.g. a pattern that matches no requirement)"))
    p.add_argument("--api", choices=api_choices(), default="all", help="whose requirements")
    p.add_argument("--level", choices=["MUST", "SHOULD"], type=str.upper, default=None,
                   help="only this level (default: both levels)")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="a table for a terminal, or a JSON list of objects")
    p.add_argument("--only", action="append", default=[], metavar="PATTERN",
                   help="keep the requirements a pattern matches (id or glob; repeatable)")
    p.add_argument("--skip", action="append", default=[], metavar="PATTERN",
                   help="leave out the requirements a pattern matches (id or glob; repeatable)")
    p.set_defaults(handler=run_requirements)
    return p


def run_requirements(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        rows = listing(args.api, args.level, args.only, args.skip)
    except SelectionError as exc:
        sys.stderr.write(f"fibrecert: {exc}\n")
        return 2
    if args.format == "json":
        out.write(render_json(rows))
    else:
        out.write(render_table(rows, shutil.get_terminal_size((120, 24)).columns))
    return 0
