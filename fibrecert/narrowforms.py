"""A request as plain data, for narrowing (fibrecert/narrowing.py): the failing body decoded, the plain
valid example of its shape, the fields never varied, the facets of a field, and sending a variant. Each
dialect gives its operations' form (`narrowing_form`); the narrower itself knows no API.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

Path = tuple[Any, ...]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


class Stop(Exception):
    """A bound is reached (or the request cannot be narrowed): narrowing stops with what it has found."""


def get(data: Any, path: Path) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return MISSING
    return data


def set_(data: Any, path: Path, value: Any) -> None:
    holder = data
    for part in path[:-1]:
        holder = holder[part]
    if value is MISSING:
        if isinstance(holder, dict):
            holder.pop(path[-1], None)
        return
    holder[path[-1]] = copy.deepcopy(value)


def shaped_like(good: Any, failing: Any) -> Any:
    """The plain value with the failing case's array lengths (each extra item a copy of the plain first
    one), so that fields compare item by item."""
    if isinstance(good, dict) and isinstance(failing, dict):
        return {k: shaped_like(v, failing.get(k, MISSING)) if k in failing else v for k, v in good.items()}
    if isinstance(good, list) and isinstance(failing, list) and good:
        return [shaped_like(copy.deepcopy(good[min(i, len(good) - 1)] if i < len(good) else good[0]), f)
                for i, f in enumerate(failing)]
    return good


def clean(data: Any) -> Any:
    """An xmlschema dict as the suite builds it: no namespace declarations, empty text as ""."""
    if isinstance(data, dict):
        return {k: clean(v) for k, v in data.items() if not k.startswith("@")}
    return "" if data is None else data


class Form:
    """One operation's requests as plain data: decode the failing body, the plain example of its shape,
    the fields never varied (target facts, test data), the facets of a field, and sending a probe."""

    api = ""
    pinned: tuple[Path, ...] = ()

    def facets(self, path: Path) -> dict[str, Any]:
        return {}

    def valid(self, data: Any) -> bool:
        raise NotImplementedError

    def send(self, data: Any, note: str, setup: Callable[[Any], Any] | None) -> list[Any]:
        raise NotImplementedError

    def place_order(self, spend: Callable[[int], None]) -> tuple[list[Any], Any]:
        """(what was sent, the order's id as the request names it) for a variant that names an order;
        Stop where the API's order cannot be placed for each variant."""
        raise Stop(f"a {self.api} request naming an order is not narrowed")


