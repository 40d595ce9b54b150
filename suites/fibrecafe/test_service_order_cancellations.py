"""POST /service-order-cancellations: an in-flight order of the tenant (a generated valid create order,
accepted with the order) is cancelled with 201 (every documented reasonCode); a second cancellation, an unknown order, another tenant's order, missing
fields or headers are refused with the documented error body."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest
from hypothesis import strategies as st

from fibrecert import contracts, strategies
from fibrecert.apis.fibrecafe import MALFORMED_TOKEN, NO_TOKEN, TENANT_A, TENANT_B, UNISSUED_TOKEN
from fibrecert.suites import checks as c

from .conftest import check_error_answer
from .test_service_orders import _create, _with_target_supplier

PATH = "/service-order-cancellations"
REASON_CODES = contracts.enum_of("ReasonCode")
ERRORS = ("FC-SOC-005", "FC-SOC-006")


def create_order(fc, identity=TENANT_A):  # noqa: ANN001
    """Place one order for a tenant; return (exchange, order id or None)."""
    ex = fc.post("/service-orders", fc.cease_order_body(), identity=identity, note="places an order to work on")
    try:
        order_id = json.loads(ex.response_body)["id"] if ex.status == 201 else None
    except (ValueError, KeyError, TypeError, RecursionError):
        order_id = None
    return ex, order_id if isinstance(order_id, int) and not isinstance(order_id, bool) else None


def _cancellation_case(fc, case, order_id):  # noqa: ANN001
    case.body["orderId"] = order_id
    if "supplier" in case.body:
        case.body["supplier"] = fc.target.supplier
    strategies.assert_valid_fibrecafe("ServiceOrderCancellationRequest", case.body)
    return case


def _cancel_accepted(fc, verify, case, setup, requirement, note="", headers=None):  # noqa: ANN001
    ex = fc.post(PATH, case.body, note=note, headers=headers)
    chain = [setup, ex]
    check_error_answer(verify, ex, *ERRORS)
    if not verify(requirement, chain, c.status_in, 201):
        return None
    verify("FC-SOC-001", chain, c.openapi_conformance, PATH)
    if verify("FC-SOC-001", chain, c.json_schema_valid, "ServiceOrderCancellation") is None:
        return ex
    verify("FC-SOC-003", chain, c.json_content_type)
    verify("FC-SOC-003", chain, c.json_field_in, "status", "RECEIVED_BY_GATEWAY", "PENDING")
    verify("FC-SOC-003", chain, c.json_echo, "orderId", "reasonCode", "supplier", "text")  # decision 4
    return ex


NEEDS_ORDER = ("FC-SOC-001", "FC-SOC-003")


@pytest.mark.requirement("FC-SOC-001", "FC-SOC-003", *ERRORS, "FC-SO-001", "FC-SO-002", "FC-SO-004", "FC-SO-005")
def test_cancellation_of_an_in_flight_order_is_accepted(run, fc, verify):
    """A generated valid create order (every shape) is accepted with the order (FC-SO-*), and the order
    it places is then cancelled with a generated valid cancellation: one request pair buys both."""
    ids: dict = {}
    lock = threading.Lock()

    def case(pair):  # noqa: ANN001
        order, generated = pair
        setup, order_id = _create(fc, verify, order, ids, lock)
        if order_id is None:
            verify.not_tested(NEEDS_ORDER, f"no order to cancel: creating one got {setup.describe()}")
            return
        _cancel_accepted(fc, verify, _cancellation_case(fc, generated, order_id), setup, "FC-SOC-001")

    orders = strategies.fibrecafe_cases("/service-orders").map(lambda order: _with_target_supplier(fc, order))
    run.explore(st.tuples(orders, strategies.fibrecafe_cases(PATH)), case)


@pytest.mark.requirement("FC-SOC-002", "FC-SOC-001", "FC-SOC-003", *ERRORS)
@pytest.mark.parametrize("reason_code", REASON_CODES)
def test_every_documented_reason_code_is_accepted(run, fc, verify, profile, reason_code):
    def case(generated):  # noqa: ANN001
        setup, order_id = create_order(fc)
        if order_id is None:
            verify.not_tested(("FC-SOC-002", *NEEDS_ORDER), f"no order to cancel: creating one got {setup.describe()}")
            return
        generated.body["reasonCode"] = reason_code
        generated.body.setdefault("text", "Delivery too long")  # the optional fields, echoed, at every profile
        generated.body.setdefault("supplier", fc.target.supplier)
        _cancel_accepted(fc, verify, _cancellation_case(fc, generated, order_id), setup, "FC-SOC-002")

    run.explore(strategies.fibrecafe_cases(PATH), case, examples=profile.enum_repeats)


@pytest.mark.requirement("FC-SOC-001", "FC-SOC-003", *ERRORS)
def test_a_cancellation_text_at_its_maximum_length_is_accepted(run, fc, verify):
    """Boundary-valid: the optional `text` at exactly the contract's maxLength (generated text rarely gets
    there), in plain ASCII, so that a failure here is the length's."""
    limit = contracts.openapi_document()["components"]["schemas"]["ServiceOrderCancellationRequest"][
        "properties"]["text"]["maxLength"]
    setup, order_id = create_order(fc)
    if order_id is None:
        verify.not_tested(NEEDS_ORDER, f"no order to cancel: creating one got {setup.describe()}")
        pytest.skip("no order")
    text = ("The end user no longer needs the service. " * (limit // 40 + 1))[:limit - 1].rstrip() + "."
    text = text + "." * (limit - len(text))
    body = {"orderId": order_id, "reasonCode": "CUSTOMER_CHANGED_MIND", "text": text}
    _cancel_accepted(fc, verify, _cancellation_case(fc, SimpleNamespace(body=body), order_id), setup, "FC-SOC-001")


@pytest.mark.requirement("INT-012", "FC-SOC-009", *ERRORS)
def test_a_second_cancellation_of_the_same_order_is_refused(run, fc, verify):
    setup, order_id = create_order(fc)
    if order_id is None:
        verify.not_tested(("INT-012", "FC-SOC-009"), f"no order to cancel: creating one got {setup.describe()}")
        pytest.skip("no order")
    body = {"orderId": order_id, "reasonCode": "NO_LONGER_REQUIRED"}
    first = fc.post(PATH, body, note="the first cancellation")
    if first.status != 201:
        verify.not_tested(("INT-012", "FC-SOC-009"), f"the first cancellation was not accepted: {first.describe()}")
        pytest.skip("first cancellation refused")
    second = fc.post(PATH, body, note="the same cancellation again")
    verify("INT-012", [setup, first, second], c.status_not_in, 201)
    verify("FC-SOC-009", [setup, first, second], c.fc_error, 422, "INVALID_REQUEST")
    check_error_answer(verify, second, *ERRORS)


@pytest.mark.requirement("FC-SOC-009", *ERRORS)
def test_cancellation_of_an_order_never_issued_is_refused(run, fc, verify):
    ex = fc.post(PATH, {"orderId": 2_000_000_000, "reasonCode": "OTHER"}, note="an order id never issued")
    if ex.status == 422:
        verify("FC-SOC-009", ex, c.fc_error, 422, "INVALID_REQUEST", "NOT_FOUND")
    else:
        verify("FC-SOC-009", ex, c.fc_error, 422, "INVALID_REQUEST")
    check_error_answer(verify, ex, *ERRORS)


@pytest.mark.requirement("FC-SOC-016", "FC-SOC-010", *ERRORS)
def test_a_fractional_order_id_is_never_taken_for_another_order(run, fc, verify):
    """Decision 8: `N.5` is refused (400, or 422 from a look-up first) and never cancels order N, which
    stays in flight: its owner's cancellation is then accepted. A parser that truncates cancels N."""
    setup, order_id = create_order(fc)
    if order_id is None:
        verify.not_tested(("FC-SOC-016", "FC-SOC-010"), f"no order to cancel: creating one got {setup.describe()}")
        pytest.skip("no order")
    fraction = fc.post(PATH, {"orderId": order_id + 0.5, "reasonCode": "OTHER"},
                       note=f"orderId {order_id}.5: a fraction of an in-flight order's id")
    verify("FC-SOC-010", [setup, fraction], c.fc_fraction_refused)
    check_error_answer(verify, fraction, *ERRORS)
    owner = fc.post(PATH, {"orderId": order_id, "reasonCode": "OTHER"},
                    note="the owner cancels the order itself after the fraction")
    if fraction.status != 201 and owner.status != 201:
        # refused, and the order not cancellable either: it was not in flight to begin with (an order id
        # the target gave out before), so nothing shows what the fraction did
        verify.not_tested(("FC-SOC-016",), f"the order was not cancellable after the refused fraction either: "
                                           f"its owner's cancellation got {owner.describe()}")
        return
    # a 201 is conclusive: the order was still in flight, the fraction was not acted on as its id; after a
    # fraction that was accepted, a refusal shows it cancelled the order
    verify("FC-SOC-016", [setup, fraction, owner], c.status_in, 201)


@pytest.mark.requirement("SEC-013", *ERRORS)
def test_another_tenant_may_not_cancel_the_tenants_order(run, fc, verify):
    if not fc.target.other_client_id:
        verify.not_tested(["SEC-013"], "the target file gives no other_client_id (a second tenant)")
        pytest.skip("no second tenant")
    setup, order_id = create_order(fc)
    if order_id is None:
        verify.not_tested(["SEC-013"], f"no order to cancel: creating one got {setup.describe()}")
        pytest.skip("no order")
    body = {"orderId": order_id, "reasonCode": "CUSTOMER_CHANGED_MIND"}
    intruder = fc.post(PATH, body, identity=TENANT_B, note="tenant b cancels tenant a's order")
    unknown = fc.post(PATH, {**body, "orderId": 2_000_000_001}, identity=TENANT_B,
                      note="tenant b cancels an order id never issued")
    check_error_answer(verify, intruder, *ERRORS)
    if verify("SEC-013", [setup, intruder], c.status_not_in, 200, 201, 202):
        verify("SEC-013", [setup, intruder, unknown], c.same_answer, "another tenant's order", "an id never issued")
        owner = fc.post(PATH, body, note="the owner cancels the order after the refusal")
        # a 422 is conclusive: the refused request left the order no longer in flight
        verify("SEC-013", [setup, intruder, owner], c.status_not_in, 422)


@pytest.mark.requirement("FC-SOC-004", *ERRORS)
@pytest.mark.parametrize("header", ["X-Request-ID", "X-Conversation-ID"])
@pytest.mark.parametrize("how", ["missing", "empty"])
def test_cancellation_without_a_required_header_is_malformed(run, fc, verify, header, how):
    setup, order_id = create_order(fc)
    body = {"orderId": order_id or 1, "reasonCode": "OTHER"}
    ex = (fc.post(PATH, body, omit=(header,), note=f"{header} missing") if how == "missing"
          else fc.post(PATH, body, headers={header: ""}, note=f"{header} empty"))
    verify("FC-SOC-004", [setup, ex], c.fc_error, 400, "MALFORMED_REQUEST")
    check_error_answer(verify, ex, *ERRORS)


@pytest.mark.requirement("SEC-011", *ERRORS)
@pytest.mark.parametrize("credential", ["no-token", "malformed-token", "unissued-token"])
def test_cancellation_without_a_valid_token_is_not_authorised(run, fc, verify, credential):
    setup, order_id = create_order(fc)
    identity = {"no-token": NO_TOKEN, "malformed-token": MALFORMED_TOKEN, "unissued-token": UNISSUED_TOKEN}[credential]
    ex = fc.post(PATH, {"orderId": order_id or 1, "reasonCode": "OTHER"}, identity=identity)
    verify("SEC-011", [setup, ex], c.fc_error, 401, "NOT_AUTHORISED")
    check_error_answer(verify, ex, *ERRORS)
    if order_id is not None:  # ... and nothing happened: the owner can still cancel it
        owner = fc.post(PATH, {"orderId": order_id, "reasonCode": "OTHER"}, note="the owner cancels after the refusal")
        # a 422 is conclusive: the refused request cancelled the order
        verify("SEC-011", [setup, ex, owner], c.status_not_in, 422)
