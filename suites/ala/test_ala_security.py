"""Mutual TLS (profile rule 10): no client certificate, or one from an untrusted CA, is refused;
a valid certificate of another party may not act for the buyer (seller role) or the seller (buyer role)."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from fibrecert.apis.ala import ALA_BUYER, ALA_NO_CERT, ALA_OTHER_BUYER, ALA_UNTRUSTED
from fibrecert.suites import checks as c


def _valid_cease(ala, data):  # noqa: ANN001
    service = ala.services.take()
    data["alaCease"]["serviceIdentifier"] = service
    return service


@pytest.mark.requirement("SEC-001")
@pytest.mark.parametrize("operation", ["ceaseOrder", "cancelOrder"])
def test_seller_refuses_a_request_without_a_client_certificate(run, ala, verify, operation):
    def case(data):
        service = _valid_cease(ala, data) if operation == "ceaseOrder" else None
        ex = ala.post(operation, data, identity=ALA_NO_CERT)
        if service and ex.status != 200:
            ala.services.release(service)
        verify("SEC-001", ex, c.refused_without_identity)

    run.explore(ala.message(operation), case, examples=1)


@pytest.mark.requirement("SEC-002")
def test_seller_refuses_a_certificate_from_an_untrusted_ca(run, ala, verify):
    def case(data):
        service = _valid_cease(ala, data)
        ex = ala.post("ceaseOrder", data, identity=ALA_UNTRUSTED)
        if ex.status != 200:
            ala.services.release(service)
        verify("SEC-002", ex, c.refused_without_identity)

    run.explore(ala.message("ceaseOrder"), case, examples=1)


@pytest.mark.requirement("SEC-003")
def test_another_buyer_may_not_cease_or_cancel_for_the_buyer(run, ala, verify):
    """One active service for both refusals: another buyer's ceaseOrder for the buyer is refused (403)
    and changed nothing (the owner then ceases that service); another buyer's cancelOrder of the order
    this placed is refused (403) and changed nothing (the owner then cancels it)."""
    if ala.target.other_client is None:
        verify.not_tested(["SEC-003"], "the target file gives no other_client_cert (another buyer's identity)")
        pytest.skip("no other buyer identity")

    def case(pair):
        data, cancel = pair
        service = _valid_cease(ala, data)  # a service of its own, in the message
        forbidden = ala.post("ceaseOrder", data, identity=ALA_OTHER_BUYER)
        if not verify("SEC-003", forbidden, c.rejected_with_fault, 403):
            if forbidden.status is not None and forbidden.status != 200:
                ala.services.release(service)
            return
        # ... and nothing happened: the owner can still cease that service.
        owner = ala.post("ceaseOrder", data, note="the owner ceases the same service after the refusal")
        # a 400 is conclusive: the refused request ceased the service (a 5xx says nothing about SEC-003)
        verify("SEC-003", [forbidden, owner], c.status_not_in, 400)
        seller_ref = c.assigned_id(owner)
        if owner.status != 200 or not seller_ref:
            return
        cancel["targetSellerOrderReference"] = seller_ref
        forbidden = ala.post("cancelOrder", cancel, identity=ALA_OTHER_BUYER)
        if verify("SEC-003", [owner, forbidden], c.rejected_with_fault, 403):
            again = ala.post("cancelOrder", cancel, note="the owner cancels the order after the refusal")
            # a 400 is conclusive: the refused request left the order's cancellation pending
            verify("SEC-003", [owner, forbidden, again], c.status_not_in, 400)

    run.explore(st.tuples(ala.message("ceaseOrder"), ala.message("cancelOrder")), case, examples=1)


@pytest.mark.requirement("SEC-004")
def test_buyer_refuses_an_unsolicited_cease_without_a_client_certificate(run, ala_buyer_role, verify):
    ala = ala_buyer_role
    run.explore(ala.message("unsolicitedCeaseRequest"), lambda d: verify(
        "SEC-004", ala.post("unsolicitedCeaseRequest", d, identity=ALA_NO_CERT),
        c.refused_without_identity), examples=1)


@pytest.mark.requirement("SEC-005")
def test_buyer_refuses_an_unsolicited_cease_from_a_party_that_is_not_the_seller(run, ala_buyer_role, verify):
    ala = ala_buyer_role
    # The buyer's own certificate is not the seller's identity: 403 with a fault, or (when the buyer
    # endpoint does not trust that certificate at all) refused at the handshake or with 401.
    run.explore(ala.message("unsolicitedCeaseRequest"), lambda d: verify(
        "SEC-005", ala.post("unsolicitedCeaseRequest", d, identity=ALA_BUYER, refusal_expected=True),
        c.forbidden_or_refused), examples=1)
