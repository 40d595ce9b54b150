"""The constraint inventory: every field path x constraint of each operation's request, as data
(private: use `fibrecert.strategies`).

Read from the contracts themselves, never from another tool's messages:
- ALA: the XSD component tree of each request root (xmlschema). Occurrence (minOccurs, maxOccurs),
  closed content (no element the xs:sequence does not declare; no text where elements are due),
  element order (listed, never attacked: profile rule 4), and each simple type's facets
  (enumeration, pattern, length facets, the xs:date / xs:dateTime primitive).
- Fibre Cafe: the OpenAPI request schemas (JSON Schema 2020-12) and header parameters. required,
  type, enum, const, pattern, minLength/maxLength, minimum/maximum, format, minItems,
  additionalProperties, the oneOf told apart by `orderType`, `null` for an optional property, the
  request body itself (required, an object) and the required headers.

Each construct dispatches through a dict of small builders; a keyword, facet or primitive the
builders do not know fails loudly (NotImplementedError), so a contract change cannot silently leave a
constraint out of the inventory.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from fibrecert import contracts

API_PREFIX = {"ala": "ala", "fibrecafe": "fc"}
OPERATIONS: dict[str, tuple[str, ...]] = {
    "ala": tuple(contracts.ALA_OPERATIONS),
    "fibrecafe": ("/service-orders", "/service-order-cancellations"),
}
COMPONENTS = {"/service-orders": "ServiceOrderRequest",
              "/service-order-cancellations": "ServiceOrderCancellationRequest"}

FAMILIES: dict[str, str] = {
    "required": "a required element, property or request body left out",
    "type": "a value of another JSON type (numeric strings, \"true\", null, one-element arrays, objects, fractions)",
    "enum": "a value outside an enumeration or const (case, spaces, a prefix, a look-alike, another enum's value)",
    "pattern": "a value outside its pattern (a character outside the class, one too many, stray spaces)",
    "blank": "an empty or blank string where a non-blank one is due",
    "bounds": "one past a bound: length max+1 / min-1, a number below its minimum, too few items",
    "format": "an impossible or misshapen date or date-time",
    "closed": "an unknown or repeated element or property, or text where elements are due",
    "nullable": "null given for an optional property",
    "discriminator": "the orderType of another shape of the oneOf",
    "header": "a required header left out or empty",
    "order": "elements in another order than the xs:sequence (listed only: never required of a target)",
}

# What the negatives of a constraint count for: operation -> group -> requirement id.
REQUIREMENTS: dict[str, dict[str, str]] = {
    "ceaseOrder": {"value": "ALA-CEASE-008", "closed": "ALA-CEASE-009", "required": "ALA-CEASE-004"},
    "cancelOrder": {"value": "ALA-CANCEL-008", "closed": "ALA-CANCEL-009", "required": "ALA-CANCEL-004"},
    "unsolicitedCeaseRequest": {"value": "ALA-UCR-006", "closed": "ALA-UCR-007", "required": "ALA-UCR-004"},
    "/service-orders": {"value": "FC-SO-007", "required": "FC-SO-006", "header": "FC-SO-003",
                        "closed": "FC-SO-010", "body": "FC-SO-008"},
    "/service-order-cancellations": {"value": "FC-SOC-010", "required": "FC-SOC-007", "header": "FC-SOC-004",
                                     "closed": "FC-SOC-015", "body": "FC-SOC-011"},
}
_GROUP: dict[str, str | None] = {
    "required": "required", "type": "value", "enum": "value", "pattern": "value", "blank": "value",
    "bounds": "value", "format": "value", "discriminator": "value", "closed": "closed", "nullable": "closed",
    "header": "header", "order": None,
}
assert set(_GROUP) == set(FAMILIES)


@dataclass(frozen=True)
class Constraint:
    """One field path x constraint of one operation's request."""

    api: str                   # "ala" | "fibrecafe"
    operation: str             # "ceaseOrder", "/service-order-cancellations", ...
    path: str                  # dotted field path, "" = the request root / body; `cfh:` for ALA extensions;
                               # a oneOf shape is the first segment (`CeaseOrder.supplier`); headers/<Name>
    keyword: str               # the contract's own word: minOccurs, pattern, maxLength, xs:date, ...
    family: str                # a key of FAMILIES
    detail: str                # e.g. "maxLength 1000"
    requirement: str | None    # what its negatives count for; None: never attacked (element order)
    id: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", f"{API_PREFIX[self.api]}:{self.operation}:{self.path or '/'}:{self.keyword}")

    @property
    def attacked(self) -> bool:
        return self.requirement is not None

    @property
    def rule(self) -> str:
        """The rule of the standard the constraint rests on (rule_of())."""
        return rule_of(self)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "api": self.api, "operation": self.operation, "path": self.path,
                "keyword": self.keyword, "family": self.family, "detail": self.detail,
                "requirement": self.requirement, "rule": self.rule}


# ------------------------------------------------------------------------------ the rule of each constraint
# No fail without a rule: every constraint names the fact of the published pages ("doc") or the profile
# rule or decision ("profile") it rests on; where the contract is stricter than the pages (an integer
# for "number", ASCII classes, non-empty strings and lists) it names the profile decision.
_ALA = "docs/profiles/ala-2.30.md"
_FC = "docs/profiles/fibrecafe-1.17.md"
_FC_CHOICE = f"profile choice, SHOULD ({_FC}#choices): refusing unknown properties or null with 400"


def _ala_rule(c: "Constraint") -> str:
    leaf = c.path.rsplit(".", 1)[-1]
    if c.family == "order":
        return f"profile rule 4 ({_ALA}#rule-4): the documented order; never required of a target"
    if c.family == "required":
        return f"doc ({_ALA}#facts): the published page lists {leaf or 'it'} as required"
    if c.family == "closed":
        return f"profile rule 4 ({_ALA}#rule-4): only the elements the page lists, each once, no stray text"
    if leaf == "cancellationReasonCode":
        return f"profile rule 6 ({_ALA}#rule-6): 1-4 ASCII digits 0-9 (\\d is ASCII)"
    if leaf == "sentAt":
        return f"profile rule 6 ({_ALA}#rule-6): xs:dateTime with a time zone"
    if leaf == "requestedDate":
        return f"profile rule 6 ({_ALA}#rule-6): xs:date"
    if c.family == "blank":
        return f"profile rule 6 ({_ALA}#rule-6): every required string is non-empty after trimming"
    if c.family == "enum":
        return f"doc ({_ALA}#facts): the documented values of {leaf}"
    return f"profile rule 6 ({_ALA}#rule-6): data types"


def _fc_rule(c: "Constraint") -> str:
    leaf = c.path.rsplit(".", 1)[-1].rstrip("[]")
    if c.family == "header":
        return f"doc ({_FC}#headers): every call needs X-Request-ID and X-Conversation-ID"
    if c.path == "":
        if c.family == "discriminator":
            return f"profile decision 1 ({_FC}#decision-1): one of three shapes, told apart by orderType"
        return f"profile decision 6 ({_FC}#decision-6): a body that is absent or not a JSON object is refused"
    if c.family in ("closed", "nullable"):
        return _FC_CHOICE
    if leaf in ("orderId", "appointmentReservationId") and c.family == "type":
        return (f"profile decision 8 ({_FC}#decision-8): identifiers are integers (the page says number)"
                + ("; a fraction: 400, or 422 INVALID_REQUEST/NOT_FOUND" if leaf == "orderId" else ""))
    if leaf == "supplier" and c.family == "pattern":
        return (f"doc ({_FC}#facts): supplier ^\\w{{1,20}}$, with \\w the ASCII class "
                f"(profile, {_FC}#ascii-classes)")
    if c.operation == "/service-order-cancellations":
        if c.family == "required":
            return f"doc ({_FC}#facts): orderId and reasonCode are required"
        if leaf == "orderId":
            return f"doc ({_FC}#facts): orderId number >= 1"
        if leaf == "reasonCode":
            return f"doc ({_FC}#facts): the documented reasonCode values"
        if leaf == "text":
            return f"doc ({_FC}#facts): text of 1..1000 characters"
        return f"doc ({_FC}#facts): the cancellation's fields"
    if leaf == "serviceCharacteristics" and c.family == "bounds":
        return f"profile decision 1 ({_FC}#decision-1): serviceCharacteristics is non-empty (an order says what it orders)"
    if c.family == "blank" or (c.family == "bounds" and c.keyword == "minLength"):
        return f"profile decision 1 ({_FC}#decision-1): required strings are non-empty"
    if c.family == "format":
        return f"profile decision 1 ({_FC}#decision-1): requestedCompletionDate is a date"
    return f"profile decision 1 ({_FC}#decision-1): the create-order body (the page omits it)"


def rule_of(c: "Constraint") -> str:
    return _ala_rule(c) if c.api == "ala" else _fc_rule(c)


@dataclass(frozen=True)
class Entry:
    """A constraint with the contract node it was read from (what the negative builders need)."""

    constraint: Constraint
    node: Any                  # ALA: the xmlschema element (or simple type); Fibre Cafe: the schema node
    extra: Any = None          # Fibre Cafe: the parent object schema (required / nullable); headers: the parameter


def _make(api: str, operation: str, path: str, keyword: str, family: str, detail: str, *, body: bool = False) -> Constraint:
    group = "body" if body else _GROUP[family]
    return Constraint(api, operation, path, keyword, family, detail,
                      REQUIREMENTS[operation].get(group) if group else None)


# ------------------------------------------------------------------------------------------ ALA
def ala_key(element: Any) -> str:
    """The path segment of an XSD element: its local name, `cfh:` for the CityFibre extensions."""
    return ("cfh:" + element.local_name) if element.name.startswith(f"{{{contracts.CFH_NS}}}") else element.local_name


BLANK_PROBES_INVALID = ("", " ", "\t \n")
BLANK_PROBES_VALID = ("x", "-", "0", " x ", "x y", "\u00e9")


def is_blank_pattern(matches: Callable[[str], bool]) -> bool:
    """A pattern whose only job is "not blank": refuses empty and whitespace-only text, accepts the rest."""
    return not any(matches(v) for v in BLANK_PROBES_INVALID) and all(matches(v) for v in BLANK_PROBES_VALID)


def _xsd_pattern_family(t: Any) -> str:
    if t.primitive_type.local_name in _XSD_PRIMITIVES and _XSD_PRIMITIVES[t.primitive_type.local_name]:
        return "format"  # a pattern narrowing a date / date-time (e.g. "with a time zone")
    return "blank" if is_blank_pattern(t.is_valid) else "pattern"


# XSD primitive -> the keyword naming its lexical space as a constraint (None: no constraint of its own)
_XSD_PRIMITIVES: dict[str, str | None] = {"string": None, "date": "xs:date", "dateTime": "xs:dateTime"}
_XS = "{http://www.w3.org/2001/XMLSchema}"


def _xsd_facets(t: Any) -> Iterator[tuple[str, str, str]]:
    """(keyword, family, detail) for every facet of a simple type; an unknown facet fails loudly."""
    handled = {f"{_XS}pattern", f"{_XS}enumeration", f"{_XS}whiteSpace", f"{_XS}length", f"{_XS}minLength",
               f"{_XS}maxLength"}
    prim = t.primitive_type.local_name
    chain, base = [], t
    while base is not None and hasattr(base, "facets"):
        chain.append(base)
        base = getattr(base, "base_type", None)
    for level in chain:
        unknown = sorted(set(level.facets) - handled - {None})
        if unknown:
            raise NotImplementedError(f"no inventory builder for XSD facet {unknown[0]} (used by {t})")
    if prim not in _XSD_PRIMITIVES:
        raise NotImplementedError(f"no inventory builder for XSD primitive xs:{prim} (used by {t})")
    if t.enumeration:
        yield "enumeration", "enum", "enumeration " + " | ".join(map(str, t.enumeration))
    elif t.patterns is not None:
        family = _xsd_pattern_family(t)
        note = {"blank": " (not blank)", "format": f" (narrowing xs:{prim})"}.get(family, "")
        yield "pattern", family, "pattern " + " & ".join(t.patterns.regexps) + note
    for facet in ("length", "minLength", "maxLength"):
        found = next((level.facets[f"{_XS}{facet}"] for level in chain if f"{_XS}{facet}" in level.facets), None)
        if found is not None:
            yield facet, "bounds", f"{facet} {found.value}"
    if _XSD_PRIMITIVES[prim]:
        yield _XSD_PRIMITIVES[prim], "format", _XSD_PRIMITIVES[prim]


def _ala_entries(operation: str) -> list[Entry]:
    root = contracts.ala_schema().elements[contracts.ALA_OPERATIONS[operation].request_root]
    out: list[Entry] = []

    def add(path: str, keyword: str, family: str, detail: str, node: Any) -> None:
        out.append(Entry(_make("ala", operation, path, keyword, family, detail), node))

    def walk(element: Any, path: str) -> None:
        t = element.type
        if t.is_simple():
            for keyword, family, detail in _xsd_facets(t):
                add(path, keyword, family, detail, element)
            return
        if t.attributes:
            raise NotImplementedError(f"attributes are not used by the contract: {element}")
        if t.has_simple_content():
            raise NotImplementedError(f"simple content with attributes is not used by the contract: {element}")
        add(path, "closed", "closed", "no element the content model does not declare (no xs:any)", element)
        add(path, "mixed", "closed", "element-only content (mixed=false): no text beside or instead of elements", element)
        if t.is_empty():
            return
        if t.content.model != "sequence":
            raise NotImplementedError(f"content model {t.content.model} is not used by the contract: {element}")
        children = list(t.content.iter_elements())
        if len(children) > 1:
            add(path, "sequence", "order", "xs:sequence " + ", ".join(ala_key(c) for c in children), element)
        for child in children:
            child_path = f"{path}.{ala_key(child)}" if path else ala_key(child)
            if child.max_occurs is None or child.max_occurs > 1:
                raise NotImplementedError(f"repeating elements are not used by the contract: {child}")
            if child.min_occurs >= 1:
                add(child_path, "minOccurs", "required", f"minOccurs {child.min_occurs}", child)
            add(child_path, "maxOccurs", "closed", f"maxOccurs {child.max_occurs} (no repeated element)", child)
            walk(child, child_path)

    walk(root, "")
    return out


# ------------------------------------------------------------------------------------ Fibre Cafe
_ANNOTATIONS = {"description", "title", "example", "examples", "$comment", "deprecated"}


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """A schema node with its `$ref` (to #/components/schemas/...) followed."""
    seen = 0
    while "$ref" in node:
        node = contracts.openapi_document()["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
        seen += 1
        if seen > 20:
            raise ValueError("a $ref cycle in the contract")
    return node


def branch_name(ref_or_node: dict[str, Any]) -> str:
    return ref_or_node["$ref"].rsplit("/", 1)[-1]


def discriminator_values(branch: dict[str, Any]) -> list[Any]:
    """The orderType values that select a oneOf shape (its const or enum)."""
    prop = resolve(resolve(branch).get("properties", {}).get("orderType", {}))
    return list(prop["enum"]) if "enum" in prop else [prop["const"]] if "const" in prop else []


def json_types(node: dict[str, Any]) -> list[str]:
    t = node.get("type")
    return [t] if isinstance(t, str) else list(t or [])


def _json_detail(keyword: str, value: Any) -> str:
    if keyword in ("enum",):
        return "enum " + " | ".join(map(str, value))
    if keyword == "pattern":
        return f"pattern {value}"
    if keyword == "type":
        return f"type {value}" if isinstance(value, str) else "type " + " | ".join(value)
    return f"{keyword} {value}"


def _json_keyword_family(keyword: str, value: Any) -> str:
    if keyword == "pattern":
        rx = re.compile(value)
        return "blank" if is_blank_pattern(lambda v: rx.search(v) is not None) else "pattern"
    return _JSON_FAMILIES[keyword]


_JSON_FAMILIES: dict[str, str] = {
    "type": "type", "enum": "enum", "const": "enum", "pattern": "pattern", "minLength": "bounds",
    "maxLength": "bounds", "minimum": "bounds", "maximum": "bounds", "exclusiveMinimum": "bounds",
    "exclusiveMaximum": "bounds", "minItems": "bounds", "maxItems": "bounds", "format": "format",
    "additionalProperties": "closed",
}
_STRUCTURE = {"properties", "items", "required", "oneOf", "$ref"}
_FORMATS = {"date", "date-time"}


def _fc_entries(operation: str) -> list[Entry]:
    doc = contracts.openapi_document()
    op = doc["paths"][operation]["post"]
    out: list[Entry] = []

    def add(path: str, keyword: str, family: str, detail: str, node: Any, extra: Any = None, *, body: bool = False) -> None:
        out.append(Entry(_make("fibrecafe", operation, path, keyword, family, detail, body=body), node, extra))

    for param in op.get("parameters", []):
        param = resolve_parameter(param)
        if param.get("in") == "header" and param.get("required"):
            add(f"headers/{param['name']}", "required", "header", "required header (absent or empty)", param["schema"], param)

    request = op["requestBody"]
    root = request["content"]["application/json"]["schema"]
    if request.get("required"):
        add("", "required", "required", "requestBody required", root, body=True)
    top = resolve(root)
    if "oneOf" in top:
        branches = top["oneOf"]
        if all("object" in json_types(resolve(b)) for b in branches):
            add("", "type", "type", "type object (every oneOf shape)", {"type": "object"}, body=True)
        shapes = " | ".join(f"{branch_name(b)} ({', '.join(map(str, discriminator_values(b)))})" for b in branches)
        add("", "oneOf", "discriminator", f"oneOf {shapes}, told apart by orderType", top)
        for b in branches:
            walk_json(add, resolve(b), branch_name(b), is_branch_root=True)
    else:
        walk_json(add, top, "")
    return out


def resolve_parameter(param: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in param:
        return contracts.openapi_document()["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
    return param


def walk_json(add: Callable[..., None], node: dict[str, Any], path: str, *, is_branch_root: bool = False) -> None:
    node = resolve(node)
    unknown = sorted(k for k in node if k not in _JSON_FAMILIES and k not in _STRUCTURE and k not in _ANNOTATIONS
                     and not k.startswith("x-"))
    if unknown:
        raise NotImplementedError(f"no inventory builder for JSON Schema keyword {unknown[0]!r} at {path or '/'}")
    if "oneOf" in node:
        raise NotImplementedError(f"oneOf below the request body is not used by the contract ({path})")
    root = path == "" or is_branch_root
    for keyword in _JSON_FAMILIES:
        if keyword not in node:
            continue
        value = node[keyword]
        if keyword == "type" and root:
            if path == "":
                add("", "type", "type", _json_detail("type", value), node, body=True)
            continue  # a shape's own `type: object` is the body's (listed once, above)
        if keyword == "additionalProperties":
            if value is not False:
                raise NotImplementedError(f"additionalProperties other than false is not used by the contract ({path})")
            add(path, keyword, "closed", "additionalProperties false (no unknown property)", node)
            continue
        if keyword == "format" and value not in _FORMATS:
            raise NotImplementedError(f"no negative builder for format {value!r} ({path})")
        add(path, keyword, _json_keyword_family(keyword, value), _json_detail(keyword, value), node)
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        child = f"{path}.{name}" if path else name
        if name in required:
            add(child, "required", "required", "required property", resolve(sub), node)
        elif "null" not in json_types(resolve(sub)):
            add(child, "null", "nullable", "optional: null is not a value (leave it out instead)", resolve(sub), node)
        walk_json(add, sub, child)
    missing = required - set(node.get("properties", {}))
    if missing:
        raise NotImplementedError(f"required without a property schema: {sorted(missing)} ({path})")
    if "items" in node:
        walk_json(add, node["items"], f"{path}[]")


# ------------------------------------------------------------------------------------------ public
@functools.lru_cache(maxsize=None)
def entries(operation: str) -> tuple[Entry, ...]:
    if operation in contracts.ALA_OPERATIONS:
        return tuple(_ala_entries(operation))
    if operation in COMPONENTS:
        return tuple(_fc_entries(operation))
    raise KeyError(f"unknown operation {operation!r} (one of: {', '.join(OPERATIONS['ala'] + OPERATIONS['fibrecafe'])})")


def api_of(operation: str) -> str:
    return "ala" if operation in contracts.ALA_OPERATIONS else "fibrecafe"


def inventory(operation: str | None = None, *, api: str = "all") -> list[Constraint]:
    """Every constraint of one operation (or of every operation of `api`: ala, fibrecafe, all)."""
    if operation is not None:
        return [e.constraint for e in entries(operation)]
    ops = [op for a, names in OPERATIONS.items() if api in ("all", a) for op in names]
    return [e.constraint for op in ops for e in entries(op)]
