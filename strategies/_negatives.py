"""Boundary-invalid requests built from the constraint inventory (private: use `fibrecert.strategies`).

`negatives(operation, valid_payload, profile, seed)` attacks every constraint of `inventory(operation)`
in a valid payload, one fault per negative:

- a profile with `first_negative_only` (smoke): one negative per constraint, its most probing variant
  (the first that applies);
- otherwise (standard): every variant once (coverage first: the first ones come first, then the others),
  once per rule: a field of the same name and schema in several places gets its other variants once;
- a profile with `drawn_negatives` (full): every variant everywhere, then that many values drawn by
  Hypothesis from the seed per value constraint (fibrecert/core/profile.py).

Each variant is a small builder keyed by (family, keyword); the dicts cover the whole vocabulary of the
inventory, so a family without builders fails loudly. Every candidate is proven invalid by the
contract's own validator (xmlschema for ALA, the jsonschema validator of `contracts.json_validator`
for Fibre Cafe) before it is kept; values a conformant target may tolerate are dropped (profile rule 6:
an xs:dateTime in requestedDate), and so are candidates the validator calls valid (JSON `1.0` is an
integer under JSON Schema 2020-12). Nothing here depends on wall time or global randomness: the same
arguments give the same list.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from lxml import etree

from fibrecert import contracts
from fibrecert.contracts.alapath import ElementPath
from fibrecert.core.profile import PROFILES, Profile, profile_named

from ._inventory import (COMPONENTS, Constraint, Entry, ala_key, branch_name, discriminator_values, entries,
                         json_types, resolve, resolve_parameter)
from ._xsd import XML_TEXT

UNKNOWN = "fibrecertUnknown"
FOREIGN_NS = "urn:fibrecert:unknown-extension"
RAW = "\u0000fibrecert-raw\u0000"   # placeholder for a number whose literal JSON text matters


@dataclass(frozen=True)
class Negative:
    """One request that breaks exactly one constraint of an otherwise valid payload."""

    constraint: Constraint
    variant: str                # e.g. "one-over", "numeric-string", "look-alike", "generated-2"
    description: str            # what was sent, and why it is outside the contract
    payload: Any                # ALA: the mutated request root (lxml); Fibre Cafe: the JSON value
    raw_json: str | None = None  # Fibre Cafe: the literal body text when it matters (e.g. 75e-1); "" = no body
    headers: Mapping[str, str | None] = field(default_factory=dict)  # Fibre Cafe: header -> value (None: left out)

    @property
    def key(self) -> tuple[str, str]:
        return (self.constraint.id, self.variant)


# ------------------------------------------------------------------------------ value variants
# Each builder: (valid value, context) -> [(variant, candidate value, why)], most probing first.
HOMOGLYPHS = {"A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "H": "\u041d", "K": "\u041a",
              "M": "\u041c", "O": "\u041e", "P": "\u0420", "T": "\u0422", "X": "\u0425", "S": "\u0405",
              "I": "\u0406", "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440",
              "x": "\u0445", "y": "\u0443", "i": "\u0456", "s": "\u0455"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:24]}…{text[-8:]}"


def look_alike(value: str) -> tuple[str, str] | None:
    for i, ch in enumerate(value):
        if ch in HOMOGLYPHS:
            return value[:i] + HOMOGLYPHS[ch] + value[i + 1:], f"Cyrillic {HOMOGLYPHS[ch]} for {ch}: a Unicode look-alike"
    return None


def _blank(v: str, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    out = [("space", " ", "a single space"), ("empty", "", "an empty string"),
           ("whitespace", " \t\n ", "spaces, a tab and a newline"),
           ("nbsp", "\u00a0", "a non-breaking space alone")]
    # an empty string also breaks a minLength beside the pattern: it is that constraint's negative
    return [o for o in out if not (o[0] == "empty" and ctx.get("min_length", 0) >= 1)]


def _pattern(v: str, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    matches: Callable[[str], bool] = ctx["matches"]
    out: list[tuple[str, Any, str]] = []
    if v:
        longer = v
        for _ in range(64):
            longer += longer[-1]
            if not matches(longer):
                out.append(("one-too-many", longer, f"{len(longer)} characters: one more than the pattern allows"))
                break
            if len(longer) > 4096:
                break
        for ch in ("-", "a", "0", ".", "~", " "):
            candidate = v[:-1] + ch
            if not matches(candidate):
                out.append(("outside-class", candidate, f"{ch!r}: one character outside the class"))
                break
        for ch in ("\u0663", "\uff10", "\u00e9", "\uff21"):  # Arabic-Indic 3, fullwidth 0, e acute, fullwidth A
            candidate = v[:-1] + ch
            if not matches(candidate):
                out.append(("unicode-in-class", candidate, f"{ch!r}: a Unicode character a \\d / \\w class reading would accept"))
                break
    out += [("empty", "", "an empty string"), ("leading-space", " " + v, "a leading space"),
            ("trailing-space", v + " ", "a trailing space"), ("nbsp", v + "\u00a0", "a trailing non-breaking space")]
    return out


def _enum(v: str, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    out: list[tuple[str, Any, str]] = [
        ("lower-case", v.lower(), "in lower case"), ("trailing-space", v + " ", "a trailing space"),
        ("title-case", v[:1].upper() + v[1:].lower(), "in title case"), ("upper-case", v.upper(), "in upper case"),
        ("leading-space", " " + v, "a leading space"), ("nbsp", v + "\u00a0", "a trailing non-breaking space")]
    alike = look_alike(v)
    if alike:
        out.append(("look-alike", *alike))
    if ctx.get("other") is not None:
        out.append(("other-enum", ctx["other"], "a value of another enumeration in the contract"))
    out.append(("prefix", v[:-1], "a prefix (one character short)"))
    if "_" in v:
        out.append(("dashes", v.replace("_", "-"), "dashes for underscores"))
    return out


_DATES = [("impossible-date", "2024-02-30", "30 February"), ("month-13", "2024-13-01", "month 13"),
          ("date-time", "2030-01-31T09:00:00Z", "a date-time where a date is due"),
          ("compact", "20300131", "no dashes"), ("slashes", "31/01/2030", "day/month/year"),
          ("empty", "", "an empty string")]
_DATE_TIMES = [("impossible-date", "2024-02-30T09:00:00Z", "30 February"),
               ("month-13", "2024-13-01T09:00:00Z", "month 13"),
               ("date-only", "2030-01-31", "a date where a date-time is due"),
               ("hour-25", "2030-01-31T25:00:00Z", "hour 25"),
               ("space-separator", "2030-01-31 09:00:00Z", "a space for the T"),
               ("empty", "", "an empty string")]


def _date(v: str, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    return list(_DATES)


def _date_time(v: str, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    return list(_DATE_TIMES)


def _zone(v: str, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    bare = re.sub(r"(Z|[+-][0-9]{2}:[0-9]{2})$", "", v.strip())
    return [("no-zone", bare, "a date-time without a time zone")]


def _min_length(v: Any, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    n = ctx["bound"]
    value = (v if isinstance(v, (str, list)) else "")[: n - 1] if n >= 1 else None
    if value is None:
        return []
    what = "items" if isinstance(v, list) else "characters"
    return [("one-under", value, f"{n - 1} {what} ({ctx['keyword']} {n})")]


def _max_length(v: Any, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    n = ctx["bound"]
    if isinstance(v, list):
        value: Any = (v * (n + 1))[: n + 1] if v else None
        return [("one-over", value, f"{n + 1} items ({ctx['keyword']} {n})")] if value is not None else []
    pad = v[-1:] if v and v[-1:].strip() else "x"
    value = (v + pad * (n + 1))[: n + 1]
    return [("one-over", value, f"{n + 1} characters ({ctx['keyword']} {n})")]


def _length(v: Any, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    return _min_length(v, {**ctx, "bound": ctx["bound"]}) + _max_length(v, ctx)


def _minimum(v: Any, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    m, integer = ctx["bound"], ctx["integer"]
    below = m - 1 if integer else math.nextafter(m, float("-inf"))
    out = [("one-below", below, f"one below the minimum {m}")]
    if integer and below != -1 and m > -1:
        out.append(("negative", -1, "a negative number"))
    return out


def _maximum(v: Any, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    m, integer = ctx["bound"], ctx["integer"]
    above = m + 1 if integer else math.nextafter(m, float("inf"))
    return [("one-above", above, f"one above the maximum {m}")]


def _exclusive(v: Any, ctx: dict[str, Any]) -> list[tuple[str, Any, str]]:
    return [("at-bound", ctx["bound"], f"the excluded bound {ctx['bound']} itself")]


def _numeric(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return 12345


# JSON type confusion: declared type -> builders from the valid value, most probing first.
_TYPE_CONFUSION: dict[str, Callable[[Any], list[tuple[str, Any, str]]]] = {
    "integer": lambda v: [("numeric-string", str(v), "a number as a numeric string"),
                          ("fraction", v + 0.5, "a fraction where an integer is due"),
                          ("exponent", (RAW, f"{v}5e-1"), "an exponent form that is not an integer"),
                          ("boolean", True, "a boolean where a number is due"),
                          ("array", [v], "a one-element array where a scalar is due"),
                          ("object", {"value": v}, "an object where a scalar is due"),
                          ("null", None, "null")],
    "number": lambda v: [("numeric-string", str(v), "a number as a numeric string"),
                         ("boolean", True, "a boolean where a number is due"),
                         ("array", [v], "a one-element array where a scalar is due"),
                         ("object", {"value": v}, "an object where a scalar is due"), ("null", None, "null")],
    "string": lambda v: [("number", _numeric(v.strip()) if isinstance(v, str) else 12345, "a number where a string is due"),
                         ("array", [v], "a one-element array where a scalar is due"),
                         ("boolean", True, "a boolean where a string is due"),
                         ("object", {"value": v}, "an object where a scalar is due"), ("null", None, "null")],
    "boolean": lambda v: [("string-true", "true" if v else "false", "a boolean as a string"),
                          ("number", 1 if v else 0, "a number where a boolean is due"),
                          ("array", [v], "a one-element array where a scalar is due"), ("null", None, "null")],
    "object": lambda v: [("array", [v], "a one-element array where an object is due"),
                         ("string", json.dumps(v), "the object as a JSON string"), ("null", None, "null")],
    "array": lambda v: [("object", v[0] if v else {}, "its single item where an array is due"),
                        ("string", json.dumps(v), "the array as a JSON string"), ("null", None, "null")],
}


# ------------------------------------------------------------------------------ generated variety
def _gen_strategy(constraint: Constraint, ctx: dict[str, Any]) -> Any:
    """A Hypothesis strategy for more values outside one constraint (full profile); None: none."""
    from hypothesis import strategies as st

    text = ctx["alphabet"] if ctx.get("alphabet") is not None else st.characters()
    kw = constraint.keyword
    family = constraint.family
    if family == "blank":
        return st.text(alphabet=" \t\n\u00a0\u2003\u3000", max_size=6)
    if family == "pattern":
        return st.text(alphabet=text, max_size=30)
    if family == "enum":
        letters = sorted(set("".join(ctx["values"])) | {" ", "-", "_"})
        return st.text(alphabet=st.sampled_from(letters), min_size=1, max_size=30)
    if family == "format" and kw in ("xs:date", "format") and ctx.get("format") in ("date", "xs:date"):
        return st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True)
    if family == "format" and ctx.get("format") in ("date-time", "xs:dateTime") and kw != "pattern":
        return st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})",
                             fullmatch=True)
    bound = ctx.get("bound")
    if family == "bounds" and kw == "maxLength" and not ctx.get("array"):
        return st.text(alphabet=text, min_size=bound + 1, max_size=bound + 40)
    if family == "bounds" and kw == "minLength" and bound > 1 and not ctx.get("array"):
        return st.text(alphabet=text, max_size=bound - 1)
    if family == "bounds" and kw == "minimum":
        return st.integers(max_value=bound - 1) if ctx["integer"] else \
            st.floats(max_value=bound, exclude_max=True, allow_nan=False)
    if family == "bounds" and kw == "maximum":
        return st.integers(min_value=bound + 1) if ctx["integer"] else \
            st.floats(min_value=bound, exclude_min=True, allow_nan=False)
    if family == "type":  # null itself is the standard "null" variant (or, optional, the nullable constraint)
        scalars = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
                            st.booleans())
        inner = st.one_of(scalars, st.none())
        return st.one_of(scalars, st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=3), inner, max_size=2))
    return None


def _draw(strategies: dict[str, Any], seed: int, count: int) -> dict[str, list[Any]]:
    """`count` values from every strategy, reproducibly from `seed` (one Hypothesis run for all)."""
    if not strategies:
        return {}
    import hypothesis
    from hypothesis import HealthCheck, Phase, Verbosity
    from hypothesis import strategies as st

    keys = list(strategies)
    out: dict[str, list[Any]] = {k: [] for k in keys}

    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
                         suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, derandomize=False)
    @hypothesis.given(st.tuples(*[strategies[k] for k in keys]))
    def draw(values: tuple[Any, ...]) -> None:
        for k, v in zip(keys, values):
            out[k].append(v)

    draw()
    return out


# ------------------------------------------------------------------------------ shared plumbing
Candidate = tuple[str, str, Any]   # (variant, why, op): op is interpreted per API


def _select(per_constraint: list[tuple[Constraint, list[Negative]]], generated: list[tuple[Constraint, list[Negative]]],
            profile: Profile, rule_of: Callable[[Negative], Any] | None = None) -> list[Negative]:
    """first_negative_only (smoke): each constraint's first negative; otherwise (standard) then its other
    variants, each variant once per rule (`rule_of`: a field of the same name and schema in several
    places, e.g. `supplier` in each oneOf shape, or `name` of the primary and the secondary contact, is one
    rule: its first, most probing negative is sent in every place, its other variants in the first place
    only: the same rule attacked with the same value twice buys no verdict); with drawn_negatives (full):
    every variant everywhere, then the generated values."""
    first = [made[0] for _, made in per_constraint if made]
    if profile.first_negative_only:
        return first
    rest = [n for _, made in per_constraint for n in made[1:]]
    again: list[Negative] = []
    if rule_of is not None:
        seen = {(rule_of(n), n.variant) for n in first}
        kept = []
        for n in rest:
            key = (rule_of(n), n.variant)
            (again if key in seen else kept).append(n)
            seen.add(key)
        rest = kept
    out = first + rest
    if profile.drawn_negatives:
        out += again
    return out + [n for _, made in generated for n in made]


def _first_or_all(made: Iterator[Negative | None], profile: Profile) -> list[Negative]:
    """The negatives a builder makes (None: a candidate that was not one); only the first where the
    profile sends the first only."""
    out: list[Negative] = []
    for n in made:
        if n is not None:
            out.append(n)
            if profile.first_negative_only:
                break
    return out


# ------------------------------------------------------------------------------------------ ALA
def _ala_decl(operation: str, path: str) -> Any:
    decl = contracts.ala_schema().elements[contracts.ALA_OPERATIONS[operation].request_root]
    for part in [p for p in path.split(".") if p]:
        decl = next(c for c in decl.type.content.iter_elements() if ala_key(c) == part)
    return decl


def _xsd_example_text(t: Any) -> str:
    if t.enumeration:
        return str(t.enumeration[0])
    for candidate in ("fibrecert", "300", "2030-01-31", "2030-01-31T09:00:00Z", "x"):
        if t.is_valid(candidate):
            return candidate
    raise NotImplementedError(f"no example value for {t}")


def _ala_insert(operation: str, root: etree._Element, path: str, namespace: str) -> etree._Element | None:
    """Add an element the payload left out (optional), at its place in the xs:sequence."""
    parent_path, _, leaf = path.rpartition(".")
    parent = ElementPath(parent_path).find(root, namespace)
    if parent is None:
        return None
    order = [ala_key(c) for c in _ala_decl(operation, parent_path).type.content.iter_elements()]
    index = sum(1 for child in parent if isinstance(child.tag, str) and _key_of(child.tag) in order
                and order.index(_key_of(child.tag)) < order.index(leaf))
    new = etree.Element(ElementPath.tag(leaf, namespace))
    new.tail = None
    parent.insert(index, new)
    decl = _ala_decl(operation, path)
    if decl.type.is_simple():
        new.text = _xsd_example_text(decl.type)
    else:  # a complex optional element: fill it with an example
        example = ala_example_element(operation, namespace, path)
        new.extend(list(example))
    return new


def _key_of(tag: str) -> str:
    q = etree.QName(tag)
    return f"cfh:{q.localname}" if q.namespace == contracts.CFH_NS else q.localname


def ala_example(operation: str, fixed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A valid message as an xmlschema dict with every optional element present (fixed: path -> text)."""
    fixed = dict(fixed or {})

    def build(decl: Any, path: str) -> Any:
        if path in fixed:
            return fixed[path]
        if decl.type.is_simple():
            return _xsd_example_text(decl.type)
        return {ala_key(c): build(c, f"{path}.{ala_key(c)}" if path else ala_key(c))
                for c in decl.type.content.iter_elements()}

    return build(_ala_decl(operation, ""), "")


def ala_example_element(operation: str, namespace: str = "", path: str = "", fixed: Mapping[str, str] | None = None) -> etree._Element:
    data = ala_example(operation, fixed)
    schema = contracts.ala_schema(namespace)
    element, errors = schema.encode(data, path=contracts.ala_qname(contracts.ALA_OPERATIONS[operation].request_root, namespace),
                                    namespaces=contracts.ala_namespaces(namespace), etree_element_class=etree.Element,
                                    indent=0, validation="lax")
    if errors:
        raise ValueError(f"the {operation} example is invalid: {errors[0].reason}")
    return ElementPath(path).find(element, namespace) if path else element


def _ala_tolerated(constraint: Constraint, root: etree._Element, namespace: str) -> bool:
    """Values outside the contract that a conformant target may accept: never negatives."""
    if constraint.family == "blank":
        # XSD's \s is [#x20\t\n\r] only, so text holding any other character (a non-breaking space, an
        # em space) is not blank to a conformant XSD validator, even where xmlschema's reading says so.
        el = ElementPath(constraint.path).find(root, namespace)
        return el is not None and any(ch not in " \t\n\r" for ch in el.text or "")
    if constraint.path.endswith("requestedDate"):
        el = ElementPath(constraint.path).find(root, namespace)
        date_time = contracts.ala_schema().maps.types["{http://www.w3.org/2001/XMLSchema}dateTime"]
        return el is not None and el.text is not None and date_time.is_valid(el.text)  # profile rule 6
    return False


_ALA_VALUE_BUILDERS: dict[tuple[str, str], Callable[[str, dict[str, Any]], list[tuple[str, Any, str]]]] = {
    ("blank", "pattern"): _blank,
    ("pattern", "pattern"): _pattern,
    ("enum", "enumeration"): _enum,
    ("format", "xs:date"): _date,
    ("format", "xs:dateTime"): _date_time,
    ("format", "pattern"): _zone,
    ("bounds", "minLength"): _min_length,
    ("bounds", "maxLength"): _max_length,
    ("bounds", "length"): _length,
}


def _other_enum_value(mine: Iterable[Any], values: Iterable[Any], shape: str | None = None) -> Any:
    mine = {str(v) for v in mine}
    for v in values:
        if str(v) not in mine and (shape is None or re.fullmatch(shape, str(v))):
            return v
    return None


@functools.lru_cache(maxsize=None)
def _ala_enum_values() -> tuple[str, ...]:
    schema = contracts.ala_schema()
    out: list[str] = []
    for t in list(schema.types.values()) + [e.type for e in schema.maps.elements.values()]:
        for v in getattr(t, "enumeration", None) or []:
            if str(v) not in out:
                out.append(str(v))
    return tuple(out)


def _ala_candidates(operation: str, entry: Entry, root: etree._Element, namespace: str) -> list[Candidate]:
    c = entry.constraint
    family, keyword = c.family, c.keyword
    if family == "required":
        return [("missing", f"{c.path} left out", ("remove",))]
    if family == "closed":
        label = c.path or "the root"
        if keyword == "closed":
            return [("unknown-element", f"an undeclared element {UNKNOWN} inside {label}", ("child", contracts.ala_qname(UNKNOWN, namespace))),
                    ("foreign-namespace", f"an element of another namespace inside {label}", ("child", f"{{{FOREIGN_NS}}}extension"))]
        if keyword == "mixed":
            return [("text-beside-elements", f"text beside the elements of {label}", ("mixed", "text")),
                    ("text-between-elements", f"text between the elements of {label}", ("mixed", "tail"))]
        if keyword == "maxOccurs":
            return [("repeated", f"{c.path} twice", ("repeat",))]
        raise NotImplementedError(keyword)
    builder = _ALA_VALUE_BUILDERS.get((family, keyword))
    if builder is None:
        raise NotImplementedError(f"no negative builder for ALA ({family}, {keyword})")
    t = entry.node.type
    existing = ElementPath(c.path).find(root, namespace)
    value = (existing.text or "") if existing is not None else _xsd_example_text(t)
    ctx: dict[str, Any] = {"matches": t.is_valid, "keyword": keyword}
    if family == "enum":
        ctx["other"] = _other_enum_value(t.enumeration, _ala_enum_values())
    if family == "bounds":
        ctx["bound"] = int(re.search(r"\d+", c.detail).group())  # type: ignore[union-attr]
    return [(variant, f"{c.path} = {_short(v)} ({why})", ("text", v)) for variant, v, why in builder(value, ctx)]


def _ala_apply(operation: str, root: etree._Element, path: str, namespace: str, op: tuple[Any, ...]) -> bool:
    kind = op[0]
    target = ElementPath(path).find(root, namespace)
    if kind == "remove":
        if target is None:
            return False
        target.getparent().remove(target)
        return True
    if kind == "text":
        if target is None:
            target = _ala_insert(operation, root, path, namespace)
        if target is None:
            return False
        target.text = op[1]
        return True
    if kind == "repeat":
        if target is None:
            target = _ala_insert(operation, root, path, namespace)
        if target is None:
            return False
        twin = copy.deepcopy(target)
        twin.tail = None
        target.addnext(twin)
        return True
    if kind == "child":
        if target is None:
            return False
        etree.SubElement(target, op[1]).text = "x"
        return True
    if kind == "mixed":
        if target is None or len(target) == 0:
            return False
        if op[1] == "text":
            target.text = "fibrecert text"
        else:
            target[0].tail = "fibrecert text"
        return True
    raise NotImplementedError(kind)


def _ala_negatives(operation: str, root: etree._Element, profile: Profile, seed: int) -> list[Negative]:
    namespace = etree.QName(root).namespace or ""
    schema = contracts.ala_schema(namespace)
    if not schema.is_valid(root):
        raise ValueError(f"negatives need a valid {operation} to start from")
    per: list[tuple[Constraint, list[Negative]]] = []
    gen_specs: dict[str, Any] = {}
    gen_entries: dict[str, Entry] = {}

    def build(entry: Entry, variant: str, why: str, op: tuple[Any, ...], seen: set[bytes]) -> Negative | None:
        c = entry.constraint
        mutated = copy.deepcopy(root)
        if not _ala_apply(operation, mutated, c.path, namespace, op) or _ala_tolerated(c, mutated, namespace):
            return None
        if schema.is_valid(mutated):
            return None  # not a negative after all: never sent as one
        raw = etree.tostring(mutated)
        if raw in seen:
            return None
        seen.add(raw)
        return Negative(c, variant, why, mutated)

    seen_by: dict[str, set[bytes]] = {}
    for entry in entries(operation):
        c = entry.constraint
        if not c.attacked:
            continue
        seen = seen_by.setdefault(c.id, set())
        made = _first_or_all((build(entry, variant, why, op, seen)
                              for variant, why, op in _ala_candidates(operation, entry, root, namespace)), profile)
        per.append((c, made))
        if profile.drawn_negatives and c.family not in ("required", "closed"):
            spec = _gen_strategy(c, {"alphabet": XML_TEXT, "values": [str(v) for v in entry.node.type.enumeration or []],
                                     "format": c.keyword, "bound": _bound(c), "integer": True})
            if spec is not None:
                gen_specs[c.id], gen_entries[c.id] = spec, entry
    generated: list[tuple[Constraint, list[Negative]]] = []
    for cid, values in _draw(gen_specs, seed, profile.drawn_negatives).items():
        entry = gen_entries[cid]
        made = []
        for i, v in enumerate(values, 1):
            n = build(entry, f"generated-{i}", f"{entry.constraint.path} = {_short(v)} (drawn by Hypothesis)", ("text", v),
                      seen_by[cid])
            if n is not None:
                made.append(n)
        generated.append((entry.constraint, made))
    return _select(per, generated, profile)  # ALA: no element's type is attacked in two places


def _bound(c: Constraint) -> int | None:
    m = re.search(r"-?\d+", c.detail)
    return int(m.group()) if m and c.family == "bounds" else None


# ------------------------------------------------------------------------------------ Fibre Cafe
def _parts(path: str) -> list[str]:
    out: list[str] = []
    for part in [p for p in path.split(".") if p]:
        if part.endswith("[]"):
            out += [part[:-2], "[]"]
        else:
            out.append(part)
    return out


def json_example(node: dict[str, Any], complete: bool = True) -> Any:
    """A valid instance of a schema node (every optional property too when `complete`)."""
    node = resolve(node)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if "oneOf" in node:
        return json_example(node["oneOf"][0], complete)
    t = json_types(node)[0]
    if t == "object":
        required = set(node.get("required", []))
        return {k: json_example(s, complete) for k, s in node.get("properties", {}).items() if complete or k in required}
    if t == "array":
        return [json_example(node["items"], complete) for _ in range(max(1, node.get("minItems", 0)))]
    if t in ("integer", "number"):
        return node.get("minimum", 1)
    if t == "boolean":
        return True
    if t == "string":
        if node.get("format") == "date":
            return "2030-01-31"
        if node.get("format") == "date-time":
            return "2030-01-31T09:00:00Z"
        for candidate in ("fibrecert", "FIBRECERT", "x"):
            if ("pattern" not in node or re.search(node["pattern"], candidate)) and \
                    node.get("minLength", 0) <= len(candidate) <= node.get("maxLength", 10**9):
                return candidate
    raise NotImplementedError(f"no example for {node}")


def fibrecafe_examples(operation: str) -> list[Any]:
    """One valid body per shape of the request (every optional property present)."""
    top = resolve(contracts.openapi_document()["components"]["schemas"][COMPONENTS[operation]])
    if "oneOf" in top:
        return [json_example(b) for b in top["oneOf"]]
    return [json_example(top)]


def _branch_of(operation: str, body: Any) -> str | None:
    top = resolve(contracts.openapi_document()["components"]["schemas"][COMPONENTS[operation]])
    if "oneOf" not in top or not isinstance(body, dict):
        return None
    for b in top["oneOf"]:
        if body.get("orderType") in discriminator_values(b):
            return branch_name(b)
    return None


def _node_at(operation: str, path: str) -> dict[str, Any]:
    top = resolve(contracts.openapi_document()["components"]["schemas"][COMPONENTS[operation]])
    parts = _parts(path)
    node = top
    if "oneOf" in top and parts:
        node = resolve(next(b for b in top["oneOf"] if branch_name(b) == parts[0]))
        parts = parts[1:]
    for part in parts:
        node = resolve(node["items"]) if part == "[]" else resolve(node["properties"][part])
    return node


def _spine(operation: str, body: Any, branch: str | None, parts: list[str]) -> Any:
    """Walk to the container of the last part, filling absent optional containers with examples."""
    holder = body
    done = [branch] if branch else []
    for part in parts[:-1]:
        done.append(part)
        if part == "[]":
            if not holder:
                holder.append(json_example(_node_at(operation, ".".join(done).replace(".[]", "[]"))))
            holder = holder[0]
        else:
            if part not in holder:
                holder[part] = json_example(_node_at(operation, ".".join(done).replace(".[]", "[]")))
            holder = holder[part]
    return holder


def _fc_get(operation: str, body: Any, branch: str | None, path: str) -> Any:
    """The value at `path` in `body` (an example value where the body leaves it out)."""
    holder = body
    for part in _parts(path)[1 if branch else 0:]:
        if part == "[]":
            holder = holder[0] if isinstance(holder, list) and holder else None
        else:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if holder is None:
            return json_example(_node_at(operation, path))
    return holder


def _fc_apply(operation: str, body: Any, branch: str | None, path: str, op: tuple[Any, ...]) -> Any:
    kind = op[0]
    if kind == "body":
        return op[1]
    out = copy.deepcopy(body)
    parts = _parts(path)[1 if branch else 0:]
    if kind == "add":
        holder = _spine(operation, out, branch, parts + ["*"]) if parts else out
        holder[op[1]] = op[2]
        return out
    holder = _spine(operation, out, branch, parts)
    last = parts[-1]
    if kind == "delete":
        holder.pop(last, None) if last != "[]" else holder.pop(0)
        return out
    if kind == "set":
        if last == "[]":
            if not holder:
                holder.append(None)
            holder[0] = op[1]
        else:
            holder[last] = op[1]
        return out
    raise NotImplementedError(kind)


@functools.lru_cache(maxsize=None)
def _fc_enum_values() -> tuple[Any, ...]:
    out: list[Any] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("enum",):
                for v in node.get(key, []):
                    if v not in out:
                        out.append(v)
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(contracts.openapi_document()["components"]["schemas"])
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _discriminator_set() -> frozenset[Any]:
    top = resolve(contracts.openapi_document()["components"]["schemas"]["ServiceOrderRequest"])
    return frozenset(v for b in top.get("oneOf", []) for v in discriminator_values(b))


def _fc_value_ctx(c: Constraint, node: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = {"keyword": c.keyword, "min_length": node.get("minLength", 0)}
    if c.keyword == "pattern":
        rx = re.compile(node["pattern"])
        ctx["matches"] = lambda v: rx.search(v) is not None
    if c.family == "bounds":
        ctx["bound"] = node[c.keyword]
        ctx["integer"] = "integer" in json_types(node)
        ctx["array"] = "array" in json_types(node)
    if c.family == "enum":
        mine = node["enum"] if "enum" in node else [node["const"]]
        ctx["values"] = [str(v) for v in mine]
        ctx["other"] = _other_enum_value(mine, [v for v in _fc_enum_values() if v not in _discriminator_set()],
                                         r"[A-Z_]+" if all(re.fullmatch(r"[A-Z_]+", str(v)) for v in mine) else None)
    if c.family == "format":
        ctx["format"] = node["format"]
    return ctx


_FC_VALUE_BUILDERS: dict[tuple[str, str], Callable[[Any, dict[str, Any]], list[tuple[str, Any, str]]]] = {
    ("blank", "pattern"): _blank,
    ("pattern", "pattern"): _pattern,
    ("enum", "enum"): _enum,
    ("enum", "const"): _enum,
    ("bounds", "minLength"): _min_length,
    ("bounds", "maxLength"): _max_length,
    ("bounds", "minItems"): _min_length,
    ("bounds", "maxItems"): _max_length,
    ("bounds", "minimum"): _minimum,
    ("bounds", "maximum"): _maximum,
    ("bounds", "exclusiveMinimum"): _exclusive,
    ("bounds", "exclusiveMaximum"): _exclusive,
}
_FC_FORMATS = {"date": _date, "date-time": _date_time}


def _fc_candidates(operation: str, entry: Entry, body: Any, branch: str | None) -> list[Candidate]:
    c = entry.constraint
    family, keyword, path = c.family, c.keyword, c.path
    if family == "header":
        return [("absent", f"{path[8:]} left out", ("header", None)), ("empty", f"{path[8:]} empty", ("header", ""))]
    if path == "" and keyword == "required":
        return [("no-body", "no request body", ("body", None, ""))]
    if path == "" and keyword == "type":
        return [("array", "the body inside a one-element array", ("body", [body])),
                ("string", "a JSON string", ("body", "fibrecert")), ("number", "a JSON number", ("body", 1)),
                ("null", "JSON null", ("body", None)), ("boolean", "JSON true", ("body", True))]
    if family == "discriminator":
        # The orderType of another shape, on a body that is far from that shape: it lacks a field the
        # shape requires *and* carries one the shape does not declare. (A cease labelled MODIFY is just a
        # modify missing serviceCharacteristics: that negative belongs to the required family.)
        top = resolve(contracts.openapi_document()["components"]["schemas"][COMPONENTS[operation]])
        own = body.get("orderType")
        out = []
        for b in top["oneOf"]:
            shape = resolve(b)
            if branch_name(b) == branch or not (set(shape.get("required", [])) - set(body)) \
                    or not (set(body) - set(shape.get("properties", {}))):
                continue
            other = discriminator_values(b)[0]
            out.append((f"{own}-as-{other}", f"orderType {other!r} (another shape: {branch_name(b)}) on a {own} body",
                        ("set-root", "orderType", other)))
        return out
    if family == "required":
        return [("missing", f"{path} left out", ("delete",))]
    if family == "nullable":
        return [("null", f"{path} = null (an optional property: leave it out instead)", ("set", None))]
    if family == "closed":
        node = entry.node
        names = list(node.get("properties", {}))
        label = path or "the body"
        out: list[Candidate] = [("unknown-property", f"an undeclared property {UNKNOWN!r} in {label}", ("add", UNKNOWN, "x"))]
        if names:
            twin = names[0].upper() if names[0].upper() != names[0] else names[0].lower()
            sample = _fc_get(operation, body, branch, f"{path}.{names[0]}" if path else names[0])
            out.append(("case-variant", f"{twin!r} beside {names[0]!r} in {label} (a case-insensitive reader's twin)",
                        ("add", twin, sample)))
        return out
    value = _fc_get(operation, body, branch, path)
    if family == "type":
        declared = json_types(entry.node)
        optional = path.rpartition(".")[2].removesuffix("[]") not in set(_parent_required(operation, path))
        out = []
        for variant, v, why in _TYPE_CONFUSION[declared[0]](value):
            if variant == "null" and optional and not path.endswith("[]"):
                continue  # null for an optional property is its own constraint (nullable)
            if isinstance(v, tuple) and v and v[0] == RAW:
                out.append((variant, f"{path} = {v[1]} ({why})", ("raw", v[1])))
            else:
                out.append((variant, f"{path} = {_short(v)} ({why})", ("set", v)))
        return out
    if family == "format":
        builder = _FC_FORMATS[entry.node["format"]]
    else:
        builder = _FC_VALUE_BUILDERS.get((family, keyword))  # type: ignore[assignment]
        if builder is None:
            raise NotImplementedError(f"no negative builder for Fibre Cafe ({family}, {keyword})")
    ctx = _fc_value_ctx(c, entry.node)
    return [(variant, f"{path} = {_short(v)} ({why})", ("set", v)) for variant, v, why in builder(value, ctx)]


def _parent_required(operation: str, path: str) -> list[str]:
    parent = path.rpartition(".")[0]
    if path.endswith("[]"):
        return []
    try:
        node = _node_at(operation, parent) if parent else resolve(
            contracts.openapi_document()["components"]["schemas"][COMPONENTS[operation]])
    except (KeyError, StopIteration):
        return []
    return list(node.get("required", []))


def _header_valid(param: dict[str, Any], value: str | None) -> bool:
    if value is None:
        return not param.get("required")
    import jsonschema

    return jsonschema.Draft202012Validator(param["schema"]).is_valid(value)


def _fc_negatives(operation: str, bodies: list[Any], profile: Profile, seed: int) -> list[Negative]:
    validator = contracts.json_validator(COMPONENTS[operation])
    for body in bodies:
        if not validator.is_valid(body):
            raise ValueError(f"negatives need a valid {operation} body to start from: {body!r}")
    per: dict[str, tuple[Constraint, list[Negative]]] = {}
    seen_by: dict[str, set[str]] = {}
    gen_specs: dict[str, Any] = {}
    gen_ctx: dict[str, tuple[Entry, Any, str | None]] = {}
    rules: dict[int, Any] = {}  # id of a negative -> the rule it attacks (its field's name and schema)

    def build(entry: Entry, body: Any, branch: str | None, variant: str, why: str, op: tuple[Any, ...]) -> Negative | None:
        c = entry.constraint
        raw: str | None = None
        headers: dict[str, str | None] = {}
        if op[0] == "header":
            if _header_valid(entry.extra, op[1]):
                return None
            payload, headers = body, {c.path[8:]: op[1]}
        elif op[0] == "body":
            payload = op[1]
            raw = op[2] if len(op) > 2 else None
        elif op[0] == "raw":
            payload = _fc_apply(operation, body, branch, c.path, ("set", RAW))
            raw = json.dumps(payload).replace(json.dumps(RAW), op[1])
            payload = json.loads(raw)
        elif op[0] == "set-root":
            payload = {**body, op[1]: op[2]}
        else:
            payload = _fc_apply(operation, body, branch, c.path, op)
        if not headers:
            if raw == "":
                pass  # no body at all: not JSON, so outside any schema
            elif validator.is_valid(payload):
                return None  # not a negative after all (e.g. 1.0 is an integer): never sent as one
        fingerprint = json.dumps([payload, raw, headers], sort_keys=True)
        seen = seen_by.setdefault(c.id, set())
        if fingerprint in seen:
            return None
        seen.add(fingerprint)
        made = Negative(c, variant, why, payload, raw, headers)
        rules[id(made)] = (c.path.rsplit(".", 1)[-1], c.keyword, json.dumps(entry.node, sort_keys=True, default=str),
                           json.dumps(entry.extra, sort_keys=True, default=str) if c.family == "required" else "")
        return made

    first = True
    for body in bodies:
        branch = _branch_of(operation, body)
        for entry in entries(operation):
            c = entry.constraint
            parts = _parts(c.path)
            shared = not c.path or c.path.startswith("headers/")
            if c.family == "discriminator":
                pass
            elif shared and not first:
                continue
            elif branch is not None and not shared and parts[0] != branch:
                continue
            if profile.first_negative_only and c.id in per and per[c.id][1] and c.family != "discriminator":
                continue
            made = _first_or_all((build(entry, body, branch, variant, why, op)
                                  for variant, why, op in _fc_candidates(operation, entry, body, branch)), profile)
            if c.id in per:
                per[c.id][1].extend(made)
            else:
                per[c.id] = (c, made)
            if profile.drawn_negatives and c.family not in ("required", "closed", "nullable", "header", "discriminator") \
                    and c.path and c.id not in gen_specs:
                spec = _gen_strategy(c, {**(_fc_value_ctx(c, entry.node) if c.family != "type" else {}),
                                         "format": entry.node.get("format")})
                if spec is not None:
                    gen_specs[c.id], gen_ctx[c.id] = spec, (entry, body, branch)
        first = False
    for cid, (c, made) in per.items():
        if c.family == "discriminator":  # most probing first: the smallest body named as another shape
            made.sort(key=lambda n: len(n.payload))
            del made[1 if profile.first_negative_only else len(made):]
    generated: list[tuple[Constraint, list[Negative]]] = []
    for cid, values in _draw(gen_specs, seed, profile.drawn_negatives).items():
        entry, body, branch = gen_ctx[cid]
        made = [n for i, v in enumerate(values, 1) if _breaks_only(entry, v)
                and (n := build(entry, body, branch, f"generated-{i}",
                                f"{entry.constraint.path} = {_short(v)} (drawn by Hypothesis)", ("set", v))) is not None]
        generated.append((entry.constraint, made))
    return _select(list(per.values()), generated, profile, lambda n: rules.get(id(n), n.constraint.id))


_VALUE_KEYWORDS = ("type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
                   "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "format")


def _breaks_only(entry: Entry, value: Any) -> bool:
    """A drawn value counts for its constraint only if it breaks that keyword and no other of the
    same schema node (-5 drawn for an integer's `type` is a bounds negative, not a type one)."""
    import jsonschema

    node, keyword = entry.node, entry.constraint.keyword
    cls = jsonschema.Draft202012Validator
    own = {keyword: node[keyword]}
    rest = {k: node[k] for k in _VALUE_KEYWORDS if k in node and k != keyword}
    return not cls(own, format_checker=cls.FORMAT_CHECKER).is_valid(value) \
        and cls(rest, format_checker=cls.FORMAT_CHECKER).is_valid(value)


# ------------------------------------------------------------------------------------------ public
def negatives(operation: str, valid_payload: Any, profile: Any = "standard", seed: int = 0) -> list[Negative]:
    """Negatives for every attacked constraint of `operation`, built from `valid_payload`.

    ALA: `valid_payload` is the valid request root (lxml element; its namespace is the target's).
    Fibre Cafe: a valid JSON body, or a list of them (one per oneOf shape: each shape's constraints
    are attacked from its own body; the body-wide ones once)."""
    profile = profile_named(profile)
    if operation in contracts.ALA_OPERATIONS:
        return _ala_negatives(operation, valid_payload, profile, seed)
    if operation in COMPONENTS:
        bodies = list(valid_payload) if isinstance(valid_payload, list) else [valid_payload]
        return _fc_negatives(operation, bodies, profile, seed)
    raise KeyError(f"unknown operation {operation!r}")


def example(operation: str, *, namespace: str = "", fixed: Mapping[str, str] | None = None) -> Any:
    """A valid payload with every optional element or property present, built from the contract:
    ALA: the request root (lxml; `fixed` sets element texts by dotted path); Fibre Cafe: a list of
    bodies, one per shape of the request (a one-element list when there is a single shape)."""
    if operation in contracts.ALA_OPERATIONS:
        return ala_example_element(operation, namespace, "", fixed)
    if operation in COMPONENTS:
        return fibrecafe_examples(operation)
    raise KeyError(f"unknown operation {operation!r}")


def fibrecafe_header_names(operation: str) -> list[str]:
    op = contracts.openapi_document()["paths"][operation]["post"]
    return [resolve_parameter(p)["name"] for p in op.get("parameters", []) if resolve_parameter(p).get("in") == "header"]
