"""The Fibre Cafe Tenant API 1.17 dialect: JSON over HTTPS, OAuth2 client credentials.

Two operations go to the target file's `base_url` (`api`), the token request to its `token_url`
(`token`, the URL itself). A bearer token goes only to the API, client credentials only to the token
endpoint. The order an answer assigns is a created service order's `id`; a cancellation names it in
`orderId`.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Sequence
from urllib.parse import urlencode

from fibrecert import contracts, wirejson
from fibrecert.case import FormBody, JsonBody, RawBody
from fibrecert.identity import CLIENT_A, TENANT_A, Identity

from . import Operation, Sending

__all__ = ["FIBRECAFE", "FibreCafeDialect", "FibreCafeClient"]

TOKEN_OPERATION = "POST /auth/tenant/access-token"


class FibreCafeDialect:
    name = "fibrecafe"
    operations = (
        Operation("fibrecafe", "POST /service-orders", "api", "/service-orders"),
        Operation("fibrecafe", "POST /service-order-cancellations", "api", "/service-order-cancellations"),
        Operation("fibrecafe", TOKEN_OPERATION, "token", ""),  # the token_url itself
    )
    endpoints = {"api": "base_url", "token": "token_url"}
    credential_endpoints = {"bearer": frozenset({"api"}), "basic": frozenset({"token"})}
    rob = ("ROB-011", "ROB-012")
    ORDERING = "POST /service-orders"
    NAMING = "POST /service-order-cancellations"
    REQUEST_COMPONENTS = ("ServiceOrderRequest", "ServiceOrderCancellationRequest", "ServiceOrder",
                          "ServiceOrderCancellation", "Error")
    _enum: dict[str, frozenset[str]] | None = None

    def default_identity(self, operation: str) -> Identity | None:
        """The tenant a request to the API goes as by default; None for the token request (each names
        its client) and for operations the contract does not have."""
        return TENANT_A if any(op.name == operation and op.endpoint == "api" for op in self.operations) else None

    def active_services(self, target: Any) -> Sequence[str]:
        return ()

    def warm_up(self, target: Any) -> None:
        from fibrecert import strategies

        strategies.openapi_schema()
        for component in self.REQUEST_COMPONENTS:
            contracts.json_validator(component)
        for op in self.operations:
            if op.endpoint == "api":
                strategies.example(op.path)

    def client(self, engine: Any) -> "FibreCafeClient":
        return FibreCafeClient(engine)

    def prepare(self, engine: Any) -> None:
        """Fetch the tenants' tokens up front, so that no test's exchange ids depend on which test
        happened to ask first (TargetUnreachable when the token endpoint gives none)."""
        section = engine.target.fibrecafe
        engine.transport.prime([section.base_url, section.token_url])
        if engine.clients.get("fibrecafe") is None or "fibrecafe" in engine.unreachable:
            return
        engine.enter(engine.prep_lane)
        try:
            engine.credentials.token("a")
            if section.other_client_id:
                engine.credentials.token("b")
        finally:
            engine.leave()

    def sending(self, case: Any, credentials: Any) -> Sending:
        headers = dict(case.headers)
        auth = credentials.authorization(case.identity)
        if auth is not None:
            headers["Authorization"] = auth
        for name in case.omit_headers:
            headers.pop(name, None)
        body = case.body.encode()
        if case.identity.kind in ("form", "basic+form"):  # client credentials in the form
            body += b"&" + urlencode(credentials.form_fields(case.identity)).encode("ascii")
        return Sending(headers, body)

    def order_named(self, operation: str, body: Any) -> tuple[str, str] | None:
        """(value, path) of the order a cancellation names (an integer orderId), or None."""
        if operation == self.NAMING and isinstance(body, JsonBody) and isinstance(body.value, dict):
            order = body.value.get("orderId")
            if isinstance(order, int) and not isinstance(order, bool):
                return str(order), "orderId"
        return None

    def _answer_id(self, ex: Any) -> tuple[bool, Any]:
        """(whether the answer is an object with an `id`, its value)."""
        try:
            body = wirejson.loads(ex.response_body)
        except (ValueError, RecursionError):
            return False, None
        return (True, body["id"]) if isinstance(body, dict) and "id" in body else (False, None)

    def assigned_id(self, ex: Any) -> str | None:
        """The id the target assigned in a successful answer: an order's or a cancellation's `id`."""
        if ex.status is None or ex.status >= 300:
            return None
        found, value = self._answer_id(ex)
        return str(value) if found else None

    def order_assigned(self, ex: Any) -> str | None:
        """The order a created service order (201) was given: its integer `id`, or None."""
        if ex.operation != self.ORDERING or ex.status != 201:
            return None
        _, value = self._answer_id(ex)
        return str(value) if isinstance(value, int) else None

    def enum_tags(self, body: Any) -> set[str]:
        """`reasonCode=OTHER`, `orderType=CEASE`: each documented enum value the body sends."""
        if not (isinstance(body, JsonBody) and isinstance(body.value, dict)):
            return set()
        if FibreCafeDialect._enum is None:
            schemas = contracts.openapi_document()["components"]["schemas"]
            order_types = [*schemas["ProvideOrder"]["properties"]["orderType"]["enum"],
                           schemas["CeaseOrder"]["properties"]["orderType"]["const"],
                           schemas["ModifyOrder"]["properties"]["orderType"]["const"]]
            FibreCafeDialect._enum = {"reasonCode": frozenset(contracts.enum_of("ReasonCode")),
                                      "orderType": frozenset(order_types)}
        tags = set()
        for key, allowed in FibreCafeDialect._enum.items():
            value = body.value.get(key)
            if isinstance(value, str) and value in allowed:
                tags.add(f"{key}={value}")
        return tags

    def fetch_token(self, engine: Any, tenant: str) -> str:
        """A tenant's bearer token from the token endpoint (the credentials' token source); the API is
        given up as unreachable when the endpoint gives none."""
        client = engine.clients["fibrecafe"]
        ex = client.request_token(CLIENT_A if tenant == "a" else Identity("fibrecafe", "basic", tenant))
        try:
            token = wirejson.loads(ex.response_body)["access_token"]
            assert isinstance(token, str) and token
        except Exception:
            token = None
        if token is None:
            engine.give_up("fibrecafe", f"fibrecafe {ex.url}: the token endpoint gave no token for tenant "
                                        f"{tenant}: {ex.describe()}")
        return token


FIBRECAFE = FibreCafeDialect()


class FibreCafeClient:
    """What the Fibre Cafe suites send with: JSON requests with the required headers, token requests;
    every request becomes a Case the engine sends."""

    TOKEN_OPERATION = TOKEN_OPERATION

    def __init__(self, engine: Any):
        self.engine = engine
        self.target = engine.target.fibrecafe
        self.conversation = str(uuid.uuid4())

    def credentials(self, tenant: str) -> tuple[str, str]:
        return self.engine.credentials.client(tenant)

    def request_token(self, identity: Identity = CLIENT_A) -> Any:
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
             note: str = "", header_names: Callable[[str], str] | None = None, tags: tuple[str, ...] = ()) -> Any:
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
        from fibrecert import strategies

        body = {"orderType": "CEASE", "supplier": self.target.supplier, "serviceId": f"SVC-{self.engine.token()}"}
        return strategies.assert_valid_fibrecafe("ServiceOrderRequest", body)
