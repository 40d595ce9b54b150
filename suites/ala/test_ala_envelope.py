"""The HTTP envelope of a valid request, varied within what profile rule 5 and HTTP allow: header names
in lower case (they are case-insensitive, RFC 9110) with `charset=UTF-8`, `text/xml` without a charset,
`application/xml`. Each variant is a valid request that must be accepted as usual (`ALA-SOAP-003`).

A variant ceaseOrder consumes an active service, so the ceases are few (one per variant) and each also
serves `SEC-007`: another buyer then sends a ceaseOrder reusing its messageId, and must get a refusal of
its own (400 with a fault), never the buyer's answer or any of its references (rules 10, 11).
"""

from __future__ import annotations

import copy

import pytest

from fibrecert.apis.ala import ALA_OTHER_BUYER
from fibrecert.suites import checks as c

VARIANTS: dict[str, dict] = {
    "lower-case-names": {"header_names": str.lower, "headers": {"Content-Type": "text/xml; charset=UTF-8"},
                         "tags": ("envelope=lower-case-names", "envelope=charset=UTF-8"),
                         "note": "header names in lower case, charset=UTF-8"},
    "text/xml": {"headers": {"Content-Type": "text/xml"}, "tags": ("envelope=text/xml",),
                 "note": "Content-Type text/xml without a charset"},
    "application/xml": {"headers": {"Content-Type": "application/xml"}, "tags": ("envelope=application/xml",),
                        "note": "Content-Type application/xml (rule 5)"},
}


def _accepted(ala, verify, ex, root):  # noqa: ANN001
    """ALA-SOAP-003: the variant is accepted as the documented envelope is (200, a valid answer)."""
    if not verify("ALA-SOAP-003", ex, c.status_in, 200):
        return None
    verify("ALA-SOAP-003", ex, c.xml_content_type)
    return verify("ALA-SOAP-003", ex, c.soap_payload, ala.namespace, root)


@pytest.mark.requirement("ALA-SOAP-003", "SEC-007")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_valid_cease_order_is_accepted_in_each_legitimate_envelope(run, ala, verify, variant):
    other = ala.target.other_client is not None and bool(ala.target.other_buyer_identifier)
    if not other:
        verify.not_tested(["SEC-007"], "the target file gives no other_client_cert (another buyer's identity)")

    def case(data):
        service = ala.services.take()
        data["alaCease"]["serviceIdentifier"] = service
        # the buyer's references are unique values, so that another buyer's answer can be searched for them
        data["message"]["correlationId"] = ala.engine.token("uuid")
        data["orderReferences"]["buyerOrderReference"] = f"FC-{ala.engine.token('uuid')}"
        ex = ala.post("ceaseOrder", data, **VARIANTS[variant])
        if ex.status == 400:
            ala.services.release(service)
        if _accepted(ala, verify, ex, "orderResponse") is None or not other:
            return
        seller_ref = c.assigned_id(ex) or ""
        theirs = copy.deepcopy(data)  # the same messageId and service, from another buyer acting for itself
        theirs["buyer"]["buyerIdentifier"] = ala.target.other_buyer_identifier
        theirs["message"]["correlationId"] = ala.engine.token("uuid")
        theirs["orderReferences"]["buyerOrderReference"] = f"FC-{ala.engine.token('uuid')}"
        replay = ala.post("ceaseOrder", theirs, identity=ALA_OTHER_BUYER, fresh_message_id=False,
                          note="another buyer reuses the buyer's messageId, naming the service it ceased")
        verify("SEC-007", [ex, replay], c.rejected_with_fault, 400)
        markers = [data["message"]["correlationId"], data["orderReferences"]["buyerOrderReference"]]
        if len(seller_ref) >= 8:  # a short reference could turn up in any text by chance
            markers.append(seller_ref)
        verify("SEC-007", [ex, replay], c.not_another_partys_answer, *markers)

    run.explore(ala.message("ceaseOrder"), case, examples=1)


@pytest.mark.requirement("ALA-SOAP-003")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_valid_unsolicited_cease_is_accepted_in_each_legitimate_envelope(run, ala_buyer_role, verify, variant):
    ala = ala_buyer_role
    run.explore(ala.message("unsolicitedCeaseRequest"),
                lambda data: _accepted(ala, verify, ala.post("unsolicitedCeaseRequest", data, **VARIANTS[variant]),
                                       "unsolicitedCeaseResponse"), examples=1)
