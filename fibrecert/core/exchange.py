"""An Exchange: one request sent to a target and what came back (or the transport outcome), as the
run keeps it in memory and shows it as evidence (redacted by the one redaction function).

`Exchange.case` is the typed Case it was sent for: checks read what was sent from it, never from the
request text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fibrecert.core.case import Case
from fibrecert.core.identity import Identity
from fibrecert.core.redaction import SecretRegistry, redact

# Transport outcomes (Exchange.error). None = an HTTP response was received.
UNREACHABLE = "unreachable"        # no TCP connection (refused, DNS, connect timeout)
TLS_REFUSED = "tls_refused"        # the TLS handshake failed or was refused by the server
TIMEOUT = "timeout"                # connected, but no complete answer within the deadline
DROPPED = "dropped"                # the connection was closed without an answer
THROTTLED = "throttled"            # 429/503 with Retry-After past fibrecert's bounds: not sent again (throttle.py)

MAX_RESPONSE_BYTES = 4 * 1024 * 1024
EVIDENCE_BODY_LIMIT = 64 * 1024
# Evidence keeps this much more than it shows, so that redaction (which runs before the cut) sees every
# secret whole even where the cut would fall inside one.
_TRIM_MARGIN = 4096


def redact_headers(headers: dict[str, str], secrets: SecretRegistry) -> dict[str, str]:
    return redact(dict(headers), secrets)


def redact_text(text: str, secrets: SecretRegistry) -> str:
    return redact(text, secrets)


@dataclass
class Exchange:
    """One request sent to the target for a Case, and what came back (or the transport outcome).

    What the request is (its id, API, operation, identity, method, the constraint it attacks, whether a
    refusal is its point) is read from `case`; what went on the wire (the URL the endpoint guard checked,
    the headers and body with the credentials the dialect added) is kept as sent, for evidence."""

    case: Case                      # the Case it was sent for
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    error: str | None = None
    error_detail: str = ""
    elapsed: float = 0.0
    started: float = 0.0            # time.monotonic() when it was sent
    server_certificate: str | None = None  # SHA-256 fingerprint of the server certificate seen on the wire
    throttled: int = 0              # throttled answers (429/503 with Retry-After) before this one (throttle.py)
    throttle_wait: float = 0.0      # seconds waited for them before sending it again
    throttle_bound: str = ""        # the bound reached when it was not sent again (throttle.py), else ""

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def api(self) -> str:
        return self.case.api

    @property
    def operation(self) -> str:
        return self.case.operation

    @property
    def identity(self) -> Identity:
        return self.case.identity

    @property
    def method(self) -> str:
        return self.case.method

    @property
    def constraint(self) -> str | None:
        """The contract constraint a negative case attacks."""
        return self.case.constraint

    @property
    def refusal_expected(self) -> bool:
        """A deliberate request without valid credentials (or one a handshake may fairly refuse)."""
        return self.case.refusal_expected

    @property
    def answered(self) -> bool:
        """A complete HTTP answer came back (a status line, headers and the whole body)."""
        return self.error is None and self.status is not None

    @property
    def text(self) -> str:
        return self.response_body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        for k, v in self.response_headers.items():
            if k.lower() == name.lower():
                return v
        return None

    def describe(self) -> str:
        if self.error:
            return f"{self.error} ({self.error_detail})" if self.error_detail else self.error
        return f"HTTP {self.status}"

    def trimmed(self) -> "Exchange":
        """A copy whose bodies are cut to what evidence can show (plus a margin for redaction): what a
        run keeps in memory for the report, whatever the target sent."""
        keep = EVIDENCE_BODY_LIMIT + _TRIM_MARGIN
        if len(self.response_body) <= keep and len(self.request_body) <= keep:
            return self
        return dataclasses.replace(self, response_body=self.response_body[:keep], request_body=self.request_body[:keep])

    def evidence(self, secrets: SecretRegistry | None) -> dict[str, Any]:
        """The exchange as evidence: request as sent, response as received, secrets redacted (by the one
        redaction function), bodies cut at EVIDENCE_BODY_LIMIT after redaction."""
        response: dict[str, Any]
        if self.error:
            response = {"error": self.error, "detail": self.error_detail}
            if self.status is not None:
                response["status"] = self.status
        else:
            response = {"status": self.status, "headers": dict(self.response_headers), "body": self.text}
        record = {
            "exchange": self.id,
            "identity": str(self.identity),
            "request": {"method": self.method, "url": self.url, "headers": dict(self.request_headers),
                        "body": self.request_body},
            "response": response,
            "elapsed_ms": round(self.elapsed * 1000, 1),
        }
        if self.throttled:  # sent again after a documented throttle (fibrecert/throttle.py)
            record["throttled"] = {"answers": self.throttled, "waited_s": round(self.throttle_wait, 3)}
        record = redact(record, secrets)
        for part in (record["request"], record["response"]):
            body = part.get("body")
            if isinstance(body, str) and len(body) > EVIDENCE_BODY_LIMIT:
                part["body"] = body[:EVIDENCE_BODY_LIMIT]
                part["truncated"] = True
        return record


class TargetUnreachable(Exception):
    """The target could not be reached with valid credentials: the run cannot be completed."""


