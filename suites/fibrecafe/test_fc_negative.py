"""Boundary-invalid Fibre Cafe requests: schemathesis' coverage phase attacks every keyword of the
request schemas (types, bounds, patterns, enums, formats, required properties, headers, methods,
content types); fibrecert adds near-miss enum values, bodies that are not JSON, and oversized or
deeply nested bodies. Each body is proven invalid by the contract before it is sent."""

from __future__ import annotations

import json

import pytest

from fibrecert import contracts, strategies
from fibrecert.suites import checks as c

from .conftest import check_error_answer
from .test_service_order_cancellations import create_order

SO, SOC = "/service-orders", "/service-order-cancellations"
RULES = {  # kind -> requirement, per operation; then the error-structure requirements
    SO: {"value": "FC-SO-007", "enum-near-miss": "FC-SO-007", "required": "FC-SO-006", "not-an-object": "FC-SO-008",
         "no-body": "FC-SO-008", "content-type": "FC-SO-009", "method": "FC-SO-009", "header": "FC-SO-003",
         "errors": ("FC-SO-004", "FC-SO-005")},
    SOC: {"value": "FC-SOC-010", "enum-near-miss": "FC-SOC-010", "required": "FC-SOC-007", "not-an-object": "FC-SOC-011",
          "no-body": "FC-SOC-011", "content-type": "FC-SOC-012", "method": "FC-SOC-012", "header": "FC-SOC-004",
          "errors": ("FC-SOC-005", "FC-SOC-006")},
}


def _sample_key(n):  # noqa: ANN001 - one case per attacked keyword; every near-miss enum value
    return n.description if n.kind in ("enum-near-miss", "method", "content-type", "header", "no-body") \
        else (n.kind, n.description.split(":")[0])


class _Order:
    """A real in-flight order for cancellation negatives: a target that skipped validation would
    cancel it (and be seen to); a new one is placed when that happens."""

    def __init__(self, fc):  # noqa: ANN001
        self.fc, self.id = fc, None

    def get(self) -> int | None:
        if self.id is None:
            _, self.id = create_order(self.fc)
        return self.id


def _send(fc, n, order):  # noqa: ANN001
    body = n.body
    if isinstance(body, dict):
        body = json.loads(json.dumps(body))
        if "supplier" in body and n.field != "supplier" and isinstance(body["supplier"], str):
            body["supplier"] = fc.target.supplier
        if n.path == SOC and n.field != "orderId" and isinstance(body.get("orderId"), int) \
                and not isinstance(body["orderId"], bool) and body["orderId"] >= 1:
            body["orderId"] = order.get() or body["orderId"]
    if n.kind in ("value", "required", "not-an-object", "enum-near-miss"):
        if contracts.json_validator(strategies._negative_json.COMPONENTS[n.path]).is_valid(body):
            raise strategies.InvalidGenerated(f"negative case is valid: {n.description}")
    if n.kind == "no-body":
        return fc.post(n.path, None, raw=b"")
    if n.kind == "method":
        return fc.post(n.path, body, method=n.method)
    if n.kind == "content-type":
        return fc.post(n.path, None, raw=json.dumps(body).encode(), content_type=n.content_type)
    if n.kind == "header":
        return fc.post(n.path, body, omit=n.omit_headers)
    return fc.post(n.path, body)


def _expect(verify, n, ex, rules):  # noqa: ANN001
    requirement = rules[n.kind]
    if n.kind == "method":
        verify(requirement, ex, c.status_in, 405)
    else:
        verify(requirement, ex, c.fc_error, 400, "MALFORMED_REQUEST")
    check_error_answer(verify, ex, *rules["errors"])


def _attack(run, fc, verify, profile, path, valid_body):  # noqa: ANN001
    rules = RULES[path]
    order = _Order(fc)
    negatives = strategies.fibrecafe_negatives(path) + strategies.fibrecafe_near_misses(path, valid_body)
    for n in strategies.sample_negatives(negatives, _sample_key, profile.negatives):
        ex = _send(fc, n, order)
        _expect(verify, n, ex, rules)
        if path == SOC and ex.status == 201:
            order.id = None


@pytest.mark.requirement("FC-SO-007", "FC-SO-006", "FC-SO-008", "FC-SO-009", "FC-SO-003", "FC-SO-004", "FC-SO-005")
def test_create_orders_outside_the_contract_are_refused(run, fc, verify, profile):
    valid = {**fc.cease_order_body(), "requestedCompletionDate": "2030-01-31"}
    provide = {"orderType": "NEW", "supplier": fc.target.supplier, "address": {"id": "100023336956", "type": "UPRN"},
               "serviceOrderItem": {"serviceSpecification": {"id": "FTTP-900"},
                                    "serviceCharacteristics": [{"name": "speed", "value": "900"}]},
               "primaryContact": {"name": "A", "email": "a@example.com", "phoneNumber": "01234 567890"}}
    strategies.assert_valid_fibrecafe("ServiceOrderRequest", provide)
    _attack(run, fc, verify, profile, SO, valid)
    for n in strategies.sample_negatives(strategies.fibrecafe_near_misses(SO, provide), _sample_key, profile.negatives):
        _expect(verify, n, fc.post(SO, n.body), RULES[SO])


@pytest.mark.requirement("FC-SOC-010", "FC-SOC-007", "FC-SOC-011", "FC-SOC-012", "FC-SOC-004", "FC-SOC-005", "FC-SOC-006")
def test_cancellations_outside_the_contract_are_refused(run, fc, verify, profile):
    _attack(run, fc, verify, profile, SOC, {"orderId": 1, "reasonCode": "NO_LONGER_REQUIRED", "supplier": fc.target.supplier,
                                            "text": "moving"})


@pytest.mark.requirement("FC-SO-008", "FC-SO-009", "FC-SOC-011", "FC-SOC-012", "ROB-013",
                         "FC-SO-004", "FC-SO-005", "FC-SOC-005", "FC-SOC-006")
@pytest.mark.parametrize("path", [SO, SOC])
@pytest.mark.parametrize("kind", ["not JSON", "truncated JSON", "JSON nested 50000 levels deep", "over 1 MiB"])
def test_bodies_that_are_not_json_or_too_large_are_refused(run, fc, verify, path, kind):
    rules = RULES[path]
    big = {**fc.cease_order_body()} if path == SO else {"orderId": 1, "reasonCode": "OTHER"}
    raw = {"not JSON": b"orderId=1&reasonCode=OTHER",
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
