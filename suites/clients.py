"""Clients the suites use to talk to a target: they know the target file's identities and the wire
format (SOAP envelopes, OAuth2 tokens, required headers); every request goes through the run's
`Transport`, so it is rate-limited, timed, recorded and redacted in one place.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from pathlib import Path
from typing import Any

from lxml import etree

from fibrecert import contracts, strategies
from fibrecert.contracts import soap
from fibrecert.pki import make_untrusted_identity
from fibrecert.target import AlaTarget, FibreCafeTarget
from fibrecert.transport import TIMEOUT, TLS_REFUSED, UNREACHABLE, Exchange, TargetUnreachable, Transport


STOP_AFTER_TIMEOUTS = 3


class Breaker:
    """Stops sending to an API that no longer answers, so a hung target costs a few timeouts, not
    one per remaining case: after STOP_AFTER_TIMEOUTS consecutive timeouts the API is unusable."""

    def __init__(self) -> None:
        self.consecutive: dict[str, int] = {}

    def check(self, ex: Exchange, where: str) -> None:
        if ex.error == UNREACHABLE or (ex.error == TLS_REFUSED and not ex.refusal_expected):
            raise TargetUnreachable(f"{where}: {ex.describe()}")
        if ex.error == TIMEOUT:
            self.consecutive[ex.api] = self.consecutive.get(ex.api, 0) + 1
            if self.consecutive[ex.api] >= STOP_AFTER_TIMEOUTS:
                raise TargetUnreachable(f"{where}: stopped answering ({STOP_AFTER_TIMEOUTS} timeouts in a row)")
        elif ex.error is None:
            self.consecutive[ex.api] = 0



class OutOfTestData(Exception):
    """The target file's test data (e.g. active_services) is exhausted."""


class ServicePool:
    """`active_services` of the target file: each is ceased at most once per run."""

    def __init__(self, services: tuple[str, ...]):
        self._left = list(services)
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            if not self._left:
                raise OutOfTestData("active_services in the target file are used up "
                                    "(each is ceased once; add more to test this requirement)")
            return self._left.pop(0)

    def release(self, service: str) -> None:
        """Give back a service the target refused to cease (it is still active)."""
        with self._lock:
            self._left.insert(0, service)

    @property
    def left(self) -> int:
        return len(self._left)


class AlaClient:
    SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

    def __init__(self, target: AlaTarget, transport: Transport, workdir: Path):
        self.target, self.transport, self.workdir = target, transport, workdir
        self.namespace = target.namespace
        self.services = ServicePool(target.active_services)
        self._untrusted: tuple[str, str] | None = None
        self._messages = itertools.count(1)
        self.breaker = Breaker()
        self.run_tag = uuid.uuid4().hex[:8]

    # identities (profile rule 10): who the suite presents itself as
    def cert_for(self, identity: str) -> tuple[str, str] | None:
        t = self.target
        ids = {"buyer": t.client, "other_buyer": t.other_client, "seller": t.seller_client}
        if identity in ids:
            ident = ids[identity]
            if ident is None:
                raise KeyError(identity)
            return (str(ident.cert), str(ident.key))
        if identity == "untrusted":
            if self._untrusted is None:
                made = make_untrusted_identity(self.workdir, t.buyer_identifier)
                self._untrusted = (str(made.cert), str(made.key))
            return self._untrusted
        if identity == "none":
            return None
        raise KeyError(identity)

    def url(self, operation: str) -> str:
        role = contracts.ALA_OPERATIONS[operation][2]
        base = self.target.base_url if role == "seller" else self.target.buyer_base_url
        assert base, f"no {role} endpoint in the target file"
        return f"{base}/{operation}"

    def default_identity(self, operation: str) -> str:
        return "buyer" if contracts.ALA_OPERATIONS[operation][2] == "seller" else "seller"

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
        """messageId is "A unique ID to identify the message": a repeat may rightly be answered with the
        first answer or a fault (profile rule 11), so every message the suite sends gets its own, keeping
        the generated text in front of a run-unique suffix."""
        return f"{generated}~{self.run_tag}-{next(self._messages):06d}"

    def post(self, operation: str, body: dict[str, Any] | bytes, *, identity: str | None = None,
             headers: dict[str, str] | None = None, method: str = "POST", validate: bool = True,
             refusal_expected: bool = False, fresh_message_id: bool = True, constraint: str | None = None) -> Exchange:
        identity = identity or self.default_identity(operation)
        if isinstance(body, dict) and fresh_message_id and "messageId" in body.get("message", {}):
            body["message"]["messageId"] = self.unique_message_id(body["message"]["messageId"])
        data = body if isinstance(body, bytes) else self.envelope(operation, body, validate=validate)
        ex = self.transport.send(
            api="ala", operation=f"POST /{operation}", identity=identity, method=method,
            url=self.url(operation), headers={**self.SOAP_HEADERS, **(headers or {})}, body=data,
            verify=str(self.target.ca_bundle) if self.target.ca_bundle else True,
            cert=self.cert_for(identity), timeout=self.target.timeout, refusal_expected=refusal_expected)
        ex.constraint = constraint
        self.breaker.check(ex, f"ALA {self.url(operation)}")
        return ex

    def new_ids(self) -> dict[str, str]:
        return {"messageId": str(uuid.uuid4()), "correlationId": str(uuid.uuid4())}

    def text(self, payload: etree._Element, path: str) -> str | None:
        from .checks import ala_text

        return ala_text(payload, path, self.namespace)


# Deliberately bad credentials (not secrets): the replay of a case re-creates them by name.
BAD_TOKENS = {
    "malformed-token": "Bearer !! not a token !!",
    "unissued-token": "Bearer fibrecert-never-issued-0123456789abcdef0123456789abcdef",
}
WRONG_SECRET = "fibrecert-wrong-client-secret"


class FibreCafeClient:
    TOKEN_OPERATION = "POST /auth/tenant/access-token"

    def __init__(self, target: FibreCafeTarget, transport: Transport):
        self.target, self.transport = target, transport
        self._tokens: dict[str, str] = {}
        self.conversation = str(uuid.uuid4())
        self.breaker = Breaker()

    @property
    def verify(self) -> Any:
        return str(self.target.ca_bundle) if self.target.ca_bundle else True

    def credentials(self, tenant: str) -> tuple[str, str]:
        t = self.target
        if tenant == "a":
            return t.client_id, t.client_secret.reveal()
        if tenant == "b" and t.other_client_id and t.other_client_secret:
            return t.other_client_id, t.other_client_secret.reveal()
        raise KeyError(tenant)

    def request_token(self, client_id: str, secret: str, *, identity: str) -> Exchange:
        import base64
        from urllib.parse import quote

        self.transport.secrets.add(secret)
        basic = base64.b64encode(f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()).decode()
        form = "grant_type=client_credentials" + (f"&scope={quote(self.target.scope)}" if self.target.scope else "")
        ex = self.transport.send(
            api="fibrecafe", operation=self.TOKEN_OPERATION, identity=identity, method="POST",
            url=self.target.token_url, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                "Accept": "application/json", "Authorization": f"Basic {basic}"},
            body=form, verify=self.verify, timeout=self.target.timeout)
        self.breaker.check(ex, f"Fibre Cafe token endpoint {self.target.token_url}")
        return ex

    def token(self, tenant: str = "a") -> str:
        """A bearer token for tenant a (client_id) or b (other_client_id), cached for the run."""
        if tenant not in self._tokens:
            import json

            client_id, secret = self.credentials(tenant)
            ex = self.request_token(client_id, secret, identity=f"tenant-{tenant}")
            try:
                token = json.loads(ex.response_body)["access_token"]
                assert isinstance(token, str) and token
            except Exception:
                raise TargetUnreachable(
                    f"Fibre Cafe token endpoint gave no token for {client_id}: {ex.describe()}") from None
            self.transport.secrets.add(token)
            self._tokens[tenant] = token
        return self._tokens[tenant]

    def headers(self) -> dict[str, str]:
        return {"X-Request-ID": str(uuid.uuid4()), "X-Conversation-ID": self.conversation,
                "Accept": "application/json"}

    def post(self, path: str, body: Any, *, tenant: str | None = "a", bad_token: str | None = None,
             headers: dict[str, str] | None = None, omit: tuple[str, ...] = (), raw: bytes | None = None,
             content_type: str = "application/json", method: str = "POST",
             refusal_expected: bool = False, constraint: str | None = None) -> Exchange:
        """POST as tenant "a"/"b", with no token (tenant=None), or with a named bad token."""
        import json

        h = {**self.headers(), "Content-Type": content_type, **(headers or {})}
        if bad_token is not None:
            h["Authorization"] = BAD_TOKENS[bad_token]
            identity = bad_token
        elif tenant is not None:
            h["Authorization"] = f"Bearer {self.token(tenant)}"
            identity = f"tenant-{tenant}"
        else:
            identity = "no-token"
        for name in omit:
            h.pop(name, None)
        data = raw if raw is not None else json.dumps(body).encode("utf-8")
        ex = self.transport.send(api="fibrecafe", operation=f"POST {path}", identity=identity,
                                 method=method, url=f"{self.target.base_url}{path}", headers=h, body=data,
                                 verify=self.verify, timeout=self.target.timeout, refusal_expected=refusal_expected)
        ex.constraint = constraint
        self.breaker.check(ex, f"Fibre Cafe {self.target.base_url}")
        return ex

    def cease_order_body(self) -> dict[str, Any]:
        """The smallest valid create-order body (a cease), for tests that just need an order."""
        body = {"orderType": "CEASE", "supplier": self.target.supplier, "serviceId": f"SVC-{uuid.uuid4().hex[:12]}"}
        return strategies.assert_valid_fibrecafe("ServiceOrderRequest", body)
