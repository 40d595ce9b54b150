"""POST /ceaseOrder (seller role): valid cease orders are accepted with an orderResponse; a request
missing a required element is rejected with a fault."""

from __future__ import annotations

import pytest

from fibrecert import strategies
from fibrecert.suites import checks as c


def _accepted_order(ala, verify, data, refs):  # noqa: ANN001 - suite helper
    ex = ala.post("ceaseOrder", data)
    if not verify("ALA-CEASE-001", ex, c.status_in, 200):
        if ex.status == 400:
            ala.services.release(data["alaCease"]["serviceIdentifier"])
        return
    verify("ALA-CEASE-002", ex, c.xml_content_type)
    payload = verify("ALA-CEASE-002", ex, c.soap_payload, ala.namespace, "orderResponse")
    if payload is None:
        return
    got = {p: ala.text(payload, p) for p in ("message/correlationId", "message/messageId",
                                               "orderReferences/buyerOrderReference",
                                               "orderReferences/sellerOrderReference")}
    verify("ALA-CEASE-003", ex, c.echoes, got["message/correlationId"], data["message"]["correlationId"],
           "correlationId")
    verify("ALA-CEASE-003", ex, c.echoes, got["orderReferences/buyerOrderReference"],
           data["orderReferences"]["buyerOrderReference"], "buyerOrderReference")
    if got["message/messageId"] == data["message"]["messageId"]:
        verify.fail("ALA-CEASE-003", [ex], "Received the request's own messageId in the response",
                    "a new messageId for the response message")
    seller_ref = got["orderReferences/sellerOrderReference"]
    if seller_ref in refs:
        verify.fail("ALA-CEASE-003", [refs[seller_ref], ex], f"Received sellerOrderReference {seller_ref!r} twice",
                    "a sellerOrderReference unique per order")
    else:
        refs[seller_ref] = ex


@pytest.mark.requirement("ALA-CEASE-001", "ALA-CEASE-002", "ALA-CEASE-003")
def test_valid_cease_orders_are_accepted_with_an_order_response(run, ala, verify):
    refs: dict = {}

    def case(data):
        data["alaCease"]["serviceIdentifier"] = ala.services.take()
        _accepted_order(ala, verify, data, refs)

    run.explore(ala.message("ceaseOrder"), case)


@pytest.mark.requirement("ALA-CEASE-004", "ALA-CEASE-005", "ALA-CEASE-006")
@pytest.mark.parametrize("missing", strategies.ala_required_paths("ceaseOrder"))
def test_cease_order_missing_a_required_element_is_rejected_with_a_fault(run, ala, verify, missing):
    def case(data):
        service = ala.services.take()
        data["alaCease"]["serviceIdentifier"] = service
        ex = ala.post("ceaseOrder", strategies.without(data, missing), validate=False)
        if ex.status != 200:
            ala.services.release(service)
        verify("ALA-CEASE-004", ex, c.status_in, 400)
        if ex.status is not None and ex.status >= 400:
            verify("ALA-CEASE-005", ex, c.fault_fields)
            verify("ALA-CEASE-006", ex, c.fault_envelope, ala.namespace)

    run.explore(ala.message("ceaseOrder"), case, examples=1)


@pytest.mark.requirement("ALA-CEASE-007", "ALA-CEASE-005", "ALA-CEASE-006")
@pytest.mark.parametrize("wrong", ["unknown service", "another seller"])
def test_cease_order_for_an_unknown_service_or_seller_is_rejected(run, ala, verify, wrong):
    def case(data):
        if wrong == "unknown service":
            data["alaCease"]["serviceIdentifier"] = "FIBRECERT-NO-SUCH-SERVICE-" + data["message"]["messageId"][:8]
        else:
            service = ala.services.take()
            data["alaCease"]["serviceIdentifier"] = service
            data["seller"]["sellerIdentifier"] = "NOT-" + ala.target.seller_identifier
        ex = ala.post("ceaseOrder", data)
        if wrong == "another seller" and ex.status != 200:
            ala.services.release(service)
        verify("ALA-CEASE-007", ex, c.status_in, 400)
        if ex.status is not None and ex.status >= 400:
            verify("ALA-CEASE-005", ex, c.fault_fields)
            verify("ALA-CEASE-006", ex, c.fault_envelope, ala.namespace)

    run.explore(ala.message("ceaseOrder"), case, examples=1)
