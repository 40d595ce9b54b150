"""Checks: plain functions, one signature `(exchange, ...) -> value`, registered by `@check` into one
registry. A check raises `CheckFailed(observed, declared)` and never prints. Which requirement a
check's result counts for is decided where the check is *used* (the suite's `verify` call), so one
check can serve a MUST in one place and a SHOULD in another.
"""

from __future__ import annotations

import uuid
from typing import Any

from lxml import etree

from fibrecert import contracts, wirejson, wording
from fibrecert.apis import dialect
# the registry, CheckFailed and the robustness checks every exchange is judged by (fibrecert/checking.py)
from fibrecert.checking import CHECK_META, CHECKS, CheckFailed, answered_in_time, check, no_server_error  # noqa: F401
from fibrecert.contracts import soap
from fibrecert.contracts.alapath import ElementPath
from fibrecert.core.case import JsonBody, SoapBody
from fibrecert.core.exchange import DROPPED, TLS_REFUSED, Exchange


def _answered(ex: Exchange, declared: str) -> None:
    if ex.error:
        raise CheckFailed(f"Received no HTTP answer: {ex.describe()}", declared)


# ----------------------------------------------------------------------------------- generic
@check
def status_in(ex: Exchange, *allowed: int) -> int:
    """The answer's HTTP status is one of `allowed`: the status the rule of the requirement it is
    verified for states (that requirement's `source`: a published fact or a profile rule)."""
    declared = wording.statuses(allowed)  # "any HTTP 4xx", "HTTP 400 or 422"
    _answered(ex, declared)
    if ex.status not in allowed:
        raise CheckFailed(f"Received HTTP {ex.status}", declared)
    assert ex.status is not None
    return ex.status


@check
def status_not_in(ex: Exchange, *forbidden: int) -> int | None:
    """The answer's HTTP status is none of `forbidden` (e.g. never 201 for a refused cancellation,
    profile decision 3; never a second order, ALA rule 11)."""
    if ex.status in forbidden:
        raise CheckFailed(f"Received HTTP {ex.status}", "any answer but " + wording.statuses(forbidden))
    return ex.status


# ----------------------------------------------------------------------------------- ALA
@check
def xml_content_type(ex: Exchange) -> None:
    """Profile rule 5: an ALA answer is text/xml or application/xml."""
    value = ex.header("Content-Type")
    if not soap.is_xml_content_type(value):
        raise CheckFailed(f"Received Content-Type {value!r}", "text/xml or application/xml")


@check
def soap_payload(ex: Exchange, namespace: str, root: str) -> etree._Element:
    """The answer is a SOAP 1.1 envelope whose Body holds exactly one `root`, valid against the XSD."""
    declared = f"a SOAP 1.1 envelope holding one {root} valid against the ALA 2.30 contract"
    _answered(ex, declared)
    try:
        payload = soap.single_payload(soap.parse_envelope(ex.response_body))
    except soap.EnvelopeError as exc:
        raise CheckFailed(f"Received a body that is not an acceptable envelope: {exc}", declared) from None
    expected = contracts.ala_qname(root, namespace)
    if payload.tag != expected:
        raise CheckFailed(f"Received a Body holding {payload.tag}", declared)
    error = next(contracts.ala_schema(namespace).iter_errors(payload), None)
    if error is not None:
        raise CheckFailed(f"Received an invalid {root}: {error.reason or error.message}", declared)
    return payload


def _find_fault(body: bytes) -> etree._Element | None:
    """Lenient search for a `fault` element (any namespace) in the answer, enveloped or bare."""
    try:
        root = soap.parse_xml(body)
    except soap.EnvelopeError:
        return None
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == "fault":
            return el
    return None


@check
def fault_fields(ex: Exchange) -> etree._Element:
    """Seed pages: fault{faultcode (string, required), faultmessage (string, required), detail (string)}."""
    declared = "a fault with non-empty faultcode and faultmessage and an optional detail string"
    _answered(ex, declared)
    fault = _find_fault(ex.response_body)
    if fault is None:
        raise CheckFailed(f"Received HTTP {ex.status} with no fault element in the body", declared)
    children = {etree.QName(c).localname: c for c in fault if isinstance(c.tag, str)}
    for name in ("faultcode", "faultmessage"):
        if name not in children:
            raise CheckFailed(f"Received a fault without {name}", declared)
        c = children[name]
        if len(c) or not (c.text or "").strip():
            raise CheckFailed(f"Received a fault whose {name} is empty or not a string", declared)
    if "detail" in children and len(children["detail"]):
        raise CheckFailed("Received a fault whose detail holds elements, not a string", declared)
    return fault


@check
def fault_envelope(ex: Exchange, namespace: str) -> etree._Element:
    """Profile rules 5, 9: XML content type, a SOAP envelope whose Body holds one valid `fault`."""
    xml_content_type(ex)
    return soap_payload(ex, namespace, "fault")


@check
def rejected_with_fault(ex: Exchange, status: int) -> None:
    """Profile rule 9: a refusal is HTTP `status` with a fault envelope."""
    status_in(ex, status)
    fault_fields(ex)


@check(on_refusal=True)
def refused_without_identity(ex: Exchange) -> str:
    """Profile rule 10: refused at the TLS handshake, or HTTP 401 with a fault."""
    declared = "refused at the TLS handshake, or HTTP 401 with a fault"
    if ex.error in (TLS_REFUSED, DROPPED):
        return "refused at the TLS handshake"
    if ex.error:
        raise CheckFailed(f"Received {ex.describe()}", declared)
    if ex.status != 401:
        raise CheckFailed(f"Received HTTP {ex.status}", declared)
    fault_fields(ex)
    return "HTTP 401 with a fault"


# ----------------------------------------------------------------------------------- Fibre Cafe
def json_body(ex: Exchange, declared: str) -> Any:
    _answered(ex, declared)
    try:
        return wirejson.loads(ex.response_body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckFailed(f"Received HTTP {ex.status} with a body that is not JSON", declared) from None


@check
def json_content_type(ex: Exchange) -> None:
    """Profile decision 5: Fibre Cafe answers are application/json."""
    value = ex.header("Content-Type") or ""
    if value.split(";")[0].strip().lower() != "application/json":
        raise CheckFailed(f"Received Content-Type {value!r}", "application/json")


FC_STATUSES = (400, 401, 403, 405, 422, 500, 503)  # 405: another method (profile decision 6)
FC_ERROR_BODY_STATUSES = (400, 401, 422, 500)


@check
def fc_error_structure(ex: Exchange) -> dict[str, Any] | None:
    """Seed pages: a documented error status; {uuid string, code in the enum, messages array}."""
    declared = "status 400/401/403/405/422/500/503; on 400/401/422/500 {uuid: string, code: one of the nine codes, messages: array}"
    _answered(ex, declared)
    if ex.status not in FC_STATUSES:
        raise CheckFailed(f"Received HTTP {ex.status}", declared)
    if ex.status not in FC_ERROR_BODY_STATUSES:
        return None
    body = json_body(ex, declared)
    if not isinstance(body, dict):
        raise CheckFailed(f"Received a {type(body).__name__} error body", declared)
    missing = [k for k in ("uuid", "code", "messages") if k not in body]
    if missing:
        raise CheckFailed(f"Received an error body without {', '.join(missing)}", declared)
    if not isinstance(body["uuid"], str):
        raise CheckFailed(f"Received uuid of type {type(body['uuid']).__name__}", declared)
    if body["code"] not in contracts.enum_of("ErrorCode"):
        raise CheckFailed(f"Received code {body['code']!r}", declared)
    if not isinstance(body["messages"], list) or not all(isinstance(m, str) for m in body["messages"]):
        raise CheckFailed("Received messages that are not an array of strings", declared)
    return body


@check
def fc_error_details(ex: Exchange) -> None:
    """Profile decision 5: application/json; uuid is a UUID; at least one non-empty message."""
    if ex.status not in FC_ERROR_BODY_STATUSES:
        return
    json_content_type(ex)
    declared = "uuid a UUID and messages holding at least one non-empty string"
    body = json_body(ex, declared)
    if not isinstance(body, dict):
        raise CheckFailed("Received an error body that is not an object", declared)
    try:
        uuid.UUID(str(body.get("uuid")))
    except ValueError:
        raise CheckFailed(f"Received uuid {body.get('uuid')!r}", declared) from None
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(isinstance(m, str) and m.strip() for m in messages):
        raise CheckFailed(f"Received messages {messages!r}", declared)


@check
def fc_error(ex: Exchange, status: int, *codes: str) -> dict[str, Any]:
    """A specific documented rejection: `status` with `code` among `codes`."""
    declared = f"HTTP {status} with code {wording.values(codes)}"
    status_in(ex, status)
    body = json_body(ex, declared)
    if not isinstance(body, dict) or body.get("code") not in codes:
        code = body.get("code") if isinstance(body, dict) else None
        raise CheckFailed(f"Received HTTP {status} with code {code!r}", declared)
    return body


@check
def fc_fraction_refused(ex: Exchange) -> dict[str, Any]:
    """Profile decision 8: an orderId that is a fraction is refused: 400 MALFORMED_REQUEST (outside its
    type), or 422 INVALID_REQUEST / NOT_FOUND (an implementation that looks the id up first)."""
    declared = "HTTP 400 with code MALFORMED_REQUEST, or HTTP 422 with code INVALID_REQUEST or NOT_FOUND (decision 8)"
    _answered(ex, declared)
    allowed = {400: ("MALFORMED_REQUEST",), 422: ("INVALID_REQUEST", "NOT_FOUND")}
    if ex.status not in allowed:
        raise CheckFailed(f"Received HTTP {ex.status}", declared)
    body = json_body(ex, declared)
    code = body.get("code") if isinstance(body, dict) else None
    if code not in allowed[ex.status]:
        raise CheckFailed(f"Received HTTP {ex.status} with code {code!r}", declared)
    return body


@check
def json_schema_valid(ex: Exchange, component: str) -> Any:
    """The body validates against a component of the OpenAPI contract (formats included)."""
    declared = f"a body valid against {component} in openapi.yaml"
    body = json_body(ex, declared)
    errors = sorted(contracts.json_validator(component).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        raise CheckFailed(f"Received {'/'.join(map(str, e.path)) or 'the body'}: {e.message}", declared)
    return body


@check
def xml_field(ex: Exchange, namespace: str, root: str, path: str, want: str, what: str) -> None:
    """The answer's `root` (a SOAP payload) carries `want` at `path` (`a/b`), e.g. an echoed id."""
    payload = soap_payload(ex, namespace, root)
    got = ElementPath(path).text(payload, namespace)
    if got != want:
        raise CheckFailed(f"Received {what} {got!r}", f"{what} {want!r}")


@check
def json_field(ex: Exchange, key: str, want: Any, what: str = "") -> None:
    """The JSON object answered carries `want` under `key` (an echo, or a documented value)."""
    what = what or key
    body = json_body(ex, f"{what} {want!r}")
    got = body.get(key) if isinstance(body, dict) else None
    if got != want:
        raise CheckFailed(f"Received {what} {got!r}", f"{what} {want!r}")


@check
def json_field_in(ex: Exchange, key: str, *allowed: Any) -> Any:
    """The JSON object answered carries one of `allowed` under `key`."""
    declared = f"{key} " + wording.values(allowed)
    body = json_body(ex, declared)
    got = body.get(key) if isinstance(body, dict) else None
    if got not in allowed:
        raise CheckFailed(f"Received {key} {got!r}", declared)
    return got


@check
def json_id(ex: Exchange, key: str = "id") -> int:
    """The JSON object answered carries an integer id >= 1 under `key` (profile decision 2)."""
    declared = f"an integer {key} >= 1"
    body = json_body(ex, declared)
    got = body.get(key) if isinstance(body, dict) else None
    if isinstance(got, bool) or not isinstance(got, int) or got < 1:
        raise CheckFailed(f"Received {key} {got!r}", declared)
    return got


def _request_text(ex: Exchange, local: str) -> str | None:
    """Text of the first element named `local` in the ALA message the case sent (the XML of its request
    root, as the Case holds it), or None (a raw body, malformed on purpose, has no elements to read)."""
    body = ex.case.body
    return soap.element_text(body.xml, local, limit=None) if isinstance(body, SoapBody) else None


@check
def new_message_id(ex: Exchange, namespace: str, root: str) -> None:
    """Profile rule 7: the response message carries a messageId of its own, not the request's."""
    payload = soap_payload(ex, namespace, root)
    got = ElementPath("message/messageId").text(payload, namespace)
    if got is not None and got == _request_text(ex, "messageId"):
        raise CheckFailed("Received the request's own messageId in the response",
                          "a new messageId for the response message")


def assigned_id(ex: Exchange) -> str | None:
    """The id a target assigned in an answer (its API's dialect says where: an ALA orderResponse's
    sellerOrderReference, a Fibre Cafe order's or cancellation's `id`)."""
    return dialect(ex.api).assigned_id(ex)


@check(relation=True)
def distinct_ids(exs: list[Exchange], what: str) -> str | None:
    """The id assigned in the last answer was not assigned by any earlier answer of the chain to the same
    operation (an order id is compared with order ids, a cancellation id with cancellation ids)."""
    last = assigned_id(exs[-1])
    for earlier in exs[:-1]:
        if last is not None and earlier.operation == exs[-1].operation and assigned_id(earlier) == last:
            raise CheckFailed(f"Received {what} {last!r} twice ({earlier.id} and {exs[-1].id})",
                              f"a {what} not given to any other")
    return last


@check(relation=True)
def repeated_answer(exs: list[Exchange], original: int) -> None:
    """Profile rule 11: a repeated messageId is answered as the first time (the same sellerOrderReference)
    or with a 400 fault; never a second order. `original` is the position of the first answer in the chain."""
    declared = "the first orderResponse again (the same sellerOrderReference) or HTTP 400; never a second order"
    ex = exs[-1]
    if ex.status == 400:
        return
    if ex.status != 200:
        raise CheckFailed(f"Received HTTP {ex.status}", declared)
    first, now = assigned_id(exs[original]), assigned_id(ex)
    if now != first:
        raise CheckFailed(f"Received HTTP 200 with a new sellerOrderReference {now!r} (the first answer gave "
                          f"{first!r}): a second order", declared)


def _status_and_code(ex: Exchange) -> tuple[Any, Any]:
    if not ex.answered:
        return (ex.error, None)
    try:
        body = wirejson.loads(ex.response_body)
    except (ValueError, RecursionError):
        return (ex.status, None)
    return (ex.status, body.get("code") if isinstance(body, dict) else None)


@check(relation=True)
def same_answer(exs: list[Exchange], this: str, that: str) -> None:
    """Existence is never revealed: the answer about `this` (the next to last exchange) is the answer
    about `that` (the last one), in status and error code."""
    a, b = _status_and_code(exs[-2]), _status_and_code(exs[-1])
    if a != b:
        raise CheckFailed(f"Received {a} for {this} but {b} for {that}", "the same answer for both")


@check
def openapi_conformance(ex: Exchange, path: str) -> None:
    """Schemathesis' own response checks (status code, content type, response schema) for the Fibre Cafe
    operation at `path`, applied to the answer the target gave to the request as sent."""
    import requests
    import schemathesis
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                   status_code_conformance)

    from fibrecert.strategies import openapi_operation

    op = openapi_operation(path)
    declared = f"an answer conforming to openapi.yaml for {op.method.upper()} {op.path}"
    body = ex.case.body.value if isinstance(ex.case.body, JsonBody) else None
    case = op.Case(body=body, headers={k: v for k, v in ex.request_headers.items() if k.lower() != "authorization"},
                   media_type="application/json")
    # the request the answer answered, for schemathesis' response checks: the bytes as sent, not parsed
    prepared = requests.Request(ex.method, ex.url, headers=ex.request_headers,
                                data=ex.request_body.encode("utf-8")).prepare()
    response = schemathesis.Response(
        status_code=int(ex.status or 0), headers={k.lower(): [v] for k, v in ex.response_headers.items()},
        content=ex.response_body, request=prepared, elapsed=ex.elapsed, verify=True)
    try:
        case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                                 response_schema_conformance])
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # schemathesis raises a Failure or a FailureGroup (a BaseExceptionGroup)
        failures = getattr(exc, "exceptions", None) or [exc]
        first = failures[0]
        title = getattr(first, "title", type(first).__name__)
        message = (getattr(first, "message", "") or str(first)).strip().splitlines()
        raise CheckFailed(f"Received HTTP {ex.status}: {title}" + (f": {message[0]}" if message else ""),
                          declared) from None


@check
def token_answer(ex: Exchange) -> None:
    """Fibre Cafe facts: {"access_token": non-empty string, "expires_in": positive integer, "token_type": "Bearer"}."""
    declared = '{"access_token": non-empty string, "expires_in": positive integer, "token_type": "Bearer"}'
    body = json_body(ex, declared)
    problems = []
    if not isinstance(body, dict):
        problems.append("a body that is not a JSON object")
    else:
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            problems.append("no non-empty access_token")
        expires = body.get("expires_in")
        if isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0:
            problems.append(f"expires_in {expires!r}")
        if str(body.get("token_type", "")).lower() != "bearer":
            problems.append(f"token_type {body.get('token_type')!r}")
    if problems:
        raise CheckFailed("Received " + ", ".join(problems), declared)


@check
def no_token_issued(ex: Exchange) -> None:
    """Fibre Cafe facts: a failed client authentication issues no access token."""
    if b"access_token" in ex.response_body:
        raise CheckFailed("Received an access_token in the refusal", "no token for a wrong secret")


ENTITY_MARKERS = ("FIBRECERT-ENTITY-EXPANDED", "root:x:0:0", "lollollol")


@check
def no_entity_expanded(ex: Exchange) -> None:
    """Profile rule 12: a DTD or entity is refused and never expanded into the answer."""
    text = ex.text
    for marker in ENTITY_MARKERS:
        if marker in text:
            raise CheckFailed(f"Received an answer with an entity expanded ({marker!r})", "no entity ever expanded")


@check
def ucr_response(ex: Exchange) -> None:
    """Seed: `unsolicitedCeaseResponse` (null): the body holds an empty unsolicitedCeaseResponse."""
    declared = "a body holding an empty unsolicitedCeaseResponse element"
    _answered(ex, declared)
    try:
        root = soap.parse_xml(ex.response_body)
    except soap.EnvelopeError as exc:
        raise CheckFailed(f"Received a body that is not XML: {exc}", declared) from None
    found = [el for el in root.iter() if isinstance(el.tag, str)
             and etree.QName(el).localname == "unsolicitedCeaseResponse"]
    if not found:
        raise CheckFailed("Received a body without unsolicitedCeaseResponse", declared)
    el = found[0]
    if len(el) or (el.text or "").strip():
        raise CheckFailed("Received an unsolicitedCeaseResponse with content", declared)


@check(on_refusal=True)
def forbidden_or_refused(ex: Exchange) -> str:
    """Profile rule 10: a trusted certificate of the wrong party gets 403 with a fault; one the
    endpoint does not trust is refused at the handshake or with 401."""
    if ex.error in (TLS_REFUSED, DROPPED) or ex.status == 401:
        return refused_without_identity(ex)
    status_in(ex, 403)
    fault_fields(ex)
    return "HTTP 403 with a fault"


# ----------------------------------------------------------------------------------- whole echoes
def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def echo_difference(sent: Any, got: Any, path: str = "") -> str | None:
    """Where `got` does not echo `sent`, or None. The profiles' equality: strings character for
    character, numbers by value (JSON 1001.0 echoes 1001; a boolean is not a number), objects field by
    field (the answer may add fields), arrays item by item in order and of the same length."""
    where = path or "the body"
    if isinstance(sent, dict):
        if not isinstance(got, dict):
            return f"{where} is {_kind(got)}, not an object"
        for key, value in sent.items():
            sub = f"{path}.{key}" if path else key
            if key not in got:
                return f"{sub} is missing"
            found = echo_difference(value, got[key], sub)
            if found:
                return found
        return None
    if isinstance(sent, list):
        if not isinstance(got, list):
            return f"{where} is {_kind(got)}, not an array"
        if len(got) != len(sent):
            return f"{where} has {len(got)} items, not {len(sent)}"
        for i, (a, b) in enumerate(zip(sent, got)):
            found = echo_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(sent, bool) or sent is None:
        return None if got is sent else f"{where} is {got!r}, not {sent!r}"
    if isinstance(sent, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)) or got != sent:
            return f"{where} is {_short_repr(got)}, not {_short_repr(sent)}"
        return None
    if not isinstance(got, str) or got != sent:
        return f"{where} is {_short_repr(got)}, not {_short_repr(sent)}"
    return None


def _short_repr(value: Any) -> str:
    text = repr(value)
    if len(text) <= 60:
        return text
    size = f"{len(value)} characters, " if isinstance(value, str) else ""
    return f"{text[:40]}…({size}{len(text)} in all)"


@check
def json_echo(ex: Exchange, *keys: str) -> None:
    """The JSON object answered echoes the JSON object the request sent (only `keys` of it, those it
    carries, when given: what the profile says is echoed), nested objects and arrays included, with the
    profile's equality (echo_difference). Read from the exchange's Case, so a replay judges what it sent
    (a raw body, malformed on purpose, is no JSON object)."""
    what = ", ".join(keys) + " when sent" if keys else "every field of the request"
    declared = f"{what} echoed (nested objects and arrays included; strings exactly, numbers by value)"
    sent = ex.case.body.value if isinstance(ex.case.body, JsonBody) else None
    if not isinstance(sent, dict):
        raise CheckFailed("Sent a request body that is not a JSON object: nothing to echo", declared)
    if keys:
        sent = {k: sent[k] for k in keys if k in sent}
    body = json_body(ex, declared)
    found = echo_difference(sent, body)
    if found:
        raise CheckFailed(f"Received an echo where {found}", declared)


@check(relation=True)
def not_another_partys_answer(exs: list[Exchange], *markers: str) -> None:
    """Profile rules 10, 11 (ALA) and decision 3 (Fibre Cafe): a party that reuses an id another party
    sent (an ALA messageId, a Fibre Cafe X-Request-ID) gets an answer of its own. The first exchange of
    the chain is the other party's; the last one's answer must not be that answer, must not name the order
    it assigned, and must hold none of `markers` (values only the other party's request and answer hold)."""
    declared = "an answer of its own: not the other party's answer, none of its references or ids"
    other, ex = exs[0], exs[-1]
    _answered(ex, declared)
    if other.answered and other.status is not None and other.status < 300 and ex.response_body == other.response_body:
        raise CheckFailed(f"Received HTTP {ex.status} with the other party's answer ({other.id}), byte for byte",
                          declared)
    theirs = assigned_id(other)
    if theirs is not None and assigned_id(ex) == theirs:
        raise CheckFailed(f"Received the order the other party's request was given ({theirs!r}, in {other.id})",
                          declared)
    text = ex.text
    for marker in markers:
        if marker and marker in text:
            raise CheckFailed(f"Received {marker!r}, a value of the other party's request or answer ({other.id})",
                              declared)
