"""Fibre Cafe 1.17 reference implementation: the OAuth2 token endpoint and the two ordering
operations, following docs/profiles/fibrecafe-1.17.md (facts and decisions 1-8).

Request bodies are validated with the contract's own JSON Schemas (from openapi.yaml).
"""

from __future__ import annotations

import datetime as _dt
import base64
import binascii
import json
import math
import logging
import re
import secrets
import time
import uuid
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response


from .defects import HANG_SECONDS, Defects
from .lenient import json_errors
from .store import Store

_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")

log = logging.getLogger("fibrecert.sandbox.fibrecafe")

MAX_BODY = 1024 * 1024
IN_FLIGHT = {"RECEIVED_BY_GATEWAY", "SENT_TO_SUPPLIER", "ACKNOWLEDGED", "IN_PROGRESS", "PENDING", "HELD",
             "PENDING_AMENDMENT"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, *messages: str):
        super().__init__(messages[0] if messages else code)
        self.status, self.code, self.messages = status, code, list(messages) or [code]


class FibreCafeApp:
    def __init__(self, store: Store, *, prefix: str = "/v1", token_ttl: float = 3600.0,
                 defects: Defects | None = None, record_tokens: bool = False,
                 client_ttls: dict[str, float] | None = None):
        self.store, self.prefix, self.token_ttl = store, prefix.rstrip("/"), token_ttl
        self.client_ttls = dict(client_ttls or {})  # clients whose tokens live shorter (decision 7: expiry testable)
        self._answers_by_request_id: dict[str, tuple[int, str]] = {}  # the fc-request-id-replay-across-tenants defect
        # Tests only: keep issued tokens in memory to prove none leaks into a report. Never persisted.
        self.issued_tokens: list[str] | None = [] if record_tokens else None
        self.defects = defects if defects is not None else Defects()
        self.routes = {
            f"{self.prefix}/auth/tenant/access-token": self._token,
            f"{self.prefix}/service-orders": self._create_order,
            f"{self.prefix}/service-order-cancellations": self._cancel_order,
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        throttled = self.defects.throttle("fc-throttle-every-5th-request")
        if throttled:  # a documented throttle: no defect (sandbox/defects.py, `conformant`)
            return Response("", status=throttled[0], headers={"Retry-After": throttled[1]})(environ, start_response)
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except ApiError as err:
            response = self._error(err)
        except Exception:
            log.exception("sandbox error")
            response = self._error(ApiError(500, "GATEWAY_FAULT", "internal error"))
        for header in ("X-Request-ID", "X-Conversation-ID"):
            value = request.headers.get(header)
            if value and value.isprintable() and len(value) <= 200:
                response.headers[header] = value
        return response(environ, start_response)

    def _error(self, err: ApiError) -> Response:
        code = "BAD_THING" if self.defects.on("fc-error-code-outside-enum") else err.code
        if err.status == 401 and self.defects.on("fc-401-as-403"):
            return Response("", status=403)
        if err.status == 400 and err.code == "MALFORMED_REQUEST" and self.defects.on("fc-422-for-malformed") \
                and any(": " in m for m in err.messages):  # schema errors only (field: message)
            err = ApiError(422, "INVALID_REQUEST", *err.messages)
            code = err.code
        body = {"uuid": str(uuid.uuid4()), "code": code, "messages": err.messages}
        if self.defects.on("fc-error-uuid-not-uuid"):
            body["uuid"] = "error-1"
        if self.defects.on("fc-error-messages-empty"):
            body["messages"] = []
        ctype = "text/plain" if err.status == 422 and self.defects.on("fc-422-error-text-plain") else "application/json"
        return Response(json.dumps(body), status=err.status, content_type=ctype)

    def _dispatch(self, request: Request) -> Response:
        handler = self.routes.get(request.path)
        if handler is None:
            raise ApiError(404, "NOT_FOUND", f"no resource at {request.path}")
        if request.method != "POST":
            err = self._error(ApiError(405, "MALFORMED_REQUEST", "use POST"))
            err.headers["Allow"] = "POST"
            return err
        return handler(request)

    def _read(self, request: Request) -> bytes:
        if self.defects.on("fc-no-size-limit"):
            return request.stream.read()
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise ApiError(400, "MALFORMED_REQUEST", "request body is over the 1 MiB limit")
        data = request.stream.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            raise ApiError(400, "MALFORMED_REQUEST", "request body is over the 1 MiB limit")
        return data

    # ------------------------------------------------------------------------------ OAuth2
    def _token(self, request: Request) -> Response:
        def oauth_error(status: int, error: str, description: str) -> Response:
            return Response(json.dumps({"error": error, "error_description": description}), status=status,
                            content_type="application/json", headers={"Cache-Control": "no-store"})

        ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        body = self._read(request)
        if ctype != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(body.decode("latin-1"), keep_blank_values=True).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if self.defects.on("fc-token-basic-only"):
            client_id = client_secret = None  # reads client credentials from HTTP Basic only
        issue_to = None  # the fc-token-to-wrong-client defect: the client the token goes to
        auth = request.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
                user, _, password = raw.partition(":")
                basic_id, basic_secret = unquote(user), unquote(password)
            except (binascii.Error, UnicodeDecodeError):
                return oauth_error(400, "invalid_client", "unreadable Basic credentials")
            # Credentials in HTTP Basic and in the form that name another client, or another secret: one
            # client authenticated and another named. Refused (400, RFC 6749 section 2.3: one
            # authentication method per request); no token for either.
            disagree = (client_id is not None and client_id != basic_id) or \
                       (client_secret is not None and client_secret != basic_secret)
            if disagree and self.defects.on("fc-token-to-wrong-client"):
                issue_to = client_id  # authenticates Basic, then issues to the client the form names
            elif disagree:
                return oauth_error(400, "invalid_request", "client credentials in both HTTP Basic and the form, "
                                                          "naming different clients")
            client_id, client_secret = basic_id, basic_secret
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if not client_id or client_secret is None:
            return oauth_error(400, "invalid_client", "client authentication failed")
        if not (self.store.tenant_secret_matches(client_id, client_secret)
                or self.defects.on("fc-token-any-secret")):
            return oauth_error(400, "invalid_client", "client authentication failed")
        client_id = issue_to or client_id
        token = secrets.token_urlsafe(32)
        ttl = self.client_ttls.get(client_id, self.token_ttl)
        self.store.issue_token(client_id, token, ttl, purge=not self.defects.on("fc-expired-token-accepted"))
        if self.issued_tokens is not None:
            self.issued_tokens.append(token)
        answer = {"access_token": token, "expires_in": max(1, int(ttl)), "token_type": "Bearer"}
        if self.defects.on("fc-token-expires-in-string"):
            answer["expires_in"] = str(answer["expires_in"])
        if self.defects.on("fc-token-without-expiry"):
            del answer["expires_in"]
        return Response(json.dumps(answer),
                        status=200, content_type="application/json", headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------------------ API calls
    def _tenant(self, request: Request) -> str:
        if self.defects.on("fc-no-auth"):
            return "anonymous"
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() != "bearer " or not auth[7:].strip():
            raise ApiError(401, "NOT_AUTHORISED", "a bearer token is required")
        tenant = self.store.token_tenant(auth[7:].strip(), expired_too=self.defects.on("fc-expired-token-accepted"))
        if tenant is None:
            raise ApiError(401, "NOT_AUTHORISED", "the bearer token is invalid or expired")
        return tenant

    def _json_body(self, request: Request, component: str) -> dict[str, Any]:
        if not self.defects.on("fc-missing-headers-accepted"):
            names = request.environ.get("fibrecert.header_names", ())
            for header in ("X-Request-ID", "X-Conversation-ID"):
                value = request.headers.get(header) or ""
                if self.defects.on("fc-header-names-case-sensitive") and header not in names:
                    value = ""  # reads its headers by their exact spelling: x-request-id is not X-Request-ID
                if not value.strip():
                    raise ApiError(400, "MALFORMED_REQUEST", f"header {header} is required")
                if not _VISIBLE_ASCII.fullmatch(value):  # the contract's pattern for both id headers
                    raise ApiError(400, "MALFORMED_REQUEST", f"header {header} must be visible ASCII characters")
                if header == "X-Request-ID" and len(value) > 128 and self.defects.on("fc-long-request-id-refused"):
                    raise ApiError(400, "MALFORMED_REQUEST", "header X-Request-ID must be at most 128 characters")
        ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if self.defects.on("fc-json-charset-refused"):  # compares the whole value: a parameter is refused
            ctype = (request.headers.get("Content-Type") or "").strip().lower()
        data = self._read(request)
        if ctype != "application/json" and not self.defects.on("fc-ignores-content-type"):
            raise ApiError(400, "MALFORMED_REQUEST", "Content-Type must be application/json")
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ApiError(400, "MALFORMED_REQUEST", "the body is not JSON (or nests too deeply)") from None
        if not isinstance(body, dict):
            if self.defects.on("fc-500-on-non-object"):
                raise RuntimeError("the body is not an object")
            raise ApiError(400, "MALFORMED_REQUEST", "the body must be a JSON object")
        if self.defects.on("fc-lenient-enums"):
            for key in ("reasonCode", "orderType"):
                if isinstance(body.get(key), str):
                    body[key] = body[key].strip().upper()
        if self.defects.on("fc-truncates-fractional-ids") and component == "ServiceOrderCancellationRequest" \
                and isinstance(body.get("orderId"), float) and math.isfinite(body["orderId"]):
            body["orderId"] = int(body["orderId"])  # 1001.5 -> 1001: the other order
        body, errors = json_errors(self.defects, component, body)  # the family defects (sandbox/lenient.py)
        if errors:
            raise ApiError(400, "MALFORMED_REQUEST",
                           *[f"{'/'.join(map(str, e.path)) or 'body'}: {e.message}"[:300] for e in errors[:5]])
        return body

    def _create_order(self, request: Request) -> Response:
        tenant = self._tenant(request)
        body = self._json_body(request, "ServiceOrderRequest")
        request_id = request.headers.get("X-Request-ID") or ""
        if self.defects.on("fc-request-id-replay-across-tenants") and request_id in self._answers_by_request_id:
            status_code, text = self._answers_by_request_id[request_id]  # idempotent by request id, not by tenant
            return Response(text, status=status_code, content_type="application/json")
        if self.defects.on("fc-rejects-order-type-takeover") and body.get("orderType") == "TAKEOVER":
            raise ApiError(400, "MALFORMED_REQUEST", "orderType: TAKEOVER is not supported")
        self._boundary_defects(body)
        status = "RECEIVED_BY_GATEWAY"
        order_id = self.store.create_fc_order(tenant, body, status)
        if self.defects.on("fc-order-id-reused"):
            order_id = self.store.first_fc_order(tenant) or order_id
        if self.defects.on("fc-order-status-new"):
            status = "NEW"
        if self.defects.on("fc-order-supplier-not-echoed"):
            body = {**body, "supplier": "SOMEONE_ELSE"}
        if self.defects.on("fc-order-echo-drops-nested"):
            body = _drop_nested(body)
        if self.defects.on("fc-order-date-shifted") and isinstance(body.get("requestedCompletionDate"), str):
            try:  # read as local midnight, written back in UTC: the day before
                day = _dt.date.fromisoformat(body["requestedCompletionDate"]) - _dt.timedelta(days=1)
                body = {**body, "requestedCompletionDate": day.isoformat()}
            except ValueError:
                pass
        if self.defects.on("fc-order-echo-number-as-string") and isinstance(body.get("appointmentReservationId"), int):
            body = {**body, "appointmentReservationId": str(body["appointmentReservationId"])}
        text = json.dumps({**body, "id": order_id, "status": status})
        if self.defects.on("fc-request-id-replay-across-tenants") and request_id:
            self._answers_by_request_id[request_id] = (201, text)
        return Response(text, status=201, content_type="application/json")

    def _cancel_order(self, request: Request) -> Response:
        tenant = self._tenant(request)
        body = self._json_body(request, "ServiceOrderCancellationRequest")
        if self.defects.on("fc-hangs-on-install-failed") and body["reasonCode"] == "INSTALL_FAILED":
            time.sleep(HANG_SECONDS)
        if self.defects.on("fc-rejects-end-user-not-moving") and body["reasonCode"] == "END_USER_NOT_MOVING":
            raise ApiError(400, "MALFORMED_REQUEST", "reasonCode: not supported")
        if self.defects.on("fc-cancel-500-on-text-at-max-length") and len(body.get("text") or "") == 1000:
            raise RuntimeError("text column overflow")
        if self.defects.on("fc-text-max-refused") and len(body.get("text", "")) >= 1000:
            raise ApiError(400, "MALFORMED_REQUEST", "text: must be shorter than 1000 characters")
        order_id = int(body["orderId"])
        if order_id > 2**63 - 1:  # beyond any id SQLite can hold: an order never issued
            raise ApiError(422, "INVALID_REQUEST", "no in-flight order with that orderId")
        with self.store.transaction() as db:
            row = db.execute("SELECT tenant, status FROM fc_orders WHERE id=?", (order_id,)).fetchone()
            other_tenant_ok = self.defects.on("fc-cancel-other-tenant")
            if row is None and self.defects.on("fc-cancel-unknown-accepted"):
                row = {"tenant": tenant, "status": "RECEIVED_BY_GATEWAY"}  # an order it never issued
            # Decision 3: unknown, another tenant's, or not in flight: the same 422, revealing nothing.
            if row is None or (row["tenant"] != tenant and not other_tenant_ok):
                raise ApiError(422, "INVALID_REQUEST", "no in-flight order with that orderId")
            if row["status"] not in IN_FLIGHT and not self.defects.on("fc-double-cancel"):
                raise ApiError(422, "INVALID_REQUEST", "no in-flight order with that orderId")
            db.execute("UPDATE fc_orders SET status='PENDING_CANCELLATION' WHERE id=?", (order_id,))
            status = "DONE" if self.defects.on("fc-cancel-status-outside-enum") else "RECEIVED_BY_GATEWAY"
            if self.defects.on("fc-cancel-status-completed"):
                status = "COMPLETED"
            cur = db.execute("INSERT INTO fc_cancellations (tenant, order_id, status, body, created_at) "
                             "VALUES (?, ?, ?, ?, ?)", (tenant, order_id, status, json.dumps(body), time.time()))
            cancellation_id = 1 if self.defects.on("fc-cancellation-id-reused") else int(cur.lastrowid or 0)
        answer = {"id": cancellation_id, "status": status, "orderId": order_id, "reasonCode": body["reasonCode"]}
        for optional in ("supplier", "text"):
            if optional in body:
                answer[optional] = body[optional]
        if isinstance(answer.get("supplier"), str) and self.defects.on("fc-cancel-supplier-uppercased"):
            answer["supplier"] = answer["supplier"].upper()
        if "text" in answer and self.defects.on("fc-cancel-text-not-echoed"):
            answer["text"] = "cancelled"
        return Response(json.dumps(answer), status=201, content_type="application/json")


    def _boundary_defects(self, body: dict[str, Any]) -> None:
        """The defects of valid values at or beyond a field's bounds (issue 20), on a valid create order."""
        address = body.get("address") if isinstance(body.get("address"), dict) else {}
        if self.defects.on("fc-empty-identifiers-crash") and address.get("additionalIdentifiers") == []:
            _ = address["additionalIdentifiers"][0]  # IndexError: a 500
        appointment = body.get("appointmentReservationId")
        if self.defects.on("fc-appointment-minimum-refused") and appointment == 1:
            raise ApiError(400, "MALFORMED_REQUEST", "appointmentReservationId: must be greater than 1")
        if self.defects.on("fc-large-appointment-id-crash") and isinstance(appointment, int) and appointment > 2**31 - 1:
            raise OverflowError("appointmentReservationId does not fit a 32-bit integer")
        item = body.get("serviceOrderItem") if isinstance(body.get("serviceOrderItem"), dict) else body
        if self.defects.on("fc-many-characteristics-refused") and len(item.get("serviceCharacteristics") or []) > 8:
            raise ApiError(400, "MALFORMED_REQUEST", "serviceCharacteristics: at most 8 items")
        if self.defects.on("fc-long-service-id-refused") and len(str(body.get("serviceId", ""))) > 64:
            raise ApiError(400, "MALFORMED_REQUEST", "serviceId: must be at most 64 characters")


def _drop_nested(body: dict[str, Any]) -> dict[str, Any]:
    """fc-order-echo-drops-nested: an echo rebuilt from a flat row (no identifiers, one characteristic)."""
    out = json.loads(json.dumps(body))
    if isinstance(out.get("address"), dict):
        out["address"].pop("additionalIdentifiers", None)
    for holder in (out, out.get("serviceOrderItem")):
        if isinstance(holder, dict) and isinstance(holder.get("serviceCharacteristics"), list):
            holder["serviceCharacteristics"] = holder["serviceCharacteristics"][:1]
    return out
