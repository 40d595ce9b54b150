"""The NICC ALA 2.30 dialect (CityFibre): SOAP 1.1 over HTTPS with mutual TLS.

Operations are the contract's (`contracts.ALA_OPERATIONS`: request root, answer root, serving role); a
seller operation goes to the target file's `base_url`, a buyer one to `buyer_base_url`. Paths in a
message are `ElementPath`s (the one walker, contracts/alapath.py). The order an answer assigns is a
ceaseOrder's `sellerOrderReference`; a cancelOrder names it in `targetSellerOrderReference`.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Callable, Sequence

from lxml import etree

from fibrecert import contracts
from fibrecert.contracts import soap
from fibrecert.contracts.alapath import ElementPath
from fibrecert.core.case import MESSAGE_ID, SERVICE, Binding, RawBody, SoapBody
from fibrecert.core.identity import Credentials, Identity, register_scheme
from fibrecert.core.testdata import ServicePool

from . import Operation, Sending

__all__ = ["ALA", "AlaDialect", "AlaClient", "ElementPath", "ALA_PARTIES", "ALA_BUYER", "ALA_OTHER_BUYER",
           "ALA_SELLER", "ALA_UNTRUSTED", "ALA_NO_CERT", "certificate"]

# Identities (profile rule 10): a caller is its client certificate: the buyer's, another buyer's, the
# seller's (when the suite plays the seller against a buyer endpoint), one from a CA made at run time that
# no target trusts, or none at all. Each is named by its party ("buyer"), or "none".
ALA_PARTIES = ("buyer", "other_buyer", "seller", "untrusted")
ALA_BUYER = Identity("ala", "cert", "buyer")
ALA_OTHER_BUYER = Identity("ala", "cert", "other_buyer")
ALA_SELLER = Identity("ala", "cert", "seller")
ALA_UNTRUSTED = Identity("ala", "cert", "untrusted")
ALA_NO_CERT = Identity("ala", "none")

# Target-file keys that hold each party's certificate and key (the report's curl placeholders).
_CERT_KEYS = {"buyer": ("client_cert", "client_key"), "other_buyer": ("other_client_cert", "other_client_key"),
              "seller": ("seller_client_cert", "seller_client_key"), "untrusted": ("untrusted_cert", "untrusted_key")}


class _AlaIdentities:
    def name(self, identity: Identity) -> str:
        return identity.party if identity.kind == "cert" else "none"

    def parse(self, name: str) -> Identity:
        if name == "none":
            return ALA_NO_CERT
        if name in ALA_PARTIES:
            return Identity("ala", "cert", name)
        raise ValueError(f"not a ala identity: {name!r}")

    def refused_by_design(self, identity: Identity) -> bool:
        return identity.kind == "none" or identity.party == "untrusted" or identity.wrong_secret


register_scheme("ala", _AlaIdentities())


def certificate(credentials: Credentials, identity: Identity) -> tuple[str, str] | None:
    """The (certificate, key) files `identity` presents for the credentials' target; None: no certificate.
    The untrusted one is made once per run, from a CA made at run time."""
    if identity.kind != "cert":
        return None
    ala = credentials.target.ala
    if identity.party == "untrusted":
        def make() -> tuple[str, str]:
            from fibrecert.pki import make_untrusted_identity

            made = make_untrusted_identity(credentials.workdir, ala.buyer_identifier)
            return (str(made.cert), str(made.key))

        return credentials.made_once("ala-untrusted", make)
    held = {"buyer": ala.client, "other_buyer": ala.other_client, "seller": ala.seller_client}[identity.party]
    if held is None:
        raise LookupError(f"the target file gives no certificate for the {identity.party} identity")
    return (str(held.cert), str(held.key))

_SUFFIX = re.compile(rb"[0-9A-Za-z.\-]{0,64}")  # what follows "~<run tag>-" in a messageId: the lane and count


class AlaDialect:
    name = "ala"
    operations = tuple(Operation("ala", f"POST /{op}", spec.role, f"/{op}")
                       for op, spec in contracts.ALA_OPERATIONS.items())
    endpoints = {"seller": "base_url", "buyer": "buyer_base_url"}
    credential_endpoints = {"cert": frozenset({"seller", "buyer"})}
    rob = ("ROB-001", "ROB-002")
    ORDERING = "POST /ceaseOrder"          # the operation whose answer assigns an order
    NAMING = "POST /cancelOrder"           # the operation that names one
    _enum: frozenset[str] | None = None

    def default_identity(self, operation: str) -> Identity | None:
        """Who sends `operation` (a bare name or `POST /name`): the buyer to a seller, the seller to a
        buyer; None for an operation the contract does not have."""
        spec = contracts.ALA_OPERATIONS.get(operation.rsplit("/", 1)[-1])
        if spec is None:
            return None
        return ALA_BUYER if spec.role == "seller" else ALA_SELLER

    def active_services(self, target: Any) -> Sequence[str]:
        return target.ala.active_services if target.ala else ()

    def warm_up(self, target: Any) -> None:
        from fibrecert import strategies

        contracts.ala_schema(target.ala.namespace)
        for operation in contracts.ALA_OPERATIONS:
            strategies.ala_required_paths(operation, target.ala.namespace)

    def client(self, engine: Any) -> "AlaClient":
        return AlaClient(engine)

    def prepare(self, engine: Any) -> None:
        section = engine.target.ala
        engine.transport.prime([section.base_url, section.buyer_base_url])

    def sending(self, case: Any, credentials: Any) -> Sending:
        headers = dict(case.headers)
        for name in case.omit_headers:
            headers.pop(name, None)
        return Sending(headers, self.encode(case.body), certificate(credentials, case.identity))

    def encode(self, body: Any) -> bytes:
        """The bytes a body goes as: an ALA message in a SOAP 1.1 envelope, anything else as it is."""
        if isinstance(body, SoapBody):
            return soap.build_envelope(etree.fromstring(body.xml, soap.safe_parser()))
        return body.encode()

    def curl_arguments(self, identity: Identity) -> tuple[list[str], list[str]]:
        """(curl arguments, notes) presenting `identity`: shell variables named after target-file keys."""
        if identity.kind != "cert":
            return [], []
        cert, key = _CERT_KEYS[identity.party]
        notes = (["untrusted_cert/untrusted_key: any certificate and key from a CA the target does not trust"]
                 if identity.party == "untrusted" else [])
        return [f'--cert "${cert}"', f'--key "${key}"'], notes

    def order_named(self, operation: str, body: Any) -> tuple[str, str] | None:
        """(value, path) of the order a request names (a cancelOrder's target), or None."""
        if operation == self.NAMING and isinstance(body, SoapBody):
            value = soap.element_text(body.xml, "targetSellerOrderReference")
            return (value, "targetSellerOrderReference") if value is not None else None
        return None

    def assigned_id(self, ex: Any) -> str | None:
        """The id the target assigned in a successful answer: an orderResponse's sellerOrderReference."""
        if ex.status is None or ex.status >= 300:
            return None
        return soap.element_text(ex.response_body, "sellerOrderReference")

    def order_assigned(self, ex: Any) -> str | None:
        """The order an accepted ceaseOrder placed (its sellerOrderReference), or None."""
        return self.assigned_id(ex) if ex.operation == self.ORDERING and ex.status == 200 else None

    def enum_tags(self, body: Any) -> set[str]:
        """`cfh:newOrderType=WLTO` for each documented enum value the body sends."""
        if not (isinstance(body, SoapBody) and b"newOrderType" in body.xml):
            return set()
        if AlaDialect._enum is None:
            element = contracts.ala_schema().maps.elements[f"{{{contracts.CFH_NS}}}newOrderType"]
            AlaDialect._enum = frozenset(map(str, element.type.enumeration))
        value = soap.element_text(body.xml, "newOrderType")
        return {f"cfh:newOrderType={value}"} if value in AlaDialect._enum else set()

    ECHOED = ("correlationId", "buyerOrderReference")
    _WANTED = frozenset(("fault", "faultcode", "cancellationStatus", *ECHOED))
    FACTS_LIMIT = 64 * 1024

    def facts(self, ex: Any) -> dict[str, Any]:
        """Whether the answer is a fault and its faultcode, the cancellation status, and which values
        the profile says are echoed the answer echoed (those the Case's message carries)."""
        try:
            got = _first_texts(soap.parse_xml(ex.response_body, limit=self.FACTS_LIMIT), self._WANTED)
        except soap.EnvelopeError:
            return {"body": "not XML"} if ex.response_body else {}
        out: dict[str, Any] = {}
        if "fault" in got:
            out["fault"] = True
            if "faultcode" in got:
                out["code"] = got["faultcode"][:80]
        if "cancellationStatus" in got:
            out["state"] = got["cancellationStatus"][:80]
        if any(name in got for name in self.ECHOED) and isinstance(ex.case.body, SoapBody):
            try:
                sent = _first_texts(soap.parse_xml(ex.case.body.xml, limit=self.FACTS_LIMIT), frozenset(self.ECHOED))
            except (soap.EnvelopeError, ValueError):
                sent = {}
            echo = {name: got[name] == sent[name] for name in self.ECHOED if name in got and name in sent}
            if echo:
                out["echo"] = echo
        return out


def _first_texts(root: Any, wanted: frozenset[str]) -> dict[str, str]:
    """{local name: stripped text of its first element} for the wanted names, in one pass."""
    found: dict[str, str] = {}
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        local = tag.rpartition("}")[2]
        if local in wanted and local not in found:
            found[local] = (el.text or "").strip()
    return found


ALA = AlaDialect()


class AlaClient:
    """What the ALA suites send with: SOAP envelopes of XSD-valid messages, run-unique messageIds, the
    test data a request names bound to it; every request becomes a Case the engine sends."""

    SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

    def __init__(self, engine: Any):
        self.engine = engine
        self.target = engine.target.ala
        self.namespace = self.target.namespace
        # every messageId issued in the run, by its run-unique suffix: a raw body is bound to the one it
        # carries whichever thread issued it (so the case is the same whatever the concurrency)
        self._issued: dict[str, str] = {}
        self._issued_lock = threading.Lock()

    @property
    def services(self) -> ServicePool:
        """The run's active services (the engine's pool: the runner hands it the ledger's claim)."""
        return self.engine.services

    def default_identity(self, operation: str) -> Identity:
        identity = ALA.default_identity(operation)
        assert identity is not None, f"unknown ALA operation {operation!r}"
        return identity

    def fixed_fields(self, operation: str) -> dict[str, Any]:
        """Fields whose values are target facts, not generated data."""
        return {"buyer.buyerIdentifier": self.target.buyer_identifier,
                "seller.sellerIdentifier": self.target.seller_identifier}

    def message(self, operation: str, **extra: Any):  # noqa: ANN201 - a Hypothesis strategy
        from fibrecert import strategies

        return strategies.ala_message(operation, namespace=self.namespace,
                                      fixed={**self.fixed_fields(operation), **extra})

    def envelope(self, operation: str, data: dict[str, Any], *, validate: bool = True) -> bytes:
        from fibrecert import strategies

        return soap.build_envelope(strategies.encode_ala(operation, data, self.namespace, validate=validate))

    def unique_message_id(self, generated: str = "") -> str:
        value = self.engine.message_id(generated)
        with self._issued_lock:
            self._issued[value.rsplit(f"~{self.engine.run_tag}-", 1)[-1]] = value
        return value

    def _issued_in(self, data: bytes) -> str | None:
        """The longest messageId issued in this run that `data` carries (the first, of equals)."""
        tag = f"~{self.engine.run_tag}-".encode()
        found: list[str] = []
        tried: set[bytes] = set()
        at = data.find(tag)
        while at != -1:
            start = at + len(tag)
            end = start + len(_SUFFIX.match(data, start).group())  # type: ignore[union-attr]
            at = data.find(tag, at + 1)
            if data[start:end] in tried:  # a body repeating one message many times: looked at once
                continue
            tried.add(data[start:end])
            with self._issued_lock:
                for stop in range(end, start, -1):  # the suffix may run on into text after it
                    mid = self._issued.get(data[start:stop].decode("ascii"))
                    if mid is not None and mid.encode() in data:
                        found.append(mid)
                        break
        return max(found, key=len) if found else None

    def post(self, operation: str, body: dict[str, Any] | etree._Element | bytes, *, identity: Identity | None = None,
             headers: dict[str, str] | None = None, method: str = "POST", validate: bool = True,
             fresh_message_id: bool = True, constraint: str | None = None, note: str = "",
             bindings: dict[str, Binding] | None = None, refusal_expected: bool = False,
             header_names: Callable[[str], str] | None = None, tags: tuple[str, ...] = ()) -> Any:
        """Send an ALA request: a message dict (encoded through the XSD), a request root element (a
        negative case, sent as it is), or raw bytes (malformed on purpose). `header_names` respells
        the header names (an envelope variant: they are case-insensitive); `tags` names what the case
        exercises beyond its body (e.g. `envelope=application/xml`)."""
        from fibrecert import strategies

        identity = identity or self.default_identity(operation)
        binds = dict(bindings or {})
        if isinstance(body, dict):
            if fresh_message_id and "messageId" in body.get("message", {}):
                body["message"]["messageId"] = self.unique_message_id(body["message"]["messageId"])
            element = strategies.encode_ala(operation, body, self.namespace, validate=validate)
            payload: SoapBody | RawBody = SoapBody(etree.tostring(element))
        elif isinstance(body, (bytes, bytearray)):
            payload = RawBody(bytes(body))
        else:
            payload = SoapBody(etree.tostring(body))
        self._bind(operation, payload, binds)
        sent = {**self.SOAP_HEADERS, **(headers or {})}
        if header_names is not None:
            sent = {header_names(k): v for k, v in sent.items()}
        case = self.engine.new_case(api="ala", operation=f"POST /{operation}",
                                    endpoint=contracts.ALA_OPERATIONS[operation].role, path=f"/{operation}",
                                    identity=identity, body=payload, method=method,
                                    headers=sent, bindings=binds, tags=tags,
                                    constraint=constraint, note=note, may_be_refused=refusal_expected)
        return self.engine.send(case)

    def _bind(self, operation: str, payload: SoapBody | RawBody, binds: dict[str, Binding]) -> None:
        """The test data a request names: the active service it ceases, the messageId it carries."""
        consumed = set(self.services.consumed)
        if isinstance(payload, SoapBody):
            if MESSAGE_ID not in binds:
                mid = soap.element_text(payload.xml, "messageId")
                if mid:
                    binds[MESSAGE_ID] = Binding(mid, "message.messageId")
            if operation == "ceaseOrder" and SERVICE not in binds:
                service = soap.element_text(payload.xml, "serviceIdentifier")
                if service and service in consumed:
                    binds[SERVICE] = Binding(service, "alaCease.serviceIdentifier")
            return
        data = payload.data
        if MESSAGE_ID not in binds:
            mid = self._issued_in(data)
            if mid is not None:
                binds[MESSAGE_ID] = Binding(mid)
        if operation == "ceaseOrder" and SERVICE not in binds and len(data) < 4 * 1024 * 1024:
            for service in consumed:
                if service.encode() in data:
                    binds[SERVICE] = Binding(service)
                    break

    def new_ids(self) -> dict[str, str]:
        return {"messageId": self.engine.token("uuid"), "correlationId": self.engine.token("uuid")}

    def text(self, payload: etree._Element, path: str) -> str | None:
        return ElementPath(path).text(payload, self.namespace)
