"""Boundary-invalid Fibre Cafe requests: every constraint of the OpenAPI inventory (required properties
and headers, types, bounds, patterns, enums and near misses, formats, unknown properties, null for an
optional property, the orderType of another shape) attacked at every profile; then other methods and
content types, bodies that are not JSON, oversized or deeply nested bodies. Each negative breaks one
constraint of an otherwise valid request that would succeed (a cancellation names an order that exists
and is in flight), is proven invalid by the contract before it is sent, and names its constraint."""

from __future__ import annotations

import copy
import json

import pytest

from fibrecert import contracts, strategies
from fibrecert.suites import checks as c

from .conftest import check_error_answer
from .test_service_order_cancellations import create_order

SO, SOC = "/service-orders", "/service-order-cancellations"
LANES = 4  # cancellation negatives are sent in this many lanes side by side, each with its own order
COMPONENTS = {SO: "ServiceOrderRequest", SOC: "ServiceOrderCancellationRequest"}
RULES = {  # per operation: requirements of the cases outside the inventory, then of every error answer
    SO: {"content-type": "FC-SO-009", "method": "FC-SO-009", "not-an-object": "FC-SO-008",
         "errors": ("FC-SO-004", "FC-SO-005")},
    SOC: {"content-type": "FC-SOC-012", "method": "FC-SOC-012", "not-an-object": "FC-SOC-011",
          "errors": ("FC-SOC-005", "FC-SOC-006")},
}


def _send(fc, n, payload, raw):  # noqa: ANN001
    omit = tuple(h for h, v in n.headers.items() if v is None)
    headers = {h: v for h, v in n.headers.items() if v is not None}
    if raw == "":  # no body at all
        return fc.post(n.constraint.operation, None, raw=b"", omit=omit, headers=headers,
                       constraint=n.constraint.id, note=n.description)
    return fc.post(n.constraint.operation, payload, raw_json=raw, omit=omit, headers=headers,
                   constraint=n.constraint.id, note=n.description)


def _prove_invalid(n, payload, raw):  # noqa: ANN001
    if n.headers or raw == "":
        return  # a header left out or empty, or no body at all: outside the contract by construction
    value = json.loads(raw) if raw is not None else payload
    if contracts.json_validator(COMPONENTS[n.constraint.operation]).is_valid(value):
        raise strategies.InvalidGenerated(f"negative case is valid: {n.description}")


def _fractional_order_id(n) -> bool:  # noqa: ANN001
    """A negative whose orderId is a number that is not an integer (profile decision 8)."""
    if n.constraint.operation != SOC or n.constraint.path != "orderId" or n.raw_json == "":
        return False
    try:
        value = json.loads(n.raw_json) if n.raw_json is not None else n.payload
    except ValueError:
        return False
    order_id = value.get("orderId") if isinstance(value, dict) else None
    return isinstance(order_id, float) and not order_id.is_integer()


def _expect(verify, n, ex):  # noqa: ANN001
    if _fractional_order_id(n):  # decision 8: 400, or 422 from a look-up first; never acted on (201)
        verify(n.constraint.requirement, ex, c.fc_fraction_refused)
    else:
        verify(n.constraint.requirement, ex, c.fc_error, 400, "MALFORMED_REQUEST")
    check_error_answer(verify, ex, *RULES[n.constraint.operation]["errors"])


def _not_tested(verify, negatives, reason):  # noqa: ANN001
    for constraint in {n.constraint.id: n.constraint for n in negatives}.values():
        verify.not_tested((constraint.requirement,), f"{constraint.id} not attacked: {reason}")


@pytest.mark.long_chain
@pytest.mark.requirement("FC-SO-007", "FC-SO-006", "FC-SO-008", "FC-SO-003", "FC-SO-010", "FC-SO-004", "FC-SO-005")
def test_create_orders_outside_the_contract_are_refused(run, fc, verify, profile):
    """One valid body per shape (provide, cease, modify), every optional property present; every
    constraint of each shape attacked from its own body, with a fresh serviceId on every request."""
    bases = strategies.example(SO)
    for body in bases:
        if "supplier" in body:
            body["supplier"] = fc.target.supplier
    def one(n):  # noqa: ANN001
        payload = n.payload
        if n.raw_json is None and isinstance(payload, dict) and isinstance(payload.get("serviceId"), str) \
                and not n.constraint.path.endswith(".serviceId"):
            payload = {**payload, "serviceId": f"SVC-{run.token()}"}  # no order reuses a service
        _prove_invalid(n, payload, n.raw_json)
        _expect(verify, n, _send(fc, n, payload, n.raw_json))

    with run.generating():
        negatives = strategies.negatives(SO, bases, profile.name, run.case_seed(run.current_test))
    run.each(negatives, one)


@pytest.mark.long_chain
@pytest.mark.requirement("FC-SOC-010", "FC-SOC-007", "FC-SOC-011", "FC-SOC-004", "FC-SOC-015", "FC-SOC-005", "FC-SOC-006")
def test_cancellations_outside_the_contract_are_refused(run, fc, verify, profile):
    """Every negative names an order of the tenant that is in flight: after any wrongly accepted
    cancellation a new order is placed and the negatives are built again around it."""
    seed = run.case_seed(run.current_test)
    base = {**strategies.example(SOC)[0], "supplier": fc.target.supplier}

    def around(order_id):  # noqa: ANN001
        with run.generating():
            return strategies.negatives(SOC, {**base, "orderId": order_id}, profile.name, seed)

    def lane(keys):  # noqa: ANN001 - each lane keeps an order of its own in flight
        order_id = None
        for i, key in enumerate(keys):
            if order_id is None:  # the first, or the last negative was (wrongly) accepted and cancelled it
                setup, order_id = create_order(fc)
                if order_id is None:
                    left = [n for n in around(1) if n.key in set(keys[i:])]
                    _not_tested(verify, left, f"no order to cancel: placing one got {setup.describe()}")
                    return
                current = {n.key: n for n in around(order_id)}
            n = current[key]
            _prove_invalid(n, n.payload, n.raw_json)
            ex = _send(fc, n, copy.deepcopy(n.payload), n.raw_json)
            _expect(verify, n, ex)
            if ex.status == 201:
                order_id = None

    keys = [n.key for n in around(1)]
    run.each([keys[i::LANES] for i in range(LANES) if keys[i::LANES]], lane)


@pytest.mark.requirement("FC-SO-009", "FC-SOC-012", "FC-SO-004", "FC-SO-005", "FC-SOC-005", "FC-SOC-006")
@pytest.mark.parametrize("path", [SO, SOC])
def test_other_methods_and_content_types_are_refused(run, fc, verify, path):
    rules = RULES[path]
    if path == SO:
        body = fc.cease_order_body()
    else:
        setup, order_id = create_order(fc)
        if order_id is None:
            verify.not_tested((rules["method"],), f"no order to cancel: placing one got {setup.describe()}")
            return
        body = {"orderId": order_id, "reasonCode": "OTHER"}
    def method(name):  # noqa: ANN001
        verify(rules["method"], fc.post(path, body, method=name, note=f"{name} instead of POST"), c.status_in, 405)

    def content_type(value):  # noqa: ANN001
        ex = fc.post(path, None, raw=json.dumps(body).encode(), content_type=value, note=f"Content-Type {value}")
        verify(rules["content-type"], ex, c.fc_error, 400, "MALFORMED_REQUEST")
        check_error_answer(verify, ex, *rules["errors"])

    run.each(("GET", "PUT", "PATCH", "DELETE"), method)
    run.each(("text/plain", "application/xml", "application/x-www-form-urlencoded"), content_type)


def _own_order(fc, kind: str) -> int:  # noqa: ANN001
    """The order a cancellation body names. The valid body padded past 1 MiB names an order this test placed
    itself: a target without a size limit cancels it, and no other test's order (nor, on a shared vendor
    sandbox, anybody's order 1). The bodies no target can read name an order id no order has."""
    if kind == "over 1 MiB":
        _, order_id = create_order(fc)
        if order_id is not None:
            return order_id
    return 2147483647


@pytest.mark.requirement("FC-SO-008", "FC-SO-009", "FC-SOC-011", "FC-SOC-012", "ROB-013",
                         "FC-SO-004", "FC-SO-005", "FC-SOC-005", "FC-SOC-006")
@pytest.mark.parametrize("path", [SO, SOC])
@pytest.mark.parametrize("kind", ["not JSON", "truncated JSON", "JSON nested 50000 levels deep", "over 1 MiB"])
def test_bodies_that_are_not_json_or_too_large_are_refused(run, fc, verify, path, kind):
    rules = RULES[path]
    big = {**fc.cease_order_body()} if path == SO else {"orderId": _own_order(fc, kind), "reasonCode": "OTHER"}
    raw = {"not JSON": f"orderId={big.get('orderId', 2147483647)}&reasonCode=OTHER".encode(),
           "truncated JSON": json.dumps(big).encode()[:-3],
           "JSON nested 50000 levels deep": b"[" * 50000 + b"]" * 50000,
           # a valid body padded with JSON whitespace: over the limit for that reason alone
           "over 1 MiB": json.dumps(big).encode() + b" " * (1024 * 1024 + 1)}[kind]
    ex = fc.post(path, None, raw=raw)
    if kind in ("JSON nested 50000 levels deep", "over 1 MiB"):
        verify("ROB-013", ex, c.status_in, *range(400, 500))
        requirement = rules["content-type"] if kind == "over 1 MiB" else rules["not-an-object"]
    else:
        requirement = rules["not-an-object"]
    verify(requirement, ex, c.fc_error, 400, "MALFORMED_REQUEST")
    check_error_answer(verify, ex, *rules["errors"])
