"""Where a request may go, and with which credentials: the one place that turns a recorded operation
into a URL of the target (docs/security.md).

A URL is never built from recorded text. A case names an API and an *operation*
(`POST /ceaseOrder`); the operation is looked up in `OPERATIONS` (the API dialects' operation tables,
fibrecert/apis/), which gives the endpoint (the target-file key: seller `base_url`, buyer `buyer_base_url`, Fibre Cafe
`base_url` or `token_url`) and the path below it. The URL is that target-file URL plus that fixed path,
and its scheme, host and port must be those of the target-file URL: otherwise nothing is sent
(`EndpointError`, one line, exit 2). A results file received from someone else therefore cannot send
the operator's credentials anywhere but to the operator's own target.

Credentials go only to their own endpoint: a Fibre Cafe bearer token only to the API (`base_url`), the
HTTP Basic client credentials only to the token endpoint (`token_url`), ALA client certificates only to
the ALA endpoints. The run, replay (and so audit) and preflight all use this module.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from fibrecert.apis import DIALECTS, Operation, operations
from fibrecert.apis import section as apis_section

__all__ = ["EndpointError", "OPERATIONS", "METHODS", "origin", "target_origins", "url_for", "check_credentials",
           "check_request", "check_case", "check_target", "require_origin"]


class EndpointError(ValueError):
    """A request that would leave the target, or carry credentials to the wrong endpoint: nothing is sent."""


# (api, operation) -> Operation (its endpoint, and its path below that endpoint's URL)
OPERATIONS: dict[tuple[str, str], Operation] = operations()

# The methods the suites send (POST, and the others a test sends to be refused with 405).
METHODS = frozenset({"POST", "GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

# Which endpoints may receive each kind of credential (each dialect's `credential_endpoints`). Kinds
# not listed carry no secret (no certificate, no token, a deliberately malformed or never-issued token)
# and go to any endpoint of their API.
_CREDENTIAL_ENDPOINTS = {(d.name, kind): allowed for d in DIALECTS.values()
                         for kind, allowed in d.credential_endpoints.items()}
# (api, endpoint) -> the target-file key of its URL (each dialect's `endpoints`)
_ENDPOINT_KEYS = {(d.name, endpoint): key for d in DIALECTS.values() for endpoint, key in d.endpoints.items()}
_DEFAULT_PORTS = {"https": 443, "http": 80}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")  # an HTTP header name (RFC 9110 token)
MAX_HEADER_VALUE = 8192


def _show(value: Any, limit: int = 80) -> str:
    """A recorded value in an error line: quoted, control characters escaped, kept short."""
    text = repr(value if isinstance(value, str) else type(value).__name__)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the port made explicit; EndpointError for a URL without a host
    or with a malformed port."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise EndpointError(f"not a usable URL {_show(url)} ({exc})") from None
    scheme = parts.scheme.lower()
    if not host or scheme not in _DEFAULT_PORTS:
        raise EndpointError(f"not a usable URL {_show(url)}")
    return scheme, host.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def endpoint_url(target: Any, api: str, endpoint: str) -> str:
    """The target file's URL for an endpoint (seller/buyer, api/token)."""
    section = apis_section(target, api)
    key = _ENDPOINT_KEYS.get((api, endpoint))
    if section is None or key is None:
        raise EndpointError(f"the target file has no [{api}] {key or endpoint} to send to")
    url = getattr(section, key)
    if not url:
        raise EndpointError(f"the target file's [{api}] section has no {key}")
    return url


def target_origins(target: Any) -> frozenset[tuple[str, str, int]]:
    """Every (scheme, host, port) the target file names: the only places a request may go."""
    found = set()
    for (api, endpoint) in _ENDPOINT_KEYS:
        try:
            found.add(origin(endpoint_url(target, api, endpoint)))
        except EndpointError:
            continue
    return frozenset(found)


def check_target(target: Any) -> None:
    """EndpointError (naming the key) for a target-file URL that requests could not be sent to safely: a
    port out of range, user info (`https://user:pw@...`, which would be copied into every report)."""
    for (api, endpoint), key in _ENDPOINT_KEYS.items():
        section = apis_section(target, api)
        url = getattr(section, key, None) if section is not None else None
        if not url:
            continue
        try:
            origin(url)
        except EndpointError as exc:
            raise EndpointError(f"[{api}] {key}: {exc}") from None
        if "@" in urlsplit(url).netloc:
            raise EndpointError(f"[{api}] {key}: must not carry user info (user:password@): give credentials "
                                "in their own keys")


def require_origin(url: str, allowed: Iterable[tuple[str, str, int]], what: str = "the request") -> None:
    """EndpointError unless `url` goes to one of the `allowed` origins, without user info."""
    where = origin(url)
    if where not in set(allowed):
        raise EndpointError(f"{what} would go to {where[0]}://{where[1]}:{where[2]}, which is not an endpoint of "
                            "the target file: nothing was sent")
    if "@" in urlsplit(url).netloc:
        raise EndpointError(f"{what} would carry user info in its URL: nothing was sent")


def url_for(target: Any, api: str, operation: str, endpoint: str | None = None, path: str | None = None) -> str:
    """The URL to send `operation` of `api` to: the target file's URL for the operation's endpoint plus
    the operation's fixed path. A recorded `endpoint` or `path` that differs from the operation table's is
    refused, as is a result whose scheme, host or port is not the target file's."""
    entry = OPERATIONS.get((api, operation)) if isinstance(api, str) and isinstance(operation, str) else None
    if entry is None:
        raise EndpointError(f"{_show(api)} {_show(operation)} is not an operation fibrecert sends "
                            f"(known: {', '.join(sorted(op for a, op in OPERATIONS if a == api)) or 'none'})")
    want_endpoint, want_path = entry.endpoint, entry.path
    if endpoint is not None and endpoint != want_endpoint:
        raise EndpointError(f"{operation} goes to the {want_endpoint} endpoint, not {_show(endpoint)}")
    if path is not None and path != want_path:
        raise EndpointError(f"{operation} is sent to the path {want_path!r} of its endpoint, not {_show(path)}")
    base = endpoint_url(target, api, want_endpoint)
    url = base + want_path
    require_origin(url, {origin(base)}, f"{api} {operation}")
    return url


def check_credentials(api: str, identity: Any, endpoint: str) -> None:
    """EndpointError when `identity` would present a credential to an endpoint it does not belong to."""
    allowed = _CREDENTIAL_ENDPOINTS.get((api, identity.kind))
    if identity.api != api:
        raise EndpointError(f"identity {_show(identity.name)} is not an {api} identity")
    if allowed is not None and endpoint not in allowed:
        raise EndpointError(f"identity {_show(identity.name)} would send its credentials to the {endpoint} endpoint "
                            f"(they go only to {', '.join(sorted(allowed))}): nothing was sent")


def check_request(method: Any, headers: Iterable[Any], omit_headers: Iterable[Any] = ()) -> None:
    """EndpointError for a method fibrecert never sends, or a header that is not a plain name and a
    one-line value (no CR, LF or NUL: nothing can be smuggled into the request)."""
    if not isinstance(method, str) or method not in METHODS:
        raise EndpointError(f"method {_show(method)} is not one fibrecert sends ({', '.join(sorted(METHODS))})")
    for pair in headers:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise EndpointError(f"a header is not a [name, value] pair of strings: {_show(pair)}")
        name, value = pair
        if not _TOKEN.fullmatch(name):
            raise EndpointError(f"header name {_show(name)} is not an HTTP header name")
        if name.lower() in ("authorization", "proxy-authorization", "host", "cookie"):
            raise EndpointError(f"header {_show(name)} is set by fibrecert, never taken from a recording")
        if len(value) > MAX_HEADER_VALUE or any(c in value for c in "\r\n\x00"):
            raise EndpointError(f"header {_show(name)} has a value with CR, LF or NUL, or longer than "
                                f"{MAX_HEADER_VALUE} characters")
    for name in omit_headers:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise EndpointError(f"omitted header {_show(name)} is not an HTTP header name")


def check_case(target: Any, case: Any) -> str:
    """Everything above for one Case: its URL (returned), its credentials, its method and headers."""
    url = url_for(target, case.api, case.operation, case.endpoint, case.path)
    check_credentials(case.api, case.identity, case.endpoint)
    check_request(case.method, case.headers, case.omit_headers)
    return url

