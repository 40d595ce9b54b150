"""The HTTP envelope of a valid request, varied within what HTTP and the profile allow: header names in
lower case and in upper case (they are case-insensitive, RFC 9110), and `application/json;
charset=utf-8` (decision 6 names the media type; a charset is one of its parameters). Each variant
creates an order and cancels it, and both must be accepted as usual (`FC-HTTP-001`)."""

from __future__ import annotations

import pytest

from fibrecert import strategies
from fibrecert.suites import checks as c

VARIANTS: dict[str, dict] = {
    "lower-case-names": {"header_names": str.lower, "tags": ("envelope=lower-case-names",),
                         "note": "header names in lower case"},
    "upper-case-names": {"header_names": str.upper, "tags": ("envelope=upper-case-names",),
                         "note": "header names in upper case"},
    "charset=utf-8": {"content_type": "application/json; charset=utf-8", "tags": ("envelope=charset=utf-8",),
                      "note": "Content-Type application/json; charset=utf-8"},
}


def _accepted(verify, chain, component):  # noqa: ANN001
    """FC-HTTP-001: the variant is accepted as the documented envelope is (201, a valid answer)."""
    if not verify("FC-HTTP-001", chain, c.status_in, 201):
        return None
    verify("FC-HTTP-001", chain, c.json_content_type)
    return verify("FC-HTTP-001", chain, c.json_schema_valid, component)


@pytest.mark.requirement("FC-HTTP-001")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_valid_order_and_its_cancellation_are_accepted_in_each_legitimate_envelope(run, fc, verify, variant):
    def case(order):  # noqa: ANN001 - a generated create-order case
        order.body["supplier"] = fc.target.supplier
        strategies.assert_valid_fibrecafe("ServiceOrderRequest", order.body)
        created = fc.post("/service-orders", order.body, **VARIANTS[variant])
        answer = _accepted(verify, [created], "ServiceOrder")
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), int):
            return
        body = strategies.assert_valid_fibrecafe("ServiceOrderCancellationRequest",
                                                 {"orderId": answer["id"], "reasonCode": "CUSTOMER_CHANGED_MIND"})
        cancelled = fc.post("/service-order-cancellations", body, **VARIANTS[variant])
        _accepted(verify, [created, cancelled], "ServiceOrderCancellation")

    run.explore(strategies.fibrecafe_cases("/service-orders"), case, examples=1)
