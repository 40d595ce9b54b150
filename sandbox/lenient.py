"""What a lenient reader forgives: the constraint-family defects of the reference sandbox.

Each family defect (sandbox/defects.py, `family=`) makes the sandbox accept exactly one family of the
constraint inventory (`fibrecert.strategies.inventory`), the way real implementations drift: a JSON
binder that coerces types, a validator that skips bounds or patterns, a date check by shape only, a
reader that ignores unknown properties or treats null as absent, an enum matched case-insensitively.
Everything else stays validated by the contract's own schemas. With no family defect switched on,
these functions return exactly what plain validation gives.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from lxml import etree

from fibrecert import contracts

from .defects import Defects

ALA_FAMILY_DEFECTS = {"ala-accepts-blank-strings", "ala-accepts-impossible-dates", "ala-accepts-enum-near-misses",
                      "ala-accepts-bad-reason-codes", "ala-defaults-missing-elements"}
FC_FAMILY_DEFECTS = {"fc-coerces-types", "fc-accepts-out-of-bounds", "fc-accepts-pattern-violations",
                     "fc-accepts-blank-strings", "fc-accepts-impossible-dates", "fc-accepts-unknown-properties",
                     "fc-accepts-null", "fc-defaults-missing-fields", "fc-ignores-order-type"}
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")
XSD_SPACE = " \t\n\r"
OPERATION_COMPONENTS = {"/service-orders": "ServiceOrderRequest",
                        "/service-order-cancellations": "ServiceOrderCancellationRequest"}


def any_on(defects: Defects, names: set[str]) -> bool:
    return any(defects.on(n) for n in names)


# ------------------------------------------------------------------------------------------ ALA
def ala_forgive(defects: Defects, payload: etree._Element) -> etree._Element:
    """A copy of a request root with the values an ALA family defect forgives replaced by valid ones
    (for validation only: the request is still processed as sent)."""
    if not any_on(defects, ALA_FAMILY_DEFECTS):
        return payload
    operation = etree.QName(payload).localname
    if operation not in contracts.ALA_OPERATIONS:
        return payload
    families = _ala_families(operation)
    checked = copy.deepcopy(payload)
    root = contracts.ala_schema().elements[contracts.ALA_OPERATIONS[operation].request_root]

    def walk(el: etree._Element, decl: Any, path: str) -> None:
        if not decl.type.is_complex() or decl.type.is_empty():
            return
        children = {(f"cfh:{c.local_name}" if c.name.startswith(f"{{{contracts.CFH_NS}}}") else c.local_name): c
                    for c in decl.type.content.iter_elements()}
        for child in el:
            if not isinstance(child.tag, str):
                continue
            q = etree.QName(child)
            key = f"cfh:{q.localname}" if q.namespace == contracts.CFH_NS else q.localname
            if key not in children:
                continue
            child_path = f"{path}.{key}" if path else key
            if children[key].type.is_simple():
                child.text = _ala_value(defects, children[key].type, child.text or "", families.get(child_path, set()))
            else:
                walk(child, children[key], child_path)

    walk(checked, root, "")
    if defects.on("ala-defaults-missing-elements"):
        _insert_missing(checked, root, etree.QName(payload).namespace or "")
    return checked


def _stand_in(t: Any) -> str:
    if t.enumeration:
        return str(t.enumeration[0])
    return next(v for v in ("x", "0", "2000-01-01", "2000-01-01T00:00:00Z") if t.is_valid(v))


def _insert_missing(el: etree._Element, decl: Any, namespace: str) -> None:
    """ala-defaults-missing-elements (validation copy): a missing required element read as present."""
    if not decl.type.is_complex() or decl.type.is_empty():
        return
    for index, child in enumerate(decl.type.content.iter_elements()):
        cfh = child.name.startswith(f"{{{contracts.CFH_NS}}}")
        tag = child.name if cfh else contracts.ala_qname(child.local_name, namespace)
        present = el.find(tag)
        if present is None and child.min_occurs >= 1:
            present = etree.Element(tag)
            position = sum(1 for c in el if isinstance(c.tag, str)
                           and any(c.tag in (d.name, contracts.ala_qname(d.local_name, namespace))
                                   for d in list(decl.type.content.iter_elements())[:index]))
            el.insert(position, present)
            if child.type.is_simple():
                present.text = _stand_in(child.type)
        if present is not None and not child.type.is_simple():
            _insert_missing(present, child, namespace)


def ala_read(defects: Defects, data: Any, operation: str) -> Any:
    """The request as the sandbox reads it: with ala-defaults-missing-elements, a missing required
    element is read as empty text (the same request, processed as sent otherwise)."""
    if not defects.on("ala-defaults-missing-elements") or operation not in contracts.ALA_OPERATIONS:
        return data

    def fill(value: Any, decl: Any) -> Any:
        if decl.type.is_simple():
            return "" if value is None else value
        value = dict(value) if isinstance(value, dict) else {}
        for child in decl.type.content.iter_elements():
            key = f"cfh:{child.local_name}" if child.name.startswith(f"{{{contracts.CFH_NS}}}") else child.local_name
            if key in value or child.min_occurs >= 1:
                value[key] = fill(value.get(key), child)
        return value

    return fill(data, contracts.ala_schema().elements[contracts.ALA_OPERATIONS[operation].request_root])


@functools.lru_cache(maxsize=None)
def _ala_families(operation: str) -> dict[str, set[str]]:
    """Element path -> the constraint families the inventory lists there."""
    from fibrecert.strategies import inventory

    out: dict[str, set[str]] = {}
    for c in inventory(operation):
        out.setdefault(c.path, set()).add(c.family)
    return out


def _ala_value(defects: Defects, t: Any, text: str, families: set[str]) -> str:
    if t.is_valid(text):
        return text
    if "blank" in families and defects.on("ala-accepts-blank-strings") and not text.strip(XSD_SPACE):
        return "x"
    if "format" in families and defects.on("ala-accepts-impossible-dates"):
        shape, stand_in = ((DATE, "2000-01-01") if t.primitive_type.local_name == "date"
                           else (DATE_TIME, "2000-01-01T00:00:00Z"))
        if shape.fullmatch(text.strip()):
            return stand_in
    if "enum" in families and defects.on("ala-accepts-enum-near-misses"):
        for value in map(str, t.enumeration or []):
            if text.strip().casefold() == value.casefold():
                return value
    if "pattern" in families and defects.on("ala-accepts-bad-reason-codes"):
        return next((v for v in ("0", "300", "x") if t.is_valid(v)), text)
    return text


# ------------------------------------------------------------------------------------ Fibre Cafe
def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = contracts.openapi_document()["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _types(node: dict[str, Any]) -> list[str]:
    t = node.get("type")
    return [t] if isinstance(t, str) else list(t or [])


def _branches(component: str) -> list[tuple[str, Any]]:
    """(component name, orderType values) of each oneOf shape of a request body."""
    top = contracts.openapi_document()["components"]["schemas"][component]
    out = []
    for ref in top.get("oneOf", []):
        name = ref["$ref"].rsplit("/", 1)[-1]
        prop = _resolve(_resolve(ref)["properties"]["orderType"])
        out.append((name, prop["enum"] if "enum" in prop else [prop["const"]]))
    return out


def _shape(component: str, body: dict[str, Any]) -> tuple[str, Any]:
    """The component and schema a body is read as: its oneOf shape (told apart by orderType), if any."""
    for name, values in _branches(component):
        if body.get("orderType") in values:
            return name, contracts.openapi_document()["components"]["schemas"][name]
    return component, contracts.openapi_document()["components"]["schemas"][component]


def _coerce(value: Any, node: Any) -> Any:
    """fc-coerces-types: what a coercing JSON binder makes of a value (numeric strings, "true",
    single-element arrays for scalars, numbers for strings, a single value for an array)."""
    node = _resolve(node)
    types = _types(node)
    t = types[0] if types else None
    scalar = t in ("integer", "number", "string", "boolean")
    if scalar and isinstance(value, list) and len(value) == 1:
        value = value[0]
    if t in ("integer", "number") and isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    if t == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if t == "boolean" and value in ("true", "false"):
        return value == "true"
    if t == "array" and not isinstance(value, list):
        value = [value]
    if t == "array":
        return [_coerce(v, node.get("items", {})) for v in value]
    if t == "object" and isinstance(value, dict):
        props = node.get("properties", {})
        return {k: _coerce(v, props[k]) if k in props else v for k, v in value.items()}
    return value


def _without_nulls(value: Any) -> Any:
    """fc-accepts-null: null read as 'left out'."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _default(node: Any) -> Any:
    node = _resolve(node)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    t = (_types(node) or ["string"])[0]
    if t == "object":
        return {k: _default(node["properties"][k]) for k in node.get("required", [])}
    if t == "array":
        return [_default(node.get("items", {})) for _ in range(node.get("minItems", 0))]
    if t in ("integer", "number"):
        return node.get("minimum", 0)
    if t == "boolean":
        return False
    return "2000-01-01" if node.get("format") == "date" else "x"


def _with_defaults(value: Any, node: Any) -> Any:
    """fc-defaults-missing-fields: a missing required property read as its default."""
    node = _resolve(node)
    if isinstance(value, dict) and "object" in _types(node):
        props = node.get("properties", {})
        out = {k: _with_defaults(v, props[k]) if k in props else v for k, v in value.items()}
        for k in node.get("required", []):
            out.setdefault(k, _default(props.get(k, {})))
        return out
    if isinstance(value, list) and "items" in node:
        return [_with_defaults(v, node["items"]) for v in value]
    return value


# family -> the defect that forgives the validation errors of that family
_ERROR_FAMILIES = {"bounds": "fc-accepts-out-of-bounds", "pattern": "fc-accepts-pattern-violations",
                   "blank": "fc-accepts-blank-strings", "format": "fc-accepts-impossible-dates",
                   "closed": "fc-accepts-unknown-properties"}


@functools.lru_cache(maxsize=None)
def _families(operation: str) -> dict[tuple[str, str], str]:
    from fibrecert.strategies import inventory

    return {(c.path, c.keyword): c.family for c in inventory(operation)}


def _forgiven(defects: Defects, operation: str, shape: str | None, error: Any) -> bool:
    """Is this error of a family a switched-on defect forgives? (the family comes from the inventory)"""
    parts = [shape] if shape else []
    for p in error.path:
        if isinstance(p, int):
            parts[-1] += "[]"
        else:
            parts.append(str(p))
    family = _families(operation).get((".".join(parts), error.validator))
    if family not in _ERROR_FAMILIES or not defects.on(_ERROR_FAMILIES[family]):
        return False
    if family == "format":  # a date checked by its shape only
        return isinstance(error.instance, str) and DATE.fullmatch(error.instance) is not None
    return True


def json_errors(defects: Defects, component: str, body: Any) -> tuple[Any, list[Any]]:
    """(the body as the sandbox reads it, its contract errors), sorted by where they are."""
    validator = contracts.json_validator(component)
    if not any_on(defects, FC_FAMILY_DEFECTS) or not isinstance(body, dict):
        return body, sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    operation = next(op for op, name in OPERATION_COMPONENTS.items() if name == component)
    if defects.on("fc-accepts-null"):
        body = _without_nulls(body)
    provide = {v for name, values in _branches(component) if name == "ProvideOrder" for v in values}
    order_type = body.get("orderType")
    if defects.on("fc-ignores-order-type") and isinstance(order_type, str) and order_type in provide \
            and not validator.is_valid(body):
        for _, values in _branches(component):  # a provide type on a cease or modify: read by its fields
            if validator.is_valid({**body, "orderType": values[0]}):
                body = {**body, "orderType": values[0]}
                break
    name, schema = _shape(component, body)
    if defects.on("fc-coerces-types"):
        body = _coerce(body, schema)
    if defects.on("fc-defaults-missing-fields"):
        body = _with_defaults(body, schema)
    shape = name if name != component else None
    errors = [e for e in contracts.json_validator(name).iter_errors(body) if not _forgiven(defects, operation, shape, e)]
    return body, sorted(errors, key=lambda e: list(e.path))
