"""X-Request-ID across tenants: tenant B reusing the X-Request-ID of tenant A's accepted create-order
request is answered for B alone, never with A's answer (profile: headers, decision 3)."""

from __future__ import annotations

import uuid

import pytest

from fibrecert.apis.fibrecafe import TENANT_B
from fibrecert.suites import checks as c


@pytest.mark.requirement("SEC-016")
def test_another_tenant_reusing_a_request_id_never_gets_the_first_tenants_answer(run, fc, verify):
    if not fc.target.other_client_id:
        verify.not_tested(["SEC-016"], "the target file gives no other_client_id (a second tenant)")
        pytest.skip("no second tenant")
    request_id = str(uuid.uuid4())
    ours = fc.cease_order_body()
    first = fc.post("/service-orders", ours, headers={"X-Request-ID": request_id}, note="tenant a's order")
    if first.status != 201:
        verify.not_tested(["SEC-016"], f"tenant a's order was not accepted ({first.describe()}): no answer to reuse")
        return
    theirs = fc.cease_order_body()
    reused = fc.post("/service-orders", theirs, identity=TENANT_B, headers={"X-Request-ID": request_id},
                     note="tenant b reuses tenant a's X-Request-ID, with an order of its own")
    # B's own order, or a refusal; A's serviceId is a value only A's request and answer hold
    verify("SEC-016", [first, reused], c.not_another_partys_answer, ours["serviceId"])
    if reused.status == 201:
        verify("SEC-016", [first, reused], c.json_field, "serviceId", theirs["serviceId"])
