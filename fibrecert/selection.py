"""Requirement selection for `--only PATTERN ... --skip PATTERN ...`.

A pattern is a requirement id or an fnmatch glob (`FC-SOC-*`, `INT-00?`, `ALA-CEASE-[12]*`), matched
case-insensitively against the catalogue's ids. `--only` keeps what any of its patterns match (all
requirements when there is none); `--skip` then removes what any of its patterns match. A pattern
that matches no requirement is a usage error, and so is a selection that keeps nothing.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

__all__ = ["Selection", "SelectionError", "select"]


class SelectionError(ValueError):
    """A bad --only/--skip pattern: one line, exit code 2."""


@dataclass(frozen=True)
class Selection:
    ids: tuple[str, ...]             # the selected requirement ids, in the order given
    total: int                       # how many requirements there were to choose from
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    @property
    def is_subset(self) -> bool:
        """True when some requirement is left out: such a run is never CONFORMANT."""
        return len(self.ids) < self.total

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def describe(self) -> str:
        """For the report and the terminal, e.g. "--only FC-SOC-* --skip FC-SOC-009: 13 of 78 requirements"."""
        options = " ".join([*(f"--only {p}" for p in self.only), *(f"--skip {p}" for p in self.skip)])
        if not options:
            return f"all {self.total} requirements"
        return f"{options}: {len(self.ids)} of {self.total} requirements"

    def to_json(self) -> dict[str, Any]:
        return {"only": list(self.only), "skip": list(self.skip), "selected": len(self.ids), "of": self.total,
                "ids": list(self.ids), "description": self.describe()}


def _matches(pattern: str, ids: Sequence[str]) -> list[str]:
    p = pattern.strip().upper()
    return [i for i in ids if fnmatch.fnmatchcase(i.upper(), p)]


def select(requirement_ids: Iterable[str], only: Sequence[str] = (), skip: Sequence[str] = ()) -> Selection:
    """Select among `requirement_ids` (e.g. those of the APIs being run) with --only / --skip patterns.
    Raises SelectionError naming the first pattern that matches nothing, or an empty selection."""
    ids = list(dict.fromkeys(requirement_ids))
    for option, patterns in (("--only", only), ("--skip", skip)):
        for pattern in patterns:
            if not pattern.strip():
                raise SelectionError(f"{option}: an empty pattern")
            if not _matches(pattern, ids):
                raise SelectionError(f"{option} {pattern}: matches no requirement "
                                     "(`fibrecert requirements` lists them)")
    kept = {i for p in only for i in _matches(p, ids)} if only else set(ids)
    dropped = {i for p in skip for i in _matches(p, ids)}
    selected = tuple(i for i in ids if i in kept and i not in dropped)
    selection = Selection(ids=selected, total=len(ids), only=tuple(only), skip=tuple(skip))
    if not selected:
        raise SelectionError(f"{selection.describe().rsplit(':', 1)[0]}: selects no requirement")
    return selection
