"""How declarations read (issue 23): status sets as ranges ("any 4xx", "400 or 422"), long lists of
values abbreviated with a count, and one-line summaries for a JUnit message or a terminal line.

The evidence keeps what was observed and declared in full; these only decide how a set or a list is
written, so that "HTTP 400 or 401 or 402 ... or 499" reads "any HTTP 4xx".
"""

from __future__ import annotations

from typing import Any, Iterable

LIST_LIMIT = 6  # values written out before the rest are counted


def joined(items: list[str], conjunction: str = "or") -> str:
    """"a", "a or b", "a, b or c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def values(items: Iterable[Any], *, limit: int = LIST_LIMIT, conjunction: str = "or") -> str:
    """A list of values for reading: all of them up to `limit`, else the first ones and how many in all,
    e.g. "NEW, START, TAKEOVER, TRANSFER, SWAP, … (9 values)"."""
    shown = [str(v) for v in items]
    if len(shown) <= limit:
        return joined(shown, conjunction)
    return f"{', '.join(shown[:limit - 1])}, … ({len(shown)} values)"


def _runs(codes: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    return runs


def statuses(codes: Iterable[int]) -> str:
    """A set of HTTP statuses as a reader says it: "HTTP 400", "HTTP 400 or 422", "HTTP 200, 201 or 202",
    "any HTTP 4xx", "any HTTP 4xx or 503", "HTTP 400-404 or 422" (a run of four or more as a range, a
    whole class as "any Nxx")."""
    wanted = sorted(set(int(c) for c in codes))
    parts: list[str] = []
    whole: list[str] = []
    rest: list[int] = []
    for cls in sorted({c // 100 for c in wanted}):
        members = [c for c in wanted if c // 100 == cls]
        if len(members) == 100:
            whole.append(f"{cls}xx")
        else:
            rest += members
    for lo, hi in _runs(rest):
        if hi - lo >= 3:
            parts.append(f"{lo}-{hi}")
        else:
            parts += [str(c) for c in range(lo, hi + 1)]
    if whole:
        return "any HTTP " + joined(whole + parts)
    return "HTTP " + values(parts, limit=12)


def one_line(text: Any, limit: int = 200) -> str:
    """Text on one line (runs of white space, line breaks included, made one space), at most `limit`
    characters, cut with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def shown_path(path: Any, fallback: str | None = None, base: Any = None) -> str:
    """A path as an output of the run shows it: never absolute (a report or log travels, and must not
    reveal the file system of the machine that wrote it). A relative path stays as given; an absolute
    one is shown relative to `base` (default: the current folder) when the two share a top folder
    (`../elsewhere/r`); otherwise `fallback` when given, else its last two parts (`…/r/index.html`): a
    path climbing to the root would spell the absolute one out again."""
    import os
    from pathlib import Path

    p = Path(path)
    if not p.is_absolute():
        return str(p)
    start = Path(base).resolve() if base is not None else Path.cwd()
    try:
        if p.parts[:2] == start.parts[:2] and len(p.parts) > 1:
            return os.path.relpath(p, start)
    except ValueError:  # another drive (Windows)
        pass
    if fallback is not None:
        return fallback
    return "…/" + "/".join(p.parts[-2:])


def terminal_safe(text: str, limit: int = 300) -> str:
    """Text that came from the target, made safe for a terminal: control characters (escape sequences
    included) are shown as escapes, never interpreted, and the line is kept short."""
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"
