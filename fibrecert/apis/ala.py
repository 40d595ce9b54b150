"""The NICC ALA 2.30 dialect (CityFibre): SOAP 1.1 over HTTPS with mutual TLS.

Operations are the contract's (`contracts.ALA_OPERATIONS`: request root, answer root, serving role); a
seller operation goes to the target file's `base_url`, a buyer one to `buyer_base_url`. Paths in a
message are `ElementPath`s (the one walker, contracts/alapath.py). The order an answer assigns is a
ceaseOrder's `sellerOrderReference`; a cancelOrder names it in `targetSellerOrderReference`.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from lxml import etree

from fibrecert import contracts
from fibrecert.contracts import soap
from fibrecert.contracts.alapath import ElementPath
from fibrecert.core.case import MESSAGE_ID, SERVICE, Binding, RawBody, SoapBody
from fibrecert.core.identity import Credentials, Identity, register_scheme
from fibrecert.core.testdata import ServicePool
from fibrecert.narrowforms import MISSING, Form, Stop, clean, get, set_
from fibrecert.narrowforms import Path as FieldPath
from fibrecert.targetfile import ClientIdentity, Section, SectionTemplate, TemplateKey

from . import MtlsStage, Operation, Probe, Sending

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


# -- the target file's [ala] section (docs/target-file.md)
TARGET_KEYS = frozenset({
    "base_url", "buyer_base_url", "namespace", "ca_bundle", "client_cert", "client_key",
    "other_client_cert", "other_client_key", "seller_client_cert", "seller_client_key",
    "buyer_identifier", "other_buyer_identifier", "seller_identifier", "active_services", "timeout",
})


@dataclass(frozen=True)
class AlaTarget:
    base_url: str
    buyer_base_url: str | None
    namespace: str
    ca_bundle: Path | None
    client: ClientIdentity
    other_client: ClientIdentity | None
    seller_client: ClientIdentity | None
    buyer_identifier: str
    other_buyer_identifier: str | None
    seller_identifier: str
    active_services: tuple[str, ...]
    timeout: float

    @property
    def roles(self) -> tuple[str, ...]:
        return ("seller", "buyer") if self.buyer_base_url else ("seller",)

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base_url": self.base_url}
        if self.buyer_base_url:
            out["buyer_base_url"] = self.buyer_base_url
        out["namespace"] = self.namespace
        out["roles"] = list(self.roles)
        return out


def load_section(path: Path, data: Any, problems: list[str]) -> AlaTarget | None:
    if not isinstance(data, dict):
        problems.append("[ala]: must be a table")
        return None
    s = Section(path, "ala", data, TARGET_KEYS, problems)
    before = len(problems)
    base_url = s.take(s.url, "base_url")
    buyer_base_url = s.take(s.url, "buyer_base_url", required=False)
    namespace = s.take(s.string, "namespace", required=False, default="") or ""
    other = s.take(s.identity, "other_client", required=False)
    other_given = "other_client_cert" in data or "other_client_key" in data
    other_id = s.take(s.string, "other_buyer_identifier", required=other_given)
    services: Any = []
    if "active_services" in data and "active_services" not in s.placeholders:
        services = data["active_services"]
        if not isinstance(services, list) or not all(isinstance(x, str) and x.strip() for x in services):
            problems.append("[ala] active_services: must be a list of non-empty strings")
        elif len(set(services)) != len(services):
            problems.append("[ala] active_services: lists a service twice (each is ceased once)")
    ca_bundle = s.take(s.ca_bundle)
    client = s.take(s.identity, "client", required=True)
    seller_client = s.take(s.identity, "seller_client", required="buyer_base_url" in data)
    buyer_identifier = s.take(s.string, "buyer_identifier") or ""
    seller_identifier = s.take(s.string, "seller_identifier") or ""
    timeout = s.take(s.number, "timeout", 10.0, default=10.0)
    if len(problems) > before or s.placeholders:
        return None
    return AlaTarget(
        base_url=base_url or "",
        buyer_base_url=buyer_base_url,
        namespace=namespace,
        ca_bundle=ca_bundle,
        client=client,
        other_client=other,
        seller_client=seller_client,
        buyer_identifier=buyer_identifier,
        other_buyer_identifier=other_id,
        seller_identifier=seller_identifier,
        active_services=tuple(services),
        timeout=timeout,
    )


# What `fibrecert init` writes for the section, key by key (docs/target-file.md says the same).
_TEMPLATE_KEYS: tuple[TemplateKey, ...] = (
    TemplateKey("base_url", ("The seller endpoint: /ceaseOrder and /cancelOrder are POSTed below it. https:// only.",),
                fill="https:// URL of the ALA seller endpoint, e.g. https://ala-sandbox.example.net:8443"),
    TemplateKey("buyer_base_url", ("The buyer endpoint (/unsolicitedCeaseRequest), if you implement the buyer role.",
                                   "Not set: only the seller role is certified. Set: seller_client_cert and",
                                   "seller_client_key below are required too."),
                value='"https://ala-buyer.example.net:9443"', example=True),
    TemplateKey("namespace", ('The namespace of the core ALA elements; "" = unqualified elements.',),
                value='""'),
    TemplateKey("ca_bundle", ("PEM file of the CA(s) that issued your server certificate. Not set: the default",
                              "CA store (REQUESTS_CA_BUNDLE, else certifi's)."),
                value='"pki/ca.pem"', example=True),
    TemplateKey("client_cert", ("The client certificate fibrecert presents as buyer_identifier (its subject CN",
                                "is that identifier), and its unencrypted private key. PEM files."),
                fill="path of the PEM client certificate of buyer_identifier, e.g. pki/buyer.crt"),
    TemplateKey("client_key", (), fill="path of that certificate's unencrypted PEM private key, e.g. pki/buyer.key"),
    TemplateKey("other_client_cert", ("A valid identity of another buyer, for the cross-party security requirements",
                                      "(someone else's order must be refused). Not set: those MUSTs are",
                                      "not_tested and the verdict is INCOMPLETE, never CONFORMANT."),
                value='"pki/other-buyer.crt"', example=True),
    TemplateKey("other_client_key", (), value='"pki/other-buyer.key"', example=True),
    TemplateKey("seller_client_cert", ("The identity fibrecert presents when it plays the seller against",
                                       "buyer_base_url. Required when buyer_base_url is set."),
                value='"pki/seller.crt"', example=True),
    TemplateKey("seller_client_key", (), value='"pki/seller.key"', example=True),
    TemplateKey("buyer_identifier", ("The buyer identifier of client_cert.",),
                fill="the buyer identifier of client_cert (its subject CN), e.g. SPDEV1"),
    TemplateKey("other_buyer_identifier", ("The buyer identifier of other_client_cert. Required with it.",),
                value='"SPDEV2"', example=True),
    TemplateKey("seller_identifier", ("The seller's identifier.",),
                fill="the seller identifier your endpoint answers as, e.g. CITYFIBRE"),
    TemplateKey("active_services", ("Services of buyer_identifier that the run may cease FOR REAL, each once, from",
                                    "the front. A ledger beside this file (NAME.ledger.json) records what each run",
                                    "used; add fresh ones when fibrecert says too few remain."),
                fill="an active service id of buyer_identifier that may be ceased", list_of_one=True),
    TemplateKey("timeout", ("Seconds to wait for each answer.",), value="10"),
)
TEMPLATE = SectionTemplate("NICC ALA 2.30: SOAP 1.1 over HTTPS, mutual TLS.", "ALA", _TEMPLATE_KEYS)


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

    def token_ages(self, identity: Identity) -> bool:
        return False  # a certificate, no token


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
    title, version = "NICC ALA", "2.30"   # the contract it certifies
    short_name = "ALA"                    # in messages: "the ALA endpoint"
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

    target_keys = TARGET_KEYS
    uses_test_data = True   # a run ceases the target file's active_services (the ledger tracks them)
    report_notes = ("ALA access is also limited to agreed source IP addresses; that restriction cannot be tested "
                    "from the suite.",)
    template = TEMPLATE
    secret_keys: frozenset[str] = frozenset()   # keys that may be given as <key>_env

    @staticmethod
    def load_section(path: Path, data: Any, problems: list[str]) -> "AlaTarget | None":
        return load_section(path, data, problems)

    def probes(self, section: AlaTarget) -> list[Probe]:
        """The seller endpoint with the buyer's certificate; the buyer endpoint, if any, with the seller's."""
        out = [Probe("base_url", "seller", section.base_url, section.ca_bundle,
                     MtlsStage(section.client, "client_cert", "ceaseOrder"))]
        if section.buyer_base_url and section.seller_client is not None:
            out.append(Probe("buyer_base_url", "buyer", section.buyer_base_url, section.ca_bundle,
                             MtlsStage(section.seller_client, "seller_client_cert", "unsolicitedCeaseRequest")))
        return out

    def narrowing_form(self, engine: Any, case: Any) -> "AlaForm":
        return AlaForm(engine, case)

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
        body = ex.case.body
        if any(name in got for name in self.ECHOED) and isinstance(body, (SoapBody, RawBody)):
            try:  # a message's request root, or a raw case's bytes (an envelope sent as it is)
                sent = _first_texts(soap.parse_xml(body.xml if isinstance(body, SoapBody) else body.data,
                                                   limit=self.FACTS_LIMIT), frozenset(self.ECHOED))
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


# -- narrowing a failing valid request (fibrecert/narrowing.py)
class AlaForm(Form):
    """An ALA request as the XSD decodes it (fibrecert/narrowforms.py)."""

    api = "ala"

    def __init__(self, engine: Any, case: Any):
        from fibrecert import contracts, strategies
        from fibrecert.contracts import soap
        from fibrecert.strategies import ala_example

        self.engine, self.case, self.client = engine, case, engine.clients["ala"]
        self.operation = case.operation.split("/", 1)[1]
        ns = self.client.namespace
        schema = contracts.ala_schema(ns)
        from lxml import etree

        root = etree.fromstring(case.body.xml, soap.safe_parser())
        decoded = schema.to_dict(root, validation="lax", namespaces=contracts.ala_namespaces(ns))
        data, errors = decoded if isinstance(decoded, tuple) else (decoded, [])
        self.ok = not errors and isinstance(data, dict)
        self.failing = clean(data) if self.ok else {}
        fixed = self.client.fixed_fields(self.operation)
        self.good = ala_example(self.operation, fixed)
        self.strategies = strategies
        # messageId: the generated text before the run-unique suffix the suite appends
        mid = get(self.failing, ("message", "messageId"))
        if isinstance(mid, str) and f"~{engine.run_tag}-" in mid:
            self.failing["message"]["messageId"] = mid.rsplit(f"~{engine.run_tag}-", 1)[0]
        pinned = [tuple(p.split(".")) for p in fixed]
        for kind, b in case.bindings:
            if kind != "message_id" and b.path:
                pinned.append(tuple(b.path.split(".")))
        self.pinned = tuple(pinned)
        for p in self.pinned:
            if get(self.failing, p) is not MISSING and get(self.good, p[:-1]) is not MISSING:
                set_(self.good, p, get(self.failing, p))

    def facets(self, path: FieldPath) -> dict[str, Any]:
        from fibrecert.strategies import ala_declaration

        try:
            decl = ala_declaration(self.operation, ".".join(map(str, path)))
        except StopIteration:
            return {}
        t = decl.type
        out: dict[str, Any] = {"optional": decl.min_occurs == 0}
        if not t.is_simple():
            return out
        if t.enumeration:
            out["enum"] = [str(v) for v in t.enumeration]
        if getattr(t, "max_length", None) is not None:
            out["maxLength"] = t.max_length
        if getattr(t, "min_length", None) is not None:
            out["minLength"] = t.min_length
        prim = getattr(t, "primitive_type", None)
        if prim is not None and prim.local_name in ("date", "dateTime"):
            out["date"] = True
        return out

    def valid(self, data: Any) -> bool:
        try:
            self.strategies.encode_ala(self.operation, copy.deepcopy(data), self.client.namespace)
        except Exception:  # noqa: BLE001 - an invalid hybrid is never sent
            return False
        return True

    def send(self, data: Any, note: str, setup: Callable[[Any], Any] | None) -> list[Any]:
        data = copy.deepcopy(data)
        chain = setup(data) if setup is not None else []
        return [*chain, self.client.post(self.operation, data, identity=self.case.identity, note=note)]

    def place_order(self, spend: Callable[[int], None]) -> tuple[list[Any], Any]:
        raise Stop("an ALA cancelOrder is not narrowed (each probe would cease an active service for its order)")
