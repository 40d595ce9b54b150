"""The observable facts of an answer that the checks rely on, recorded with every exchange of a run
(`facts` in results.json's `exchanges`) so that `fibrecert audit` can compare a re-sent exchange with
what the run saw, beyond the judged outcome.

Only facts that do not change from one sending to the next: the status (or the transport outcome), the
error code or fault code, the state an answer reports, and, for each value the profile says is echoed,
whether the answer echoed the value the request sent (a boolean: the values themselves differ on a
re-send, where ids are assigned anew and messageIds are fresh).
"""

from __future__ import annotations

import json
from typing import Any

FACTS_BODY_LIMIT = 64 * 1024  # larger answers are not parsed for facts (the status is still recorded)
FC_ECHOED = ("orderId", "reasonCode", "supplier", "text", "orderType", "serviceId")
ALA_ECHOED = ("correlationId", "buyerOrderReference")


def _json_facts(ex: Any) -> dict[str, Any]:
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
    try:
        sent = json.loads(ex.request_body) if ex.request_body else None
    except (ValueError, RecursionError):
        sent = None
    if isinstance(sent, dict):
        echo = {k: body.get(k) == sent[k] for k in FC_ECHOED if k in sent and k in body}
        if echo:
            out["echo"] = echo
    return out


_ALA_WANTED = frozenset(("fault", "faultcode", "cancellationStatus", *ALA_ECHOED))


def _first_texts(root: Any, wanted: frozenset[str]) -> dict[str, str]:
    """{local name: stripped text of its first element} for the wanted names, in one pass."""
    found: dict[str, str] = {}
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        local = tag.rpartition("}")[2]
        if local in wanted and local not in found:
            found[local] = (el.text or "").strip()
    return found


def _xml_facts(ex: Any) -> dict[str, Any]:
    from fibrecert.contracts import soap

    try:
        got = _first_texts(soap.parse_xml(ex.response_body, limit=FACTS_BODY_LIMIT), _ALA_WANTED)
    except soap.EnvelopeError:
        return {"body": "not XML"} if ex.response_body else {}
    out: dict[str, Any] = {}
    if "fault" in got:
        out["fault"] = True
        if "faultcode" in got:
            out["code"] = got["faultcode"][:80]
    if "cancellationStatus" in got:
        out["state"] = got["cancellationStatus"][:80]
    if any(name in got for name in ALA_ECHOED):  # only answers that echo: parse what was sent
        try:
            sent = _first_texts(soap.parse_xml(ex.request_body.encode("utf-8"), limit=FACTS_BODY_LIMIT),
                                frozenset(ALA_ECHOED))
        except (soap.EnvelopeError, ValueError):
            sent = {}
        echo = {name: got[name] == sent[name] for name in ALA_ECHOED if name in got and name in sent}
        if echo:
            out["echo"] = echo
    return out


def facts(ex: Any) -> dict[str, Any]:
    """{"answer": status or transport outcome, and "code", "fault", "state", "echo" where the answer has
    them}: plain JSON."""
    out: dict[str, Any] = {"answer": ex.status if ex.error is None else ex.error}
    if ex.error is not None or not ex.response_body or len(ex.response_body) > FACTS_BODY_LIMIT:
        return out
    try:
        out.update(_xml_facts(ex) if ex.api == "ala" else _json_facts(ex))
    except Exception:  # noqa: BLE001 - a hostile answer never breaks the record of the run
        out["body"] = "unreadable"
    return out


def differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Each fact the run recorded that the answer now does not show the same way, as "key: was X, now Y"."""
    out = []
    for key in sorted(recorded.keys() | now.keys()):
        was, is_ = recorded.get(key), now.get(key)
        if key == "echo" and isinstance(was, dict):
            is_map = is_ if isinstance(is_, dict) else {}
            for k in sorted(was):
                if was[k] != is_map.get(k):
                    out.append(f"echo of {k}: was {'echoed' if was[k] else 'not echoed'}, now "
                               f"{'echoed' if is_map.get(k) else 'not echoed'}")
            continue
        if was != is_:
            out.append(f"{key}: was {was!r}, now {is_!r}")
    return out
