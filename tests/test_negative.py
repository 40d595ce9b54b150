"""Boundary-invalid generation: every constraint in the contracts is attacked, every negative case is
proven invalid by the contract's own validator, and values a conformant target may tolerate are never
used as negatives."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fibrecert import contracts, strategies
from fibrecert.sandbox import DEFECTS
from fibrecert.strategies import _negative_xml

OPERATIONS = list(contracts.ALA_OPERATIONS)
SOME = settings(max_examples=12, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("namespace", ["", "urn:example:ala-core"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_xsd_constraint_has_a_proven_invalid_mutation(operation, namespace):
    schema = contracts.ala_schema(namespace)
    assert len(strategies.ala_constraints(operation)) >= 20

    @SOME
    @given(strategies.ala_message(operation, namespace=namespace))
    def check(data):
        element = strategies.encode_ala(operation, data, namespace)
        mutations = strategies.ala_mutations(operation, element, namespace)
        covered = {m.constraint.id for m in mutations}
        missing = [c.id for c in strategies.ala_constraints(operation) if c.id not in covered]
        assert not missing, f"constraints with no negative case: {missing}"
        for m in mutations:
            assert not schema.is_valid(m.element), m.description  # proven invalid, independently
            assert schema.is_valid(element)  # and the valid original was not touched

    check()


def test_a_constraint_without_a_negative_is_detected(monkeypatch):
    """The coverage check above can fail: with no candidate values, value constraints go uncovered."""
    monkeypatch.setattr(_negative_xml, "_candidates", lambda t, value: iter(()))
    element = strategies.encode_ala("ceaseOrder", {
        "message": {"messageId": "m", "correlationId": "c", "sentAt": "2024-01-01T00:00:00Z"},
        "orderReferences": {"buyerOrderReference": "b"}, "buyer": {"buyerIdentifier": "SPDEV1"},
        "seller": {"sellerIdentifier": "CITYFIBRE"}, "alaCease": {"serviceIdentifier": "S"}})
    missing = _negative_xml.missing_constraints("ceaseOrder", "", element)
    assert "ceaseOrder:message.sentAt:value" in missing


def test_tolerated_values_are_never_negatives():
    """Profile rule 6: a target may accept an xs:dateTime as requestedDate, so it is never sent as invalid."""
    element = strategies.encode_ala("unsolicitedCeaseRequest", {
        "message": {"messageId": "m", "correlationId": "c", "sentAt": "2024-01-01T00:00:00Z"},
        "buyer": {"buyerIdentifier": "SPDEV1"}, "seller": {"sellerIdentifier": "CITYFIBRE"},
        "orderReferences": {"buyerOrderReference": "b"}, "serviceIdentifier": "S", "requestedDate": "2024-05-01"})
    date_time = contracts.ala_schema().maps.types["{http://www.w3.org/2001/XMLSchema}dateTime"]
    values = [m.description.split(" = ", 1)[1] for m in strategies.ala_mutations("unsolicitedCeaseRequest", element)
              if m.constraint.path == "requestedDate" and " = " in m.description]
    assert values and not any(date_time.is_valid(eval(v.split(" (")[0])) for v in values)


def test_enumerations_get_near_misses():
    element = strategies.encode_ala("unsolicitedCeaseRequest", {
        "message": {"messageId": "m", "correlationId": "c", "sentAt": "2024-01-01T00:00:00Z"},
        "buyer": {"buyerIdentifier": "SPDEV1"}, "seller": {"sellerIdentifier": "CITYFIBRE"},
        "orderReferences": {"buyerOrderReference": "b"}, "serviceIdentifier": "S", "requestedDate": "2024-05-01",
        "cfh:newOrderType": "WLTO"})
    descriptions = [m.description for m in strategies.ala_mutations("unsolicitedCeaseRequest", element)
                    if m.constraint.path == "cfh:newOrderType"]
    assert any("'wlto'" in d for d in descriptions)            # wrong case
    assert any("'WLTO '" in d for d in descriptions)           # trailing space
    assert any("'Pending'" in d for d in descriptions)         # another enumeration's value


@pytest.mark.parametrize("path", ["/service-orders", "/service-order-cancellations"])
def test_every_openapi_constraint_is_attacked(path):
    inventory = set(strategies.fibrecafe_constraint_inventory(path))
    assert len(inventory) >= 10
    uncovered = sorted(inventory - strategies.fibrecafe_covered_constraints(path))
    assert not uncovered, f"constraints with no negative case: {uncovered}"


@pytest.mark.parametrize("path", ["/service-orders", "/service-order-cancellations"])
def test_fibrecafe_negative_bodies_are_proven_invalid(path):
    from fibrecert.strategies._negative_json import COMPONENTS

    validator = contracts.json_validator(COMPONENTS[path])
    negatives = strategies.fibrecafe_negatives(path)
    kinds = {n.kind for n in negatives}
    assert {"value", "required", "not-an-object", "method", "content-type", "header", "no-body"} <= kinds
    for n in negatives:
        if n.kind in ("value", "required", "not-an-object"):
            assert not validator.is_valid(n.body), n.description
        assert "unexpected properties" not in n.description  # tolerated, never a negative


def test_fibrecafe_near_misses_cover_every_reason_code_shape():
    body = {"orderId": 7, "reasonCode": "PURCHASED_DIFFERENT_PRODUCT"}
    near = strategies.fibrecafe_near_misses("/service-order-cancellations", body)
    values = {n.body["reasonCode"] for n in near}
    assert {"purchased_different_product", "PURCHASED_DIFFERENT_PRODUCT "} <= values
    validator = contracts.json_validator("ServiceOrderCancellationRequest")
    assert all(not validator.is_valid(n.body) for n in near)
    assert validator.is_valid(body)  # the 27-character documented value itself is valid (enum over pattern)


def test_each_negative_family_has_a_defect_that_the_suite_must_catch():
    """tests/test_run.py runs the suite against every defect; these are the negative families."""
    families = {
        "XSD values and enumerations": "ala-accepts-invalid-values",
        "XSD closed content": "ala-accepts-unknown-elements",
        "SOAP transport": "ala-accepts-any-content-type",
        "DTDs and entities": "ala-accepts-dtd",
        "OpenAPI values and near-miss enums": "fc-lenient-enums",
        "JSON bodies that are not objects": "fc-500-on-non-object",
        "Fibre Cafe content type": "fc-ignores-content-type",
        "missing required elements": "ala-accepts-missing-field",
        "missing headers": "fc-missing-headers-accepted",
        "ALA security": "ala-accepts-other-buyer",
        "Fibre Cafe security": "fc-no-auth",
        "cross-tenant": "fc-cancel-other-tenant",
        "token endpoint": "fc-token-any-secret",
        "rejection shape (ALA)": "ala-fault-without-faultcode",
        "rejection shape (Fibre Cafe)": "fc-error-code-outside-enum",
    }
    missing = {family: d for family, d in families.items() if d not in DEFECTS}
    assert not missing
