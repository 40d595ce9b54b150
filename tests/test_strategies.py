"""Generators: every 'valid' payload passes the contract's own validator, every negative one fails it,
every documented enum value is reachable, and an unhandled XSD construct fails loudly."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fibrecert import contracts, strategies
from fibrecert.contracts import soap

FAST = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("operation", list(contracts.ALA_OPERATIONS))
@pytest.mark.parametrize("namespace", ["", "urn:example:ala-core"])
def test_generated_ala_messages_are_valid_against_the_xsd(operation, namespace):
    schema = contracts.ala_schema(namespace)

    @FAST
    @given(strategies.ala_message(operation, namespace=namespace))
    def check(data):
        element = strategies.encode_ala(operation, data, namespace)
        # and they survive the wire: enveloped, parsed by the safe parser, still valid
        payload = soap.single_payload(soap.parse_envelope(soap.build_envelope(element)))
        assert schema.is_valid(payload), data

    check()


@pytest.mark.parametrize("operation", list(contracts.ALA_OPERATIONS))
def test_removing_any_required_element_makes_an_invalid_message(operation):
    schema = contracts.ala_schema()
    paths = strategies.ala_required_paths(operation)
    assert "message.messageId" in paths

    @settings(FAST, max_examples=20)
    @given(strategies.ala_message(operation), st.sampled_from(paths))
    def check(data, path):
        element = strategies.encode_ala(operation, strategies.without(data, path), validate=False)
        assert not schema.is_valid(element)

    check()


def test_encode_refuses_a_valid_negative_and_an_invalid_positive():
    data = {"faultcode": "x", "faultmessage": "y"}
    with pytest.raises(strategies.InvalidGenerated):
        strategies.encode_ala("fault", data, validate=False)  # claims to be negative but is valid
    with pytest.raises(strategies.InvalidGenerated):
        strategies.encode_ala("fault", {"faultcode": "x"})  # claims to be valid but is not


def test_fixed_fields_are_applied_and_unknown_paths_rejected():
    @settings(FAST, max_examples=10)
    @given(strategies.ala_message("ceaseOrder", fixed={"buyer.buyerIdentifier": "SPDEV1"}))
    def check(data):
        assert data["buyer"]["buyerIdentifier"] == "SPDEV1"

    check()
    with pytest.raises(KeyError):
        strategies.ala_message("ceaseOrder", fixed={"buyer.nope": "x"})


def test_every_new_order_type_is_reachable():
    seen: Counter = Counter()

    @settings(FAST, max_examples=150)
    @given(strategies.ala_message("unsolicitedCeaseRequest"))
    def check(data):
        seen[data.get("cfh:newOrderType")] += 1

    check()
    assert {"Regrade", "Switch", "WLTO"} <= set(seen)
    assert None in seen  # and absent: it is optional


def test_an_unhandled_xsd_primitive_fails_loudly():
    from fibrecert.strategies import _xsd

    class FakeType:
        enumeration = None
        primitive_type = type("P", (), {"local_name": "duration"})()

    with pytest.raises(NotImplementedError, match="xs:duration"):
        _xsd.simple_strategy(FakeType())


@pytest.mark.parametrize("path,component", [("/service-orders", "ServiceOrderRequest"),
                                            ("/service-order-cancellations", "ServiceOrderCancellationRequest")])
def test_generated_fibrecafe_bodies_are_valid_against_the_openapi_schema(path, component):
    seen: Counter = Counter()

    @settings(FAST, max_examples=80)
    @given(strategies.fibrecafe_cases(path))
    def check(case):
        strategies.assert_valid_fibrecafe(component, case.body)
        seen[case.body.get("orderType") or case.body.get("reasonCode")] += 1

    check()
    assert len(seen) >= 3  # variety, not one value


def test_assert_valid_fibrecafe_rejects_an_invalid_body():
    with pytest.raises(strategies.InvalidGenerated):
        strategies.assert_valid_fibrecafe("ServiceOrderCancellationRequest", {"orderId": "123", "reasonCode": "OTHER"})
    with pytest.raises(strategies.InvalidGenerated):
        strategies.assert_valid_fibrecafe("ServiceOrderCancellationRequest", {"orderId": 1, "reasonCode": "other"})


def test_the_contract_enums_match_the_seed_pages():
    """One source of truth: the OpenAPI enums carry exactly the seed's values."""
    assert contracts.enum_of("ReasonCode") == [
        "CUSTOMER_CHANGED_MIND", "INSTALL_FAILED", "NETWORK_ISSUE", "NO_LONGER_REQUIRED", "OTHER",
        "NO_AUTHORISATION", "CUSTOMER_NOT_AWARE", "DELIBERATE_MISLEAD", "PURCHASED_DIFFERENT_PRODUCT",
        "END_USER_NOT_MOVING"]
    assert contracts.enum_of("CancellationStatus") == ["RECEIVED_BY_GATEWAY", "PENDING", "FAILED_TO_SEND",
                                                       "REJECTED", "COMPLETED"]
    assert len(contracts.enum_of("ErrorCode")) == 9
