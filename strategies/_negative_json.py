"""Boundary-invalid Fibre Cafe requests (private: use `fibrecert.strategies`).

Built on schemathesis' coverage phase, which walks the OpenAPI document keyword by keyword and yields
deterministic negative cases (below minimum, above maxLength, wrong type, pattern, enum, format,
missing required property, missing header, unexpected method or content type). fibrecert classifies
each case by the requirement it tests and adds what the coverage phase does not produce: near-miss
enum values (wrong case, stray space, a value of another enum in the contract). Every body case is
proven invalid by the contract's own JSON Schema before it can be sent.
"""

from __future__ import annotations

import copy
import functools
import re
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator

from fibrecert import contracts

COMPONENTS = {"/service-orders": "ServiceOrderRequest",
              "/service-order-cancellations": "ServiceOrderCancellationRequest"}

# Scenarios a conformant target may accept: never sent as negatives.
TOLERATED = (
    "Object with unexpected properties",   # closed request bodies are fibrecert's generation choice, not the API's
    "Value not matching the '^[\\x21-\\x7e]+$' pattern",  # header text beyond what the documentation says
)


@dataclass(frozen=True)
class FcNegative:
    path: str                  # the operation's path
    kind: str                  # value | required | not-an-object | no-body | method | content-type | header | enum-near-miss
    description: str
    body: Any = None           # a JSON value (None with kind no-body)
    method: str = "POST"
    content_type: str = "application/json"
    omit_headers: tuple[str, ...] = ()
    field: str = ""            # the body field the case attacks ("" for the whole body)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def _kind(description: str, location: str | None, body: Any) -> tuple[str, str]:
    if description.startswith("Unspecified HTTP method"):
        return "method", ""
    if "Content-Type" in description:
        return "content-type", ""
    if description.startswith("Missing `X-"):
        return "header", ""
    if description == "Missing request body":
        return "no-body", ""
    if location and "HEADER" in location:
        return "header", ""
    head, _, rest = description.partition(": ")
    if description.startswith("Missing required property") or " -> Missing required property" in description \
            or rest.startswith("Missing required property"):
        name = description.rsplit(": ", 1)[-1]
        return "required", name
    if not isinstance(body, dict):
        return "not-an-object", ""
    return "value", head.split(" -> ")[0]


@functools.lru_cache(maxsize=None)
def coverage_negatives(path: str) -> tuple[FcNegative, ...]:
    from schemathesis import GenerationMode

    from ._openapi import operation, schema

    op = operation(path)
    cases = schema().iter_coverage_cases(op, generation_modes=[GenerationMode.NEGATIVE],
                                         generation_config=schema().config.generation_for(operation=op))
    validator = contracts.json_validator(COMPONENTS[path])
    out: list[FcNegative] = []
    for case in cases:
        data = case.meta.phase.data if case.meta else None
        description = getattr(data, "description", "") or ""
        if any(t in description for t in TOLERATED):
            continue
        location = str(getattr(data, "parameter_location", "") or "")
        from schemathesis.core import NOT_SET

        body = None if case.body is NOT_SET else case.body
        kind, field_name = _kind(description, location, body)
        if kind in ("value", "required", "not-an-object") and validator.is_valid(body):
            continue  # not a negative after all: never sent as one
        omit = tuple(h for h in ("X-Request-ID", "X-Conversation-ID") if kind == "header"
                     and h not in (case.headers or {}))
        out.append(FcNegative(
            path=path, kind=kind, description=description, body=copy.deepcopy(body),
            method=case.method.upper(), field=field_name, omit_headers=omit,
            content_type=(dict(case.headers or {}).get("Content-Type") or case.media_type or "application/json")
            if kind == "content-type" else "application/json"))
    return tuple(out)


def _schema_nodes(schema: dict[str, Any], path: str = "", depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, schema node) for every node of a request schema: $refs resolved, oneOf branches
    at their parent's path, object properties as `a.b`, array items as `a[]`."""
    if depth > 12:
        return
    if "$ref" in schema:
        components = contracts.openapi_document()["components"]["schemas"]
        yield from _schema_nodes(components[schema["$ref"].rsplit("/", 1)[-1]], path, depth + 1)
        return
    yield path, schema
    for branch in schema.get("oneOf", []):
        yield from _schema_nodes(branch, path, depth + 1)
    for name, sub in schema.get("properties", {}).items():
        yield from _schema_nodes(sub, f"{path}.{name}" if path else name, depth + 1)
    if "items" in schema:
        yield from _schema_nodes(schema["items"], f"{path}[]", depth + 1)


def _enum_paths(schema: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(dotted path, enum values) for every enum or const in a request schema."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for path, node in _schema_nodes(schema):
        if "enum" in node:
            found.append((path, tuple(str(v) for v in node["enum"])))
        if "const" in node:
            found.append((path, (str(node["const"]),)))
    return [(p, list(v)) for p, v in dict.fromkeys(found)]


def _all_enum_values() -> list[str]:
    out: list[str] = []
    for s in contracts.openapi_document()["components"]["schemas"].values():
        for v in s.get("enum", []) if isinstance(s, dict) else []:
            out.append(str(v))
    return out


def near_miss_values(valid: str, enum: list[str]) -> list[tuple[str, str]]:
    candidates = [(valid.lower(), "in lower case"), (valid.title(), "in title case"), (valid + " ", "with a trailing space"),
                  (" " + valid, "with a leading space"), (valid[:-1], "one character short"), (valid.replace("_", "-"), "with dashes")]
    other = next((v for v in _all_enum_values() if v not in enum and re.fullmatch(r"[A-Z_]+", v)), None)
    if other:
        candidates.append((other, "a value of another enum in the contract"))
    return [(c, why) for c, why in dict.fromkeys(candidates) if c not in enum]


def near_miss_negatives(path: str, valid_body: dict[str, Any]) -> list[FcNegative]:
    """Near-miss enum values at every enum-valued field present in `valid_body`."""
    validator = contracts.json_validator(COMPONENTS[path])
    component = contracts.openapi_document()["components"]["schemas"][COMPONENTS[path]]
    out: list[FcNegative] = []
    for dotted, enum in _enum_paths(component):
        parts = dotted.replace("[]", ".0").split(".")
        holder: Any = valid_body
        try:
            for part in parts[:-1]:
                holder = holder[int(part)] if part.isdigit() else holder[part]
            current = holder[parts[-1]]
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(current, str):
            continue
        for value, why in near_miss_values(current, list(enum)):
            body = copy.deepcopy(valid_body)
            h = body
            for part in parts[:-1]:
                h = h[int(part)] if part.isdigit() else h[part]
            h[parts[-1]] = value
            if validator.is_valid(body):
                continue
            out.append(FcNegative(path=path, kind="enum-near-miss", field=dotted,
                                  description=f"{dotted}: {value!r} ({current!r} {why})", body=body))
    return list({n.description: n for n in out}.values())


def constraint_inventory(path: str) -> list[tuple[str, str]]:
    """(dotted field path, keyword) for every constraint of the operation's request body."""
    keywords = ("type", "minimum", "minLength", "maxLength", "pattern", "enum", "const", "format", "minItems")
    component = contracts.openapi_document()["components"]["schemas"][COMPONENTS[path]]
    found: set[tuple[str, str]] = set()
    for dotted, node in _schema_nodes(component):
        found.update((dotted, k) for k in keywords if k in node and dotted)
        found.update((f"{dotted}.{name}" if dotted else name, "required") for name in node.get("required", []))
    return sorted(found)


_PHRASES = {"Incorrect type": "type", "Invalid enum value": "enum", "Value smaller than minimum": "minimum",
            "String smaller than minLength": "minLength", "String larger than maxLength": "maxLength",
            "pattern": "pattern", "format": "format", "fewer items than allowed by minItems": "minItems"}


def covered_constraints(path: str) -> set[tuple[str, str]]:
    """The (field path, keyword) pairs the negative cases of an operation attack."""
    out: set[tuple[str, str]] = set()
    for case in coverage_negatives(path):
        parts = case.description.split(" -> ")
        trail = []
        for part in parts[:-1]:
            trail.append("[]" if part.startswith("Array with invalid items") else part)
        last = parts[-1]
        if last.startswith("Array with invalid items: "):
            trail.append("[]")
            last = last[len("Array with invalid items: "):]
        if last.startswith("Missing required property: "):
            out.add((".".join(trail + [last.rsplit(": ", 1)[-1]]).replace(".[]", "[]"), "required"))
            continue
        if ": " in last:
            name, _, what = last.partition(": ")
            dotted = ".".join(trail + [name]).replace(".[]", "[]")
        else:  # the attacked value is the trail itself (e.g. an array item of the wrong type)
            what, dotted = last, ".".join(trail).replace(".[]", "[]")
        for phrase, keyword in _PHRASES.items():
            if phrase in what:
                out.add((dotted, keyword))
    for dotted, enum in _enum_paths(contracts.openapi_document()["components"]["schemas"][COMPONENTS[path]]):
        out.add((dotted, "enum"))  # near misses are generated for every enum-valued field
        if len(enum) == 1:
            out.add((dotted, "const"))
    return out
