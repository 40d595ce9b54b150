"""Boundary-valid requests (strategies/_boundaries.py): on and next to every bound of the contracts,
combined into few requests, each valid; and the whole-echo equality of the profiles (checks.json_echo)."""

from __future__ import annotations

import json

import pytest

from fibrecert import contracts, strategies
from fibrecert.cli import main
from fibrecert.suites.checks import echo_difference

ALA_FIXED = {"buyer.buyerIdentifier": "SPDEV1", "seller.sellerIdentifier": "CITYFIBRE"}
OPERATIONS = ["ceaseOrder", "cancelOrder", "unsolicitedCeaseRequest", "/service-orders", "/service-order-cancellations"]


def _requests(operation):
    fixed = {"supplier": "DUMMY_SUPPLIER"} if operation.startswith("/") else ALA_FIXED
    return strategies.boundaries(operation, fixed=fixed)


def _values_at(payload, path, branch):
    """Every value at an inventory path (every item of an array on the way)."""
    parts = [p for p in path.replace("[]", ".[]").split(".") if p]
    if branch:
        parts = parts[1:]
    found = [payload]
    for part in parts:
        nxt = []
        for v in found:
            if part == "[]":
                nxt.extend(v if isinstance(v, list) else [])
            elif isinstance(v, dict) and part in v:
                nxt.append(v[part])
        found = nxt
    return found


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_boundary_request_is_valid_and_carries_every_value(operation):
    requests = _requests(operation)
    assert requests
    for b in requests:
        if operation.startswith("/"):
            component = "ServiceOrderRequest" if operation == "/service-orders" else "ServiceOrderCancellationRequest"
            assert contracts.json_validator(component).is_valid(b.payload), b.description
        else:
            strategies.encode_ala(operation, json.loads(json.dumps(b.payload)))  # raises when invalid
    placed = {(p.path, p.label) for b in requests for p in b.probes}
    assert placed == {(p.path, p.label) for p in strategies.boundary_probes(operation)}
    for b in requests:
        branch = b.payload.get("orderType") if operation == "/service-orders" else None
        for p in b.probes:
            if p.path.startswith("headers/"):
                assert dict(b.headers)[p.path[8:]] == p.value
                continue
            values = _values_at(b.payload, p.path, branch)
            assert values, (b.description, p.path)
            if p.label.endswith("items"):
                assert all(len(v) == p.value for v in values), (p.path, p.label)
            else:  # item fields of the 2nd and later items carry a suffix (items made different)
                assert values[0] == p.value, (p.path, p.label)


def test_ala_requests_stay_within_a_few_active_services():
    assert len(_requests("ceaseOrder")) <= 4 and len(_requests("cancelOrder")) <= 4


def test_the_first_request_has_every_field_at_its_minimum():
    for operation in OPERATIONS:
        first = _requests(operation)[0]
        labels = {p.path: p.label for p in first.probes}
        for p in strategies.boundary_probes(operation):
            if p.label.startswith(("at-min", "empty (min 0)")) and "[]" not in p.path \
                    and (operation != "/service-orders" or p.path.startswith("ProvideOrder")):
                assert labels.get(p.path) == p.label, (operation, p.path)


def test_documented_bounds_are_sent_exactly():
    text = {p.label: p.value for p in strategies.boundary_probes("/service-order-cancellations") if p.path == "text"}
    assert len(text["at-max 1000"]) == 1000 and len(text["at-min"]) == 1 and len(text["min+1"]) == 2
    wide = text["max-1 999 non-ASCII"]
    assert len(wide) == 999 and len(wide.encode()) > 1000  # a reader counting bytes is seen
    codes = sorted(p.value for p in strategies.boundary_probes("cancelOrder")
                   if p.path == "cancellationReason.cancellationReasonCode")
    assert [len(c) for c in sorted(codes, key=len)] == [1, 2, 3, 4]
    appointment = {p.value for p in strategies.boundary_probes("/service-orders")
                   if p.path == "ProvideOrder.appointmentReservationId"}
    assert appointment == {1, 2, 2**53 - 1}
    counts = {p.value for p in strategies.boundary_probes("/service-orders")
              if p.path == "ProvideOrder.address.additionalIdentifiers"}
    assert counts == {0, 1, 10}


def test_every_bounded_constraint_has_valid_values_or_is_a_target_fact():
    probes = {p.constraint for op in OPERATIONS for p in strategies.boundary_probes(op)}
    for c in strategies.inventory():
        if c.family not in ("bounds", "enum", "format") or c.path.startswith("headers/") or c.path == "":
            continue
        if c.keyword == "const" or c.family == "format" and c.keyword == "pattern":
            continue  # the shape itself; a date-time's zone pattern (its values sit at xs:dateTime)
        fixed = strategies.boundary_fixed_fields(c.operation).get(c.path, "")
        assert c.id in probes or fixed.startswith("target fact"), c.id


def test_every_enum_value_is_sent():
    for op in OPERATIONS:
        for c in strategies.inventory(op):
            if c.family == "enum" and c.keyword in ("enum", "enumeration"):
                sent = {p.value for p in strategies.boundary_probes(op) if p.constraint == c.id}
                assert sent and all(v in c.detail for v in sent), c.id
                assert len(sent) == len(c.detail.split(" | ")), c.id


def test_target_facts_are_never_varied_and_tracked_values_are_listed():
    for op in OPERATIONS:
        facts = {p for p, why in strategies.boundary_fixed_fields(op).items() if why.startswith("target fact")}
        assert not facts & {p.path for p in strategies.boundary_probes(op)}, op
    assert "message.messageId" in strategies.boundary_fixed_fields("ceaseOrder")


def test_the_echo_equality_of_the_profiles():
    assert echo_difference({"a": 1001}, {"a": 1001.0, "id": 7}) is None          # numbers by value; extra fields
    assert echo_difference({"a": 1}, {"a": True}) == "a is True, not 1"          # a boolean is not a number
    assert echo_difference({"t": "x "}, {"t": "x"}) == "t is 'x', not 'x '"      # strings exactly
    assert echo_difference({"l": [{"id": "a"}, {"id": "b"}]}, {"l": [{"id": "a"}]}) == "l has 1 items, not 2"
    assert echo_difference({"o": {"l": [1, 2]}}, {"o": {}}) == "o.l is missing"
    assert echo_difference({"o": {"l": [{"k": "v"}]}}, {"o": {"l": [{"k": "w", "x": 1}]}}) == "o.l[0].k is 'w', not 'v'"
    assert echo_difference({"n": None}, {"n": None}) is None
    assert echo_difference({"s": "1"}, {"s": 1}) == "s is 1, not '1'"


def test_constraints_shows_both_sides(capsys):
    assert main(["constraints", "--api", "fibrecafe", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["id"]: r for r in data["constraints"]}
    at_max = rows["fc:/service-order-cancellations:text:maxLength"]
    assert at_max["negatives"]["smoke"] >= 1 and {v["label"] for v in at_max["valid"]} == {"at-max 1000", "max-1 999 non-ASCII"}
    assert rows["fc:/service-order-cancellations:orderId:minimum"]["fixed"].startswith("target fact")
    assert main(["constraints", "--api", "ala"]) == 0
    table = capsys.readouterr().out
    assert "ala:cancelOrder:cancellationReason.cancellationReasonCode:pattern: at-min '9'" in table
    assert "(no constraint bounds it)" in table and "target fact" in table
