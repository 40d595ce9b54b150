"""XSD-driven Hypothesis strategies for ALA messages (private: use `fibrecert.strategies`).

Walks the xmlschema component tree of a request root and builds a dict strategy whose keys are the
element names xmlschema's encoder expects (`cfh:` for extensions). Simple types dispatch through
`_PRIMITIVES`, a dict of small builders keyed by XSD primitive type; an unhandled primitive fails
loudly. Patterns and enumerations come from the schema itself.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable

from hypothesis import strategies as st

from fibrecert import contracts

# XML 1.0 characters a target must handle, minus controls (\t and \n kept); no CR (parsers fold it).
XML_TEXT = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co", "Cn"), include_characters="\t\n")


def _string(simple: Any) -> st.SearchStrategy[str]:
    regexps = list(simple.patterns.regexps) if simple.patterns is not None else []
    if regexps:
        # The XSD regex dialect used in the contract ([0-9], \s, \S, quantifiers) reads the same in
        # Python; the final filter applies the schema's own translated patterns anyway.
        base = st.from_regex(regexps[0], fullmatch=True, alphabet=XML_TEXT)
    else:
        base = st.text(XML_TEXT, max_size=40)
    lo = getattr(simple, "min_length", None)
    hi = getattr(simple, "max_length", None)
    if lo is not None or hi is not None:
        base = base.filter(lambda s: (lo is None or len(s) >= lo) and (hi is None or len(s) <= hi))
    return base


def _date_time(simple: Any) -> st.SearchStrategy[str]:
    zones = st.sampled_from([_dt.timezone.utc, _dt.timezone(_dt.timedelta(hours=1)),
                             _dt.timezone(_dt.timedelta(hours=-5)), _dt.timezone(_dt.timedelta(hours=5, minutes=30))])
    moments = st.datetimes(min_value=_dt.datetime(2000, 1, 1), max_value=_dt.datetime(2099, 12, 31),
                           timezones=zones)

    def fmt(d: _dt.datetime, style: int) -> str:
        text = d.isoformat(timespec=("seconds", "milliseconds", "microseconds")[style])
        return text.replace("+00:00", "Z") if style != 2 else text

    return st.builds(fmt, moments, st.integers(0, 2))


def _date(simple: Any) -> st.SearchStrategy[str]:
    return st.dates(_dt.date(2000, 1, 1), _dt.date(2099, 12, 31)).map(lambda d: d.isoformat())


_PRIMITIVES: dict[str, Callable[[Any], st.SearchStrategy[str]]] = {
    "string": _string,
    "dateTime": _date_time,
    "date": _date,
}


def _primitive_name(simple: Any) -> str:
    prim = simple.primitive_type
    return prim.local_name


def simple_strategy(simple: Any) -> st.SearchStrategy[str]:
    if simple.enumeration:
        base: st.SearchStrategy[str] = st.sampled_from([str(v) for v in simple.enumeration])
    else:
        name = _primitive_name(simple)
        if name not in _PRIMITIVES:
            raise NotImplementedError(f"no generator for XSD primitive xs:{name} (used by {simple})")
        base = _PRIMITIVES[name](simple)
    return base.filter(lambda v: simple.is_valid(v))


def _key(element: Any, namespace: str) -> str:
    qname = element.name
    if qname.startswith(f"{{{contracts.CFH_NS}}}"):
        return "cfh:" + element.local_name
    return element.local_name


def element_strategy(element: Any, namespace: str, fixed: dict[str, Any], path: str = "") -> st.SearchStrategy[Any]:
    if path in fixed:
        return st.just(fixed[path])
    xsd_type = element.type
    if xsd_type.is_simple():
        return simple_strategy(xsd_type)
    if xsd_type.has_simple_content():
        raise NotImplementedError(f"simple content with attributes is not used by the contract: {element}")
    if xsd_type.is_empty():
        return st.just({})
    group = xsd_type.content
    if group.model != "sequence":
        raise NotImplementedError(f"content model {group.model} is not used by the contract: {element}")
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for child in group.iter_elements():
        key = _key(child, namespace)
        child_path = f"{path}.{key}" if path else key
        strategy = element_strategy(child, namespace, fixed, child_path)
        if child.max_occurs != 1:
            raise NotImplementedError(f"repeated elements are not used by the contract: {child}")
        if child.min_occurs == 0 and child_path not in fixed:
            optional[key] = strategy
        else:
            required[key] = strategy
    order = [_key(c, namespace) for c in group.iter_elements()]
    return st.fixed_dictionaries(required, optional=optional).map(
        lambda d: {k: d[k] for k in order if k in d})  # xs:sequence: documented order (rule 4)


def message_strategy(root: str, namespace: str, fixed: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    schema = contracts.ala_schema(namespace)
    element = schema.elements[root]
    unknown = [p for p in fixed if not _path_exists(element, p, namespace)]
    if unknown:
        raise KeyError(f"{root} has no element at {unknown[0]!r}")
    return element_strategy(element, namespace, fixed)


def _path_exists(element: Any, path: str, namespace: str) -> bool:
    current = element
    for part in path.split("."):
        if not current.type.is_complex() or current.type.is_empty():
            return False
        match = [c for c in current.type.content.iter_elements() if _key(c, namespace) == part]
        if not match:
            return False
        current = match[0]
    return True


def required_paths(root: str, namespace: str = "") -> list[str]:
    """Every required element path of a request root (dotted, `cfh:` for extensions)."""
    out: list[str] = []

    def walk(element: Any, path: str) -> None:
        if not element.type.is_complex() or element.type.is_empty():
            return
        for child in element.type.content.iter_elements():
            key = _key(child, namespace)
            child_path = f"{path}.{key}" if path else key
            if child.min_occurs >= 1:
                out.append(child_path)
                walk(child, child_path)

    walk(contracts.ala_schema(namespace).elements[root], "")
    return out
