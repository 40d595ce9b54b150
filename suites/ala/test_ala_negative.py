"""Boundary-invalid ALA requests: every constraint of the XSD attacked (values, enumerations, closed
content), malformed envelopes and transport, DTDs and entities, oversized bodies, other methods.
Each negative message is proven invalid by the XSD before it is sent; an accepted one is a failure."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from fibrecert import contracts, strategies
from fibrecert.contracts import soap
from fibrecert.suites import checks as c

from .test_cancel_order import place_cease_order

RULES = {  # operation -> (value requirement, closed-content requirement, fault requirements)
    "ceaseOrder": ("ALA-CEASE-008", "ALA-CEASE-009", ("ALA-CEASE-005", "ALA-CEASE-006")),
    "cancelOrder": ("ALA-CANCEL-008", "ALA-CANCEL-009", ("ALA-CANCEL-005", "ALA-CANCEL-006")),
    "unsolicitedCeaseRequest": ("ALA-UCR-006", "ALA-UCR-007", ("ALA-UCR-006", "ALA-UCR-006")),
}
IDENTITY_FIELDS = {"buyer.buyerIdentifier", "seller.sellerIdentifier"}  # a 403 is a fair answer there too


def _sample_key(m):  # noqa: ANN001 - every near-miss of an enumeration, one case per other constraint
    return m.description if "enumeration" in m.constraint.detail else m.constraint.id


def _set(root, path, value, namespace):  # noqa: ANN001
    el = root
    for part in path.split("."):
        el = el.find(contracts.ala_qname(part, namespace))
    el.text = value


def _text(root, path, namespace):  # noqa: ANN001
    el = root
    for part in path.split("."):
        el = el.find(contracts.ala_qname(part, namespace)) if el is not None else None
    return el.text if el is not None else None


class _Fixture:
    """Keeps the negative cases honest: every case names a real active service or in-flight order,
    so a target that skips validation would act on it (and be seen to)."""

    def __init__(self, ala, operation):  # noqa: ANN001
        self.ala, self.operation = ala, operation
        self.order_ref: str | None = None

    def prepare(self, mutated, touched: str) -> tuple[etree._Element, str | None]:  # noqa: ANN001
        ns, ala = self.ala.namespace, self.ala
        if touched != "message.messageId" and _text(mutated, "message.messageId", ns) is not None:
            _set(mutated, "message.messageId", ala.unique_message_id(_text(mutated, "message.messageId", ns) or ""), ns)
        service = None
        if self.operation == "ceaseOrder" and touched != "alaCease.serviceIdentifier" \
                and _text(mutated, "alaCease.serviceIdentifier", ns) is not None:
            service = ala.services.take()
            _set(mutated, "alaCease.serviceIdentifier", service, ns)
        if self.operation == "cancelOrder" and touched != "targetSellerOrderReference" \
                and _text(mutated, "targetSellerOrderReference", ns) is not None:
            if self.order_ref is None:
                setup, self.order_ref = place_cease_order(ala)
                if self.order_ref is None:
                    raise _NoOrder(setup.describe())
            _set(mutated, "targetSellerOrderReference", self.order_ref, ns)
        return mutated, service

    def after(self, ex, service):  # noqa: ANN001
        if service and ex.status != 200:
            self.ala.services.release(service)
        if self.operation == "cancelOrder" and ex.status == 200:
            self.order_ref = None  # the (wrongly) accepted cancel used the order up


class _NoOrder(Exception):
    pass


@pytest.mark.requirement("ALA-CEASE-008", "ALA-CEASE-009", "ALA-CEASE-005", "ALA-CEASE-006")
def test_cease_order_outside_its_contract_is_rejected_with_a_fault(run, ala, verify, profile):
    _attack(run, ala, verify, profile, "ceaseOrder")


@pytest.mark.requirement("ALA-CANCEL-008", "ALA-CANCEL-009", "ALA-CANCEL-005", "ALA-CANCEL-006")
def test_cancel_order_outside_its_contract_is_rejected_with_a_fault(run, ala, verify, profile):
    _attack(run, ala, verify, profile, "cancelOrder")


@pytest.mark.requirement("ALA-UCR-005", "ALA-UCR-006", "ALA-UCR-007")
def test_unsolicited_cease_outside_its_contract_is_rejected_with_a_fault(run, ala_buyer_role, verify, profile):
    _attack(run, ala_buyer_role, verify, profile, "unsolicitedCeaseRequest")


def _attack(run, ala, verify, profile, operation):  # noqa: ANN001
    value_req, closed_req, (fault_req, envelope_req) = RULES[operation]
    fixture = _Fixture(ala, operation)

    def case(data):  # noqa: ANN001
        if operation == "ceaseOrder":
            data["alaCease"]["serviceIdentifier"] = "placeholder"
        if operation == "cancelOrder":
            data["targetSellerOrderReference"] = "placeholder"
        base = strategies.encode_ala(operation, data, ala.namespace)
        mutations = [m for m in strategies.ala_mutations(operation, base, ala.namespace) if m.constraint.kind != "required"]
        for m in strategies.sample_negatives(mutations, _sample_key, profile.negatives,
                                             kind=lambda m: (m.constraint.kind, "enumeration" in m.constraint.detail)):
            try:
                element, service = fixture.prepare(copy.deepcopy(m.element), m.constraint.path)
            except _NoOrder as exc:
                verify.not_tested((value_req, closed_req), f"no order to cancel: the ceaseOrder that places one got {exc}")
                return
            if contracts.ala_schema(ala.namespace).is_valid(element):
                raise strategies.InvalidGenerated(f"negative case became valid: {m.description}")
            ex = ala.post(operation, element, note=m.description)
            fixture.after(ex, service)
            requirement = value_req if m.constraint.kind == "value" else closed_req
            allowed = (400, 403) if m.constraint.path in IDENTITY_FIELDS else (400,)
            if operation == "unsolicitedCeaseRequest" and m.constraint.path == "cfh:newOrderType":
                verify("ALA-UCR-005", ex, c.status_not_in, 200, 201, 202, 204)
            ok = verify(requirement, ex, c.status_in, *allowed)
            if not ok and ex.status is not None and ex.status < 300:
                ex.error_detail = f"accepted: {m.description}"
            if ex.status is not None and ex.status >= 400:
                verify(fault_req, ex, c.fault_fields)
                verify(envelope_req, ex, c.fault_envelope, ala.namespace)

    run.explore(ala.message(operation), case, examples=1)


# ------------------------------------------------------------------------------ transport and envelope
ENDPOINTS = ["ceaseOrder", "cancelOrder", "unsolicitedCeaseRequest"]


def _endpoint(run, request, operation):  # noqa: ANN001
    from fibrecert.suites.plugin import skip_unless

    ala = run.ala
    if ala is None:
        pytest.skip("the target file has no [ala] section")
    if contracts.ALA_OPERATIONS[operation][2] == "buyer":
        skip_unless(run, request, "buyer" in ala.target.roles, "the target file declares no ALA buyer role (buyer_base_url)")
    return ala


def _valid_message(run, ala, operation) -> dict:  # noqa: ANN001
    got: list = []
    run.explore(ala.message(operation), got.append, examples=1)
    data = got[0]
    data["message"]["messageId"] = ala.unique_message_id(data["message"]["messageId"])
    if operation == "ceaseOrder":
        data["alaCease"]["serviceIdentifier"] = ala.services.take()
    return data


def _malformed(ala, operation, data) -> dict[str, tuple[bytes, str]]:  # noqa: ANN001
    """Named malformed requests built from a valid message: (body, content type)."""
    ns = ala.namespace
    element = strategies.encode_ala(operation, data, ns)
    xml = etree.tostring(element)
    envelope = soap.build_envelope(element)
    other = "cancelOrder" if operation != "cancelOrder" else "ceaseOrder"
    two = etree.fromstring(envelope)
    two[0].append(copy.deepcopy(element))
    wrong_root = copy.deepcopy(element)
    wrong_root.tag = contracts.ala_qname(other, ns)
    return {
        "no SOAP envelope (the bare message)": (xml, "text/xml; charset=utf-8"),
        "two elements in the SOAP Body": (etree.tostring(two), "text/xml; charset=utf-8"),
        f"the Body holds {other}, not {operation}": (soap.build_envelope(wrong_root), "text/xml; charset=utf-8"),
        "XML that is not well-formed": (envelope[:-20], "text/xml; charset=utf-8"),
        "Content-Type application/json": (envelope, "application/json"),
        "an empty body": (b"", "text/xml; charset=utf-8"),
        "a SOAP 1.2 envelope": (envelope.replace(soap.SOAP_ENV.encode(), b"http://www.w3.org/2003/05/soap-envelope"),
                                "text/xml; charset=utf-8"),
    }


@pytest.mark.requirement("ALA-SOAP-001")
@pytest.mark.parametrize("operation", ENDPOINTS)
def test_malformed_envelopes_are_rejected_with_a_fault(run, verify, request, operation):
    ala = _endpoint(run, request, operation)
    data = _valid_message(run, ala, operation)
    service = data.get("alaCease", {}).get("serviceIdentifier")
    cases = list(_malformed(ala, operation, data).items())

    def send(named):  # noqa: ANN001
        name, (body, ctype) = named
        ex = ala.post(operation, body, headers={"Content-Type": ctype}, note=name)
        if verify("ALA-SOAP-001", ex, c.status_in, 400):
            verify("ALA-SOAP-001", ex, c.fault_envelope, ala.namespace)
        return ex.status == 200

    accepted = any(run.each(cases, send))
    if service and not accepted:
        ala.services.release(service)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
"""
MARKER = c.ENTITY_MARKERS[0]


def _with_dtd(envelope: bytes, dtd: bytes, field_text: str, reference: str) -> bytes:
    body = envelope.split(b"?>", 1)[1] if envelope.startswith(b"<?xml") else envelope
    return dtd + body.replace(f">{field_text}<".encode(), f">{reference}<".encode(), 1)


@pytest.mark.requirement("ROB-003", "ALA-SOAP-001")
@pytest.mark.parametrize("operation", ENDPOINTS)
def test_dtds_and_entities_are_refused_and_never_expanded(run, verify, request, operation):
    ala = _endpoint(run, request, operation)
    data = _valid_message(run, ala, operation)
    service = data.get("alaCease", {}).get("serviceIdentifier")
    envelope = ala.envelope(operation, data)
    correlation = data["message"]["correlationId"]
    cases = {
        "an entity-expansion bomb": _with_dtd(envelope, BOMB, correlation, "&lol9;"),
        "an internal entity": _with_dtd(envelope, f'<!DOCTYPE x [<!ENTITY m "{MARKER}">]>'.encode(), correlation, "&m;"),
        "an external entity naming /etc/passwd": _with_dtd(
            envelope, b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', correlation, "&e;"),
        "a bare DOCTYPE": _with_dtd(envelope, b"<!DOCTYPE Envelope>", correlation, correlation),
    }

    def send(named):  # noqa: ANN001
        name, body = named
        ex = ala.post(operation, body, note=name)
        if verify("ROB-003", ex, c.no_entity_expanded) and verify("ROB-003", ex, c.status_in, *range(400, 500)):
            if verify("ALA-SOAP-001", ex, c.status_in, 400):
                verify("ALA-SOAP-001", ex, c.fault_envelope, ala.namespace)
        return ex.status == 200

    accepted = any(run.each(list(cases.items()), send))
    if service and not accepted:
        ala.services.release(service)


@pytest.mark.requirement("ROB-004", "ALA-SOAP-001")
@pytest.mark.parametrize("operation", ENDPOINTS)
def test_bodies_over_one_mebibyte_are_refused(run, verify, request, operation):
    ala = _endpoint(run, request, operation)
    data = _valid_message(run, ala, operation)
    service = data.get("alaCease", {}).get("serviceIdentifier")
    data["message"]["correlationId"] = "x" * (soap.MAX_BODY + 1)
    ex = ala.post(operation, data)
    if ex.status != 200 and service:
        ala.services.release(service)
    if verify("ROB-004", ex, c.status_in, *range(400, 500)):
        if verify("ALA-SOAP-001", ex, c.status_in, 400):
            verify("ALA-SOAP-001", ex, c.fault_envelope, ala.namespace)


@pytest.mark.requirement("ALA-SOAP-002")
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("operation", ENDPOINTS)
def test_other_methods_are_not_allowed(run, verify, request, operation, method):
    ala = _endpoint(run, request, operation)
    ex = ala.post(operation, b"", method=method, note=f"{method} instead of POST")
    verify("ALA-SOAP-002", ex, c.status_in, 405)
