"""One redaction function, applied where evidence leaves memory: report files, the event log, the
terminal, replay's output. Exchanges in memory hold what was really sent and received; nothing that
leaves the process holds a secret.

What is a secret: every value the run registered (client secrets, issued access tokens: the
`SecretRegistry`), the value of an Authorization or Proxy-Authorization header (its scheme is kept),
cookies, and the values of form or JSON fields named like credentials.
"""

from __future__ import annotations

import re
import threading
from typing import Any

REDACTED = "[REDACTED]"
_SECRET_FORM_FIELDS = re.compile(r"((?:^|&)(?:client_secret|password|access_token|refresh_token)=)[^&]*")
_SECRET_JSON_FIELDS = re.compile(r'("(?:access_token|refresh_token|client_secret|id_token)"\s*:\s*")[^"]*(")')
_AUTH_HEADERS = {"authorization", "proxy-authorization"}
_COOKIE_HEADERS = {"cookie", "set-cookie"}


class SecretRegistry:
    """Every secret the run knows (client secrets, issued tokens)."""

    def __init__(self, values: list[str] | None = None):
        self._values: set[str] = set()
        self._sorted: list[str] = []
        self._lock = threading.Lock()
        for v in values or []:
            self.add(v)

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            with self._lock:
                if value not in self._values:
                    self._values.add(value)
                    # Also as Python quotes it (`!r`, and requests' InvalidHeader message, which quotes a
                    # whole Authorization value): a token holding control characters is otherwise missed.
                    self._values.add(repr(value)[1:-1])
                    self._sorted = sorted(self._values, key=len, reverse=True)

    def values(self) -> list[str]:
        with self._lock:
            return list(self._sorted)

    @property
    def longest(self) -> int:
        with self._lock:
            return len(self._sorted[0]) if self._sorted else 0


def _text(text: str, secrets: SecretRegistry | None) -> str:
    if "=" in text:
        text = _SECRET_FORM_FIELDS.sub(lambda m: m.group(1) + REDACTED, text)
    if '"' in text:
        text = _SECRET_JSON_FIELDS.sub(lambda m: m.group(1) + REDACTED + m.group(2), text)
    for v in secrets.values() if secrets is not None else ():
        if v in text:
            text = text.replace(v, REDACTED)
    return text


def redacted_event(event: Any, secrets: SecretRegistry | None) -> Any:
    """A copy of a run event (a dataclass of fibrecert/core/events.py) whose text fields carry no secret: what
    leaves memory for the terminal or the event log. Its strings, dicts and tuples of strings are redacted,
    and so is a record it carries (RunEnding's RunFacts). Exchanges are redacted by the transport already."""
    import dataclasses

    from fibrecert.core.exchange import Exchange

    def shown(value: Any) -> Any:
        if isinstance(value, (str, dict)):
            return redact(value, secrets)
        if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            return tuple(redact(list(value), secrets))
        if dataclasses.is_dataclass(value) and not isinstance(value, (type, Exchange)):
            return redacted_event(value, secrets)
        return value

    changes = {f.name: shown(getattr(event, f.name)) for f in dataclasses.fields(event) if f.name != "type"}
    changed = {k: v for k, v in changes.items() if v is not getattr(event, k) and v != getattr(event, k)}
    return dataclasses.replace(event, **changed) if changed else event


def redact(value: Any, secrets: SecretRegistry | None) -> Any:
    """A copy of `value` (str, or JSON-like dicts and lists of them) with every secret replaced by
    [REDACTED]. Header maps are recognised by their keys: an Authorization value keeps its scheme."""
    if isinstance(value, str):
        return _text(value, secrets)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = k.lower() if isinstance(k, str) else k
            if key in _AUTH_HEADERS and isinstance(v, str):
                scheme = v.split(" ", 1)[0] if " " in v.strip() else ""
                out[k] = f"{scheme} {REDACTED}".strip()
            elif key in _COOKIE_HEADERS:
                out[k] = REDACTED
            else:
                out[k] = redact(v, secrets)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(v, secrets) for v in value]
    return value
