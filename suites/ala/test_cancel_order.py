"""POST /cancelOrder (seller role): a cancellation of an in-flight order is pending or rejected up
front; a request missing a required element, or naming an unknown order, is rejected with a fault."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import strategies as st

from fibrecert.suites import checks as c

from .test_cease_order import _accepted_order


def place_cease_order(ala):  # noqa: ANN001 - suite helper shared with the security suite
    """Cease one active service with valid data; return (exchange, sellerOrderReference or None)."""
    service = ala.services.take()
    data = {
        "message": {**ala.new_ids(), "sentAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
        "orderReferences": {"buyerOrderReference": f"FC-{ala.engine.token('uuid')}"},
        "buyer": {"buyerIdentifier": ala.target.buyer_identifier},
        "seller": {"sellerIdentifier": ala.target.seller_identifier},
        "alaCease": {"serviceIdentifier": service},
    }
    ex = ala.post("ceaseOrder", data, note="places an order to work on")
    if ex.status != 200:
        if ex.status == 400:
            ala.services.release(service)
        return ex, None
    try:
        payload = c.soap_payload(ex, ala.namespace, "orderResponse")
    except c.CheckFailed:
        return ex, None
    return ex, ala.text(payload, "orderReferences/sellerOrderReference")


CANCEL_REQS = ("ALA-CANCEL-001", "ALA-CANCEL-002", "ALA-CANCEL-003")


# Generated valid ceaseOrders per profile, each then cancelled by a generated valid cancelOrder: one active
# service serves both (the boundary-valid suite covers the valid space of each field; these add variety).
VALID_ORDERS = {"smoke": 1, "standard": 1, "full": 10}


@pytest.mark.requirement("ALA-CEASE-001", "ALA-CEASE-002", "ALA-CEASE-003", *CANCEL_REQS, "ALA-CANCEL-005",
                         "ALA-CANCEL-006")
def test_cancellation_of_an_in_flight_order_is_pending_or_rejected_up_front(run, ala, verify, profile):
    """A generated valid ceaseOrder is accepted with an orderResponse (ALA-CEASE-*), and the order it
    places is then cancelled with a generated valid cancelOrder."""
    refs: dict = {}
    lock = threading.Lock()

    def case(pair):
        cease, cancel = pair
        cease["alaCease"]["serviceIdentifier"] = ala.services.take()
        setup, seller_ref = _accepted_order(ala, verify, cease, refs, lock)
        if seller_ref is None:
            verify.not_tested(CANCEL_REQS, f"no order to cancel: the ceaseOrder that places one got {setup.describe()}")
            return
        cancel_in_flight(ala, verify, cancel, setup, seller_ref)

    run.explore(st.tuples(ala.message("ceaseOrder"), ala.message("cancelOrder")), case,
                examples=VALID_ORDERS.get(profile.name, VALID_ORDERS["standard"]))


def cancel_in_flight(ala, verify, data, setup, seller_ref, note=""):  # noqa: ANN001 - shared with the boundary suite
    """Cancel the in-flight order `seller_ref` (placed by `setup`) with `data`; check the answer."""
    ns = ala.namespace
    data["targetSellerOrderReference"] = seller_ref
    ex = ala.post("cancelOrder", data, note=note)
    chain = [setup, ex]
    status = verify("ALA-CANCEL-001", chain, c.status_in, 200, 400)
    if status == 400:
        verify("ALA-CANCEL-005", chain, c.fault_fields)
        verify("ALA-CANCEL-006", chain, c.fault_envelope, ns)
    if not verify("ALA-CANCEL-002", chain, c.status_in, 200):
        return
    verify("ALA-CANCEL-002", chain, c.xml_content_type)
    if verify("ALA-CANCEL-002", chain, c.soap_payload, ns, "cancelOrderResponse") is None:
        return
    verify("ALA-CANCEL-002", chain, c.xml_field, ns, "cancelOrderResponse", "cancellationStatus", "Pending",
           "cancellationStatus")
    for path, want, what in (("message/correlationId", data["message"]["correlationId"], "correlationId"),
                             ("orderReferences/buyerOrderReference",
                              data["orderReferences"]["buyerOrderReference"], "buyerOrderReference"),
                             ("orderReferences/sellerOrderReference", seller_ref, "sellerOrderReference")):
        verify("ALA-CANCEL-003", chain, c.xml_field, ns, "cancelOrderResponse", path, want, what)


@pytest.mark.requirement("INT-004", "ALA-CANCEL-005", "ALA-CANCEL-006")
def test_cancel_order_of_an_unknown_order_is_rejected(run, ala, verify):
    def unknown(data):
        data["targetSellerOrderReference"] = "FIBRECERT-UNKNOWN-" + data["targetSellerOrderReference"]
        ex = ala.post("cancelOrder", data, note="a targetSellerOrderReference never issued")
        verify("INT-004", ex, c.status_in, 400)
        if ex.status is not None and ex.status >= 400:
            verify("ALA-CANCEL-005", ex, c.fault_fields)
            verify("ALA-CANCEL-006", ex, c.fault_envelope, ala.namespace)

    run.explore(ala.message("cancelOrder"), unknown, examples=2)
