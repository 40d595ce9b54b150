"""The observable facts of an answer that the checks rely on, recorded with every exchange of a run
(`facts` in results.json's `exchanges`) so that `fibrecert audit` can compare a re-sent exchange with
what the run saw, beyond the judged outcome.

Only facts that do not change from one sending to the next: the status (or the transport outcome), the
error code or fault code, the state an answer reports, and, for each value the profile says is echoed,
whether the answer echoed the value the request sent (a boolean: the values themselves differ on a
re-send, where ids are assigned anew and messageIds are fresh). What an answer shows is its API's:
each dialect reads its own (`facts`), and compares an echoed value with the one the Case sent.
"""

from __future__ import annotations

from typing import Any

from fibrecert.apis import dialect

FACTS_BODY_LIMIT = 64 * 1024  # larger answers are not parsed for facts (the status is still recorded)

def facts(ex: Any) -> dict[str, Any]:
    """{"answer": status or transport outcome, and "code", "fault", "state", "echo" where the answer has
    them}: plain JSON."""
    out: dict[str, Any] = {"answer": ex.status if ex.error is None else ex.error}
    if ex.error is not None or not ex.response_body or len(ex.response_body) > FACTS_BODY_LIMIT:
        return out
    try:
        out.update(dialect(ex.api).facts(ex))
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
