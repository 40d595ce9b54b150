"""Who the suite presents itself as: one small type, used by the clients, the transport, the report's
curl lines and replay alike (no string grammar spread over modules).

An `Identity` is plain data (`api`, `kind`, `party`, `wrong_secret`). What its name is, how a name
reads back, and whether it is a deliberately unusable credential belong to its API: each dialect
(fibrecert/apis/) registers an `IdentityScheme` for its API when it is imported, and the core never names
one. So an identity is named, and a Case read back (`Case.from_json`), only once `fibrecert.apis` is
imported: every entry point that does either (the engine, replay, audit, the reports) imports it.

`Credentials` is the run's store of what identities put on the wire: it registers every secret with the
run's `SecretRegistry` before it can reach an exchange, and caches tokens and made certificates. The
dialects turn an identity into headers, a certificate or form fields with it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol


class IdentityScheme(Protocol):
    """How one API names its identities (the names results files store, stable)."""

    def name(self, identity: "Identity") -> str: ...
    def parse(self, name: str) -> "Identity": ...           # ValueError for a name of no identity
    def refused_by_design(self, identity: "Identity") -> bool: ...
    def token_ages(self, identity: "Identity") -> bool: ...  # its token is short-lived (see Identity.token_ages)


_SCHEMES: dict[str, IdentityScheme] = {}


def register_scheme(api: str, scheme: IdentityScheme) -> None:
    """Called by a dialect module when it is imported."""
    _SCHEMES[api] = scheme


def _scheme(api: str) -> IdentityScheme:
    try:
        return _SCHEMES[api]
    except KeyError:
        raise ValueError(f"no identities are known for the API {api!r}") from None


@dataclass(frozen=True, order=True)
class Identity:
    api: str
    kind: str          # ala: cert | none; fibrecafe: bearer | none | bad-token | basic | form | basic+form
    party: str = ""    # whose credential: a certificate's holder, a tenant (the API's scheme says)
    wrong_secret: bool = False

    @property
    def name(self) -> str:
        """The identity as shown in evidence and accepted by `parse` (stable: results files use it)."""
        return _scheme(self.api).name(self)

    @property
    def refused_by_design(self) -> bool:
        """A deliberately unusable credential: a refusal (even at the TLS handshake) is the right answer."""
        return _scheme(self.api).refused_by_design(self)

    @property
    def token_ages(self) -> bool:
        """What an exchange sent as this identity shows depends on how old its token was (a token that
        expires within seconds): sending it again with a token fetched now does not reproduce it."""
        return _scheme(self.api).token_ages(self)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, api: str, name: str) -> "Identity":
        """The identity `name` names for `api`; ValueError for anything else."""
        return _scheme(api).parse(name)


class Credentials:
    """What identities put on the wire for one target, held for one run: tokens (fetched once through
    `token_source`, or adopted), things made once (a certificate from a CA the target does not trust),
    and every secret registered with `secrets` before it is handed out."""

    def __init__(self, target: Any, secrets: Any, workdir: Path,
                 token_source: Callable[[str], str] | None = None):
        self.target, self.secrets, self.workdir = target, secrets, workdir
        self.token_source = token_source
        self._tokens: dict[str, str] = {}
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def secret(self, value: str) -> str:
        """`value`, registered as a secret of the run (never shown in evidence, logs or reports)."""
        self.secrets.add(value)
        return value

    def token(self, holder: str) -> str:
        """The bearer token of `holder` (fetched once, then cached for the run)."""
        with self._lock:
            if holder not in self._tokens:
                assert self.token_source is not None, "no token source"
                self._tokens[holder] = self.secret(self.token_source(holder))
            return self._tokens[holder]

    def adopt(self, holder: str, token: str) -> None:
        """Use `token` for `holder` from now on (a test that asked for it itself, e.g. to see it expire)."""
        self.secret(token)
        with self._lock:
            self._tokens[holder] = token

    def made_once(self, key: str, make: Callable[[], Any]) -> Any:
        """`make()`, called once per run for `key` (a certificate made at run time)."""
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]
