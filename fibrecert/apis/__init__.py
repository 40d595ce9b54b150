"""API dialects: everything fibrecert knows about one API's wire, in one module per API.

    fibrecert/apis/ala.py        NICC ALA 2.30 (SOAP, mutual TLS)
    fibrecert/apis/fibrecafe.py  Fibre Cafe 1.17 (JSON, OAuth2 client credentials)

A dialect names its operations (`Operation`: where each is sent), its target-file endpoints and which
credential may go to each, its robustness requirements, the enum values a case exercises, the order an
answer assigns and the later request that names it, how an identity's credentials go on the wire, and
the client the suites send with. The engine, the endpoint guard (fibrecert/endpoints.py), replay and
preflight ask the dialect; none of them names an API. A third API is a new module here, registered in
`DIALECTS` (docs/adding-an-api.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence


@dataclass(frozen=True)
class Operation:
    """One operation fibrecert sends: `POST /ceaseOrder` of `ala`, to the target file's `seller`
    endpoint, at the path `/ceaseOrder` below it."""

    api: str
    name: str        # the method and path as the contract names it: "POST /ceaseOrder"
    endpoint: str    # the target-file endpoint it goes to (a key of the dialect's `endpoints`)
    path: str        # the path below that endpoint's URL ("" for the URL itself)


@dataclass(frozen=True)
class Sending:
    """What the dialect adds to a case on the wire: headers, the body's bytes, a client certificate."""

    headers: dict[str, str]
    body: bytes
    cert: tuple[str, str] | None = None


@dataclass(frozen=True)
class MtlsStage:
    """Preflight's last stage at an endpoint: a harmless GET below it with a client certificate."""

    identity: Any        # the target file's ClientIdentity (certificate and key files)
    cert_key: str        # the target-file key naming the certificate (client_cert, seller_client_cert)
    operation: str       # the operation whose path gets the GET


@dataclass(frozen=True)
class TokenStage:
    """Preflight's last stage at a token endpoint: a client-credentials token request."""

    client_id: str
    secret: Callable[[], str]   # read when sent, never held in a finding
    scope: str | None
    identity: Any               # the identity whose credentials it sends (checked against the endpoint)


@dataclass(frozen=True)
class Probe:
    """One endpoint preflight checks (fibrecert/preflight.py): TCP, TLS, then its `last` stage if any.
    An endpoint without one is probed only where no other endpoint of the API shares its origin."""

    key: str                    # the target-file key of its URL
    endpoint: str               # the dialect's endpoint name (a key of `endpoints`)
    url: str
    ca_bundle: Any
    last: MtlsStage | TokenStage | None = None


class Dialect(Protocol):
    name: str                                   # the API's name in target files, cases and reports
    title: str                                  # as people name it: "NICC ALA"
    short_name: str                             # in messages: "ALA"
    version: str                                # the version of its contract fibrecert certifies
    operations: tuple[Operation, ...]
    endpoints: Mapping[str, str]                # endpoint -> the target-file key of its URL
    credential_endpoints: Mapping[str, frozenset[str]]  # identity kind -> the endpoints it may go to
    rob: tuple[str, str]                        # (no server error, no hang): judged on every exchange
    target_keys: frozenset[str]                 # the keys of its target-file section, named after the API
    secret_keys: frozenset[str]                 # those that may name an environment variable instead (<key>_env)
    template: Any                               # what `fibrecert init` writes for it (targetfile.SectionTemplate)
    uses_test_data: bool                        # a run uses up test data the target file lists (active services)
    report_notes: tuple[str, ...]               # what a report on it says that no test can check

    def load_section(self, path: Any, data: Any, problems: list[str]) -> Any: ...  # its section, or None
    def probes(self, section: Any) -> list[Probe]: ...     # what preflight checks at each endpoint
    def narrowing_form(self, engine: Any, case: Any) -> Any: ...  # a failing valid request as data (narrowforms.py)

    def default_identity(self, operation: str) -> Any: ...
    def active_services(self, target: Any) -> Sequence[str]: ...
    def warm_up(self, target: Any) -> None: ...
    def client(self, engine: Any) -> Any: ...
    def prepare(self, engine: Any) -> None: ...
    def sending(self, case: Any, credentials: Any) -> Sending: ...
    def encode(self, body: Any) -> bytes: ...   # the bytes a case's body goes as (e.g. in its envelope)
    def curl_arguments(self, identity: Any) -> tuple[list[str], list[str]]: ...
    def facts(self, ex: Any) -> dict[str, Any]: ...  # what an answer shows that audit compares (observed.py)
    def order_named(self, operation: str, body: Any) -> tuple[str, str] | None: ...
    def assigned_id(self, ex: Any) -> str | None: ...
    def order_assigned(self, ex: Any) -> str | None: ...
    def enum_tags(self, body: Any) -> set[str]: ...


def _registry() -> dict[str, Dialect]:
    from .ala import ALA
    from .fibrecafe import FIBRECAFE

    return {d.name: d for d in (ALA, FIBRECAFE)}


DIALECTS: dict[str, Dialect] = _registry()


def dialect(api: str) -> Dialect:
    """The dialect of `api`; KeyError for an API fibrecert does not know."""
    return DIALECTS[api]


def contract_versions() -> dict[str, str]:
    """API -> the version of its contract fibrecert certifies ({"ala": "2.30", ...})."""
    return {d.name: d.version for d in DIALECTS.values()}


def certified() -> str:
    """What fibrecert certifies, as people name it: "NICC ALA 2.30 and Fibre Cafe 1.17"."""
    names = [f"{d.title} {d.version}" for d in DIALECTS.values()]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def api_choices() -> list[str]:
    """The values of the command line's --api: each API, or all of them."""
    return [*DIALECTS, "all"]


def section(target: Any, api: str) -> Any:
    """The target file's section for `api` (None when it has none)."""
    return getattr(target, api, None) if api in DIALECTS else None


def operations() -> dict[tuple[str, str], Operation]:
    """(api, operation name) -> Operation, for every dialect."""
    return {(d.name, op.name): op for d in DIALECTS.values() for op in d.operations}
