"""POST /service-orders: every orderType is accepted with the order; missing headers, missing fields and
missing credentials are refused with the documented error body. Generated valid create orders of every
shape are sent where an order is needed anyway: test_service_order_cancellations.py cancels each."""

from __future__ import annotations

import threading

import pytest

from fibrecert import contracts, strategies
from fibrecert.apis.fibrecafe import MALFORMED_TOKEN, NO_TOKEN, UNISSUED_TOKEN
from fibrecert.suites import checks as c

from .conftest import check_error_answer

PATH = "/service-orders"
SHAPES = {"ProvideOrder": None, "CeaseOrder": "CEASE", "ModifyOrder": "MODIFY"}


def order_types() -> list[str]:
    schemas = contracts.openapi_document()["components"]["schemas"]
    provide = schemas["ProvideOrder"]["properties"]["orderType"]["enum"]
    return [*provide, schemas["CeaseOrder"]["properties"]["orderType"]["const"],
            schemas["ModifyOrder"]["properties"]["orderType"]["const"]]


def _with_target_supplier(fc, case):  # noqa: ANN001
    case.body["supplier"] = fc.target.supplier
    strategies.assert_valid_fibrecafe("ServiceOrderRequest", case.body)
    return case


def _create(fc, verify, case, ids, lock, note="", headers=None):  # noqa: ANN001
    """Send a valid create order and check its 201; return (exchange, the order id or None)."""
    ex = fc.post(PATH, case.body, note=note, headers=headers)
    check_error_answer(verify, ex, "FC-SO-004", "FC-SO-005")
    if not verify("FC-SO-001", ex, c.status_in, 201):
        return ex, None
    verify("FC-SO-001", ex, c.openapi_conformance, PATH)
    if verify("FC-SO-001", ex, c.json_schema_valid, "ServiceOrder") is None:
        return ex, None
    verify("FC-SO-001", ex, c.json_field, "status", "RECEIVED_BY_GATEWAY")
    verify("FC-SO-001", ex, c.json_field, "orderType", case.body["orderType"])
    verify("FC-SO-001", ex, c.json_field, "supplier", case.body["supplier"])
    verify("FC-SO-001", ex, c.json_echo)  # decision 2: every field of the request, nested included
    with lock:
        earlier = ids.setdefault(c.assigned_id(ex), ex)
    verify("FC-SO-002", [earlier, ex] if earlier is not ex else [ex], c.distinct_ids, "order id")
    order_id = c.assigned_id(ex)
    return ex, int(order_id) if order_id is not None and str(order_id).isdigit() else None


@pytest.mark.requirement("FC-SO-001", "FC-SO-002", "FC-SO-004", "FC-SO-005")
@pytest.mark.parametrize("order_type", order_types())
def test_every_order_type_is_accepted(run, fc, verify, profile, order_type):
    ids: dict = {}
    lock = threading.Lock()
    provide = order_type not in SHAPES.values()

    def of_type(case):  # noqa: ANN001 - every provide orderType has the same shape: draw one, name the type
        if provide:
            case.body["orderType"] = order_type
        return case

    cases = strategies.fibrecafe_cases(PATH).filter(
        lambda case: (case.body.get("orderType") not in SHAPES.values()) if provide
        else case.body.get("orderType") == order_type)
    run.explore(cases.map(of_type).map(lambda case: _with_target_supplier(fc, case)),
                lambda case: _create(fc, verify, case, ids, lock), examples=profile.enum_repeats)


@pytest.mark.requirement("FC-SO-003", "FC-SO-004", "FC-SO-005")
@pytest.mark.parametrize("header", ["X-Request-ID", "X-Conversation-ID"])
@pytest.mark.parametrize("how", ["missing", "empty"])
def test_create_order_without_a_required_header_is_malformed(run, fc, verify, header, how):
    body = fc.cease_order_body()
    if how == "missing":
        ex = fc.post(PATH, body, omit=(header,), note=f"{header} missing")
    else:
        ex = fc.post(PATH, body, headers={header: ""}, note=f"{header} empty")
    verify("FC-SO-003", ex, c.fc_error, 400, "MALFORMED_REQUEST")
    check_error_answer(verify, ex, "FC-SO-004", "FC-SO-005")


@pytest.mark.requirement("SEC-011", "FC-SO-004", "FC-SO-005")
@pytest.mark.parametrize("credential", ["no-token", "malformed-token", "unissued-token"])
def test_create_order_without_a_valid_token_is_not_authorised(run, fc, verify, credential):
    identity = {"no-token": NO_TOKEN, "malformed-token": MALFORMED_TOKEN, "unissued-token": UNISSUED_TOKEN}[credential]
    ex = fc.post(PATH, fc.cease_order_body(), identity=identity)
    verify("SEC-011", ex, c.fc_error, 401, "NOT_AUTHORISED")
    check_error_answer(verify, ex, "FC-SO-004", "FC-SO-005")
