"""Boundary-invalid ALA messages, derived from the XSD (private: use `fibrecert.strategies`).

`constraints(op)` walks the schema and lists every constraint a request root carries:
  required  - an element with minOccurs >= 1                  (attacked by removing it)
  value     - a simple type with a pattern, an enumeration, or a non-string primitive (xs:date, ...)
  closed    - a complex element's content model (xs:sequence): no unknown, repeated or text content

`mutations(op, element, namespace)` attacks each constraint of a *valid* encoded message: candidate
values come from a pool of boundary values plus near-misses of the valid value (wrong case, stray
space, one character short, a value of another enumeration in the contract), and a candidate is kept
only if the schema's own validator rejects it. Values a conformant target may tolerate (profile rule 6:
an xs:dateTime for requestedDate) are never used as negatives.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from lxml import etree

from fibrecert import contracts

UNKNOWN = "fibrecertUnknownElement"


@dataclass(frozen=True)
class Constraint:
    operation: str
    path: str      # dotted element path below the root ("" = the root), `cfh:` for extensions
    kind: str      # required | value | closed
    detail: str

    @property
    def id(self) -> str:
        return f"{self.operation}:{self.path or '/'}:{self.kind}"


@dataclass(frozen=True)
class Mutation:
    constraint: Constraint
    description: str
    element: etree._Element   # the whole mutated message root, proven invalid


def _key(element: Any) -> str:
    return ("cfh:" + element.local_name) if element.name.startswith(f"{{{contracts.CFH_NS}}}") else element.local_name


def _describe_simple(t: Any) -> str | None:
    parts = []
    if t.enumeration:
        parts.append("enumeration " + "|".join(map(str, t.enumeration)))
    if t.patterns is not None:
        parts.append("pattern " + " & ".join(t.patterns.regexps))
    prim = t.primitive_type.local_name
    if prim != "string":
        parts.append(f"xs:{prim}")
    return ", ".join(parts) or None


def constraints(operation: str) -> list[Constraint]:
    root_name = contracts.ALA_OPERATIONS[operation][0] if operation in contracts.ALA_OPERATIONS else operation
    out: list[Constraint] = []

    def walk(element: Any, path: str) -> None:
        t = element.type
        if t.is_simple():
            detail = _describe_simple(t)
            if detail:
                out.append(Constraint(operation, path, "value", detail))
            return
        if t.is_empty():
            out.append(Constraint(operation, path, "closed", "empty content"))
            return
        out.append(Constraint(operation, path, "closed", "xs:sequence of " +
                              ", ".join(_key(c) for c in t.content.iter_elements())))
        for child in t.content.iter_elements():
            child_path = f"{path}.{_key(child)}" if path else _key(child)
            if child.min_occurs >= 1:
                out.append(Constraint(operation, child_path, "required", "minOccurs 1"))
            walk(child, child_path)

    walk(contracts.ala_schema().elements[root_name], "")
    return out


# ------------------------------------------------------------------------------ value candidates
_POOL = ["", " ", "\t", "x", "0", "12345", "1a", "-1", "true", "Ａ", "not a value",
         "2024-02-30", "20120120", "2012-01-20", "2012-01-20T18:30:43", "2012-01-20T18:30:43+25:00",
         "2012-01-20T25:30:43Z", "2012-01-20 18:30:43Z", "01/20/2012"]


def _other_enum_values(t: Any) -> list[str]:
    mine = {str(v) for v in (t.enumeration or [])}
    schema = contracts.ala_schema()
    others: list[str] = []
    for xsd_type in list(schema.types.values()) + [e.type for e in schema.maps.elements.values()]:
        for v in getattr(xsd_type, "enumeration", None) or []:
            if str(v) not in mine and str(v) not in others:
                others.append(str(v))
    return others


def _candidates(t: Any, value: str) -> Iterator[tuple[str, str]]:
    """(candidate, why) pairs, most telling first: near-misses of the valid value, then the pool."""
    if t.enumeration:
        for v in map(str, t.enumeration):
            yield v.lower(), f"{v!r} in lower case"
            yield v.upper(), f"{v!r} in upper case"
            yield v + " ", f"{v!r} with a trailing space"
            yield " " + v, f"{v!r} with a leading space"
            yield v[:-1], f"{v!r} one character short"
        for v in _other_enum_values(t):
            yield v, "a value of another enumeration in the contract"
    if value:
        yield value + value[-1] * 4, "the valid value made longer"
        yield value[:-1], "the valid value one character short"
    for v in _POOL:
        yield v, "a boundary value"


def _tolerated(path: str) -> Callable[[str], bool]:
    """Values outside the contract that a conformant target may still accept (never negatives)."""
    if path.endswith("requestedDate"):
        date_time = contracts.ala_schema().maps.types["{http://www.w3.org/2001/XMLSchema}dateTime"]
        return lambda v: date_time.is_valid(v)  # profile rule 6
    return lambda v: False


def _find(root: etree._Element, path: str, namespace: str) -> etree._Element | None:
    el: etree._Element | None = root
    for part in [p for p in path.split(".") if p]:
        if el is None:
            return None
        tag = (f"{{{contracts.CFH_NS}}}{part[4:]}" if part.startswith("cfh:")
               else contracts.ala_qname(part, namespace))
        el = el.find(tag)
    return el


def _insert(operation: str, root: etree._Element, path: str, namespace: str) -> etree._Element | None:
    """Add an optional element the valid message left out, at its place in the xs:sequence."""
    parent_path, _, leaf = path.rpartition(".")
    parent = _find(root, parent_path, namespace)
    if parent is None:
        return None
    decl = contracts.ala_schema().elements[contracts.ALA_OPERATIONS[operation][0]]
    for part in [p for p in parent_path.split(".") if p]:
        decl = next(c for c in decl.type.content.iter_elements() if _key(c) == part)
    order = [_key(c) for c in decl.type.content.iter_elements()]
    tag = (f"{{{contracts.CFH_NS}}}{leaf[4:]}" if leaf.startswith("cfh:") else contracts.ala_qname(leaf, namespace))
    new = etree.Element(tag)
    index = sum(1 for child in parent if isinstance(child.tag, str)
                and order.index(_key_of_tag(child.tag)) < order.index(leaf))
    parent.insert(index, new)
    return new


def _key_of_tag(tag: str) -> str:
    q = etree.QName(tag)
    return f"cfh:{q.localname}" if q.namespace == contracts.CFH_NS else q.localname


def _simple_type_at(operation: str, path: str) -> Any:
    root_name = contracts.ALA_OPERATIONS[operation][0]
    element = contracts.ala_schema().elements[root_name]
    for part in path.split("."):
        element = next(c for c in element.type.content.iter_elements() if _key(c) == part)
    return element.type


def mutations(operation: str, element: etree._Element, namespace: str = "", *,
              per_constraint: int | None = None) -> list[Mutation]:
    """Invalid variants of a valid encoded message, at most `per_constraint` per constraint."""
    schema = contracts.ala_schema(namespace)
    if not schema.is_valid(element):
        raise ValueError(f"mutations need a valid {operation} to start from")
    out: list[Mutation] = []

    def attempt(c: Constraint, description: str, change: Callable[[etree._Element], bool]) -> bool:
        mutated = copy.deepcopy(element)
        if not change(mutated) or schema.is_valid(mutated):
            return False
        out.append(Mutation(c, description, mutated))
        return True

    for c in constraints(operation):
        made = 0
        limit = per_constraint or 10_000
        if c.kind == "required":
            parent_path, _, leaf = c.path.rpartition(".")

            def remove(m: etree._Element, p: str = c.path) -> bool:
                target = _find(m, p, namespace)
                if target is None:
                    return False
                target.getparent().remove(target)
                return True

            made += attempt(c, f"{c.path} removed", remove)
        elif c.kind == "value":
            t = _simple_type_at(operation, c.path)
            tolerated = _tolerated(c.path)
            existing = _find(element, c.path, namespace)
            value = (existing.text or "") if existing is not None else ""
            seen: set[str] = set()
            for candidate, why in _candidates(t, value):
                if made >= limit:
                    break
                if candidate in seen or t.is_valid(candidate) or tolerated(candidate):
                    continue
                seen.add(candidate)

                def set_value(m: etree._Element, p: str = c.path, v: str = candidate) -> bool:
                    target = _find(m, p, namespace)
                    if target is None:  # an optional element the valid message left out: add it
                        target = _insert(operation, m, p, namespace)
                    if target is None:
                        return False
                    target.text = v
                    return True

                made += attempt(c, f"{c.path} = {candidate!r} ({why})", set_value)
        else:  # closed content
            def add_unknown(m: etree._Element, p: str = c.path) -> bool:
                target = _find(m, p, namespace)
                if target is None:
                    return False
                etree.SubElement(target, contracts.ala_qname(UNKNOWN, namespace)).text = "x"
                return True

            def repeat_first(m: etree._Element, p: str = c.path) -> bool:
                target = _find(m, p, namespace)
                if target is None or len(target) == 0:
                    return False
                target.insert(1, copy.deepcopy(target[0]))
                return True

            def text_content(m: etree._Element, p: str = c.path) -> bool:
                target = _find(m, p, namespace)
                if target is None or len(target) == 0:
                    return False
                for child in list(target):
                    target.remove(child)
                target.text = "text where elements are expected"
                return True

            label = c.path or "the root"
            for description, change in ((f"an unknown element {UNKNOWN} inside {label}", add_unknown),
                                        (f"the first child of {label} repeated", repeat_first),
                                        (f"text instead of the elements of {label}", text_content)):
                if made >= limit:
                    break
                made += attempt(c, description, change)
    return out


def missing_constraints(operation: str, namespace: str = "", sample: etree._Element | None = None) -> list[str]:
    """Constraint ids for which `mutations` finds no invalid variant of `sample` (should be none)."""
    if sample is None:
        return []
    covered = {m.constraint.id for m in mutations(operation, sample, namespace)}
    return [c.id for c in constraints(operation) if c.id not in covered]
