"""Valid and boundary-invalid payload generators, derived from the contracts.

Public face (everything else is private):
- `ala_message(operation, namespace=..., fixed=...)`: dicts for an ALA request root, from the XSD.
- `encode_ala(operation, data, namespace)`: the lxml element for such a dict, validated by the XSD.
- `without(data, path)`: a copy of an ALA dict without one element.
- `ala_required_paths(operation, namespace)`: what `without` can remove.
- `fibrecafe_cases(path, ...)`: schemathesis `Case`s for a Fibre Cafe operation (positive mode).
- `assert_valid_fibrecafe(component, body)`: the guard every "valid" JSON body passes before sending.
- `inventory(operation=None, api="all") -> list[Constraint]`: every field path x constraint of a
  request, read from the XSD or the OpenAPI document (`FAMILIES` names the constraint families).
- `negatives(operation, valid_payload, profile, seed) -> list[Negative]`: boundary-invalid requests
  built from the inventory, one fault each, every one proven invalid by the contract's validator;
  smoke = one per constraint, standard = every variant, full = every variant plus Hypothesis draws.
- `example(operation, namespace=..., fixed=...)`: a valid payload with every optional part present
  (ALA: the request root; Fibre Cafe: one body per shape of the request).
- the pieces the narrowing of a failure and the checks build on: `ala_example`, `ala_declaration`,
  `json_example`, `resolve`, `discriminator_values`, `COMPONENTS` (the Fibre Cafe request components),
  `openapi_schema()` and `openapi_operation(path)` (schemathesis' view of the OpenAPI document).

A "valid" payload that violates its contract never reaches a target: both sides end in the
contract's own validator.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from hypothesis import strategies as st
from lxml import etree

from fibrecert import contracts

from ._inventory import FAMILIES, Constraint, inventory
from ._negatives import PROFILES, Negative, example, negatives
from ._xsd import message_strategy, required_paths

__all__ = ["ala_message", "encode_ala", "without", "ala_required_paths", "fibrecafe_cases",
           "assert_valid_fibrecafe", "InvalidGenerated", "inventory", "Constraint", "FAMILIES", "negatives",
           "Negative", "example", "PROFILES"]


class InvalidGenerated(AssertionError):
    """A generator produced a 'valid' payload that its contract rejects: a fibrecert bug."""


def ala_message(operation: str, *, namespace: str = "", fixed: dict[str, Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    return _ala_message(operation, namespace, tuple(sorted((fixed or {}).items())))


@functools.lru_cache(maxsize=256)
def _ala_message(operation: str, namespace: str, fixed: tuple[tuple[str, Any], ...]) -> st.SearchStrategy[dict[str, Any]]:
    """One strategy object per operation and fixed fields: Hypothesis validates a strategy once."""
    root = contracts.ALA_OPERATIONS[operation].request_root
    return message_strategy(root, namespace, dict(fixed))


def encode_ala(operation: str, data: dict[str, Any], namespace: str = "", *, validate: bool = True) -> etree._Element:
    """Encode an ALA dict through the XSD (xmlschema). With validate=False, encode what is given,
    so that negative cases (a missing element) can be built and then proven invalid."""
    schema = contracts.ala_schema(namespace)
    root = contracts.ALA_OPERATIONS[operation].request_root if operation in contracts.ALA_OPERATIONS else operation
    path = contracts.ala_qname(root, namespace)
    element, errors = schema.encode(data, path=path, namespaces=contracts.ala_namespaces(namespace),
                                    etree_element_class=etree.Element, indent=0, validation="lax")
    if validate and errors:
        raise InvalidGenerated(f"generated {root} is invalid: {errors[0].reason}")
    if not validate and not errors and next(schema.iter_errors(element), None) is None:
        raise InvalidGenerated(f"negative {root} case is valid against the contract")
    return element


def without(data: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(data)
    parts = path.split(".")
    node = out
    for part in parts[:-1]:
        node = node[part]
    del node[parts[-1]]
    return out


def ala_required_paths(operation: str, namespace: str = "") -> list[str]:
    return required_paths(contracts.ALA_OPERATIONS[operation].request_root, namespace)


def assert_valid_fibrecafe(component: str, body: Any) -> Any:
    errors = list(contracts.json_validator(component).iter_errors(body))
    if errors:
        raise InvalidGenerated(f"generated {component} body is invalid: {errors[0].message}")
    return body


def fibrecafe_cases(path: str, *, headers: dict[str, str] | None = None, body: Any = None) -> st.SearchStrategy[Any]:
    """Positive schemathesis Cases for `POST <path>`; `body` fixes the body when given."""
    if headers is None and body is None:
        return _fibrecafe_cases(path)
    return _fibrecafe_cases_with(path, headers, body)


@functools.lru_cache(maxsize=None)
def _fibrecafe_cases(path: str) -> st.SearchStrategy[Any]:
    """One strategy object per operation: Hypothesis validates a strategy once, not on every use."""
    return _fibrecafe_cases_with(path, None, None)


def _fibrecafe_cases_with(path: str, headers: dict[str, str] | None, body: Any) -> st.SearchStrategy[Any]:
    from ._openapi import operation

    from schemathesis import GenerationMode

    kwargs: dict[str, Any] = {"headers": headers or {}}
    if body is not None:
        kwargs["body"] = body
    return operation(path).as_strategy(GenerationMode.POSITIVE, **kwargs)


from ._boundaries import Boundary, InvalidBoundary, Probe, boundaries  # noqa: E402
from ._boundaries import fixed_fields as boundary_fixed_fields  # noqa: E402
from ._boundaries import probes as boundary_probes  # noqa: E402

__all__ += ["Boundary", "InvalidBoundary", "Probe", "boundaries", "boundary_fixed_fields", "boundary_probes"]

from ._inventory import COMPONENTS, discriminator_values, resolve  # noqa: E402
from ._negatives import _ala_decl as ala_declaration  # noqa: E402
from ._negatives import ala_example, json_example  # noqa: E402
from ._openapi import operation as openapi_operation  # noqa: E402
from ._openapi import schema as openapi_schema  # noqa: E402

__all__ += ["COMPONENTS", "discriminator_values", "resolve", "ala_declaration", "ala_example", "json_example",
            "openapi_operation", "openapi_schema"]
