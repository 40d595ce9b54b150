"""The one element path of ALA messages: a place in a request or answer named from its root, in core
names (in the target's namespace) with `cfh:` for the CityFibre extensions, written `a.b.c` (the
constraint inventory, the bindings of a case) or `a/b/c` (the checks): the same path either way.

The ALA dialect (fibrecert/apis/ala.py) re-exports it; checks, generators, replay and the suites walk
messages with it and with nothing else.
"""

from __future__ import annotations

import re
from lxml import etree

from . import CFH_NS, ala_qname

_SEPARATORS = re.compile(r"[./]")


class ElementPath:
    """`ElementPath("alaCease.serviceIdentifier")`; `namespace=None` matches the core names in any
    namespace (a recorded body whatever namespace it was sent in)."""

    __slots__ = ("parts",)

    def __init__(self, path: "str | ElementPath"):
        self.parts: tuple[str, ...] = path.parts if isinstance(path, ElementPath) else \
            tuple(p for p in _SEPARATORS.split(path) if p)

    def __repr__(self) -> str:
        return f"ElementPath({'.'.join(self.parts)!r})"

    def __str__(self) -> str:
        return ".".join(self.parts)

    @staticmethod
    def tag(part: str, namespace: str | None = "") -> str:
        """The qualified tag of one step: `cfh:x` in the extension namespace, a core name in `namespace`
        (no namespace for ""; any namespace for None)."""
        if part.startswith("cfh:"):
            return f"{{{CFH_NS}}}{part[4:]}"
        return f"{{*}}{part}" if namespace is None else ala_qname(part, namespace)

    @property
    def parent(self) -> "ElementPath":
        out = ElementPath("")
        out.parts = self.parts[:-1]
        return out

    @property
    def leaf(self) -> str:
        return self.parts[-1] if self.parts else ""

    def find(self, root: etree._Element, namespace: str | None = "") -> etree._Element | None:
        """The first element at the path below `root` (`root` itself for the empty path), or None."""
        el: etree._Element | None = root
        for part in self.parts:
            if el is None:
                return None
            el = el.find(self.tag(part, namespace))
        return el

    def find_all(self, root: etree._Element, namespace: str | None = "") -> list[etree._Element]:
        """Every element at the path (a repeated element's twins too)."""
        found = [root]
        for part in self.parts:
            found = [child for el in found for child in el.findall(self.tag(part, namespace))]
        return found

    def text(self, root: etree._Element, namespace: str | None = "") -> str | None:
        """The text of the first element at the path ("" for an empty one), or None where there is none."""
        el = self.find(root, namespace)
        return None if el is None else (el.text or "")

