"""Boundary-valid requests built from the contracts (private: use `fibrecert.strategies`).

The valid side of the constraint inventory: for every field of a request, the values *on and next to*
each bound the contract documents, and the shapes a field with no bound may take, each sent in an
otherwise valid request at every profile:

- a string: its shortest (minLength, or empty where allowed), one longer, its documented maximum and
  one under it (that one with non-ASCII characters, so a reader counting bytes is seen), or, with no
  maximum, a long value (LONG characters) and one with non-ASCII characters and significant white space;
- a pattern that bounds a length (ALA `cancellationReasonCode`, `[0-9]{1,4}`): every length from its
  minimum to its maximum;
- an integer: its minimum, one above, and the largest integer JSON parsers share (2^53 - 1, RFC 7493);
- an array: its fewest items (none where allowed), one more, and many (MANY_ITEMS);
- a date or date-time: the first and last days fibrecert generates (2000-01-01, 2099-12-31), a leap day,
  fractional seconds and the extreme time-zone offsets (+14:00, -14:00);
- an enumeration: every value.

Values are combined into few requests (a covering design, not one request per value): request *k*
carries the *k*-th value of every field at once, so the first request has every field at its minimum and
another every field at its maximum; a value that cannot go into a request (an item field where that
request's array is empty) moves to the next one. ALA ceaseOrders use up active services, so this keeps
the count to the largest number of values of any one field (3 ceaseOrders, 4 cancelOrders: the suite's
ceaseOrders place the orders its cancelOrders cancel, so 4 active services in all).

Target facts are never varied (the buyer's and seller's identifiers, the active services, the supplier,
the ids and references the target assigns): `fixed_fields` lists them with the reason. Tracked values
stay what the suite needs: a generated `messageId` keeps its run-unique suffix (the client adds it), and
the suite puts a fresh token into a Fibre Cafe `serviceId` (see `TRACKED`).

Every request is proven valid by the contract's own validator (the XSD, the OpenAPI schema) before it
is returned: a boundary value outside its contract is a fibrecert bug (InvalidGenerated).
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from typing import Any, Mapping

from fibrecert import contracts

from ._inventory import COMPONENTS, ala_key, branch_name, entries, json_types, resolve

LONG = 1000            # characters of a long value where no maximum is documented
MANY_ITEMS = 10        # items of a "many" array where no maxItems is documented
LARGEST_INTEGER = 2**53 - 1
EARLIEST, LATEST, LEAP_DAY = "2000-01-01", "2099-12-31", "2024-02-29"
WIDE = "  Zoë Ångström\t東京 😀  "  # non-ASCII (2, 3 and 4 bytes in UTF-8) and significant white space

# Fields the suite does not choose: the target's facts and what the target assigns (operation -> path -> why)
TARGET_FACTS: dict[str, dict[str, str]] = {
    "ceaseOrder": {"buyer.buyerIdentifier": "the target file's buyer_identifier (the client certificate's CN)",
                   "seller.sellerIdentifier": "the target file's seller_identifier",
                   "alaCease.serviceIdentifier": "an active service from the target file (ledger)"},
    "cancelOrder": {"buyer.buyerIdentifier": "the target file's buyer_identifier (the client certificate's CN)",
                    "seller.sellerIdentifier": "the target file's seller_identifier",
                    "targetSellerOrderReference": "the sellerOrderReference the target assigned"},
    "unsolicitedCeaseRequest": {"buyer.buyerIdentifier": "the target file's buyer_identifier",
                                "seller.sellerIdentifier": "the target file's seller_identifier (the client certificate's CN)"},
    "/service-orders": {"ProvideOrder.supplier": "the target file's supplier", "CeaseOrder.supplier": "the target file's supplier",
                        "ModifyOrder.supplier": "the target file's supplier"},
    "/service-order-cancellations": {"supplier": "the target file's supplier",
                                     "orderId": "the id the target assigned to an order of the run"},
}
# Values the suite keeps unique, by changing them within their type (operation -> path -> how)
TRACKED: dict[str, dict[str, str]] = {
    "ceaseOrder": {"message.messageId": "run-unique suffix added to each value"},
    "cancelOrder": {"message.messageId": "run-unique suffix added to each value"},
    "unsolicitedCeaseRequest": {"message.messageId": "run-unique suffix added to each value"},
    "/service-orders": {"CeaseOrder.serviceId": "a fresh token inserted in each value",
                        "ModifyOrder.serviceId": "a fresh token inserted in each value",
                        "headers/X-Request-ID": "a fresh token inserted in each value (a new value per request)"},
    "/service-order-cancellations": {
        "headers/X-Request-ID": "a fresh token inserted in each value (a new value per request)"},
}
VISIBLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


class InvalidBoundary(AssertionError):
    """A boundary value, or a request combining them, that its contract rejects: a fibrecert bug."""


@dataclass(frozen=True)
class Probe:
    """One valid value at or next to a bound of one field."""

    operation: str
    path: str                  # the inventory's path: `CeaseOrder.serviceId`, `message.messageId`, `a.b[].c`
    label: str                 # "at-min", "min+1", "at-max", "max-1 non-ASCII", "long", "enum UPRN", ...
    value: Any
    constraint: str | None     # the inventory constraint it borders (None: a field no constraint bounds)

    def public(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "value": _short(self.value)}


@dataclass(frozen=True)
class Boundary:
    """One valid request carrying several boundary values at once."""

    operation: str
    index: int
    payload: Any               # ALA: the xmlschema dict of the request root; Fibre Cafe: the JSON body
    probes: tuple[Probe, ...]
    headers: tuple[tuple[str, str], ...] = ()   # Fibre Cafe: header values at their bounds (name, value)

    @property
    def description(self) -> str:
        return f"boundary-valid #{self.index}: " + ", ".join(f"{p.path} {p.label}" for p in self.probes)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, list) else f"[{len(value)} items]"
    return text if len(text) <= 40 else f"{text[:24]}…({len(value) if isinstance(value, str) else '?'} chars)"


def _text(n: int, wide: bool = False) -> str:
    """n characters (not bytes); `wide`: non-ASCII, white space inside, never blank."""
    if n <= 0:
        return ""
    if not wide:
        return ("x" + "0123456789abcdefghijklmnopqrstuvwxyz" * (n // 36 + 1))[:n]
    core = "Zoë Ångström 東京 😀 "
    return ("é" + core * (n // len(core) + 1))[:n - 1] + "ü" if n > 1 else "é"


def _string_options(min_len: int, max_len: int | None) -> list[tuple[str, str]]:
    first = max(min_len, 0)
    out = [("at-min" if first else "empty (min 0)", _text(first) if first else "")]
    if max_len is not None:
        if first + 1 <= max_len:
            out.append(("min+1", _text(first + 1)))
        out.append((f"at-max {max_len}", _text(max_len)))
        if max_len - 1 > first + 1:
            out.append((f"max-1 {max_len - 1} non-ASCII", _text(max_len - 1, wide=True)))
        return out
    out.append((f"long {LONG}", _text(LONG)))
    out.append(("non-ASCII, significant white space", WIDE))
    return out


_CLASS_LENGTH = re.compile(r"^\^?(\[[^\]]+\]|\\w|\\d)\{(\d+),(\d+)\}\$?$")


def _pattern_lengths(pattern: str, matches: Any) -> list[tuple[str, str]] | None:
    """Every length of a pattern that is one character class repeated {m,n} times (e.g. [0-9]{1,4})."""
    m = _CLASS_LENGTH.match(pattern)
    if not m:
        return None
    low, high = int(m.group(2)), int(m.group(3))
    char = next((c for c in "90xX_" if matches(c * max(low, 1)) and matches(c * high)), None)
    if char is None or high - low > 8:
        return None
    return [(("at-min" if n == low else f"at-max {high}" if n == high else f"length {n}"), char * n)
            for n in range(low, high + 1)]


_DATE_OPTIONS = [("earliest", EARLIEST), ("leap day", LEAP_DAY), ("latest", LATEST)]
_DATE_TIME_OPTIONS = [("earliest, offset -14:00", f"{EARLIEST}T00:00:00-14:00"),
                      ("leap day, fractional seconds, Z", f"{LEAP_DAY}T12:00:00.123456Z"),
                      ("latest, offset +14:00", f"{LATEST}T23:59:59.999+14:00")]


# ------------------------------------------------------------------------------ the constraint a probe borders
def _constraint_for(operation: str, path: str, keywords: tuple[str, ...], label: str = "") -> str | None:
    """The inventory constraint a value borders: the bound it sits at or next to (by its label), else
    the first of `keywords` the field has; None when no constraint bounds the field."""
    by = {(e.constraint.path, e.constraint.keyword): e.constraint.id for e in entries(operation)}
    near = _NEAR.get(label.split(" ")[0].rstrip(":,"), ())
    return next((by[(path, k)] for k in (*near, *keywords) if (path, k) in by), None)


_NEAR: dict[str, tuple[str, ...]] = {  # the first word of a label -> the bounds it sits at or next to
    "at-min": ("minLength", "minItems", "minimum"), "min+1": ("minLength", "minItems", "minimum"),
    "empty": ("minLength", "minItems"), "at-max": ("maxLength", "maxItems", "maximum"),
    "max-1": ("maxLength", "maxItems", "maximum"), "long": ("maxLength", "pattern"), "many": ("maxItems",),
    "largest": ("maximum",), "non-ASCII": ("pattern",),
}


# ------------------------------------------------------------------------------------------ ALA
def _ala_leaves(operation: str) -> list[tuple[str, Any]]:
    root = contracts.ala_schema().elements[contracts.ALA_OPERATIONS[operation].request_root]
    out: list[tuple[str, Any]] = []

    def walk(decl: Any, path: str) -> None:
        if decl.type.is_simple():
            out.append((path, decl.type))
            return
        if decl.type.is_empty():
            return
        for child in decl.type.content.iter_elements():
            walk(child, f"{path}.{ala_key(child)}" if path else ala_key(child))

    walk(root, "")
    return out


def _ala_probes(operation: str) -> list[Probe]:
    facts = TARGET_FACTS.get(operation, {})
    out: list[Probe] = []
    for path, t in _ala_leaves(operation):
        if path in facts:
            continue
        prim = t.primitive_type.local_name
        keywords: tuple[str, ...]
        if t.enumeration:
            options = [(f"enum {v}", str(v)) for v in t.enumeration]
            keywords = ("enumeration",)
        elif prim == "date":
            options, keywords = list(_DATE_OPTIONS), ("xs:date",)
        elif prim == "dateTime":
            options, keywords = list(_DATE_TIME_OPTIONS), ("xs:dateTime", "pattern")
        elif prim == "string":
            lengths = None
            if t.patterns is not None and len(t.patterns.regexps) == 1:
                lengths = _pattern_lengths(t.patterns.regexps[0], t.is_valid)
            if lengths is not None:
                options, keywords = lengths, ("pattern",)
            else:
                blank = t.patterns is not None  # the contract's only other string pattern: "not blank"
                options = _string_options(1 if blank else 0, getattr(t, "max_length", None))
                keywords = ("maxLength", "minLength", "pattern")
        else:
            raise NotImplementedError(f"no boundary values for XSD primitive xs:{prim} ({operation} {path})")
        for label, value in options:
            if not t.is_valid(value):
                raise InvalidBoundary(f"{operation} {path} {label} {value!r} is not valid")
            out.append(Probe(operation, path, label, value, _constraint_for(operation, path, keywords, label)))
    return out


def _ala_set(data: dict[str, Any], path: str, value: Any) -> None:
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


# ------------------------------------------------------------------------------------ Fibre Cafe
def _fc_leaves(operation: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(path, schema node, is an array) of every value of the request, in inventory paths."""
    top = resolve(contracts.openapi_document()["components"]["schemas"][COMPONENTS[operation]])
    out: list[tuple[str, dict[str, Any], bool]] = []

    def walk(node: dict[str, Any], path: str) -> None:
        node = resolve(node)
        types = json_types(node)
        if "object" in types:
            for name, sub in node.get("properties", {}).items():
                walk(sub, f"{path}.{name}" if path else name)
            return
        if "array" in types:
            out.append((path, node, True))
            walk(node["items"], f"{path}[]")
            return
        out.append((path, node, False))

    if "oneOf" in top:
        for b in top["oneOf"]:
            walk(resolve(b), branch_name(b))
    else:
        walk(top, "")
    return out


def _fc_header_probes(operation: str) -> list[Probe]:
    """The required headers' values at their bounds: the shortest, every visible ASCII character, long."""
    from ._inventory import resolve_parameter

    out: list[Probe] = []
    for param in contracts.openapi_document()["paths"][operation]["post"].get("parameters", []):
        param = resolve_parameter(param)
        if param.get("in") != "header" or not param.get("required"):
            continue
        path, schema = f"headers/{param['name']}", param["schema"]
        options = [("at-min", "x" * max(schema.get("minLength", 1), 1)),
                   ("every visible ASCII character", VISIBLE_ASCII),
                   (f"long {LONG}", (VISIBLE_ASCII * (LONG // len(VISIBLE_ASCII) + 1))[:LONG])]
        import jsonschema

        for label, value in options:
            if not jsonschema.Draft202012Validator(schema).is_valid(value):
                raise InvalidBoundary(f"{operation} {path} {label} {value!r} is not valid")
            out.append(Probe(operation, path, label, value, _constraint_for(operation, path, ("required",))))
    return out


def _fc_probes(operation: str) -> list[Probe]:
    facts = TARGET_FACTS.get(operation, {})
    out: list[Probe] = _fc_header_probes(operation)
    for path, node, is_array in _fc_leaves(operation):
        if path in facts:
            continue
        types = json_types(node)
        keywords: tuple[str, ...]
        if "const" in node:
            continue  # one value only: the shape itself
        if "enum" in node:
            options, keywords = [(f"enum {v}", v) for v in node["enum"]], ("enum",)
        elif is_array:
            low = node.get("minItems", 0)
            high = node.get("maxItems")
            counts = [low, low + 1] + ([high] if high is not None else [MANY_ITEMS])
            options = [((f"at-min {n} items" if n == low else f"at-max {n} items" if n == high
                         else f"many: {n} items" if n == MANY_ITEMS and high is None else f"min+1: {n} items"), n)
                       for n in dict.fromkeys(counts)]
            keywords = ("minItems", "maxItems", "type")
        elif "integer" in types:
            low = node.get("minimum", 0)
            options = [("at-min", low), ("min+1", low + 1), ("largest interoperable (2^53-1)", LARGEST_INTEGER)]
            if "maximum" in node:
                options[-1] = ("at-max", node["maximum"])
            keywords = ("minimum", "maximum", "type")
        elif "string" in types and node.get("format") == "date":
            options, keywords = list(_DATE_OPTIONS), ("format",)
        elif "string" in types and node.get("format") == "date-time":
            options, keywords = list(_DATE_TIME_OPTIONS), ("format",)
        elif "string" in types:
            pattern = node.get("pattern")
            lengths = _pattern_lengths(pattern, lambda v, rx=re.compile(pattern): rx.search(v) is not None) \
                if pattern else None
            options = lengths if lengths is not None else _string_options(node.get("minLength", 0), node.get("maxLength"))
            keywords = ("maxLength", "minLength", "pattern", "type")
        else:
            raise NotImplementedError(f"no boundary values for {types} ({operation} {path})")
        for label, value in options:
            out.append(Probe(operation, path, label, value, _constraint_for(operation, path, keywords, label)))
    return out


def _fc_node(operation: str, path: str) -> dict[str, Any]:
    from ._negatives import _node_at

    return _node_at(operation, path)


def _fc_parts(path: str) -> list[str]:
    from ._negatives import _parts

    return _parts(path)


def _fc_example(node: dict[str, Any]) -> Any:
    from ._negatives import json_example

    return json_example(node)


def _fc_set(operation: str, body: Any, branch: str | None, probe: Probe) -> bool:
    """Set a probe's value in `body` (every item of an array on the way); False: nowhere to put it."""
    parts = _fc_parts(probe.path)[1 if branch else 0:]
    value = probe.value
    holders = [body]
    done: list[str] = [branch] if branch else []
    for part in parts[:-1]:
        done.append(part)
        nxt: list[Any] = []
        for h in holders:
            if part == "[]":
                nxt.extend(h)
            else:
                if part not in h:
                    h[part] = _fc_example(_fc_node(operation, ".".join(done).replace(".[]", "[]")))
                nxt.append(h[part])
        holders = nxt
    if not holders:
        return False
    last = parts[-1]
    for h in holders:
        if _is_count(probe):
            item = _fc_example(_fc_node(operation, probe.path + "[]"))
            h[last] = [copy.deepcopy(item) for _ in range(value)]
        else:
            h[last] = copy.deepcopy(value)
    return True


def _is_count(probe: Probe) -> bool:
    return probe.label.endswith("items")


def _vary_items(body: Any) -> Any:
    """Items of one array made different from each other (the n-th item's strings get a suffix n), so an
    implementation that keeps one item, or the same item n times, is seen."""
    if isinstance(body, dict):
        return {k: _vary_items(v) for k, v in body.items()}
    if isinstance(body, list):
        return [_suffix(_vary_items(v), i) for i, v in enumerate(body)]
    return body


def _suffix(item: Any, i: int) -> Any:
    if i == 0 or not isinstance(item, dict):
        return item
    return {k: (f"{v}{i}" if isinstance(v, str) and k in ("id", "name", "value") else v) for k, v in item.items()}


# ------------------------------------------------------------------------------------------ public
@functools.lru_cache(maxsize=None)
def probes(operation: str) -> tuple[Probe, ...]:
    """Every boundary-valid value of an operation's request (target facts excluded)."""
    if operation in contracts.ALA_OPERATIONS:
        return tuple(_ala_probes(operation))
    if operation in COMPONENTS:
        return tuple(_fc_probes(operation))
    raise KeyError(f"unknown operation {operation!r}")


def fixed_fields(operation: str) -> dict[str, str]:
    """Fields never varied (target facts) and fields varied within their type (tracked), with why."""
    return {**{p: f"target fact: {why}" for p, why in TARGET_FACTS.get(operation, {}).items()},
            **{p: f"tracked: {why}" for p, why in TRACKED.get(operation, {}).items()}}


def _rows(operation: str) -> list[list[Probe]]:
    """The covering design: probe k of each field goes to row k, or the next row that can carry it."""
    by_path: dict[str, list[Probe]] = {}
    for p in probes(operation):
        by_path.setdefault(p.path, []).append(p)
    rows: list[dict[str, Probe]] = []
    for path in sorted(by_path, key=lambda p: (p.count(".") + p.count("[]"), list(by_path).index(p))):
        for k, probe in enumerate(by_path[path]):
            r = k
            while True:
                if r == len(rows):
                    rows.append({})
                if path not in rows[r] and _fits(rows[r], path):
                    rows[r][path] = probe
                    break
                r += 1
    return [list(row.values()) for row in rows]


def _fits(row: dict[str, Probe], path: str) -> bool:
    """An item field fits a row unless that row empties an array on its way."""
    prefix = ""
    for part in path.split("[]")[:-1]:
        prefix += part
        held = row.get(prefix)
        if held is not None and _is_count(held) and held.value == 0:
            return False
        prefix += "[]"
    return True


def boundaries(operation: str, *, fixed: Mapping[str, Any] | None = None) -> list[Boundary]:
    """The boundary-valid requests of an operation, each proven valid by the contract.

    ALA: xmlschema dicts of the request root (every optional element present; `fixed` sets target facts
    by dotted path). Fibre Cafe: JSON bodies (`fixed` sets top-level properties of every shape, e.g.
    the target's supplier). The suite still sets what only it knows (services, order ids, tokens)."""
    fixed = dict(fixed or {})
    out: list[Boundary] = []
    if operation in contracts.ALA_OPERATIONS:
        from ._negatives import ala_example

        schema = contracts.ala_schema()
        qname = contracts.ala_qname(contracts.ALA_OPERATIONS[operation].request_root, "")
        for i, row in enumerate(_rows(operation)):
            data = ala_example(operation, fixed)
            for probe in row:
                _ala_set(data, probe.path, probe.value)
            _, errors = schema.encode(copy.deepcopy(data), path=qname, namespaces=contracts.ala_namespaces(""),
                                      validation="lax")
            if errors:
                raise InvalidBoundary(f"{operation} boundary request {i} is invalid: {errors[0].reason}")
            out.append(Boundary(operation, i, data, tuple(row)))
        return out
    if operation not in COMPONENTS:
        raise KeyError(f"unknown operation {operation!r}")
    from ._negatives import _branch_of, fibrecafe_examples

    validator = contracts.json_validator(COMPONENTS[operation])
    bases = fibrecafe_examples(operation)
    index = 0
    for base in bases:
        branch = _branch_of(operation, base)
        rows = [[p for p in row if branch is None or p.path.split(".")[0] == branch or p.path.startswith("headers/")]
                for row in _rows(operation)]
        for row in [r for r in rows if r]:
            headers = tuple((p.path[8:], p.value) for p in row if p.path.startswith("headers/"))
            row = [p for p in row if not p.path.startswith("headers/")] + [p for p in row if p.path.startswith("headers/")]
            body = copy.deepcopy(base)
            for key, value in fixed.items():
                if key in body or branch is None:
                    body[key] = value
            for probe in sorted(row, key=lambda p: p.path.count(".") + p.path.count("[]")):
                if probe.path.startswith("headers/"):
                    continue
                if not _fc_set(operation, body, branch, probe):
                    raise InvalidBoundary(f"{probe.path} {probe.label}: no place for it in request {index}")
            body = _vary_items(body)
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
            if errors:
                raise InvalidBoundary(f"{operation} boundary request {index} is invalid: {errors[0].message}")
            out.append(Boundary(operation, index, body, tuple(row), headers))
            index += 1
    return out
