"""The Fibre Cafe Tenant API 1.17 dialect: JSON over HTTPS, OAuth2 client credentials.

Two operations go to the target file's `base_url` (`api`), the token request to its `token_url`
(`token`, the URL itself). A bearer token goes only to the API, client credentials only to the token
endpoint. The order an answer assigns is a created service order's `id`; a cancellation names it in
`orderId`.
"""

from __future__ import annotations

import base64
import json
import copy
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote, quote_plus, urlencode

from fibrecert import contracts, wirejson
from fibrecert.core.case import FormBody, JsonBody, RawBody
from fibrecert.core.identity import Credentials, Identity, register_scheme
from fibrecert.narrowforms import Form, Stop, get, set_, shaped_like
from fibrecert.narrowforms import Path as FieldPath
from fibrecert.targetfile import Secret, Section, SectionTemplate, TemplateKey

from . import Operation, Probe, Sending, TokenStage

__all__ = ["FIBRECAFE", "FibreCafeDialect", "FibreCafeClient", "TENANT_A", "TENANT_B", "NO_TOKEN",
           "MALFORMED_TOKEN", "UNISSUED_TOKEN", "CLIENT_A", "CLIENT_A_WRONG_SECRET", "CLIENT_A_IN_FORM",
           "CLIENT_A_BASIC_B_FORM", "CLIENT_SHORT_TTL", "TENANT_SHORT_TTL", "BAD_TOKENS", "WRONG_SECRET",
           "basic_credentials", "client_credentials", "authorization", "form_fields", "form_party"]

# Identities: a caller of the API is an OAuth2 bearer token (tenant a = `client_id`, tenant b =
# `other_client_id`, s = `short_ttl_client_id`, whose tokens expire within seconds), deliberately none
# or a bad one; a caller of the token endpoint is its client credentials: in HTTP Basic (or with a
# deliberately wrong secret), in the form, or in both naming two different clients (refused by design).
TENANT_A = Identity("fibrecafe", "bearer", "a")
TENANT_B = Identity("fibrecafe", "bearer", "b")
TENANT_SHORT_TTL = Identity("fibrecafe", "bearer", "s")
NO_TOKEN = Identity("fibrecafe", "none")
MALFORMED_TOKEN = Identity("fibrecafe", "bad-token", "malformed")
UNISSUED_TOKEN = Identity("fibrecafe", "bad-token", "unissued")
CLIENT_A = Identity("fibrecafe", "basic", "a")
CLIENT_A_WRONG_SECRET = Identity("fibrecafe", "basic", "a", wrong_secret=True)
CLIENT_A_IN_FORM = Identity("fibrecafe", "form", "a")            # client credentials in the form, not HTTP Basic
CLIENT_A_BASIC_B_FORM = Identity("fibrecafe", "basic+form", "a")  # two clients' credentials in one request
CLIENT_SHORT_TTL = Identity("fibrecafe", "basic", "s")

# Deliberately bad credentials (not secrets): replay and curl lines re-create them from the identity.
BAD_TOKENS = {
    "malformed": "!! not a token !!",
    "unissued": "fibrecert-never-issued-0123456789abcdef0123456789abcdef",
}
WRONG_SECRET = "fibrecert-wrong-client-secret"

# Target-file keys that hold each tenant's client credentials, and the curl lines' token variable.
_CLIENT_KEYS = {"a": ("client_id", "client_secret", "FIBRECAFE_TOKEN"),
                "b": ("other_client_id", "other_client_secret", "FIBRECAFE_OTHER_TOKEN"),
                "s": ("short_ttl_client_id", "short_ttl_client_secret", "FIBRECAFE_SHORT_TTL_TOKEN")}


# -- the target file's [fibrecafe] section (docs/target-file.md)
TARGET_KEYS = frozenset({
    "base_url", "token_url", "ca_bundle", "client_id", "client_secret", "other_client_id",
    "other_client_secret", "supplier", "scope", "timeout", "short_ttl_client_id", "short_ttl_client_secret",
})
SECRET_KEYS = frozenset({"client_secret", "other_client_secret", "short_ttl_client_secret"})  # also as <key>_env


@dataclass(frozen=True)
class FibreCafeTarget:
    base_url: str
    token_url: str
    ca_bundle: Path | None
    client_id: str
    client_secret: Secret
    other_client_id: str | None
    other_client_secret: Secret | None
    supplier: str
    scope: str | None
    timeout: float
    short_ttl_client_id: str | None = None        # a client whose tokens expire within seconds (expiry test)
    short_ttl_client_secret: Secret | None = None

    def public(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "token_url": self.token_url}

    def secrets(self) -> list[str]:
        return [s.reveal() for s in (self.client_secret, self.other_client_secret, self.short_ttl_client_secret)
                if s]


def load_section(path: Path, data: Any, problems: list[str]) -> FibreCafeTarget | None:
    if not isinstance(data, dict):
        problems.append("[fibrecafe]: must be a table")
        return None
    s = Section(path, "fibrecafe", data, TARGET_KEYS, problems, SECRET_KEYS)
    before = len(problems)
    base_url = s.take(s.url, "base_url") or ""
    token_url = s.take(s.url, "token_url", required=False, base=False) or f"{base_url}/auth/tenant/access-token"
    other_id = s.take(s.string, "other_client_id", required=False)
    other_given = "other_client_id" in data
    other_secret = s.take(s.secret, "other_client_secret", required=other_given)
    if not other_given and ("other_client_secret" in data or "other_client_secret_env" in data):
        problems.append("[fibrecafe] other_client_id: missing required key (needed with other_client_secret)")
    short_id = s.take(s.string, "short_ttl_client_id", required=False)
    short_given = "short_ttl_client_id" in data
    short_secret = s.take(s.secret, "short_ttl_client_secret", required=short_given)
    if not short_given and ("short_ttl_client_secret" in data or "short_ttl_client_secret_env" in data):
        problems.append("[fibrecafe] short_ttl_client_id: missing required key (needed with short_ttl_client_secret)")
    supplier = s.take(s.string, "supplier")
    if supplier is not None and not re.fullmatch(r"\w{1,20}", supplier, flags=re.ASCII):  # ECMA-262 \w
        problems.append("[fibrecafe] supplier: must match ^\\w{1,20}$ (the contract's supplier pattern)")
    ca_bundle = s.take(s.ca_bundle)
    client_id = s.take(s.string, "client_id") or ""
    client_secret = s.take(s.secret, "client_secret")
    scope = s.take(s.string, "scope", required=False)
    timeout = s.take(s.number, "timeout", 10.0, default=10.0)
    if len(problems) > before or s.placeholders:
        return None
    return FibreCafeTarget(
        base_url=base_url,
        token_url=token_url,
        ca_bundle=ca_bundle,
        client_id=client_id,
        client_secret=client_secret,
        other_client_id=other_id,
        other_client_secret=other_secret,
        supplier=supplier or "",
        scope=scope,
        timeout=timeout,
        short_ttl_client_id=short_id,
        short_ttl_client_secret=short_secret,
    )


# What `fibrecert init` writes for the section, key by key (docs/target-file.md says the same).
_TEMPLATE_KEYS: tuple[TemplateKey, ...] = (
    TemplateKey("base_url", ("The API's base URL: /service-orders and /service-order-cancellations are POSTed",
                             "below it. https:// only."),
                fill="https:// base URL of the Fibre Cafe API, e.g. https://fc-sandbox.example.net/v1"),
    TemplateKey("token_url", ("The OAuth2 client-credentials token endpoint.",
                              "Default: base_url + /auth/tenant/access-token."),
                value='"https://fc-sandbox.example.net/v1/auth/tenant/access-token"', example=True),
    TemplateKey("ca_bundle", ("PEM file of the CA(s) that issued your server certificate. Not set: the default",
                              "CA store (REQUESTS_CA_BUNDLE, else certifi's)."),
                value='"pki/ca.pem"', example=True),
    TemplateKey("client_id", ("The tenant fibrecert acts as.",), fill="the OAuth2 client_id of the tenant, e.g. tenant-a"),
    TemplateKey("client_secret_env", ("The name of the environment variable that holds client_id's secret (keeps",
                                      "the secret out of this file). Or, instead: client_secret = \"...\"."),
                fill="name of the environment variable holding the client secret, e.g. FIBRECAFE_CLIENT_SECRET"),
    TemplateKey("other_client_id", ("A second tenant, for the cross-tenant requirements (one tenant must not see",
                                    "another's orders). Not set: those MUSTs are not_tested and the verdict is",
                                    "INCOMPLETE, never CONFORMANT. With it, other_client_secret_env (or",
                                    "other_client_secret) is required."),
                value='"tenant-b"', example=True),
    TemplateKey("other_client_secret_env", (), value='"FIBRECAFE_OTHER_CLIENT_SECRET"', example=True),
    TemplateKey("short_ttl_client_id", ("A client whose tokens expire within seconds (expires_in of 15 s or less), for the",
                                        "requirement that an expired token is refused (SEC-015). Not set: that MUST is",
                                        "tested with client_id's tokens only if they are that short-lived, else",
                                        "not_tested. With it, short_ttl_client_secret_env (or short_ttl_client_secret)",
                                        "is required."),
                value='"tenant-a-short-ttl"', example=True),
    TemplateKey("short_ttl_client_secret_env", (), value='"FIBRECAFE_SHORT_TTL_CLIENT_SECRET"', example=True),
    TemplateKey("supplier", ("The supplier value sent in orders (the contract's pattern: ^\\w{1,20}$).",),
                fill="the supplier value orders name, e.g. DUMMY_SUPPLIER"),
    TemplateKey("scope", ("The OAuth2 scope to ask for. Not set: no scope parameter is sent.",),
                value='"orders"', example=True),
    TemplateKey("timeout", ("Seconds to wait for each answer.",), value="10"),
)
TEMPLATE = SectionTemplate("Fibre Cafe Tenant API 1.17: JSON over HTTPS, OAuth2 client credentials.", "Fibre Cafe",
                           _TEMPLATE_KEYS)


def form_party(identity: Identity) -> str:
    """basic+form: the tenant whose credentials travel in the form (the other of a and b)."""
    return "b" if identity.party == "a" else "a"


class _FibreCafeIdentities:
    def name(self, identity: Identity) -> str:
        kind, party = identity.kind, identity.party
        if kind == "bearer":
            return f"tenant-{party}"
        if kind == "basic":
            return f"tenant-{party}:basic" + (":wrong-secret" if identity.wrong_secret else "")
        if kind == "form":
            return f"tenant-{party}:form"
        if kind == "basic+form":
            return f"tenant-{party}:basic+tenant-{form_party(identity)}:form"
        if kind == "bad-token":
            return f"{party}-token"
        return "no-token"

    def parse(self, name: str) -> Identity:
        if name == "no-token":
            return NO_TOKEN
        if name in ("malformed-token", "unissued-token"):
            return Identity("fibrecafe", "bad-token", name.split("-")[0])
        if name in ("tenant-a", "tenant-b", "tenant-s"):
            return Identity("fibrecafe", "bearer", name[-1])
        if name in ("tenant-a:basic", "tenant-b:basic", "tenant-s:basic", "tenant-a:basic:wrong-secret",
                    "tenant-b:basic:wrong-secret"):
            return Identity("fibrecafe", "basic", name[7], wrong_secret=name.endswith(":wrong-secret"))
        if name in ("tenant-a:form", "tenant-b:form", "tenant-s:form"):
            return Identity("fibrecafe", "form", name[7])
        if name in ("tenant-a:basic+tenant-b:form", "tenant-b:basic+tenant-a:form"):
            return Identity("fibrecafe", "basic+form", name[7])
        raise ValueError(f"not a fibrecafe identity: {name!r}")

    def refused_by_design(self, identity: Identity) -> bool:
        return identity.kind in ("none", "bad-token", "basic+form") or identity.wrong_secret

    def token_ages(self, identity: Identity) -> bool:
        return identity.kind == "bearer" and identity.party == "s"  # the expiry test's short-lived tokens


register_scheme("fibrecafe", _FibreCafeIdentities())


def basic_credentials(client_id: str, secret: str) -> str:
    """RFC 6749 section 2.3.1: client id and secret form-urlencoded, then HTTP Basic."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def client_credentials(credentials: Credentials, tenant: str) -> tuple[str, str]:
    """(client_id, client_secret) of a tenant in the credentials' target file, the secret registered."""
    t = credentials.target.fibrecafe
    if tenant == "s" and t.short_ttl_client_id and t.short_ttl_client_secret:
        return t.short_ttl_client_id, credentials.secret(t.short_ttl_client_secret.reveal())
    if tenant in ("a", "s"):  # no short-TTL client: the expiry test looks at tenant a's tokens
        return t.client_id, credentials.secret(t.client_secret.reveal())
    if tenant == "b" and t.other_client_id and t.other_client_secret:
        return t.other_client_id, credentials.secret(t.other_client_secret.reveal())
    raise LookupError("the target file gives no other_client_id/other_client_secret (a second tenant)")


def authorization(credentials: Credentials, identity: Identity) -> str | None:
    """The Authorization header value for an identity (None: send none)."""
    if identity.kind == "bearer":
        return f"Bearer {credentials.token(identity.party)}"
    if identity.kind == "bad-token":
        return f"Bearer {BAD_TOKENS[identity.party]}"
    if identity.kind in ("basic", "basic+form"):
        client_id, secret = client_credentials(credentials, identity.party)
        return basic_credentials(client_id, WRONG_SECRET if identity.wrong_secret else secret)
    return None


def form_fields(credentials: Credentials, identity: Identity) -> tuple[tuple[str, str], ...]:
    """The client credentials an identity puts in a token request's form (RFC 6749 section 2.3.1),
    registered as secrets in the form they travel in too (percent-encoded)."""
    if identity.kind not in ("form", "basic+form"):
        return ()
    client_id, secret = client_credentials(credentials,
                                           identity.party if identity.kind == "form" else form_party(identity))
    credentials.secret(quote_plus(secret))
    return (("client_id", client_id), ("client_secret", secret))

TOKEN_OPERATION = "POST /auth/tenant/access-token"


class FibreCafeDialect:
    name = "fibrecafe"
    title, version = "Fibre Cafe", "1.17"  # the contract it certifies
    short_name = "Fibre Cafe"              # in messages
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

    target_keys = TARGET_KEYS
    uses_test_data = False
    report_notes: tuple[str, ...] = ()
    template = TEMPLATE
    secret_keys = SECRET_KEYS

    @staticmethod
    def load_section(path: Path, data: Any, problems: list[str]) -> "FibreCafeTarget | None":
        return load_section(path, data, problems)

    def probes(self, section: FibreCafeTarget) -> list[Probe]:
        """The API (reachable), and the token endpoint with tenant a's client credentials."""
        return [Probe("base_url", "api", section.base_url, section.ca_bundle),
                Probe("token_url", "token", section.token_url, section.ca_bundle,
                      TokenStage(section.client_id, section.client_secret.reveal, section.scope, CLIENT_A))]

    def narrowing_form(self, engine: Any, case: Any) -> "FibreCafeForm":
        return FibreCafeForm(engine, case)

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
        auth = authorization(credentials, case.identity)
        if auth is not None:
            headers["Authorization"] = auth
        for name in case.omit_headers:
            headers.pop(name, None)
        body = self.encode(case.body)
        if case.identity.kind in ("form", "basic+form"):  # client credentials in the form
            body += b"&" + urlencode(form_fields(credentials, case.identity)).encode("ascii")
        return Sending(headers, body)

    def encode(self, body: Any) -> bytes:
        """The bytes a body goes as (JSON, a form, raw bytes: each as it is)."""
        return body.encode()

    def curl_arguments(self, identity: Identity) -> tuple[list[str], list[str]]:
        """(curl arguments, notes) presenting `identity`, with shell variables named after target-file
        keys for every credential: no credential value is ever written."""
        notes: list[str] = []
        if identity.kind == "bearer":
            return [f'-H "Authorization: Bearer ${_CLIENT_KEYS[identity.party][2]}"'], notes
        if identity.kind == "bad-token":
            return [f"-H 'Authorization: Bearer {BAD_TOKENS[identity.party]}'"], notes
        args: list[str] = []
        if identity.kind in ("basic", "basic+form"):
            client_id, secret_key, _ = _CLIENT_KEYS[identity.party]
            secret = WRONG_SECRET if identity.wrong_secret else f"${secret_key}"
            args = [f'--user "${client_id}:{secret}"']
        if identity.kind in ("form", "basic+form"):
            client_id, secret_key, _ = _CLIENT_KEYS[identity.party if identity.kind == "form" else form_party(identity)]
            notes.append(f"the form carries client_id and client_secret: put ${client_id} and ${secret_key} in place "
                         "of the values the evidence shows (the secret is redacted)")
        return args, notes

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

    ECHOED = ("orderId", "reasonCode", "supplier", "text", "orderType", "serviceId")

    def facts(self, ex: Any) -> dict[str, Any]:
        """The error code, the state, and which values the profile says are echoed the answer echoed
        (those the Case sent as a JSON object)."""
        try:
            body = json.loads(ex.response_body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return {"body": "not JSON"} if ex.response_body else {}
        if not isinstance(body, dict):
            return {"body": type(body).__name__}
        out: dict[str, Any] = {}
        if isinstance(body.get("code"), str):
            out["code"] = body["code"][:80]
        if isinstance(body.get("status"), str):
            out["state"] = body["status"][:80]
        sent = _sent_json(ex.case.body)
        if isinstance(sent, dict):
            echo = {k: body.get(k) == sent[k] for k in self.ECHOED if k in sent and k in body}
            if echo:
                out["echo"] = echo
        return out

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
        return client_credentials(self.engine.credentials, tenant)

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
        # a copy: the case holds what was sent, whatever the test does with its dict afterwards
        payload = RawBody(raw) if raw is not None else JsonBody(_copy_json(body), raw_json)
        case = self.engine.new_case(api="fibrecafe", operation=f"POST {path}", endpoint="api", path=path,
                                    identity=identity, body=payload, method=method, headers=h, omit_headers=omit,
                                    constraint=constraint, note=note, tags=tags)
        return self.engine.send(case)

    def cease_order_body(self) -> dict[str, Any]:
        """The smallest valid create-order body (a cease), for tests that just need an order."""
        from fibrecert import strategies

        body = {"orderType": "CEASE", "supplier": self.target.supplier, "serviceId": f"SVC-{self.engine.token()}"}
        return strategies.assert_valid_fibrecafe("ServiceOrderRequest", body)


def _copy_json(value: Any) -> Any:
    """A copy of a JSON-like value: its dicts and lists copied, anything else shared (strings, numbers and
    None do not change; a generated value is nothing else). Several times faster than copy.deepcopy."""
    if type(value) is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy_json(v) for v in value]
    if isinstance(value, (dict, list)):
        return copy.deepcopy(value)
    return value


def _sent_json(body: Any) -> Any:
    """The JSON value a case sent: a JsonBody's value, or a raw body's bytes read as JSON (a malformed case
    may still be JSON, e.g. a valid body under another Content-Type); None for anything else."""
    if isinstance(body, JsonBody):
        return body.value
    if isinstance(body, RawBody):
        try:
            return json.loads(body.data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
    return None


# -- narrowing a failing valid request (fibrecert/narrowing.py)
class FibreCafeForm(Form):
    """A Fibre Cafe request as its JSON value (fibrecert/narrowforms.py)."""

    api = "fibrecafe"

    def __init__(self, engine: Any, case: Any):
        from fibrecert import contracts
        from fibrecert.strategies import COMPONENTS, discriminator_values, json_example, resolve

        self.engine, self.case, self.client = engine, case, engine.clients["fibrecafe"]
        self.path = case.path
        self.component = COMPONENTS.get(self.path)
        value = case.body.value
        self.ok = self.component is not None and isinstance(value, dict)
        self.failing = copy.deepcopy(value) if self.ok else {}
        self.schema: dict[str, Any] = {}
        self.good: Any = {}
        if not self.ok:
            return
        top = resolve(contracts.openapi_document()["components"]["schemas"][self.component])
        branch = top
        for b in top.get("oneOf", []):
            if self.failing.get("orderType") in discriminator_values(b):
                branch = resolve(b)
        self.schema = branch
        self.good = shaped_like(json_example(branch), self.failing)
        pinned: list[FieldPath] = [("supplier",)]
        for kind, b in case.bindings:
            if b.path:
                pinned.append(tuple(b.path.split(".")))
        self.pinned = tuple(pinned)
        for p in self.pinned:  # as in the failing case (left out where it left them out)
            set_(self.good, p, get(self.failing, p))
        self.validator = contracts.json_validator(self.component)

    def facets(self, path: FieldPath) -> dict[str, Any]:
        from fibrecert.strategies import resolve

        node: Any = self.schema
        optional = False
        for part in path:
            node = resolve(node)
            if isinstance(part, int):
                node = node.get("items", {})
            else:
                optional = part not in node.get("required", [])
                node = node.get("properties", {}).get(part, {})
        node = resolve(node)
        out: dict[str, Any] = {"optional": optional}
        for key in ("enum", "maxLength", "minLength"):
            if key in node:
                out[key] = node[key]
        if "const" in node:
            out["enum"] = [node["const"]]
        if node.get("format") in ("date", "date-time"):
            out["date"] = True
        return out

    def valid(self, data: Any) -> bool:
        return not any(True for _ in self.validator.iter_errors(data))

    def send(self, data: Any, note: str, setup: Callable[[Any], Any] | None) -> list[Any]:
        data = copy.deepcopy(data)
        chain = setup(data) if setup is not None else []
        return [*chain, self.client.post(self.path, data, identity=self.case.identity, note=note)]

    def place_order(self, spend: Callable[[int], None]) -> tuple[list[Any], Any]:
        """A cease order to cancel (one request of the narrowing budget), and its integer id."""
        spend(1)
        ex = self.client.post("/service-orders", self.client.cease_order_body(),
                              note="narrowing: places an order to work on")
        new = FIBRECAFE.assigned_id(ex)
        if new is None:
            raise Stop(f"no order to work on: creating one got {ex.describe()}")
        return [ex], int(new)
