"""JSON from a target, parsed without trusting its nesting.

`json.loads` recurses once per nesting level. A body nested a few thousand levels deep raises
RecursionError, and if the collector runs while the stack is that deep (its finalisers run Python code),
CPython 3.11 aborts the whole process ("Cannot recover from stack overflow"): a hostile answer would end
the run without a report. So the nesting is counted first, outside strings, and a body nested deeper than
any answer the contracts describe is refused as not JSON, before `json.loads` sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 100  # the contracts' deepest answer nests 4 levels

_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


class TooDeep(json.JSONDecodeError):
    """Nested deeper than `MAX_DEPTH`: not parsed (a JSONDecodeError, so callers need no new except)."""


def depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether `text` nests arrays and objects deeper than `limit`, strings not counted (stops early)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    level = 0
    for bracket in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        level += 1 if bracket in "[{" else -1
        if level > limit:
            return True
    return False


def loads(data: bytes | bytearray | str, limit: int = MAX_DEPTH) -> Any:
    """`json.loads`, but TooDeep for nesting deeper than `limit`. Bytes are decoded as `json.loads` would
    (UTF-8, or UTF-16/32 by their byte pattern); UnicodeDecodeError and JSONDecodeError are ValueErrors."""
    text = data.decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, (bytes, bytearray)) else data
    if depth_exceeds(text, limit):
        raise TooDeep(f"nested deeper than {limit} levels; not parsed", text[:200], 0)
    return json.loads(text)
