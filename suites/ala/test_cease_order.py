"""POST /ceaseOrder (seller role): a request naming a service the buyer cannot cease is rejected with a
fault. Valid cease orders (accepted with an orderResponse) are sent where an order is needed anyway, so
that one active service buys several verdicts: test_cancel_order.py cancels each generated one, the
boundary-valid suite cancels its own, the stateful suite plays lifecycles on them."""

from __future__ import annotations

import pytest

from fibrecert.suites import checks as c


def _accepted_order(ala, verify, data, refs, lock, note=""):  # noqa: ANN001 - suite helper
    """Send a valid ceaseOrder and check its answer; return (exchange, sellerOrderReference or None)."""
    ex = ala.post("ceaseOrder", data, note=note)
    if not verify("ALA-CEASE-001", ex, c.status_in, 200):
        if ex.status == 400:
            ala.services.release(data["alaCease"]["serviceIdentifier"])
        return ex, None
    ns = ala.namespace
    verify("ALA-CEASE-002", ex, c.xml_content_type)
    if verify("ALA-CEASE-002", ex, c.soap_payload, ns, "orderResponse") is None:
        return ex, None
    verify("ALA-CEASE-003", ex, c.xml_field, ns, "orderResponse", "message/correlationId",
           data["message"]["correlationId"], "correlationId")
    verify("ALA-CEASE-003", ex, c.xml_field, ns, "orderResponse", "orderReferences/buyerOrderReference",
           data["orderReferences"]["buyerOrderReference"], "buyerOrderReference")
    verify("ALA-CEASE-003", ex, c.new_message_id, ns, "orderResponse")
    seller_ref = c.assigned_id(ex)
    with lock:
        earlier = refs.setdefault(seller_ref, ex)
    verify("ALA-CEASE-003", [earlier, ex] if earlier is not ex else [ex], c.distinct_ids, "sellerOrderReference")
    return ex, seller_ref


@pytest.mark.requirement("INT-002", "ALA-CEASE-005", "ALA-CEASE-006")
@pytest.mark.parametrize("wrong", ["unknown service", "another seller"])
def test_cease_order_for_an_unknown_service_or_seller_is_rejected(run, ala, verify, wrong):
    def case(data):
        if wrong == "unknown service":
            data["alaCease"]["serviceIdentifier"] = "FIBRECERT-NO-SUCH-SERVICE-" + data["message"]["messageId"][:8]
        else:
            service = ala.services.take()
            data["alaCease"]["serviceIdentifier"] = service
            data["seller"]["sellerIdentifier"] = "NOT-" + ala.target.seller_identifier
        ex = ala.post("ceaseOrder", data, note=wrong)
        if wrong == "another seller" and ex.status != 200:
            ala.services.release(service)
        verify("INT-002", ex, c.status_in, 400)
        if ex.status is not None and ex.status >= 400:
            verify("ALA-CEASE-005", ex, c.fault_fields)
            verify("ALA-CEASE-006", ex, c.fault_envelope, ala.namespace)

    run.explore(ala.message("ceaseOrder"), case, examples=1)
