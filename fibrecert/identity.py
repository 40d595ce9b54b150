"""Who the suite presents itself as: one small type, used by the clients, the transport, the report's
curl lines and replay alike (no string grammar spread over modules).

ALA (profile rule 10) identifies a caller by its client certificate: the buyer's, another buyer's, the
seller's (when the suite plays the seller against a buyer endpoint), one from a CA made at run time that
no target trusts, or none at all. Fibre Cafe identifies a caller by an OAuth2 bearer token (tenant a =
`client_id`, tenant b = `other_client_id`), deliberately by none or a bad one, and the token endpoint by
HTTP Basic client credentials (or a deliberately wrong secret).

`Credentials` turns an identity into what goes on the wire for one target file; it is the only place
that handles client secrets and tokens, and it registers each with the run's `SecretRegistry`.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

ALA, FIBRECAFE = "ala", "fibrecafe"


@dataclass(frozen=True, order=True)
class Identity:
    api: str
    kind: str          # ala: cert | none; fibrecafe: bearer | none | bad-token | basic
    party: str = ""    # ala cert: buyer | other_buyer | seller | untrusted; bearer/basic: a | b; bad-token: malformed | unissued
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
        if self.kind == "bad-token":
            return f"{self.party}-token"
        return "no-token"

    @property
    def refused_by_design(self) -> bool:
        """A deliberately unusable credential: a refusal (even at the TLS handshake) is the right answer."""
        return (self.kind in ("none", "bad-token") or self.party == "untrusted" or self.wrong_secret)

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
            if name in ("tenant-a", "tenant-b"):
                return cls(FIBRECAFE, "bearer", name[-1])
            if name in ("tenant-a:basic", "tenant-b:basic", "tenant-a:basic:wrong-secret", "tenant-b:basic:wrong-secret"):
                return cls(FIBRECAFE, "basic", name[7], wrong_secret=name.endswith(":wrong-secret"))
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
            "b": ("other_client_id", "other_client_secret", "FIBRECAFE_OTHER_TOKEN")}


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
    if identity.kind == "basic":
        client_id, secret_key, _ = _FC_KEYS[identity.party]
        secret = WRONG_SECRET if identity.wrong_secret else f"${secret_key}"
        return [f'--user "${client_id}:{secret}"'], notes
    return [], notes


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
        if tenant == "a":
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

    def authorization(self, identity: Identity) -> str | None:
        """The Authorization header value for a Fibre Cafe identity (None: send none)."""
        if identity.kind == "bearer":
            return f"Bearer {self.token(identity.party)}"
        if identity.kind == "bad-token":
            return f"Bearer {BAD_TOKENS[identity.party]}"
        if identity.kind == "basic":
            client_id, secret = self.client(identity.party)
            return basic_credentials(client_id, WRONG_SECRET if identity.wrong_secret else secret)
        return None
