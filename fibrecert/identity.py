"""Who the suite presents itself as: one small type, used by the clients, the transport, the report's
curl lines and replay alike (no string grammar spread over modules).

ALA (profile rule 10) identifies a caller by its client certificate: the buyer's, another buyer's, the
seller's (when the suite plays the seller against a buyer endpoint), one from a CA made at run time that
no target trusts, or none at all. Fibre Cafe identifies a caller by an OAuth2 bearer token (tenant a =
`client_id`, tenant b = `other_client_id`, s = `short_ttl_client_id`, whose tokens expire within seconds),
deliberately by none or a bad one, and the token endpoint by client credentials: in HTTP Basic (or with a
deliberately wrong secret), in the form, or in both naming two different clients (refused by design).

`Credentials` turns an identity into what goes on the wire for one target file; it is the only place
that handles client secrets and tokens, and it registers each with the run's `SecretRegistry`.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, quote_plus

ALA, FIBRECAFE = "ala", "fibrecafe"


@dataclass(frozen=True, order=True)
class Identity:
    api: str
    kind: str          # ala: cert | none; fibrecafe: bearer | none | bad-token | basic | form | basic+form
    party: str = ""    # ala cert: buyer | other_buyer | seller | untrusted; bearer/basic/form: a | b | s
    #                    (basic+form: Basic of `party`, the form of the other of a and b); bad-token: malformed | unissued
    wrong_secret: bool = False

    @property
    def name(self) -> str:
        """The identity as shown in evidence and accepted by `parse` (stable: results files use it)."""
        if self.api == ALA:
            return self.party if self.kind == "cert" else "none"
        if self.kind == "bearer":
            return f"tenant-{self.party}"
        if self.kind == "basic":
            return f"tenant-{self.party}:basic" + (":wrong-secret" if self.wrong_secret else "")
        if self.kind == "form":
            return f"tenant-{self.party}:form"
        if self.kind == "basic+form":
            return f"tenant-{self.party}:basic+tenant-{self.form_party}:form"
        if self.kind == "bad-token":
            return f"{self.party}-token"
        return "no-token"

    @property
    def form_party(self) -> str:
        """basic+form: the tenant whose credentials travel in the form (the other of a and b)."""
        return "b" if self.party == "a" else "a"

    @property
    def refused_by_design(self) -> bool:
        """A deliberately unusable credential: a refusal (even at the TLS handshake) is the right answer."""
        return (self.kind in ("none", "bad-token", "basic+form") or self.party == "untrusted" or self.wrong_secret)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, api: str, name: str) -> "Identity":
        if api == ALA:
            if name == "none":
                return cls(ALA, "none")
            if name in ALA_PARTIES:
                return cls(ALA, "cert", name)
        elif api == FIBRECAFE:
            if name == "no-token":
                return cls(FIBRECAFE, "none")
            if name in ("malformed-token", "unissued-token"):
                return cls(FIBRECAFE, "bad-token", name.split("-")[0])
            if name in ("tenant-a", "tenant-b", "tenant-s"):
                return cls(FIBRECAFE, "bearer", name[-1])
            if name in ("tenant-a:basic", "tenant-b:basic", "tenant-s:basic", "tenant-a:basic:wrong-secret",
                        "tenant-b:basic:wrong-secret"):
                return cls(FIBRECAFE, "basic", name[7], wrong_secret=name.endswith(":wrong-secret"))
            if name in ("tenant-a:form", "tenant-b:form", "tenant-s:form"):
                return cls(FIBRECAFE, "form", name[7])
            if name in ("tenant-a:basic+tenant-b:form", "tenant-b:basic+tenant-a:form"):
                return cls(FIBRECAFE, "basic+form", name[7])
        raise ValueError(f"not a {api} identity: {name!r}")


ALA_PARTIES = ("buyer", "other_buyer", "seller", "untrusted")
ALA_BUYER = Identity(ALA, "cert", "buyer")
ALA_OTHER_BUYER = Identity(ALA, "cert", "other_buyer")
ALA_SELLER = Identity(ALA, "cert", "seller")
ALA_UNTRUSTED = Identity(ALA, "cert", "untrusted")
ALA_NO_CERT = Identity(ALA, "none")
TENANT_A = Identity(FIBRECAFE, "bearer", "a")
TENANT_B = Identity(FIBRECAFE, "bearer", "b")
NO_TOKEN = Identity(FIBRECAFE, "none")
MALFORMED_TOKEN = Identity(FIBRECAFE, "bad-token", "malformed")
UNISSUED_TOKEN = Identity(FIBRECAFE, "bad-token", "unissued")
CLIENT_A = Identity(FIBRECAFE, "basic", "a")
CLIENT_A_WRONG_SECRET = Identity(FIBRECAFE, "basic", "a", wrong_secret=True)
CLIENT_A_IN_FORM = Identity(FIBRECAFE, "form", "a")            # client credentials in the form, not HTTP Basic
CLIENT_A_BASIC_B_FORM = Identity(FIBRECAFE, "basic+form", "a")  # two clients' credentials in one request
CLIENT_SHORT_TTL = Identity(FIBRECAFE, "basic", "s")
TENANT_SHORT_TTL = Identity(FIBRECAFE, "bearer", "s")

# Deliberately bad credentials (not secrets): replay and curl lines re-create them from the identity.
BAD_TOKENS = {
    "malformed": "!! not a token !!",
    "unissued": "fibrecert-never-issued-0123456789abcdef0123456789abcdef",
}
WRONG_SECRET = "fibrecert-wrong-client-secret"

# Target-file keys that hold each identity's credentials (the report's curl placeholders).
_ALA_KEYS = {"buyer": ("client_cert", "client_key"), "other_buyer": ("other_client_cert", "other_client_key"),
             "seller": ("seller_client_cert", "seller_client_key"), "untrusted": ("untrusted_cert", "untrusted_key")}
_FC_KEYS = {"a": ("client_id", "client_secret", "FIBRECAFE_TOKEN"),
            "b": ("other_client_id", "other_client_secret", "FIBRECAFE_OTHER_TOKEN"),
            "s": ("short_ttl_client_id", "short_ttl_client_secret", "FIBRECAFE_SHORT_TTL_TOKEN")}


def basic_credentials(client_id: str, secret: str) -> str:
    """RFC 6749 section 2.3.1: client id and secret form-urlencoded, then HTTP Basic."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def curl_arguments(identity: Identity) -> tuple[list[str], list[str]]:
    """(curl arguments, notes) presenting `identity`, with shell variables named after target-file keys
    for every credential: no credential value is ever written."""
    notes: list[str] = []
    if identity.api == ALA:
        if identity.kind == "cert":
            cert, key = _ALA_KEYS[identity.party]
            if identity.party == "untrusted":
                notes.append("untrusted_cert/untrusted_key: any certificate and key from a CA the target does not trust")
            return [f'--cert "${cert}"', f'--key "${key}"'], notes
        return [], notes
    if identity.kind == "bearer":
        return [f'-H "Authorization: Bearer ${_FC_KEYS[identity.party][2]}"'], notes
    if identity.kind == "bad-token":
        return [f"-H 'Authorization: Bearer {BAD_TOKENS[identity.party]}'"], notes
    if identity.kind in ("basic", "basic+form"):
        client_id, secret_key, _ = _FC_KEYS[identity.party]
        secret = WRONG_SECRET if identity.wrong_secret else f"${secret_key}"
        args = [f'--user "${client_id}:{secret}"']
    else:
        args = []
    if identity.kind in ("form", "basic+form"):
        client_id, secret_key, _ = _FC_KEYS[identity.party if identity.kind == "form" else identity.form_party]
        notes.append(f"the form carries client_id and client_secret: put ${client_id} and ${secret_key} in place "
                     "of the values the evidence shows (the secret is redacted)")
    return args, notes


class Credentials:
    """What each identity puts on the wire for one target: certificate files, Authorization values.

    `token_source(tenant)` fetches a bearer token (the client's token endpoint call); tokens are cached
    for the run. Every secret is registered with `secrets` before it can reach an exchange."""

    def __init__(self, target: Any, secrets: Any, workdir: Path,
                 token_source: Callable[[str], str] | None = None):
        self.target, self.secrets, self.workdir = target, secrets, workdir
        self.token_source = token_source
        self._tokens: dict[str, str] = {}
        self._untrusted: tuple[str, str] | None = None
        self._lock = threading.Lock()

    # -- ALA
    def certificate(self, identity: Identity) -> tuple[str, str] | None:
        ala = self.target.ala
        if identity.kind != "cert":
            return None
        if identity.party == "untrusted":
            with self._lock:
                if self._untrusted is None:
                    from fibrecert.pki import make_untrusted_identity

                    made = make_untrusted_identity(self.workdir, ala.buyer_identifier)
                    self._untrusted = (str(made.cert), str(made.key))
                return self._untrusted
        ident = {"buyer": ala.client, "other_buyer": ala.other_client, "seller": ala.seller_client}[identity.party]
        if ident is None:
            raise LookupError(f"the target file gives no certificate for the {identity.party} identity")
        return (str(ident.cert), str(ident.key))

    # -- Fibre Cafe
    def client(self, tenant: str) -> tuple[str, str]:
        t = self.target.fibrecafe
        if tenant == "s" and t.short_ttl_client_id and t.short_ttl_client_secret:
            secret = t.short_ttl_client_secret.reveal()
            self.secrets.add(secret)
            return t.short_ttl_client_id, secret
        if tenant in ("a", "s"):  # no short-TTL client: the expiry test looks at tenant a's tokens
            secret = t.client_secret.reveal()
            self.secrets.add(secret)
            return t.client_id, secret
        if tenant == "b" and t.other_client_id and t.other_client_secret:
            secret = t.other_client_secret.reveal()
            self.secrets.add(secret)
            return t.other_client_id, secret
        raise LookupError("the target file gives no other_client_id/other_client_secret (a second tenant)")

    def token(self, tenant: str) -> str:
        with self._lock:
            if tenant not in self._tokens:
                assert self.token_source is not None, "no token source"
                token = self.token_source(tenant)
                self.secrets.add(token)
                self._tokens[tenant] = token
            return self._tokens[tenant]

    def adopt(self, tenant: str, token: str) -> None:
        """Use `token` for `tenant` from now on (a test that asked for it itself, e.g. to see it expire)."""
        self.secrets.add(token)
        with self._lock:
            self._tokens[tenant] = token

    def authorization(self, identity: Identity) -> str | None:
        """The Authorization header value for a Fibre Cafe identity (None: send none)."""
        if identity.kind == "bearer":
            return f"Bearer {self.token(identity.party)}"
        if identity.kind == "bad-token":
            return f"Bearer {BAD_TOKENS[identity.party]}"
        if identity.kind in ("basic", "basic+form"):
            client_id, secret = self.client(identity.party)
            return basic_credentials(client_id, WRONG_SECRET if identity.wrong_secret else secret)
        return None

    def form_fields(self, identity: Identity) -> tuple[tuple[str, str], ...]:
        """The client credentials an identity puts in a token request's form (RFC 6749 section 2.3.1),
        registered as secrets in the form they travel in too (percent-encoded)."""
        if identity.kind not in ("form", "basic+form"):
            return ()
        client_id, secret = self.client(identity.party if identity.kind == "form" else identity.form_party)
        self.secrets.add(quote_plus(secret))
        return (("client_id", client_id), ("client_secret", secret))
