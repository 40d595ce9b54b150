"""Boundary-valid Fibre Cafe requests: every field at and next to its bounds (text of exactly 1000
characters and of 999 non-ASCII ones, the shortest strings, long and non-ASCII values where no maximum
is documented, the fewest and many array items, integers at their minimum and the largest JSON parsers
share, the extreme dates, every enum value; X-Request-ID and X-Conversation-ID of one character, of every
visible ASCII character, and long), combined into few requests that are each proven valid by
the contract and checked like any valid request: 201, the answer valid, and the whole request echoed
(decision 2; decision 4 for a cancellation). The orders created here are the ones cancelled here."""

from __future__ import annotations

import copy
import threading
import uuid
from types import SimpleNamespace

import pytest

from fibrecert import strategies

from .test_service_order_cancellations import NEEDS_ORDER, _cancel_accepted, create_order
from .test_service_orders import _create

SO, SOC = "/service-orders", "/service-order-cancellations"
ERRORS = ("FC-SOC-005", "FC-SOC-006")


def fresh(value: str, token: str) -> str:
    """A tracked value kept unique within its type: the token goes in after any leading white space, so
    the value's own shape (its length class, its characters, its surrounding white space) stays."""
    lead = value[: len(value) - len(value.lstrip())]
    return f"{lead}{token}{value[len(lead):]}"


def headers_of(b) -> dict[str, str]:  # noqa: ANN001
    """The header values of a boundary request; X-Request-ID stays a new value per request."""
    headers = dict(b.headers)
    if "X-Request-ID" in headers:
        headers["X-Request-ID"] = fresh(headers["X-Request-ID"], str(uuid.uuid4()))
    return headers


@pytest.mark.long_chain
@pytest.mark.requirement("FC-SO-001", "FC-SO-002", "FC-SO-004", "FC-SO-005", "FC-SOC-001", "FC-SOC-003", *ERRORS)
def test_boundary_valid_orders_and_cancellations_are_accepted(run, fc, verify):
    with run.generating():
        creates = strategies.boundaries(SO, fixed={"supplier": fc.target.supplier})
        cancels = strategies.boundaries(SOC, fixed={"supplier": fc.target.supplier})
    ids: dict = {}
    lock = threading.Lock()

    def create(b):  # noqa: ANN001
        body = copy.deepcopy(b.payload)
        if isinstance(body.get("serviceId"), str):
            body["serviceId"] = fresh(body["serviceId"], f"SVC{run.token()}")  # no order reuses a service
        strategies.assert_valid_fibrecafe("ServiceOrderRequest", body)
        return _create(fc, verify, SimpleNamespace(body=body), ids, lock, note=b.description, headers=headers_of(b))

    orders = run.each(creates, create)

    def cancel(i):  # noqa: ANN001 - the i-th cancellation cancels the i-th order created above
        setup, order_id = orders[i] if i < len(orders) else (None, None)
        if order_id is None:
            setup, order_id = create_order(fc)
        if order_id is None:
            verify.not_tested(NEEDS_ORDER, f"no order to cancel: creating one got {setup.describe()}")
            return
        body = {**copy.deepcopy(cancels[i].payload), "orderId": order_id}
        strategies.assert_valid_fibrecafe("ServiceOrderCancellationRequest", body)
        _cancel_accepted(fc, verify, SimpleNamespace(body=body), setup, "FC-SOC-001", note=cancels[i].description,
                         headers=headers_of(cancels[i]))

    run.each(range(len(cancels)), cancel)
