"""ALA 2.30 reference implementation: the seller (ceaseOrder, cancelOrder) and a buyer
(unsolicitedCeaseRequest), following docs/profiles/ala-2.30.md to the letter.

Requests are parsed with the safe parser and validated with the contract's own XSD; responses are
encoded through the same XSD, so the sandbox cannot answer outside its contract by accident.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import itertools
import logging
import re
import time
import uuid
from typing import Any, Callable

from lxml import etree
from xmlschema import XMLSchemaChildrenValidationError, XMLSchemaException
from xmlschema.validators import XsdGroup
from werkzeug.wrappers import Request, Response

from fibrecert import contracts
from fibrecert.contracts import soap
from fibrecert.pki import subject_common_name

from .defects import HANG_SECONDS, Defects
from .lenient import ALA_FAMILY_DEFECTS, ala_forgive, ala_read, any_on
from .store import Store

log = logging.getLogger("fibrecert.sandbox.ala")


_DATE_TIME = contracts.ala_schema().maps.types["{http://www.w3.org/2001/XMLSchema}dateTime"]


_common_name = functools.lru_cache(maxsize=64)(subject_common_name)  # a connection's certificate, per request


def _blank_to_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _blank_to_text(v) for k, v in value.items()}
    return "" if value is None else value


class Fault(Exception):
    def __init__(self, status: int, code: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class AlaApp:
    """One WSGI app per role. `role` is "seller" (identity = CITYFIBRE) or "buyer" (identity = a buyer)."""

    def __init__(self, store: Store, *, role: str, own_identifier: str, namespace: str = "",
                 defects: Defects | None = None):
        self.store, self.role, self.own = store, role, own_identifier
        self.namespace = namespace
        self.schema = contracts.ala_schema(namespace)
        self.defects = defects if defects is not None else Defects()
        ops: dict[str, Callable[[etree._Element, dict[str, Any], str], bytes]] = (
            {"/ceaseOrder": self._cease_order, "/cancelOrder": self._cancel_order}
            if role == "seller" else {"/unsolicitedCeaseRequest": self._unsolicited_cease})
        self.operations = ops

    # ------------------------------------------------------------------------------ plumbing
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        throttled = self.defects.throttle("ala-throttle-every-5th-request")
        if throttled:  # a documented throttle: no defect (sandbox/defects.py, `conformant`)
            return Response("", status=throttled[0], headers={"Retry-After": throttled[1]})(environ, start_response)
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except Fault as fault:
            response = self._fault_response(fault)
        except Exception:  # a bug: answer, log, and let the suite's ROB checks see it
            log.exception("sandbox error")
            response = self._fault_response(Fault(500, "INTERNAL", "internal error"))
        return response(environ, start_response)

    def _fault_response(self, fault: Fault) -> Response:
        data: dict[str, Any] = {"faultcode": fault.code, "faultmessage": fault.message}
        if fault.detail:
            data["detail"] = fault.detail[:500]
        element = self._encode("fault", data)
        if self.defects.on("ala-fault-without-faultcode"):
            element.remove(element[0])
        headers = {"Connection": "close"} if fault.status in (400, 401) and fault.code == "TOO_LARGE" else {}
        if self.defects.on("ala-faults-as-json"):
            import json

            return Response(json.dumps(data), status=fault.status, content_type="application/json", headers=headers)
        return Response(soap.build_envelope(element), status=fault.status,
                        content_type="text/xml; charset=utf-8", headers=headers)

    def _encode(self, root: str, data: dict[str, Any]) -> etree._Element:
        if self.defects.on("ala-accepts-invalid-values") or any_on(self.defects, ALA_FAMILY_DEFECTS):  # echoes it
            element, _ = self.schema.encode(data, path=contracts.ala_qname(root, self.namespace),
                                            namespaces=contracts.ala_namespaces(self.namespace),
                                            etree_element_class=etree.Element, indent=0, validation="lax")
            return element
        # "lax" and raising the first error is "strict" without its per-call check of the whole schema's
        # validity (a walk of every component: a fifth of the encoding's cost)
        element, errors = self.schema.encode(data, path=contracts.ala_qname(root, self.namespace),
                                             namespaces=contracts.ala_namespaces(self.namespace),
                                             etree_element_class=etree.Element, indent=0, validation="lax")
        if errors:
            raise errors[0]
        return element

    def _read_body(self, request: Request) -> bytes:
        if self.defects.on("ala-no-size-limit"):
            return request.stream.read()
        length = request.content_length
        if length is not None and length > soap.MAX_BODY:
            raise Fault(400, "TOO_LARGE", "request body is over the 1 MiB limit")
        data = request.stream.read(soap.MAX_BODY + 1)
        if len(data) > soap.MAX_BODY:
            raise Fault(400, "TOO_LARGE", "request body is over the 1 MiB limit")
        return data

    def _dispatch(self, request: Request) -> Response:
        handler = self.operations.get(request.path)
        if handler is None:
            raise Fault(404, "NOT_FOUND", f"no operation at {request.path}")
        if request.method != "POST" and request.path == "/cancelOrder" and self.defects.on("ala-cancel-other-methods-404"):
            raise Fault(404, "NOT_FOUND", f"no operation at {request.path}")  # routes POST only: the rest 404
        if request.method != "POST" and not self.defects.on("ala-get-allowed"):
            return Response(soap.build_envelope(self._encode(
                "fault", {"faultcode": "METHOD_NOT_ALLOWED", "faultmessage": "use POST"})),
                status=405, content_type="text/xml; charset=utf-8", headers={"Allow": "POST"})
        # Rule 10: the identity is the client certificate's subject CN.
        pem = request.environ.get("SSL_CLIENT_CERT")
        identity = _common_name(pem) if pem else None
        if request.method != "POST":  # only with the ala-get-allowed defect
            return Response(soap.build_envelope(None), status=200, content_type="text/xml; charset=utf-8")
        if not identity and self.defects.on("ala-trusts-the-message"):
            identity = "(from the message)"
        if not identity:
            raise Fault(401, "NOT_AUTHENTICATED", "a client certificate is required")
        content_type = request.headers.get("Content-Type")
        if self.defects.on("ala-header-names-case-sensitive") \
                and "Content-Type" not in request.environ.get("fibrecert.header_names", ()):
            content_type = None  # reads its headers by their exact spelling: content-type is not Content-Type
        if self.defects.on("ala-exact-content-type") and content_type != "text/xml; charset=utf-8":
            content_type = None  # compares the whole value as a string: text/xml, charset=UTF-8 refused
        if not soap.is_xml_content_type(content_type) \
                and not self.defects.on("ala-accepts-any-content-type"):
            raise Fault(400, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be text/xml or application/xml")
        body = self._read_body(request)
        try:
            envelope = soap.parse_envelope(body, allow_dtd=self.defects.on("ala-accepts-dtd"),
                                           limit=None if self.defects.on("ala-no-size-limit") else soap.MAX_BODY)
            payload = soap.single_payload(envelope)
        except soap.EnvelopeError as exc:
            raise Fault(400, "INVALID_ENVELOPE", str(exc)) from None
        expected = contracts.ala_qname(request.path.lstrip("/"), self.namespace)
        if payload.tag != expected:
            raise Fault(400, "WRONG_MESSAGE", f"the Body holds {etree.QName(payload).localname!r}, "
                                              f"expected {request.path.lstrip('/')!r} for {request.path}")
        data: Any = None
        try:
            errors, data = self._schema_errors(payload)
            reason = (errors[0].reason or str(errors[0].message)) if errors else None
        except (XMLSchemaException, LookupError, ValueError) as exc:  # e.g. an xsi:type naming no type
            reason = f"the request cannot be validated: {type(exc).__name__}"
        if reason is not None and not self.defects.on("ala-accepts-missing-field"):
            raise Fault(400, "INVALID_REQUEST", "the request does not satisfy the ALA 2.30 contract",
                        detail=reason)
        if data is None:  # not decoded in the validating pass (another element was validated, or it had errors)
            data = self.schema.to_dict(payload, validation="skip",
                                       namespaces=contracts.ala_namespaces(self.namespace))
        if not isinstance(data, dict):  # only with the ala-accepts-missing-field defect
            data = {}
        if self.defects.on("ala-accepts-invalid-values") or any_on(self.defects, ALA_FAMILY_DEFECTS):
            data = ala_read(self.defects, _blank_to_text(data), request.path.lstrip("/"))  # blank: "" not None
        if identity == "(from the message)":  # ala-trusts-the-message: whoever the message names
            identity = (data.get("seller", {}).get("sellerIdentifier") if self.role == "buyer"
                        else data.get("buyer", {}).get("buyerIdentifier")) or ""
        body = handler(payload, data, identity)
        if self.defects.on("ala-sentat-without-timezone"):  # a local dateTime, its zone left out
            body = re.sub(rb"(sentAt>[^<]*?)(?:Z|[+-]\d\d:\d\d)<", rb"\1<", body)
        status, ctype = 200, "text/xml; charset=utf-8"
        if request.path == "/cancelOrder" and self.defects.on("ala-cancel-answers-202"):
            status = 202
        if request.path == "/ceaseOrder" and self.defects.on("ala-cease-wrong-content-type"):
            ctype = "application/soap+xml; charset=utf-8"
        if request.path == "/unsolicitedCeaseRequest" and self.defects.on("ala-ucr-text-plain"):
            ctype = "text/plain"
        return Response(body, status=status, content_type=ctype)

    def _schema_errors(self, payload: etree._Element) -> tuple[list[Any], Any]:
        """XSD errors of a request (at most 20) and, when the request itself was what got validated,
        its decoded dict (one pass: validating and decoding are the same walk). Profile rule 6: the
        reference sandbox also accepts an xs:dateTime for requestedDate (validated as its date part)."""
        checked = payload
        dates = list(payload.iter(contracts.ala_qname("requestedDate", self.namespace)))
        if any(el.text and _DATE_TIME.is_valid(el.text) for el in dates):
            checked = copy.deepcopy(payload)
            for el in checked.iter(contracts.ala_qname("requestedDate", self.namespace)):
                if el.text and _DATE_TIME.is_valid(el.text):
                    el.text = el.text.strip().split("T", 1)[0]
        checked = ala_forgive(self.defects, checked)  # the family defects (sandbox/lenient.py)
        if self.defects.on("ala-accepts-unknown-elements"):
            checked = self._drop_undeclared(copy.deepcopy(checked))
        data: Any = None
        if checked is payload:
            decoded, found = self.schema.to_dict(payload, validation="lax",
                                                 namespaces=contracts.ala_namespaces(self.namespace))
            errors = list(found[:20])
            data = None if found else decoded  # with errors, the caller decodes as it always did
        else:
            errors = list(itertools.islice(self.schema.iter_errors(checked), 20))
        if self.defects.on("ala-accepts-invalid-values"):
            errors = [e for e in errors if isinstance(e, XMLSchemaChildrenValidationError)
                      or isinstance(e.validator, XsdGroup)]  # the content model (text between elements too)
        return errors, data

    def _drop_undeclared(self, root: etree._Element) -> etree._Element:
        """The ala-accepts-unknown-elements defect: a lenient reader that skips undeclared children."""
        def walk(el: etree._Element, decl: Any) -> None:
            if not decl.type.is_complex() or decl.type.is_empty():
                return
            children = {c.name: c for c in decl.type.content.iter_elements()}
            for child in list(el):
                if isinstance(child.tag, str) and child.tag not in children:
                    el.remove(child)
                elif isinstance(child.tag, str):
                    walk(child, children[child.tag])
        walk(root, self.schema.elements[etree.QName(root).localname])
        return root

    # ------------------------------------------------------------------------------ seller
    def _check_buyer_identity(self, data: dict[str, Any], identity: str) -> str:
        buyer = data["buyer"]["buyerIdentifier"]
        if identity != buyer and self.defects.on("ala-accepts-other-buyer"):
            identity = buyer
        if identity != buyer:  # Rule 10
            if self.defects.on("ala-403-as-400"):
                raise Fault(400, "INVALID_REQUEST", "this certificate may not act for that buyerIdentifier")
            raise Fault(403, "FORBIDDEN", "this certificate may not act for that buyerIdentifier")
        if data["seller"]["sellerIdentifier"] != self.own:  # Rule 11
            raise Fault(400, "UNKNOWN_SELLER", f"sellerIdentifier must be {self.own}")
        return buyer

    def _replayed(self, db: Any, buyer: str, message_id: str, operation: str) -> bytes | None:
        row = self.store.seen_message(db, buyer, message_id)
        if row is None and self.defects.on("ala-replay-answers-other-buyer"):  # remembers ids, not whose
            row = db.execute("SELECT * FROM ala_messages WHERE message_id=? LIMIT 1", (message_id,)).fetchone()
        if row is None:
            return None
        if row["status"] != 200 or row["operation"] != operation:
            raise Fault(400, "DUPLICATE_MESSAGE", "this messageId was already used")
        return bytes(row["body"])

    def _cease_order(self, payload: etree._Element, data: dict[str, Any], identity: str) -> bytes:
        buyer = self._check_buyer_identity(data, identity)
        message_id = data["message"]["messageId"]
        service = data["alaCease"]["serviceIdentifier"]
        self._leap_day(data.get("alaCease", {}).get("requestedDate"))
        if self.defects.on("ala-long-reference-crashes") and len(data["orderReferences"]["buyerOrderReference"]) > 64:
            raise ValueError("buyerOrderReference does not fit its 64-character column")
        with self.store.transaction() as db:
            previous = (None if self.defects.on("ala-replay-creates-second-order")
                        else self._replayed(db, buyer, message_id, "ceaseOrder"))
            if previous is not None:
                return previous  # Rule 11: the same response again, never a second order
            row = db.execute("SELECT buyer, state FROM ala_services WHERE service_id=?", (service,)).fetchone()
            if row is None and self.defects.on("ala-unknown-service-accepted"):
                row = {"buyer": buyer, "state": "active"}
            if row is None or row["buyer"] != buyer:
                raise Fault(400, "UNKNOWN_SERVICE", "no active service with that serviceIdentifier")
            if row["state"] != "active" and self.defects.on("ala-ceased-service-fault-401"):
                raise Fault(401, "ALREADY_CEASED", "that service is already ceased")
            if row["state"] != "active" and not self.defects.on("ala-cease-of-a-ceased-service-accepted"):
                raise Fault(400, "ALREADY_CEASED", "that service is already ceased")
            if self.defects.on("ala-cease-500-on-valid"):
                raise Fault(500, "INTERNAL", "internal error")
            if self.defects.on("ala-cease-500-on-non-ascii-reference") \
                    and not data["orderReferences"]["buyerOrderReference"].isascii():
                raise Fault(500, "INTERNAL", "internal error")
            seller_ref = f"CF-ORD-{uuid.uuid4().hex[:16].upper()}"
            db.execute("UPDATE ala_services SET state='ceased' WHERE service_id=?", (service,))
            db.execute("INSERT INTO ala_orders VALUES (?, ?, ?, ?, 'in_flight', ?, strftime('%s','now'))",
                       (seller_ref, buyer, data["orderReferences"]["buyerOrderReference"], service,
                        data["message"]["correlationId"]))
            reply = self._reply_message(data)
            if self.defects.on("ala-cease-echoes-message-id"):
                reply["messageId"] = data["message"]["messageId"]
            if self.defects.on("ala-cease-no-correlation-echo"):
                reply["correlationId"] = str(uuid.uuid4())
            body = soap.build_envelope(self._encode("orderResponse", {
                "message": reply,
                "orderReferences": {"buyerOrderReference": (
                    data["orderReferences"]["buyerOrderReference"].encode("ascii", "replace").decode("ascii")
                    if self.defects.on("ala-echo-non-ascii-mangled")
                    else data["orderReferences"]["buyerOrderReference"]),
                                    "sellerOrderReference": seller_ref},
            }))
            self.store.remember_message(db, buyer, message_id, "ceaseOrder", 200, body)
        return body

    def _cancel_order(self, payload: etree._Element, data: dict[str, Any], identity: str) -> bytes:
        buyer = self._check_buyer_identity(data, identity)
        message_id = data["message"]["messageId"]
        target = data["targetSellerOrderReference"]
        if self.defects.on("ala-reason-code-max-refused") \
                and len(data["cancellationReason"]["cancellationReasonCode"]) >= 4:
            raise Fault(400, "INVALID_REQUEST", "cancellationReasonCode must be 1 to 3 digits")
        with self.store.transaction() as db:
            previous = self._replayed(db, buyer, message_id, "cancelOrder")
            if previous is not None:
                return previous
            row = db.execute("SELECT buyer, state FROM ala_orders WHERE seller_ref=?", (target,)).fetchone()
            if row is None and self.defects.on("ala-cancel-lookup-case-insensitive"):  # a case-folding collation
                found = db.execute("SELECT seller_ref, buyer, state FROM ala_orders WHERE seller_ref=? "
                                   "COLLATE NOCASE", (target,)).fetchone()
                if found is not None:
                    row, target = found, found["seller_ref"]
            if row is None and self.defects.on("ala-cancel-unknown-accepted"):
                row = {"buyer": buyer, "state": "in_flight"}  # an order it never issued
            if row is not None and self.defects.on("ala-cancel-other-buyers-order"):
                row = {"buyer": buyer, "state": row["state"]}  # whoever asks owns it
            if row is None or row["buyer"] != buyer:  # never reveal another buyer's order
                raise Fault(400, "UNKNOWN_ORDER", "no in-flight order with that targetSellerOrderReference")
            if row["state"] != "in_flight" and not self.defects.on("ala-double-cancel-accepted"):
                raise Fault(400, "CANCELLATION_PENDING", "a cancellation of that order is already pending")
            db.execute("UPDATE ala_orders SET state='cancel_pending' WHERE seller_ref=?", (target,))
            body = soap.build_envelope(self._encode("cancelOrderResponse", {
                "message": self._reply_message(data),
                "orderReferences": {"buyerOrderReference": (data["orderReferences"]["buyerOrderReference"].strip()
                                                            if self.defects.on("ala-cancel-echo-trims-reference")
                                                            else data["orderReferences"]["buyerOrderReference"]),
                                    "sellerOrderReference": (f"{target}-X" if self.defects.on("ala-cancel-wrong-seller-ref")
                                                             else target)},
                "cancellationStatus": "Pending",
            }))
            if self.defects.on("ala-cancel-status-accepted"):
                body = body.replace(b">Pending<", b">Accepted<")
            self.store.remember_message(db, buyer, message_id, "cancelOrder", 200, body)
        return body

    def _leap_day(self, requested: Any) -> None:
        """ala-leap-day-refused: a date check with 28 days in every February."""
        if self.defects.on("ala-leap-day-refused") and requested is not None and str(requested)[5:10] == "02-29":
            raise Fault(400, "INVALID_REQUEST", "requestedDate is not a date")

    def _reply_message(self, data: dict[str, Any]) -> dict[str, str]:
        return {"messageId": str(uuid.uuid4()), "correlationId": data["message"]["correlationId"],
                "sentAt": _now()}

    # ------------------------------------------------------------------------------ buyer
    def _unsolicited_cease(self, payload: etree._Element, data: dict[str, Any], identity: str) -> bytes:
        seller = data["seller"]["sellerIdentifier"]
        if identity != seller:  # Rule 10, buyer role: the caller is the seller
            raise Fault(403, "FORBIDDEN", "this certificate may not act for that sellerIdentifier")
        if data["buyer"]["buyerIdentifier"] != self.own:
            raise Fault(400, "UNKNOWN_BUYER", f"buyerIdentifier must be {self.own}")
        self._leap_day(data.get("requestedDate"))
        if self.defects.on("ala-ucr-rejects-wlto") and data.get("cfh:newOrderType") == "WLTO":
            raise Fault(400, "INVALID_REQUEST", "unsupported newOrderType")
        with self.store.transaction() as db:
            db.execute("INSERT INTO ala_unsolicited_ceases VALUES (?, ?, ?, ?, ?, strftime('%s','now'))",
                       (data["message"]["messageId"], seller, self.own, data["serviceIdentifier"],
                        data.get("cfh:newOrderType")))
        if self.defects.on("ala-hangs-on-wlto") and data.get("cfh:newOrderType") == "WLTO":
            time.sleep(HANG_SECONDS)
        element = self._encode("unsolicitedCeaseResponse", {})
        if self.defects.on("ala-ucr-response-not-empty"):
            element.text = "OK"
        return soap.build_envelope(element)
