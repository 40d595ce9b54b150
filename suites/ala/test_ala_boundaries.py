"""Boundary-valid ALA requests: every field at and next to its bounds (the shortest and a long value,
non-ASCII text and significant white space, the extreme dates and time-zone offsets, every length of
cancellationReasonCode, every cfh:newOrderType), combined into few requests that are each proven valid
by the XSD and checked like any valid request: accepted with the documented status, the answer valid,
the echoes exact. The ceaseOrders place the orders the cancelOrders cancel, so the whole set uses as
many active services as the larger of the two lists of requests (4)."""

from __future__ import annotations

import copy
import threading

import pytest

from fibrecert import strategies

from .test_cancel_order import CANCEL_REQS, cancel_in_flight, place_cease_order
from .test_cease_order import _accepted_order
from .test_unsolicited_cease import _ucr_accepted


@pytest.mark.long_chain
@pytest.mark.requirement("ALA-CEASE-001", "ALA-CEASE-002", "ALA-CEASE-003", *CANCEL_REQS, "ALA-CANCEL-005",
                         "ALA-CANCEL-006")
def test_boundary_valid_cease_and_cancel_orders_are_accepted(run, ala, verify):
    with run.generating():
        ceases = strategies.boundaries("ceaseOrder", fixed=ala.fixed_fields("ceaseOrder"))
        cancels = strategies.boundaries("cancelOrder", fixed=ala.fixed_fields("cancelOrder"))
    refs: dict = {}
    lock = threading.Lock()

    def lane(i):  # noqa: ANN001 - the i-th ceaseOrder places the order the i-th cancelOrder cancels
        setup, seller_ref = None, None
        if i < len(ceases):
            data = copy.deepcopy(ceases[i].payload)
            data["alaCease"]["serviceIdentifier"] = ala.services.take()
            setup, seller_ref = _accepted_order(ala, verify, data, refs, lock, note=ceases[i].description)
        if i >= len(cancels):
            return
        if setup is None:
            setup, seller_ref = place_cease_order(ala)
        if seller_ref is None:
            verify.not_tested(CANCEL_REQS, f"no order to cancel: the ceaseOrder that places one got {setup.describe()}")
            return
        cancel_in_flight(ala, verify, copy.deepcopy(cancels[i].payload), setup, seller_ref, note=cancels[i].description)

    run.each(range(max(len(ceases), len(cancels))), lane)


@pytest.mark.requirement("ALA-UCR-001", "ALA-UCR-003")
def test_boundary_valid_unsolicited_cease_requests_are_accepted(run, ala_buyer_role, verify):
    ala = ala_buyer_role
    with run.generating():
        requests = strategies.boundaries("unsolicitedCeaseRequest", fixed=ala.fixed_fields("unsolicitedCeaseRequest"))
    run.each(requests, lambda b: _ucr_accepted(ala, verify, "ALA-UCR-001", copy.deepcopy(b.payload), b.description))
