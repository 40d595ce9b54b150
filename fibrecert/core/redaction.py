"""One redaction function, applied where evidence leaves memory: report files, the event log, the
terminal, replay's output. Exchanges in memory hold what was really sent and received; nothing that
leaves the process holds a secret.

What is a secret: every value the run registered (client secrets, issued access tokens: the
`SecretRegistry`), the value of an Authorization or Proxy-Authorization header (its scheme is kept),
cookies, and the values of form or JSON fields named like credentials.
"""

from __future__ import annotations

import dataclasses
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
        self._sorted: tuple[str, ...] = ()
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
                    self._sorted = tuple(sorted(self._values, key=len, reverse=True))  # replaced whole

    def values(self) -> tuple[str, ...]:
        """Every secret, longest first (an immutable snapshot: reading it needs no lock)."""
        return self._sorted

    @property
    def longest(self) -> int:
        with self._lock:
            return len(self._sorted[0]) if self._sorted else 0


def _text(text: str, values: tuple[str, ...]) -> str:
    if "=" in text:
        text = _SECRET_FORM_FIELDS.sub(lambda m: m.group(1) + REDACTED, text)
    if '"' in text:
        text = _SECRET_JSON_FIELDS.sub(lambda m: m.group(1) + REDACTED + m.group(2), text)
    for v in values:
        if v in text:
            text = text.replace(v, REDACTED)
    return text


_EVENT_FIELDS: dict[type, tuple[str, ...]] = {}  # an event class -> the fields redaction looks at
_exchange_type: Any = None


def redacted_event(event: Any, secrets: SecretRegistry | None) -> Any:
    """A copy of a run event (a dataclass of fibrecert/core/events.py) whose text fields carry no secret: what
    leaves memory for the terminal or the event log. Its strings, dicts and tuples of strings are redacted,
    and so is a record it carries (RunEnding's RunFacts). Exchanges are redacted by the transport already."""
    global _exchange_type
    if _exchange_type is None:
        from fibrecert.core.exchange import Exchange

        _exchange_type = Exchange
    names = _EVENT_FIELDS.get(type(event))
    if names is None:
        names = _EVENT_FIELDS[type(event)] = tuple(f.name for f in dataclasses.fields(event) if f.name != "type")
    values = secrets.values() if secrets is not None else ()
    changed = {}
    for name in names:
        value = getattr(event, name)
        if isinstance(value, (str, dict)):
            shown = _redact(value, values)
        elif isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            shown = tuple(_redact(list(value), values))
        elif dataclasses.is_dataclass(value) and not isinstance(value, (type, _exchange_type)):
            shown = redacted_event(value, secrets)
        else:
            continue
        if shown is not value and shown != value:
            changed[name] = shown
    return dataclasses.replace(event, **changed) if changed else event


def redact(value: Any, secrets: SecretRegistry | None) -> Any:
    """A copy of `value` (str, or JSON-like dicts and lists of them) with every secret replaced by
    [REDACTED]. Header maps are recognised by their keys: an Authorization value keeps its scheme."""
    return _redact(value, secrets.values() if secrets is not None else ())


def _redact(value: Any, values: tuple[str, ...]) -> Any:
    # the secrets are read once per `redact` call, not once per string: a report redacts tens of
    # thousands of strings (every exchange record), and each read was a copy under a lock
    if isinstance(value, str):
        return _text(value, values)
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
                out[k] = _redact(v, values)
        return out
    if isinstance(value, (list, tuple)):
        return [_redact(v, values) for v in value]
    return value
