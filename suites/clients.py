"""Clients the suites use to talk to a target: they know the wire format (SOAP envelopes, OAuth2 tokens,
required headers) and build a `Case` for every request; the engine sends it, so every request is
rate-limited, timed, recorded and checked for robustness in one place.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any, Callable

from lxml import etree

from fibrecert import contracts, strategies
from fibrecert.case import MESSAGE_ID, SERVICE, Binding, FormBody, JsonBody, RawBody, SoapBody
from fibrecert.contracts import soap
from fibrecert.engine import OutOfTestData, ServicePool  # noqa: F401 - re-exported for the suites
from fibrecert.identity import (ALA_BUYER, ALA_NO_CERT, ALA_OTHER_BUYER, ALA_SELLER, ALA_UNTRUSTED,  # noqa: F401
                                BAD_TOKENS, CLIENT_A, CLIENT_A_WRONG_SECRET, MALFORMED_TOKEN, NO_TOKEN, TENANT_A,
                                TENANT_B, UNISSUED_TOKEN, WRONG_SECRET, Identity)
from fibrecert.transport import Exchange


_SUFFIX = re.compile(rb"[0-9A-Za-z.\-]{0,64}")  # what follows "~<run tag>-" in a messageId: the lane and count


class AlaClient:
    SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

    def __init__(self, engine: Any):
        self.engine = engine
        self.target = engine.target.ala
        self.namespace = self.target.namespace
        self.services: ServicePool = engine.services
        # every messageId issued in the run, by its run-unique suffix: a raw body is bound to the one it
        # carries whichever thread issued it (so the case is the same whatever the concurrency)
        self._issued: dict[str, str] = {}
        self._issued_lock = threading.Lock()

    def url(self, operation: str) -> str:
        role = contracts.ALA_OPERATIONS[operation][2]
        base = self.target.base_url if role == "seller" else self.target.buyer_base_url
        assert base, f"no {role} endpoint in the target file"
        return f"{base}/{operation}"

    def default_identity(self, operation: str) -> Identity:
        return ALA_BUYER if contracts.ALA_OPERATIONS[operation][2] == "seller" else ALA_SELLER

    def fixed_fields(self, operation: str) -> dict[str, Any]:
        """Fields whose values are target facts, not generated data."""
        return {"buyer.buyerIdentifier": self.target.buyer_identifier,
                "seller.sellerIdentifier": self.target.seller_identifier}

    def message(self, operation: str, **extra: Any):
        return strategies.ala_message(operation, namespace=self.namespace,
                                      fixed={**self.fixed_fields(operation), **extra})

    def envelope(self, operation: str, data: dict[str, Any], *, validate: bool = True) -> bytes:
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
             header_names: Callable[[str], str] | None = None, tags: tuple[str, ...] = ()) -> Exchange:
        """Send an ALA request: a message dict (encoded through the XSD), a request root element (a
        negative case, sent as it is), or raw bytes (malformed on purpose). `header_names` respells
        the header names (an envelope variant: they are case-insensitive); `tags` names what the case
        exercises beyond its body (e.g. `envelope=application/xml`)."""
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
                                    endpoint=contracts.ALA_OPERATIONS[operation][2], path=f"/{operation}",
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
        from .checks import ala_text

        return ala_text(payload, path, self.namespace)


class FibreCafeClient:
    TOKEN_OPERATION = "POST /auth/tenant/access-token"

    def __init__(self, engine: Any):
        self.engine = engine
        self.target = engine.target.fibrecafe
        self.conversation = str(uuid.uuid4())

    def credentials(self, tenant: str) -> tuple[str, str]:
        return self.engine.credentials.client(tenant)

    def request_token(self, identity: Identity = CLIENT_A) -> Exchange:
        """A client-credentials grant at the token endpoint (client credentials in HTTP Basic)."""
        fields = [("grant_type", "client_credentials")]
        if self.target.scope:
            fields.append(("scope", self.target.scope))
        case = self.engine.new_case(api="fibrecafe", operation=self.TOKEN_OPERATION, endpoint="token", path="",
                                    identity=identity, body=FormBody(tuple(fields)),
                                    headers={"Content-Type": "application/x-www-form-urlencoded",
                                             "Accept": "application/json"})
        return self.engine.send(case)

    def token(self, tenant: str = "a") -> str:
        return self.engine.credentials.token(tenant)

    def headers(self) -> dict[str, str]:
        return {"X-Request-ID": str(uuid.uuid4()), "X-Conversation-ID": self.conversation,
                "Accept": "application/json"}

    def post(self, path: str, body: Any, *, identity: Identity = TENANT_A, headers: dict[str, str] | None = None,
             omit: tuple[str, ...] = (), raw: bytes | None = None, raw_json: str | None = None,
             content_type: str = "application/json", method: str = "POST", constraint: str | None = None,
             note: str = "", header_names: Callable[[str], str] | None = None, tags: tuple[str, ...] = ()) -> Exchange:
        """POST (or `method`) a JSON value, or `raw` bytes, as `identity`; `header_names` respells the
        header names (an envelope variant), `tags` names what the case exercises beyond its body."""
        h = {**self.headers(), "Content-Type": content_type, **(headers or {})}
        if header_names is not None:
            h = {header_names(k): v for k, v in h.items()}
        payload = RawBody(raw) if raw is not None else JsonBody(body, raw_json)
        case = self.engine.new_case(api="fibrecafe", operation=f"POST {path}", endpoint="api", path=path,
                                    identity=identity, body=payload, method=method, headers=h, omit_headers=omit,
                                    constraint=constraint, note=note, tags=tags)
        return self.engine.send(case)

    def cease_order_body(self) -> dict[str, Any]:
        """The smallest valid create-order body (a cease), for tests that just need an order."""
        body = {"orderType": "CEASE", "supplier": self.target.supplier, "serviceId": f"SVC-{self.engine.token()}"}
        return strategies.assert_valid_fibrecafe("ServiceOrderRequest", body)
