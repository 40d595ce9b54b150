"""Boundary-invalid ALA requests: every constraint of the XSD inventory attacked at every profile
(required elements, values, enumerations, dates, closed content), then malformed envelopes and
transport, DTDs and entities, oversized bodies, other methods. Each negative message breaks exactly one
constraint of an otherwise valid request that would succeed (a fresh active service, an order in
flight), is proven invalid by the XSD before it is sent, and names the constraint it attacks."""

from __future__ import annotations

import copy
import datetime as _dt
import random
import uuid

import pytest
from lxml import etree

from fibrecert import contracts, strategies
from fibrecert.contracts import soap
from fibrecert.contracts.alapath import ElementPath
from fibrecert.suites import checks as c
from fibrecert.suites.clients import OutOfTestData

from .test_cancel_order import place_cease_order

FAULTS = {  # operation -> (fault fields, fault envelope) requirements; None: the constraint's own requirement
    "ceaseOrder": ("ALA-CEASE-005", "ALA-CEASE-006"),
    "cancelOrder": ("ALA-CANCEL-005", "ALA-CANCEL-006"),
    "unsolicitedCeaseRequest": None,
}
IDENTITY_FIELDS = {"buyer.buyerIdentifier", "seller.sellerIdentifier"}  # a 403 is a fair answer there too
VALUE_FAMILIES = {"blank", "pattern", "enum", "format", "bounds"}  # the text itself is what is attacked


class _NoOrder(Exception):
    pass


class _Fixture:
    """Keeps each negative to one fault: a run-unique messageId, a fresh active service for ceaseOrder,
    an order that exists and is in flight for cancelOrder (a new one after any wrongly accepted cancel).
    A target that skipped validation would act on the request, and be seen to."""

    def __init__(self, ala, operation):  # noqa: ANN001
        self.ala, self.operation = ala, operation
        self.order_ref: str | None = None

    def base(self, seed: int) -> etree._Element:
        """The contract's example with every optional element, the target's facts and ids from the seed."""
        rng = random.Random(seed)
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(3)]
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        fixed = {**self.ala.fixed_fields(self.operation), "message.messageId": ids[0],
                 "message.correlationId": ids[1], "message.sentAt": now,
                 "orderReferences.buyerOrderReference": f"FIBRECERT-{ids[2][:8]}"}
        return strategies.example(self.operation, namespace=self.ala.namespace, fixed=fixed)

    def _own(self, n, path: str) -> bool:  # noqa: ANN001 - the negative's fault is this element's text
        return n.constraint.path == path and n.constraint.family in VALUE_FAMILIES

    def prepare(self, n) -> tuple[etree._Element, str | None]:  # noqa: ANN001
        ns, ala = self.ala.namespace, self.ala
        element = copy.deepcopy(n.payload)
        if not self._own(n, "message.messageId"):
            for el in ElementPath("message.messageId").find_all(element, ns):
                el.text = ala.unique_message_id(el.text or "")
        service = None
        found = ElementPath("alaCease.serviceIdentifier").find_all(element, ns) if self.operation == "ceaseOrder" else []
        if found and not self._own(n, "alaCease.serviceIdentifier"):
            service = ala.services.take()
            for el in found:
                el.text = service
        found = ElementPath("targetSellerOrderReference").find_all(element, ns) if self.operation == "cancelOrder" else []
        if found and not self._own(n, "targetSellerOrderReference"):
            if self.order_ref is None:
                setup, self.order_ref = place_cease_order(ala)
                if self.order_ref is None:
                    raise _NoOrder(f"no order to cancel: the ceaseOrder that places one got {setup.describe()}")
            for el in found:
                el.text = self.order_ref
        return element, service

    def after(self, ex, service):  # noqa: ANN001
        if service and ex.status != 200:
            self.ala.services.release(service)
        if self.operation == "cancelOrder" and ex.status == 200:
            self.order_ref = None  # the (wrongly) accepted cancel used the order up


@pytest.mark.long_chain
@pytest.mark.requirement("ALA-CEASE-004", "ALA-CEASE-008", "ALA-CEASE-009", "ALA-CEASE-005", "ALA-CEASE-006")
def test_cease_order_outside_its_contract_is_rejected_with_a_fault(run, ala, verify, profile):
    _attack(run, ala, verify, profile, "ceaseOrder")


@pytest.mark.long_chain
@pytest.mark.requirement("ALA-CANCEL-004", "ALA-CANCEL-008", "ALA-CANCEL-009", "ALA-CANCEL-005", "ALA-CANCEL-006")
def test_cancel_order_outside_its_contract_is_rejected_with_a_fault(run, ala, verify, profile):
    _attack(run, ala, verify, profile, "cancelOrder")


@pytest.mark.long_chain
@pytest.mark.requirement("ALA-UCR-004", "ALA-UCR-005", "ALA-UCR-006", "ALA-UCR-007")
def test_unsolicited_cease_outside_its_contract_is_rejected_with_a_fault(run, ala_buyer_role, verify, profile):
    _attack(run, ala_buyer_role, verify, profile, "unsolicitedCeaseRequest")


LANES = 4  # negatives of an operation are sent in this many lanes side by side
# cancelOrder's negatives: each lane places an order of its own (an active service), so fewer lanes
ORDER_LANES = {"smoke": 1, "standard": 2, "full": 4}


def _attack(run, ala, verify, profile, operation):  # noqa: ANN001
    """Every constraint of the operation's inventory, coverage first (smoke: one negative each), in a few
    lanes side by side; each lane keeps its own in-flight order (cancelOrder), so one wrongly accepted
    negative never turns another lane's negative into a business rejection."""
    schema = contracts.ala_schema(ala.namespace)
    seed = run.case_seed(run.current_test)
    with run.generating():
        negatives = strategies.negatives(operation, _Fixture(ala, operation).base(seed), profile.name, seed)

    def lane(chunk):  # noqa: ANN001
        fixture = _Fixture(ala, operation)
        for i, n in enumerate(chunk):
            try:
                element, service = fixture.prepare(n)
            except (_NoOrder, OutOfTestData) as exc:
                for constraint in {m.constraint.id: m.constraint for m in chunk[i:]}.values():
                    verify.not_tested((constraint.requirement,), f"{constraint.id} not attacked: {exc}")
                return
            if schema.is_valid(element):
                raise strategies.InvalidGenerated(f"negative case became valid: {n.description}")
            ex = ala.post(operation, element, constraint=n.constraint.id, note=n.description)
            fixture.after(ex, service)
            _expect(verify, ala, operation, n, ex)

    chunks = [negatives[i::LANES] for i in range(LANES)]
    if operation == "cancelOrder":  # fewer lanes, each the next chunks one after the other: sent one at a
        per = LANES // ORDER_LANES.get(profile.name, LANES)  # time, the negatives keep their order
        chunks = [[n for chunk in chunks[g:g + per] for n in chunk] for g in range(0, LANES, per)]
    run.each([chunk for chunk in chunks if chunk], lane)


def _expect(verify, ala, operation, n, ex):  # noqa: ANN001
    requirement = n.constraint.requirement
    allowed = (400, 403) if n.constraint.path in IDENTITY_FIELDS and n.constraint.family != "required" else (400,)
    if operation == "unsolicitedCeaseRequest" and n.constraint.family == "enum":
        verify("ALA-UCR-005", ex, c.status_not_in, 200, 201, 202, 204)
    verify(requirement, ex, c.status_in, *allowed)
    if ex.status is not None and ex.status >= 400:
        fields, envelope = FAULTS[operation] or (requirement, requirement)
        verify(fields, ex, c.fault_fields)
        verify(envelope, ex, c.fault_envelope, ala.namespace)


# ------------------------------------------------------------------------------ transport and envelope
ENDPOINTS = ["ceaseOrder", "cancelOrder", "unsolicitedCeaseRequest"]


def _endpoint(run, request, operation):  # noqa: ANN001
    from fibrecert.suites.plugin import skip_unless

    ala = run.clients["ala"]
    if ala is None:
        pytest.skip("the target file has no [ala] section")
    if contracts.ALA_OPERATIONS[operation].role == "buyer":
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
        # A system literal is a URI reference: a bare path is resolved like file:///etc/passwd by a parser
        # that loads external entities (the scheme is left out so that no output of a run holds file://).
        "an external entity naming /etc/passwd": _with_dtd(
            envelope, b'<!DOCTYPE x [<!ENTITY e SYSTEM "/etc/passwd">]>', correlation, "&e;"),
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
