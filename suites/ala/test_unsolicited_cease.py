"""POST /unsolicitedCeaseRequest (buyer role: the suite plays the seller): valid requests, with every
documented cfh:newOrderType, are accepted with an empty unsolicitedCeaseResponse."""

from __future__ import annotations

import pytest

from fibrecert import contracts
from fibrecert.suites import checks as c

NEW_ORDER_TYPES = [str(v) for v in contracts.ala_schema().maps.elements[f"{{{contracts.CFH_NS}}}newOrderType"].type.enumeration]


def _ucr_accepted(ala, verify, requirement, data, note=""):  # noqa: ANN001
    ex = ala.post("unsolicitedCeaseRequest", data, note=note)
    if not verify(requirement, ex, c.status_in, 200):
        return
    verify("ALA-UCR-001", ex, c.ucr_response)
    verify("ALA-UCR-003", ex, c.xml_content_type)
    verify("ALA-UCR-003", ex, c.soap_payload, ala.namespace, "unsolicitedCeaseResponse")


@pytest.mark.requirement("ALA-UCR-001", "ALA-UCR-003")
def test_valid_unsolicited_cease_requests_are_accepted(run, ala_buyer_role, verify):
    ala = ala_buyer_role
    run.explore(ala.message("unsolicitedCeaseRequest"), lambda d: _ucr_accepted(ala, verify, "ALA-UCR-001", d))


@pytest.mark.requirement("ALA-UCR-002", "ALA-UCR-001", "ALA-UCR-003")
@pytest.mark.parametrize("new_order_type", NEW_ORDER_TYPES)
def test_every_documented_new_order_type_is_accepted(run, ala_buyer_role, verify, profile, new_order_type):
    ala = ala_buyer_role
    run.explore(ala.message("unsolicitedCeaseRequest", **{"cfh:newOrderType": new_order_type}),
                lambda d: _ucr_accepted(ala, verify, "ALA-UCR-002", d), examples=profile.enum_repeats)


