"""Machine-readable contracts and their loaders: one source of truth for every fact.

- ALA 2.30: `ala/2.30/ala-core.xsd` (+ `cfh-ext1.xsd`), namespace applied per target (profile rule 2).
- Fibre Cafe 1.17: `fibrecafe/1.17/openapi.yaml`.
- Requirements: `requirements/<api>-<version>.yaml`, validated by `requirements/catalogue.schema.json`.

Generators, checks, the sandbox and the report all read from here.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

# libyaml's safe loader where PyYAML was built with it (the same documents, several times faster than the
# pure-Python one: openapi.yaml 22 ms -> 2 ms, each catalogue ~28 ms -> 3 ms, at every start).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader

HERE = Path(__file__).resolve().parent
_LOAD = threading.RLock()


def _loaded_once(fn):  # noqa: ANN001, ANN202
    """functools.cache, made safe for threads: the first load happens once even when several threads ask
    at once (a bare lru_cache lets each racing thread parse the YAML or the XSD again)."""
    cached = functools.lru_cache(maxsize=None)(fn)

    @functools.wraps(fn)
    def load(*args):  # noqa: ANN002, ANN202
        with _LOAD:
            return cached(*args)

    load.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return load
ALA_DIR = HERE / "ala" / "2.30"
OPENAPI_PATH = HERE / "fibrecafe" / "1.17" / "openapi.yaml"
REQUIREMENTS_DIR = HERE / "requirements"
CATALOGUE_FILES = {"ala": "ala-2.30.yaml", "fibrecafe": "fibrecafe-1.17.yaml"}

CFH_NS = "http://www.cityfibre.com/ala/ext1"

class AlaOperation(NamedTuple):
    request_root: str    # the request's root element
    response_root: str   # the success answer's root element
    role: str            # the role that serves it: seller (base_url) or buyer (buyer_base_url)


# Operation name -> its roots and role. Profile rules 1, 3.
ALA_OPERATIONS: dict[str, AlaOperation] = {
    "ceaseOrder": AlaOperation("ceaseOrder", "orderResponse", "seller"),
    "cancelOrder": AlaOperation("cancelOrder", "cancelOrderResponse", "seller"),
    "unsolicitedCeaseRequest": AlaOperation("unsolicitedCeaseRequest", "unsolicitedCeaseResponse", "buyer"),
}


@dataclass(frozen=True)
class Requirement:
    id: str
    api: str
    operation: str
    level: str
    basis: str
    source: str
    quote: str
    text: str
    covers: tuple[str, ...]
    role: str | None = None
    choice: str | None = None              # SHOULD: the profile choice it rests on
    exercise: tuple[str, ...] = ()         # values it names: each must be sent or seen before it can pass

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "operation": self.operation, "level": self.level, "basis": self.basis,
                "source": self.source, "quote": self.quote, "text": self.text,
                **({"role": self.role} if self.role else {}), **({"choice": self.choice} if self.choice else {}),
                **({"exercise": list(self.exercise)} if self.exercise else {})}


class CatalogueError(Exception):
    pass


@_loaded_once
def _catalogue_schema() -> dict[str, Any]:
    return json.loads((REQUIREMENTS_DIR / "catalogue.schema.json").read_text())


@_loaded_once
def catalogue_document(api: str) -> dict[str, Any]:
    import jsonschema

    data = _yaml((REQUIREMENTS_DIR / CATALOGUE_FILES[api]).read_text(encoding="utf-8"))
    try:
        jsonschema.validate(data, _catalogue_schema())
    except jsonschema.ValidationError as exc:
        raise CatalogueError(f"{CATALOGUE_FILES[api]}: {exc.message}") from None
    return data


@_loaded_once
def requirements() -> dict[str, Requirement]:
    """Every requirement of every catalogue, by id (ids are unique across catalogues)."""
    out: dict[str, Requirement] = {}
    for api in CATALOGUE_FILES:
        for item in catalogue_document(api)["requirements"]:
            if item["id"] in out:
                raise CatalogueError(f"requirement id {item['id']} is defined twice")
            fields = {k: v for k, v in item.items() if k not in ("covers", "exercise")}
            out[item["id"]] = Requirement(api=api, covers=tuple(item["covers"]), exercise=tuple(item.get("exercise", ())),
                                          **fields)
    return out


def requirements_for(api: str) -> list[Requirement]:
    return [r for r in requirements().values() if r.api == api]


# ------------------------------------------------------------------------------------------ ALA
@_loaded_once
def ala_schema(namespace: str = ""):
    """The ALA 2.30 schema with core elements in `namespace` ("" = unqualified)."""
    import xmlschema

    if not namespace:
        return xmlschema.XMLSchema(str(ALA_DIR / "ala-core.xsd"))
    from xml.sax.saxutils import quoteattr

    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f"targetNamespace={quoteattr(namespace)} xmlns={quoteattr(namespace)} "
        'elementFormDefault="qualified"><xs:include schemaLocation="ala-core.xsd"/></xs:schema>'
    )
    return xmlschema.XMLSchema(wrapper, base_url=str(ALA_DIR))


def ala_qname(local: str, namespace: str = "") -> str:
    return f"{{{namespace}}}{local}" if namespace else local


def ala_namespaces(namespace: str = "") -> dict[str, str]:
    """Prefix map for encoding/decoding ALA dicts (core keys unprefixed, extensions as `cfh:`)."""
    return {"": namespace, "cfh": CFH_NS} if namespace else {"cfh": CFH_NS}


# ------------------------------------------------------------------------------------ Fibre Cafe
@_loaded_once
def openapi_document() -> dict[str, Any]:
    return _yaml(OPENAPI_PATH.read_text(encoding="utf-8"))


def openapi_component(name: str) -> dict[str, Any]:
    """A component schema with `$ref`s resolvable against the whole document (JSON Schema 2020-12)."""
    doc = openapi_document()
    return {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}


def _inlined(node: Any, trail: tuple[str, ...] = ()) -> Any:
    """`node` with every `$ref` to #/components/schemas/... replaced by its target (no cycles in the
    contract: a cycle raises ValueError and the caller keeps the references)."""
    if isinstance(node, list):
        return [_inlined(v, trail) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        name = ref.rsplit("/", 1)[-1]
        if not ref.startswith("#/components/schemas/") or name in trail or set(node) - {"$ref", "description"}:
            raise ValueError(f"cannot inline {ref}")
        return _inlined(openapi_document()["components"]["schemas"][name], trail + (name,))
    return {k: _inlined(v, trail) for k, v in node.items()}


@_loaded_once
def json_validator(component: str):
    """A jsonschema validator for one component of the OpenAPI document (formats checked). The
    component's `$ref`s are inlined (the same schema, validated about twice as fast)."""
    import jsonschema

    try:
        schema = _inlined(openapi_document()["components"]["schemas"][component], (component,))
    except ValueError:
        schema = openapi_component(component)
    cls = jsonschema.validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def enum_of(component: str) -> list[str]:
    return list(openapi_document()["components"]["schemas"][component]["enum"])
