"""A Case: one request the suite sends, as plain data, from generation to report and replay.

A Case names its operation, the identity it presents (`fibrecert.core.identity.Identity`), its body as
structured data (an ALA message as the XML of its request root, a JSON value, a form, or raw bytes for
the cases that are malformed on purpose), the test data it is bound to (an active service it ceases, an
order an earlier answer assigned, the ALA messageId it carries), the exchanges it depends on, and what
it is for (the test, the requirements it serves, the contract constraint it attacks).

The transport turns a Case into an `Exchange`; `to_json` / `from_json` store it in results.json without
secrets (credentials are derived from the identity at send time), so that `fibrecert replay` can load it
and send it again: no text is parsed back into structure downstream.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import zlib
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from fibrecert.core.identity import Identity

RAW_INLINE_LIMIT = 4096  # raw bodies longer than this are stored compressed


@dataclass(frozen=True)
class SoapBody:
    """An XML message: the XML of its request root (or of any element); its dialect wraps it in its
    envelope when it is sent (ALA: SOAP 1.1)."""
    xml: bytes

    def to_json(self) -> dict[str, Any]:
        if len(self.xml) > RAW_INLINE_LIMIT:
            return {"kind": "soap", "zlib_b64": base64.b64encode(zlib.compress(self.xml, 9)).decode("ascii")}
        return {"kind": "soap", "xml": self.xml.decode("utf-8")}


@dataclass(frozen=True)
class JsonBody:
    """A JSON value; `raw` is the exact text to send when its literal form matters (e.g. `1e-1`)."""
    value: Any
    raw: str | None = None

    def encode(self) -> bytes:
        return (self.raw if self.raw is not None else json.dumps(self.value)).encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        text = self.raw if self.raw is not None else None
        if text is None:
            try:
                text = json.dumps(self.value)
            except (ValueError, RecursionError):  # too deep to store as a value: keep the text sent
                return RawBody(self.encode()).to_json() | {"json": True}
        if len(text) > RAW_INLINE_LIMIT:
            return {"kind": "json", "zlib_b64": base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii"),
                    "exact": self.raw is not None}
        out: dict[str, Any] = {"kind": "json", "value": self.value}
        if self.raw is not None:
            out["raw"] = self.raw
        return out


@dataclass(frozen=True)
class FormBody:
    """application/x-www-form-urlencoded fields (never credentials: those travel in the Authorization header)."""
    fields: tuple[tuple[str, str], ...]

    def encode(self) -> bytes:
        return urlencode(list(self.fields)).encode("ascii")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "form", "fields": [list(f) for f in self.fields]}


@dataclass(frozen=True)
class RawBody:
    """Bytes sent as they are: malformed on purpose (not XML, not JSON, truncated, oversized, empty)."""
    data: bytes

    def encode(self) -> bytes:
        return self.data

    def to_json(self) -> dict[str, Any]:
        if len(self.data) <= RAW_INLINE_LIMIT:
            try:
                return {"kind": "raw", "text": self.data.decode("utf-8")}
            except UnicodeDecodeError:
                pass
        return {"kind": "raw", "zlib_b64": base64.b64encode(zlib.compress(self.data, 9)).decode("ascii"),
                "length": len(self.data)}


Body = SoapBody | JsonBody | FormBody | RawBody


# The largest body a recorded case may inflate to (the suites' largest, an oversized ALA message, is a few
# MB): a results file from elsewhere cannot make replay or audit inflate 300 KB into 300 MB.
MAX_BODY_BYTES = 16 * 1024 * 1024


def _inflate(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("zlib_b64 is not a string")
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, MAX_BODY_BYTES + 1)
    except (UnicodeEncodeError, binascii.Error, zlib.error) as exc:
        raise ValueError(f"zlib_b64 is not base64 zlib data ({type(exc).__name__})") from None
    if len(data) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise ValueError(f"the body inflates to more than {MAX_BODY_BYTES} bytes")
    if not inflater.eof:
        raise ValueError("zlib_b64 is truncated zlib data")
    return data


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    if len(value) > MAX_BODY_BYTES:
        raise ValueError(f"{key} is longer than {MAX_BODY_BYTES} characters")
    return value


def body_from_json(data: dict[str, Any]) -> Body:
    """A body as results.json stores it; ValueError (one line) for anything else."""
    if not isinstance(data, dict):
        raise ValueError("the body is not an object")
    kind = data.get("kind")
    if kind == "soap":
        if "zlib_b64" in data:
            return SoapBody(_inflate(data["zlib_b64"]))
        return SoapBody(_text(data, "xml").encode("utf-8"))
    if kind == "json":
        if "zlib_b64" in data:
            text = _inflate(data["zlib_b64"]).decode("utf-8")
            return JsonBody(json.loads(text), text if data.get("exact") else None)
        raw = data.get("raw")
        if raw is not None and not isinstance(raw, str):
            raise ValueError("raw is not a string")
        return JsonBody(data.get("value"), raw)
    if kind == "form":
        fields = data.get("fields")
        if not isinstance(fields, list) or not all(isinstance(f, list) and len(f) == 2 and all(isinstance(x, str) for x in f)
                                                   for f in fields):
            raise ValueError("fields is not a list of [name, value] strings")
        return FormBody(tuple((k, v) for k, v in fields))
    if kind == "raw":
        if "text" in data:
            return RawBody(_text(data, "text").encode("utf-8"))
        return RawBody(_inflate(data.get("zlib_b64")))
    raise ValueError(f"unknown body kind {str(kind)[:40]!r}")


@dataclass(frozen=True)
class Binding:
    """Test data a case is bound to. `path` locates it in a structured body (dotted: ALA element path
    below the request root, or a JSON key); a raw body is matched by value. `source` is the exchange whose
    answer assigned the value (an order), so that replay sends that exchange first and carries the new
    value over."""
    value: str
    path: str | None = None
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("value", self.value), ("path", self.path), ("source", self.source)) if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Binding":
        if not isinstance(data, dict) or isinstance(data.get("value"), bool) \
                or not isinstance(data.get("value"), (str, int)):
            raise ValueError("a binding is not an object with a string value")
        for key in ("path", "source"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"a binding's {key} is not a string")
        return cls(str(data["value"]), data.get("path"), data.get("source"))


SERVICE, ORDER, MESSAGE_ID = "service", "order", "message_id"


@dataclass(frozen=True)
class Case:
    id: str                         # the exchange id it becomes (deterministic: test index, lane, step)
    api: str                        # ala | fibrecafe
    operation: str                  # the catalogue's form: "POST /ceaseOrder", "POST /auth/tenant/access-token"
    endpoint: str                   # which base URL: seller | buyer (ALA); api | token (Fibre Cafe)
    path: str                       # below that base URL ("" for the token URL itself)
    identity: Identity
    body: Body
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()      # non-secret headers, in order
    omit_headers: tuple[str, ...] = ()
    bindings: tuple[tuple[str, Binding], ...] = ()
    after: tuple[str, ...] = ()     # exchanges this one depends on (their answers or the state they left)
    test: str = ""                  # the suite test that made it
    serves: tuple[str, ...] = ()    # the requirements that test declares
    constraint: str | None = None   # the contract constraint a negative case attacks
    note: str = ""                  # what the case is, in a few words
    tags: frozenset[str] = field(default_factory=frozenset)  # values it exercises (method=GET, reasonCode=OTHER...)
    may_be_refused: bool = False    # a refusal at the handshake is a fair answer (beyond bad credentials)

    @property
    def refusal_expected(self) -> bool:
        return self.identity.refused_by_design or self.may_be_refused

    def binding(self, kind: str) -> Binding | None:
        return dict(self.bindings).get(kind)

    def header_dict(self) -> dict[str, str]:
        return dict(self.headers)

    def with_(self, **changes: Any) -> "Case":
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "api": self.api, "operation": self.operation, "endpoint": self.endpoint,
            "path": self.path, "method": self.method, "identity": self.identity.name, "body": self.body.to_json(),
            "headers": [list(h) for h in self.headers],
        }
        if self.omit_headers:
            out["omit_headers"] = list(self.omit_headers)
        if self.bindings:
            out["bindings"] = {k: b.to_json() for k, b in self.bindings}
        if self.after:
            out["after"] = list(self.after)
        for key in ("test", "constraint", "note"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.serves:
            out["serves"] = list(self.serves)
        if self.tags:
            out["tags"] = sorted(self.tags)
        if self.may_be_refused:
            out["may_be_refused"] = True
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Case":
        """A case as results.json stores it; ValueError (one line) for a document of another shape
        (what it may send is checked by fibrecert/endpoints.py, not here)."""
        _check_shape(data)
        return cls(
            id=data["id"], api=data["api"], operation=data["operation"], endpoint=data["endpoint"],
            path=data["path"], identity=Identity.parse(data["api"], data["identity"]),
            body=body_from_json(data["body"]), method=data.get("method", "POST"),
            headers=tuple((k, v) for k, v in data.get("headers", [])),
            omit_headers=tuple(data.get("omit_headers", ())),
            bindings=tuple((k, Binding.from_json(v)) for k, v in data.get("bindings", {}).items()),
            after=tuple(data.get("after", ())), test=data.get("test", ""), serves=tuple(data.get("serves", ())),
            constraint=data.get("constraint"), note=data.get("note", ""), tags=frozenset(data.get("tags", ())),
            may_be_refused=bool(data.get("may_be_refused", False)))


def _check_shape(data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("the case is not an object")
    for key in ("id", "api", "operation", "endpoint", "path", "identity"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"the case's {key} is missing or not a string")
    for key in ("method", "test", "note"):
        if key in data and not isinstance(data[key], str):
            raise ValueError(f"the case's {key} is not a string")
    if data.get("constraint") is not None and not isinstance(data["constraint"], str):
        raise ValueError("the case's constraint is not a string")
    headers = data.get("headers", [])
    if not isinstance(headers, list) or not all(isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
                                                for h in headers):
        raise ValueError("the case's headers are not a list of [name, value] strings")
    for key in ("omit_headers", "after", "serves", "tags"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ValueError(f"the case's {key} is not a list of strings")
    if not isinstance(data.get("bindings", {}), dict):
        raise ValueError("the case's bindings are not an object")
    if "body" not in data:
        raise ValueError("the case has no body")


_ID_PARTS = re.compile(r"([0-9]+)")


@functools.lru_cache(maxsize=1 << 16)
def id_key(exchange_id: str) -> tuple[Any, ...]:
    """Sort key for exchange ids (`X017.3`, `X017-2.1`, `P.1`): numeric parts compared as numbers.
    Cached: every check compares its exchange with the evidence held so far (80 ms of a smoke run's
    CPU, uncached)."""
    return tuple(int(p) if p.isdigit() else p for p in _ID_PARTS.split(exchange_id) if p)
