"""The reference sandbox under concurrent, hostile load.

Starts `fibrecert sandbox` (a real process, its target file), then fires a deterministic mix of
requests at it from `--concurrency` client threads over real TLS (mutual TLS with the target file's
identities for ALA, OAuth2 bearer tokens from the token endpoint for Fibre Cafe), keep-alive
connections reused:

  valid ceaseOrders (each on its own active service), cancelOrders of orders it placed (some twice),
  replayed messageIds, ceases of services already ceased, cancels of references never issued,
  unsolicitedCeaseRequests, Fibre Cafe create orders and cancellations (some twice, some of unknown
  ids, some cross-tenant), schema-invalid and malformed requests, requests without a certificate or
  token, entity bombs, 2 MiB bodies, random bytes on the TLS port;

while, for the whole run, slow clients hold connections open: request heads sent one byte at a time,
handshakes that never finish, bodies that trickle, and a client that pipelines requests and never
reads its answers. At the end the process must be alive and answer a health request; then it is
stopped and its SQLite store is checked: `Store.consistency_problems()` (the store's own invariants)
and a comparison with what the clients were told (200 + sellerOrderReference, 201 + id).

It prints per request kind: count, statuses, p50/p99 latency; totals (req/s, 5xx answers, answers
other than the expected ones, transport errors); the slow clients' fate; and PASS or FAIL.

    python bench/bench_sandbox_load.py                                  # 10,000 requests, 32 threads
    python bench/bench_sandbox_load.py --repeat 3                       # medians of 3 fresh sandboxes
    python bench/bench_sandbox_load.py --requests 2000 --latency-ms 50  # a target "across the internet"

Exit status 0 PASS, 1 FAIL. The module is also a library for tests/test_sandbox_load.py
(`run_load(...)` against any running sandbox).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MIB = 1024 * 1024
CLIENT_TIMEOUT = 30.0  # seconds for any one request: far beyond any sane answer on loopback


# ================================================================================== a small HTTP client
class Closed(Exception):
    """The server closed the connection before a complete answer."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Conn:
    """One HTTP/1.1 connection over TLS: keep-alive, one write per request, reconnects when closed.

    The connection goes to the URL's address, the TLS server name is the URL's host name."""

    def __init__(self, url: str, ctx: ssl.SSLContext, timeout: float = CLIENT_TIMEOUT):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "localhost", parts.port or 443
        self.addr = ("127.0.0.1" if self.host == "localhost" else self.host, self.port)
        self.prefix = parts.path.rstrip("/")
        self.ctx, self.timeout = ctx, timeout
        self.sock: ssl.SSLSocket | None = None
        self.buf = bytearray()
        self.used = 0  # requests sent on the current connection
        self.connects = 0

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock, self.buf, self.used = None, bytearray(), 0

    def _connect(self) -> None:
        raw = socket.create_connection(self.addr, timeout=self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = self.ctx.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.buf, self.used = bytearray(), 0
        self.connects += 1

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        head = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        wire = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            fresh = self.sock is None
            if fresh:
                self._connect()
            assert self.sock is not None
            self.used += 1
            try:
                self.sock.sendall(wire)
                return self._answer(method)
            except (Closed, ConnectionResetError, BrokenPipeError) as exc:
                # a kept-alive connection the server had already closed: once more on a new one
                got_bytes = bool(self.buf)
                self.close()
                if fresh or got_bytes or attempt == 2:
                    raise Closed(str(exc) or type(exc).__name__) from None
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def _recv(self, deadline: float) -> None:
        assert self.sock is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("answer deadline")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise Closed("connection closed")
        self.buf += data

    def _answer(self, method: str) -> Answer:
        deadline = time.monotonic() + self.timeout
        while True:
            end = self.buf.find(b"\r\n\r\n")
            while end < 0:
                if len(self.buf) > 65536:
                    raise Closed("answer head over 64 KiB")
                self._recv(deadline)
                end = self.buf.find(b"\r\n\r\n")
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            del self.buf[: end + 4]
            status = int(lines[0].split(" ", 2)[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                k = k.strip().lower()
                headers[k] = f"{headers[k]}, {v.strip()}" if k in headers else v.strip()
            if 100 <= status < 200:
                continue  # 100 Continue: the answer follows
            break
        close = "close" in headers.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked(deadline)
        elif "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._recv(deadline)
            body = bytes(self.buf[:n])
            del self.buf[:n]
        else:  # to the end of the connection
            try:
                while True:
                    self._recv(deadline)
            except Closed:
                pass
            body, close = bytes(self.buf), True
            self.buf = bytearray()
        if close:
            self.close()
        return Answer(status, headers, body)

    def _chunked(self, deadline: float) -> bytes:
        out = bytearray()
        while True:
            while b"\r\n" not in self.buf:
                self._recv(deadline)
            line, _, rest = bytes(self.buf).partition(b"\r\n")
            self.buf = bytearray(rest)
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                self._recv(deadline)
            out += self.buf[:size]
            del self.buf[: size + 2]
            if size == 0:
                return bytes(out)


def tls_context(ca: str, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


# ================================================================================== the target
@dataclass
class Target:
    """What the bench needs from a target file written by `fibrecert sandbox`."""

    ala_url: str
    ala_buyer_url: str
    fc_url: str
    token_url: str
    ca: str
    buyer_cert: tuple[str, str]
    other_cert: tuple[str, str]
    seller_cert: tuple[str, str]
    buyer: str
    other_buyer: str
    seller: str
    services: list[str]
    tenant_a: tuple[str, str]
    tenant_b: tuple[str, str]
    supplier: str

    @classmethod
    def from_file(cls, path: Path) -> "Target":
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        a, f = data["ala"], data["fibrecafe"]
        return cls(a["base_url"], a["buyer_base_url"], f["base_url"], f["token_url"], a["ca_bundle"],
                   (a["client_cert"], a["client_key"]), (a["other_client_cert"], a["other_client_key"]),
                   (a["seller_client_cert"], a["seller_client_key"]), a["buyer_identifier"],
                   a["other_buyer_identifier"], a["seller_identifier"], list(a["active_services"]),
                   (f["client_id"], f["client_secret"]), (f["other_client_id"], f["other_client_secret"]),
                   f["supplier"])


# ================================================================================== request bodies
SOAP = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
ENV_HEAD = (b"<?xml version='1.0' encoding='utf-8'?>\n<soapenv:Envelope xmlns:soapenv="
            b"\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>")
ENV_TAIL = b"</soapenv:Body></soapenv:Envelope>"


def _message() -> str:
    return (f"<message><messageId>{uuid.uuid4()}</messageId><correlationId>{uuid.uuid4()}</correlationId>"
            "<sentAt>2025-01-20T18:30:43Z</sentAt></message>")


def cease_xml(t: Target, service: str, *, message: str | None = None, buyer: str | None = None,
              seller: str | None = None, requested: str | None = "2030-02-01") -> bytes:
    date = f"<requestedDate>{requested}</requestedDate>" if requested is not None else ""
    xml = (f'<ceaseOrder xmlns:cfh="http://www.cityfibre.com/ala/ext1">{message or _message()}'
           f"<orderReferences><buyerOrderReference>BOR-{uuid.uuid4()}</buyerOrderReference></orderReferences>"
           f"<buyer><buyerIdentifier>{buyer or t.buyer}</buyerIdentifier><cfh:resellerId>BAQ</cfh:resellerId></buyer>"
           f"<seller><sellerIdentifier>{seller or t.seller}</sellerIdentifier></seller>"
           f"<alaCease><serviceIdentifier>{service}</serviceIdentifier>{date}</alaCease></ceaseOrder>")
    return ENV_HEAD + xml.encode() + ENV_TAIL


def cancel_xml(t: Target, seller_ref: str) -> bytes:
    xml = (f"<cancelOrder>{_message()}<buyer><buyerIdentifier>{t.buyer}</buyerIdentifier></buyer>"
           f"<seller><sellerIdentifier>{t.seller}</sellerIdentifier></seller>"
           f"<orderReferences><buyerOrderReference>BOR-{uuid.uuid4()}</buyerOrderReference></orderReferences>"
           f"<targetSellerOrderReference>{seller_ref}</targetSellerOrderReference>"
           "<cancellationReason><cancellationReasonCode>300</cancellationReasonCode>"
           "<cancellationReasonMessage>No longer needed</cancellationReasonMessage></cancellationReason></cancelOrder>")
    return ENV_HEAD + xml.encode() + ENV_TAIL


def ucr_xml(t: Target, n: int) -> tuple[str, bytes]:
    kind = ("Switch", "Regrade", "WLTO", None)[n % 4]
    extra = f"<cfh:newOrderType>{kind}</cfh:newOrderType>" if kind else ""
    message_id = str(uuid.uuid4())
    xml = (f'<unsolicitedCeaseRequest xmlns:cfh="http://www.cityfibre.com/ala/ext1"><message><messageId>'
           f"{message_id}</messageId><correlationId>{uuid.uuid4()}</correlationId>"
           "<sentAt>2025-01-20T18:30:43Z</sentAt></message>"
           f"<buyer><buyerIdentifier>{t.buyer}</buyerIdentifier></buyer>"
           f"<seller><sellerIdentifier>{t.seller}</sellerIdentifier></seller>"
           f"<orderReferences><buyerOrderReference>BOR-{uuid.uuid4()}</buyerOrderReference></orderReferences>"
           f"<serviceIdentifier>CF-SVC-UCR-{n:05d}</serviceIdentifier><requestedDate>2030-03-01</requestedDate>"
           f"{extra}<notes>moving to another provider</notes></unsolicitedCeaseRequest>")
    return message_id, ENV_HEAD + xml.encode() + ENV_TAIL


BOMB_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""


def bomb_xml(t: Target, service: str, entity: str) -> bytes:
    body = cease_xml(t, service).split(b"?>", 1)[1]
    return BOMB_DTD + body.replace(b"<requestedDate>2030-02-01<", f"<requestedDate>&{entity};<".encode(), 1)


def fc_order(t: Target, n: int) -> dict[str, Any]:
    return {"orderType": "CEASE", "supplier": t.supplier, "serviceId": f"FC-SVC-{n:06d}",
            "requestedCompletionDate": "2030-01-31"}


def fc_headers(token: str | None, ctype: str = "application/json") -> dict[str, str]:
    h = {"X-Request-ID": str(uuid.uuid4()), "X-Conversation-ID": str(uuid.uuid4()), "Content-Type": ctype,
         "Accept": "application/json"}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return h


# ================================================================================== the plan
# Task name -> weight. A task is a short sequence of requests (a cease and its cancels run in order);
# tasks run concurrently. Every request is recorded under a kind with the statuses it may get.
WEIGHTS: dict[str, float] = {
    "ala_cease": 10, "ala_cease_cancel": 9, "ala_cease_replay": 2, "ala_cease_again": 2, "ala_cancel_unknown": 3,
    "ala_ucr": 7, "ala_invalid": 9, "ala_no_cert": 2, "entity_bomb": 3, "big_body": 2,
    "fc_create": 10, "fc_create_cancel": 9, "fc_cancel_unknown": 3, "fc_cancel_cross": 4, "fc_invalid": 9,
    "token": 4, "token_bad": 2, "tls_garbage": 2,
}
USES_SERVICE = {"ala_cease", "ala_cease_cancel", "ala_cease_replay", "ala_cease_again", "ala_invalid",
                "entity_bomb", "big_body"}
ALA_INVALID = ["missing sentAt", "impossible date", "truncated XML", "empty body", "JSON content type",
               "cancelOrder at /ceaseOrder", "another seller", "another buyer's identifier", "GET", "unknown path"]
FC_INVALID = ["lower-case enum", "unknown property", "not JSON", "text/plain", "no X-Request-ID", "no token",
              "never-issued token", "bad reasonCode", "null optional field", "GET"]


@dataclass
class Task:
    name: str
    n: int                      # the task's number (unique ids, variants)
    service: str | None = None  # an active service, when the task needs one
    twice: bool = False         # cancel a second time
    variant: int = 0


def plan(requests: int, seed: int, services: list[str] | None = None) -> list[Task]:
    """A deterministic list of tasks holding at least `requests` requests. Services are given to
    tasks in order (`services=None` only counts them)."""
    rng = random.Random(seed)
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    size = {"ala_cease_cancel": 2, "ala_cease_replay": 2, "ala_cease_again": 2, "fc_create_cancel": 2,
            "fc_cancel_cross": 2, "big_body": 1}
    tasks: list[Task] = []
    total, used = 0, 0
    while total < requests:
        name = rng.choices(names, weights)[0]
        task = Task(name, len(tasks), variant=rng.randrange(1000), twice=rng.random() < 0.5)
        if name in USES_SERVICE:
            task.service = services[used] if services is not None else f"#{used}"
            used += 1
        tasks.append(task)
        total += size.get(name, 1) + (1 if task.twice and name in ("ala_cease_cancel", "fc_create_cancel",
                                                                    "fc_cancel_cross") else 0)
    return tasks


def services_needed(requests: int, seed: int) -> int:
    return sum(1 for t in plan(requests, seed) if t.service is not None)


# ================================================================================== recording
@dataclass
class Record:
    kind: str
    status: int | None          # None: no HTTP answer (see error)
    seconds: float
    expected: bool
    error: str = ""


@dataclass
class Told:
    """What the clients were told: the ground truth compared with the store afterwards."""

    ala_orders: dict[str, str] = field(default_factory=dict)         # sellerOrderReference -> service
    ala_cancelled: set[str] = field(default_factory=set)            # sellerOrderReferences cancelled (200)
    services_kept: set[str] = field(default_factory=set)            # only ever refused: still active
    ucr_messages: set[str] = field(default_factory=set)             # messageIds answered 200
    fc_orders: dict[int, str] = field(default_factory=dict)         # id -> tenant
    fc_cancellations: dict[int, int] = field(default_factory=dict)  # cancellation id -> order id
    lock: threading.Lock = field(default_factory=threading.Lock)


def _text(xml: bytes, tag: str) -> str | None:
    start = xml.find(f"<{tag}>".encode())
    if start < 0:
        return None
    start += len(tag) + 2
    end = xml.find(b"<", start)
    return xml[start:end].decode() if end > start else None


# ================================================================================== the load
class Worker:
    def __init__(self, t: Target, told: Told, latency_bound: float):
        self.t, self.told = t, told
        self.records: list[Record] = []
        self.buyer = tls_context(t.ca, *t.buyer_cert)
        self.seller = tls_context(t.ca, *t.seller_cert)
        self.plain = tls_context(t.ca)
        self.ala = Conn(t.ala_url, self.buyer)
        self.ala_ucr = Conn(t.ala_buyer_url, self.seller)
        self.ala_anon = Conn(t.ala_url, self.plain)
        self.fc = Conn(t.fc_url, self.plain)
        self.token_conn = Conn(t.token_url.rsplit("/auth/", 1)[0], self.plain)
        self.tokens: dict[str, str] = {}

    def close(self) -> None:
        for c in (self.ala, self.ala_ucr, self.ala_anon, self.fc, self.token_conn):
            c.close()

    # -------------------------------------------------------------------------- one request
    def send(self, kind: str, expect: tuple[int, ...], conn: Conn, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> Answer | None:
        started = time.perf_counter()
        try:
            answer = conn.request(method, path, body, headers)
        except (OSError, Closed, ssl.SSLError, ValueError) as exc:
            self.records.append(Record(kind, None, time.perf_counter() - started, False,
                                       f"{type(exc).__name__}: {exc}"[:120]))
            return None
        self.records.append(Record(kind, answer.status, time.perf_counter() - started, answer.status in expect))
        return answer

    def token(self, tenant: str, secret: str, kind: str = "fc token", expect: tuple[int, ...] = (200,)) -> str | None:
        form = f"grant_type=client_credentials&client_id={tenant}&client_secret={secret}".encode()
        a = self.send(kind, expect, self.token_conn, "POST", "/auth/tenant/access-token", form,
                      {"Content-Type": "application/x-www-form-urlencoded"})
        if a is not None and a.status == 200:
            return str(json.loads(a.body)["access_token"])
        return None

    def tok(self, which: str) -> str:
        if which not in self.tokens:
            tenant = self.t.tenant_a if which == "a" else self.t.tenant_b
            self.tokens[which] = self.token(*tenant) or "no-token"
        return self.tokens[which]

    # -------------------------------------------------------------------------- ALA
    def cease(self, kind: str, service: str, body: bytes | None = None) -> tuple[str | None, bytes | None]:
        body = body or cease_xml(self.t, service)
        a = self.send(kind, (200,), self.ala, "POST", "/ceaseOrder", body, SOAP)
        if a is not None and a.status == 200:
            ref = _text(a.body, "sellerOrderReference")
            if ref:
                with self.told.lock:
                    self.told.ala_orders[ref] = service
            return ref, body
        if a is not None:
            with self.told.lock:
                self.told.services_kept.add(service)
        return None, body

    def cancel(self, kind: str, ref: str, expect: tuple[int, ...]) -> None:
        a = self.send(kind, expect, self.ala, "POST", "/cancelOrder", cancel_xml(self.t, ref), SOAP)
        if a is not None and a.status == 200:
            with self.told.lock:
                self.told.ala_cancelled.add(ref)

    def refused_on(self, kind: str, service: str, expect: tuple[int, ...], conn: Conn, method: str, path: str,
                   body: bytes, headers: dict[str, str]) -> None:
        a = self.send(kind, expect, conn, method, path, body, headers)
        if a is not None and a.status >= 300:
            with self.told.lock:
                self.told.services_kept.add(service)
        elif a is not None and a.status == 200:  # accepted what it must refuse: remember the order
            ref = _text(a.body, "sellerOrderReference")
            if ref:
                with self.told.lock:
                    self.told.ala_orders[ref] = service

    def ala_invalid(self, task: Task) -> None:
        t, s = self.t, task.service or ""
        variant = ALA_INVALID[task.variant % len(ALA_INVALID)]
        kind, path, method, headers, expect = "ala invalid", "/ceaseOrder", "POST", SOAP, (400,)
        body = cease_xml(t, s)
        if variant == "missing sentAt":
            body = cease_xml(t, s).replace(b"<sentAt>2025-01-20T18:30:43Z</sentAt>", b"", 1)
        elif variant == "impossible date":
            body = cease_xml(t, s, requested="2030-13-45")
        elif variant == "truncated XML":
            body = body[: len(body) // 2]
        elif variant == "empty body":
            body = b""
        elif variant == "JSON content type":
            headers = {"Content-Type": "application/json"}
        elif variant == "cancelOrder at /ceaseOrder":
            body = cancel_xml(t, f"CF-ORD-NEVER{task.n}")
        elif variant == "another seller":
            body = cease_xml(t, s, seller="SOMEONE")
        elif variant == "another buyer's identifier":
            body, expect = cease_xml(t, s, buyer=t.other_buyer), (403,)
        elif variant == "GET":
            method, expect = "GET", (405,)
        elif variant == "unknown path":
            path, expect = "/nope", (404,)
        self.refused_on(kind, s, expect, self.ala, method, path, body, headers)

    # -------------------------------------------------------------------------- Fibre Cafe
    def fc_create(self, kind: str, n: int, tenant: str = "a") -> int | None:
        a = self.send(kind, (201,), self.fc, "POST", "/service-orders", json.dumps(fc_order(self.t, n)).encode(),
                      fc_headers(self.tok(tenant)))
        if a is not None and a.status == 201:
            order_id = int(json.loads(a.body)["id"])
            with self.told.lock:
                self.told.fc_orders[order_id] = self.t.tenant_a[0] if tenant == "a" else self.t.tenant_b[0]
            return order_id
        return None

    def fc_cancel(self, kind: str, order_id: int, expect: tuple[int, ...], tenant: str = "a") -> None:
        body = json.dumps({"orderId": order_id, "reasonCode": "CUSTOMER_CHANGED_MIND"}).encode()
        a = self.send(kind, expect, self.fc, "POST", "/service-order-cancellations", body, fc_headers(self.tok(tenant)))
        if a is not None and a.status == 201:
            with self.told.lock:
                self.told.fc_cancellations[int(json.loads(a.body)["id"])] = order_id

    def fc_invalid(self, task: Task) -> None:
        variant = FC_INVALID[task.variant % len(FC_INVALID)]
        order = fc_order(self.t, 900000 + task.n)
        path, method, expect, token = "/service-orders", "POST", (400,), self.tok("a")
        headers = fc_headers(token)
        body = json.dumps(order).encode()
        if variant == "lower-case enum":
            body = json.dumps({**order, "orderType": "cease"}).encode()
        elif variant == "unknown property":
            body = json.dumps({**order, "colour": "blue"}).encode()
        elif variant == "not JSON":
            body = b'{"orderType": "CEASE", '
        elif variant == "text/plain":
            headers = fc_headers(token, "text/plain")
        elif variant == "no X-Request-ID":
            del headers["X-Request-ID"]
        elif variant == "no token":
            headers, expect = fc_headers(None), (401,)
        elif variant == "never-issued token":
            headers, expect = fc_headers("never-issued-" + uuid.uuid4().hex), (401,)
        elif variant == "bad reasonCode":
            path, body = "/service-order-cancellations", json.dumps({"orderId": 1, "reasonCode": "BORED"}).encode()
        elif variant == "null optional field":
            path, body = "/service-order-cancellations", json.dumps(
                {"orderId": 1, "reasonCode": "CUSTOMER_CHANGED_MIND", "text": None}).encode()
        elif variant == "GET":
            method, expect = "GET", (405,)
        a = self.send("fc invalid", expect, self.fc, method, path, body, headers)
        if a is not None and a.status == 201:  # accepted what it must refuse: remember the order
            with self.told.lock:
                self.told.fc_orders[int(json.loads(a.body)["id"])] = self.t.tenant_a[0]

    # -------------------------------------------------------------------------- hostile, one request
    def tls_garbage(self, task: Task) -> None:
        rng = random.Random(task.n)
        url = (self.t.ala_url, self.t.ala_buyer_url, self.t.fc_url)[task.n % 3]
        parts = urlsplit(url)
        started = time.perf_counter()
        status, error = None, ""
        try:
            with socket.create_connection((parts.hostname if parts.hostname != "localhost" else "127.0.0.1",
                                           parts.port), timeout=CLIENT_TIMEOUT) as s:
                s.sendall(rng.randbytes(rng.choice((5, 300, 4096))))
                got = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                if got.startswith(b"HTTP/"):
                    status = int(got.split(b" ", 2)[1])
        except ConnectionResetError:
            pass  # a reset is a fair answer to random bytes
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = not error and (status is None or status < 500)
        self.records.append(Record("tls garbage", status, time.perf_counter() - started, ok, error))

    # -------------------------------------------------------------------------- a task
    def run(self, task: Task) -> None:
        t, name, s = self.t, task.name, task.service or ""
        if name == "ala_cease":
            self.cease("ala cease", s)
        elif name == "ala_cease_cancel":
            ref, _ = self.cease("ala cease", s)
            if ref:
                self.cancel("ala cancel", ref, (200,))
                if task.twice:
                    self.cancel("ala cancel again", ref, (400,))
        elif name == "ala_cease_replay":
            ref, body = self.cease("ala cease", s)
            if body is not None:
                a = self.send("ala cease replayed", (200,), self.ala, "POST", "/ceaseOrder", body, SOAP)
                if a is not None and a.status == 200 and _text(a.body, "sellerOrderReference") != ref:
                    self.records[-1].expected = False  # a second order for one messageId
                    with self.told.lock:
                        self.told.ala_orders[_text(a.body, "sellerOrderReference") or "?"] = s
        elif name == "ala_cease_again":
            ref, _ = self.cease("ala cease", s)
            self.refused_on("ala cease of a ceased service", s, (400,), self.ala, "POST", "/ceaseOrder",
                            cease_xml(t, s), SOAP)
            with self.told.lock:
                self.told.services_kept.discard(s)  # ceased by the first request
        elif name == "ala_cancel_unknown":
            self.cancel("ala cancel unknown", f"CF-ORD-NEVER{task.n:08d}", (400,))
        elif name == "ala_ucr":
            message_id, body = ucr_xml(t, task.n)
            a = self.send("ala unsolicitedCease", (200,), self.ala_ucr, "POST", "/unsolicitedCeaseRequest", body, SOAP)
            if a is not None and a.status == 200:
                with self.told.lock:
                    self.told.ucr_messages.add(message_id)
        elif name == "ala_invalid":
            self.ala_invalid(task)
        elif name == "ala_no_cert":
            self.send("ala no certificate", (401,), self.ala_anon, "POST", "/ceaseOrder",
                      cease_xml(t, f"CF-SVC-NOCERT-{task.n}"), SOAP)
        elif name == "entity_bomb":
            body = bomb_xml(t, s, "lol9" if task.variant % 2 else "xxe")
            self.refused_on("ala entity bomb", s, (400,), self.ala, "POST", "/ceaseOrder", body, SOAP)
        elif name == "big_body":
            pad = b" " * (2 * MIB)
            if task.variant % 2:
                self.refused_on("2 MiB body", s, (400,), self.ala, "POST", "/ceaseOrder",
                                cease_xml(t, s).replace(b"<soapenv:Body>", b"<soapenv:Body>" + pad, 1), SOAP)
            else:
                self.send("2 MiB body", (400,), self.fc, "POST", "/service-orders",
                          json.dumps(fc_order(t, 800000 + task.n)).encode() + pad, fc_headers(self.tok("a")))
                with self.told.lock:
                    self.told.services_kept.add(s)
        elif name == "fc_create":
            self.fc_create("fc create", task.n)
        elif name == "fc_create_cancel":
            order_id = self.fc_create("fc create", task.n)
            if order_id is not None:
                self.fc_cancel("fc cancel", order_id, (201,))
                if task.twice:
                    self.fc_cancel("fc cancel again", order_id, (422,))
        elif name == "fc_cancel_unknown":
            self.fc_cancel("fc cancel unknown", 10**12 + task.n, (422,))
        elif name == "fc_cancel_cross":
            order_id = self.fc_create("fc create", task.n, tenant="b" if task.variant % 2 else "a")
            if order_id is not None:
                other = "a" if task.variant % 2 else "b"
                self.fc_cancel("fc cancel cross-tenant", order_id, (422,), tenant=other)
                if task.twice:
                    self.fc_cancel("fc cancel", order_id, (201,), tenant="b" if other == "a" else "a")
        elif name == "fc_invalid":
            self.fc_invalid(task)
        elif name == "token":
            self.token(*t.tenant_a)
        elif name == "token_bad":
            self.token(t.tenant_a[0], "wrong-" + uuid.uuid4().hex, kind="fc token bad secret", expect=(400,))
        elif name == "tls_garbage":
            self.tls_garbage(task)
        else:  # pragma: no cover
            raise ValueError(name)


# ================================================================================== slow clients
@dataclass
class SlowStats:
    opened: int = 0
    cut_by_server: int = 0           # closed by the server (a deadline did its work)
    longest_held: float = 0.0        # seconds a single slow connection stayed open
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, held: float, cut: bool) -> None:
        with self.lock:
            self.opened += 1
            self.cut_by_server += cut
            self.longest_held = max(self.longest_held, held)


class SlowClients:
    """Connections that hold the server's attention without finishing anything, reopened when the
    server closes them, for as long as the load runs: request heads one byte at a time, TLS
    handshakes that never finish, bodies that trickle, and a client that never reads its answers."""

    KINDS = ("head", "handshake", "body", "never_reads")

    def __init__(self, t: Target, count: int, interval: float = 0.5):
        self.t, self.count, self.interval = t, count, interval
        self.stop = threading.Event()
        self.stats = {k: SlowStats() for k in self.KINDS}
        self.open_now = 0
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.ctx = tls_context(t.ca)
        self.buyer_ctx = tls_context(t.ca, *t.buyer_cert)
        self.seller_ctx = tls_context(t.ca, *t.seller_cert)

    def start(self) -> "SlowClients":
        urls = (self.t.ala_url, self.t.ala_buyer_url, self.t.fc_url)
        for i in range(self.count):
            kind = self.KINDS[i % len(self.KINDS)] if i >= 4 or self.count < 8 else "head"
            th = threading.Thread(target=self._loop, args=(kind, urls[i % 3]), daemon=True, name=f"slow-{kind}-{i}")
            th.start()
            self.threads.append(th)
        return self

    def wait_open(self, n: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.open_now >= n:
                    return True
            time.sleep(0.02)
        return False

    def finish(self) -> None:
        self.stop.set()
        for th in self.threads:
            th.join(timeout=5)

    def _loop(self, kind: str, url: str) -> None:
        parts = urlsplit(url)
        addr = ("127.0.0.1" if parts.hostname == "localhost" else parts.hostname or "", parts.port or 443)
        while not self.stop.is_set():
            started = time.monotonic()
            cut = False
            try:
                raw = socket.create_connection(addr, timeout=5)
            except OSError as exc:
                with self.stats[kind].lock:
                    self.stats[kind].errors.append(f"connect: {exc}")
                self.stop.wait(0.2)
                continue
            with self._lock:
                self.open_now += 1
            try:
                cut = getattr(self, f"_{kind}")(raw, parts)
            except (OSError, ssl.SSLError):
                cut = True  # reset or closed by the server
            finally:
                with self._lock:
                    self.open_now -= 1
                try:
                    raw.close()
                except OSError:
                    pass
            self.stats[kind].add(time.monotonic() - started, cut)

    def _trickle(self, sock: socket.socket | ssl.SSLSocket, data: bytes) -> bool:
        """Send data one byte per interval; True when the server closed the connection first."""
        for i in range(len(data)):
            if self.stop.wait(self.interval):
                return False
            sock.sendall(data[i:i + 1])
        while not self.stop.wait(self.interval):  # all sent: wait for the server to give up
            if _closed(sock):
                return True
        return False

    def _head(self, raw: socket.socket, parts: Any) -> bool:
        s = self.ctx.wrap_socket(raw, server_hostname=parts.hostname)
        head = f"POST {parts.path}/x HTTP/1.1\r\nHost: {parts.hostname}\r\nX-Slow: " + "a" * 4000
        return self._trickle(s, head.encode())

    def _handshake(self, raw: socket.socket, parts: Any) -> bool:
        # a ClientHello's first bytes, then nothing
        raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        while not self.stop.wait(self.interval):
            if _closed(raw):
                return True
        return False

    def _body(self, raw: socket.socket, parts: Any) -> bool:
        # where the body is read before anything else is decided: the token endpoint, or ALA with a
        # certificate the server trusts
        port = parts.port
        ctx, path = self.ctx, f"{parts.path}/auth/tenant/access-token"
        if port == urlsplit(self.t.ala_url).port:
            ctx, path = self.buyer_ctx, "/ceaseOrder"
        elif port == urlsplit(self.t.ala_buyer_url).port:
            ctx, path = self.seller_ctx, "/unsolicitedCeaseRequest"
        s = ctx.wrap_socket(raw, server_hostname=parts.hostname)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nContent-Type: text/xml\r\n"
                  f"Content-Length: 100000\r\n\r\n".encode())
        return self._trickle(s, b"<" * 100000)

    def _never_reads(self, raw: socket.socket, parts: Any) -> bool:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s = self.ctx.wrap_socket(raw, server_hostname=parts.hostname)
        one = (f"POST {parts.path}/nothing-here HTTP/1.1\r\nHost: {parts.hostname}\r\nContent-Length: 0\r\n\r\n"
               ).encode()
        s.settimeout(0.5)
        sent = 0
        while not self.stop.is_set():  # pipeline 500 requests, then hold; never read a byte of the answers
            if sent < 500:
                try:
                    s.sendall(one * 50)
                    sent += 50
                except socket.timeout:  # our send buffer is full too: the server stopped reading
                    pass
            if self.stop.wait(self.interval) or _closed(s, peek_only=True):
                break
        return not self.stop.is_set()


def _closed(sock: socket.socket | ssl.SSLSocket, peek_only: bool = False) -> bool:
    """True when the peer closed the connection (without consuming an answer if peek_only)."""
    import select

    raw = sock
    try:
        r, _, x = select.select([raw], [], [raw], 0)
    except (OSError, ValueError):
        return True
    if not r and not x:
        return False
    if peek_only:
        try:
            import errno

            data = socket.socket.recv(raw, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # type: ignore[arg-type]
            return data == b""
        except BlockingIOError:
            return False
        except OSError as exc:
            return exc.errno != errno.EAGAIN
    try:
        sock.settimeout(0.01)
        data = sock.recv(65536)
        return data == b""
    except (socket.timeout, ssl.SSLWantReadError):
        return False
    except (OSError, ssl.SSLError):
        return True


# ================================================================================== the run
@dataclass
class LoadResult:
    records: list[Record]
    seconds: float
    told: Told
    slow: dict[str, SlowStats]
    concurrency: int

    @property
    def requests(self) -> int:
        return len(self.records)

    @property
    def five_xx(self) -> list[Record]:
        return [r for r in self.records if r.status is not None and r.status >= 500]

    @property
    def unexpected(self) -> list[Record]:
        return [r for r in self.records if not r.expected]

    def by_kind(self) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {}
        for r in self.records:
            out.setdefault(r.kind, []).append(r)
        return dict(sorted(out.items()))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def run_load(t: Target, *, requests: int, concurrency: int, seed: int, slow: int = 0,
             progress: Callable[[str], None] | None = None) -> LoadResult:
    """Fire the plan at a running sandbox. Slow clients are opened (and shown to be open) first."""
    tasks = plan(requests, seed, t.services)
    told = Told()
    slow_clients = SlowClients(t, slow).start() if slow else None
    if slow_clients is not None:
        slow_clients.wait_open(slow)
    cursor = iter(tasks)
    cursor_lock = threading.Lock()
    workers = [Worker(t, told, CLIENT_TIMEOUT) for _ in range(concurrency)]
    for w in workers:  # tokens first, as a real client would
        w.tok("a"), w.tok("b")

    def work(w: Worker) -> None:
        while True:
            with cursor_lock:
                task = next(cursor, None)
            if task is None:
                return
            w.run(task)

    threads = [threading.Thread(target=work, args=(w,), name=f"load-{i}") for i, w in enumerate(workers)]
    started = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - started
    if slow_clients is not None:
        slow_clients.finish()
    for w in workers:
        w.close()
    records = [r for w in workers for r in w.records]
    return LoadResult(records, seconds, told, slow_clients.stats if slow_clients else {}, concurrency)


def health(t: Target, told: Told) -> list[str]:
    """A few requests every API must still answer correctly: [] when healthy."""
    problems = []
    w = Worker(t, told, 10.0)
    try:
        tok = w.token(*t.tenant_a)
        if not tok:
            problems.append("health: no token from the token endpoint")
        if w.fc_create("health", 999999) is None:
            problems.append("health: Fibre Cafe create order not answered 201")
        a = w.send("health", (404,), w.ala, "POST", "/health", cease_xml(t, "none"), SOAP)
        if a is None or a.status != 404:
            problems.append(f"health: ALA seller answered {a.status if a else 'nothing'} on an unknown path")
        message_id, body = ucr_xml(t, 99999)
        a = w.send("health", (200,), w.ala_ucr, "POST", "/unsolicitedCeaseRequest", body, SOAP)
        if a is not None and a.status == 200:
            told.ucr_messages.add(message_id)
        else:
            problems.append(f"health: ALA buyer answered {a.status if a else 'nothing'} to a valid request")
    finally:
        w.close()
    return problems


# ================================================================================== the store
def compare_with_store(db_path: Path, told: Told, all_services: list[str]) -> list[str]:
    """What the clients were told against what the store holds."""
    problems: list[str] = []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        orders = {r[0]: (r[1], r[2]) for r in db.execute("SELECT seller_ref, service_id, state FROM ala_orders")}
        states = dict(db.execute("SELECT service_id, state FROM ala_services").fetchall())
        for ref, service in told.ala_orders.items():
            if ref not in orders:
                problems.append(f"ALA order {ref} (answered 200) is not in the store")
            elif orders[ref][0] != service:
                problems.append(f"ALA order {ref} is for {orders[ref][0]}, the client ceased {service}")
        for ref in set(orders) - set(told.ala_orders):
            problems.append(f"ALA order {ref} is in the store, no client was told of it")
        for ref, (service, state) in orders.items():
            want = "cancel_pending" if ref in told.ala_cancelled else "in_flight"
            if ref in told.ala_orders and state != want:
                problems.append(f"ALA order {ref} is {state}, the clients were told {want}")
        ceased_told = set(told.ala_orders.values())
        for service in all_services:
            state = states.get(service)
            want = "ceased" if service in ceased_told else "active"
            if state != want:
                problems.append(f"service {service} is {state}, expected {want}")
        for service in told.services_kept - ceased_told:
            if states.get(service) != "active":
                problems.append(f"service {service} was only ever refused but is {states.get(service)}")
        ucr = {r[0] for r in db.execute("SELECT message_id FROM ala_unsolicited_ceases")}
        if ucr != told.ucr_messages:
            problems.append(f"unsolicitedCeaseRequests: {len(told.ucr_messages)} answered 200, {len(ucr)} stored "
                            f"({len(told.ucr_messages - ucr)} missing, {len(ucr - told.ucr_messages)} unexpected)")
        fc = {int(r[0]): (r[1], r[2]) for r in db.execute("SELECT id, tenant, status FROM fc_orders")}
        for oid, tenant in told.fc_orders.items():
            if oid not in fc:
                problems.append(f"Fibre Cafe order {oid} (answered 201) is not in the store")
            elif fc[oid][0] != tenant:
                problems.append(f"Fibre Cafe order {oid} belongs to {fc[oid][0]}, created by {tenant}")
        for oid in set(fc) - set(told.fc_orders):
            problems.append(f"Fibre Cafe order {oid} is in the store, no client was told of it")
        cancelled = set(told.fc_cancellations.values())
        for oid, (_, status) in fc.items():
            want = "PENDING_CANCELLATION" if oid in cancelled else "RECEIVED_BY_GATEWAY"
            if oid in told.fc_orders and status != want:
                problems.append(f"Fibre Cafe order {oid} is {status}, the clients were told {want}")
        stored = {int(r[0]): int(r[1]) for r in db.execute("SELECT id, order_id FROM fc_cancellations")}
        if stored != told.fc_cancellations:
            problems.append(f"Fibre Cafe cancellations: {len(told.fc_cancellations)} answered 201, "
                            f"{len(stored)} stored, {len(set(stored.items()) ^ set(told.fc_cancellations.items()))} differ")
    finally:
        db.close()
    return problems


# ================================================================================== the sandbox process
class SandboxProcess:
    def __init__(self, workdir: Path, services: int, latency_ms: float = 0.0, extra: list[str] | None = None,
                 profile: Path | None = None, pythonpath: str | None = None, launcher: list[str] | None = None):
        self.workdir = workdir
        self.target_file = workdir / "target.toml"
        env = {**os.environ, "FIBRECERT_CACHE_DIR": str(workdir.parent / "cache")}
        if pythonpath:  # another build of fibrecert (e.g. an older commit), for before/after figures
            env["PYTHONPATH"] = pythonpath
        start = launcher or ([sys.executable, "-m", "fibrecert"] if profile is None else [
            sys.executable, str(Path(__file__).resolve()), "--serve-profiled", str(profile)])
        cmd = start + ["sandbox", "--state-dir", str(workdir / "state"),
                       "--target-file", str(self.target_file), "--services", str(services)]
        if latency_ms:
            cmd += ["--latency-ms", f"{latency_ms:g}"]
        self.proc = subprocess.Popen(cmd + (extra or []), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                     text=True, cwd=str(workdir))
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("Ctrl-C stops"):
                break
            if time.monotonic() > deadline:
                break
        if self.proc.poll() is not None:
            raise SystemExit(f"fibrecert sandbox did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.db = workdir / "state" / "sandbox.sqlite3"
        self.target = Target.from_file(self.target_file)

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def store_problems(db: Path) -> list[str]:
    from fibrecert.sandbox.store import Store

    store = Store(db)
    try:
        return store.consistency_problems()
    finally:
        store.close()


@dataclass
class Outcome:
    result: LoadResult
    problems: list[str]
    server_cpu: float
    consistency: list[str]
    client_cpu: float = float("nan")
    load_average: float = float("nan")  # the machine's 1-minute load average at the end of the run

    @property
    def passed(self) -> bool:
        return not self.problems


def one_run(args: argparse.Namespace, run_no: int, root: Path) -> Outcome:
    workdir = root / f"run-{run_no}"
    workdir.mkdir(parents=True)
    seed = args.seed + run_no
    profile = Path(args.profile_server) if args.profile_server and run_no == 0 else None
    sb = SandboxProcess(workdir, services_needed(args.requests, seed) + 5, args.latency_ms, profile=profile,
                        pythonpath=args.sandbox_pythonpath)
    problems: list[str] = []
    try:
        cpu0, client0 = sb.cpu_seconds(), time.process_time()
        result = run_load(sb.target, requests=args.requests, concurrency=args.concurrency, seed=seed,
                          slow=args.slowloris)
        cpu, client_cpu = sb.cpu_seconds() - cpu0, time.process_time() - client0
        if not sb.alive():
            problems.append(f"the sandbox process died (exit {sb.proc.returncode})")
        else:
            problems += health(sb.target, result.told)
    finally:
        code = sb.stop()
    if code not in (0, None) and not problems:
        problems.append(f"the sandbox process ended with exit status {code}")
    if result.five_xx:
        problems.append(f"{len(result.five_xx)} answers were 5xx")
    for r in result.unexpected[:20]:
        problems.append(f"unexpected: {r.kind} -> {r.status if r.status is not None else r.error}")
    if len(result.unexpected) > 20:
        problems.append(f"... {len(result.unexpected) - 20} more unexpected answers")
    consistency = store_problems(sb.db) + compare_with_store(sb.db, result.told, sb.target.services)
    problems += consistency
    return Outcome(result, problems, cpu, consistency, client_cpu, os.getloadavg()[0])


def report(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    runs = len(outcomes)
    med = statistics.median
    first = outcomes[0].result
    kinds = sorted({k for o in outcomes for k in o.result.by_kind()})
    label = f"median of {runs}" if runs > 1 else "1 run"
    print(f"\nrequests {med(o.result.requests for o in outcomes):.0f} per run, concurrency {args.concurrency}, "
          f"{args.slowloris} slow connections held open, latency added {args.latency_ms:g} ms ({label})")
    print("| kind | requests | statuses (run 1) | unexpected | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in kinds:
        per = [o.result.by_kind().get(kind, []) for o in outcomes]
        statuses: dict[str, int] = {}
        for r in per[0]:
            key = str(r.status) if r.status is not None else "closed"
            statuses[key] = statuses.get(key, 0) + 1
        print(f"| {kind} | {med(len(p) for p in per):.0f} | "
              f"{', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} | "
              f"{med(sum(not r.expected for r in p) for p in per):.0f} | "
              f"{med(pct([r.seconds for r in p], 50) for p in per) * 1000:.1f} | "
              f"{med(pct([r.seconds for r in p], 99) for p in per) * 1000:.1f} |")
    allrec = [[r.seconds for r in o.result.records] for o in outcomes]
    print(f"| all | {med(o.result.requests for o in outcomes):.0f} | | "
          f"{med(len(o.result.unexpected) for o in outcomes):.0f} | {med(pct(a, 50) for a in allrec) * 1000:.1f} | "
          f"{med(pct(a, 99) for a in allrec) * 1000:.1f} |")
    rps = [o.result.requests / o.result.seconds for o in outcomes]
    cpu = [o.server_cpu / o.result.requests * 1000 for o in outcomes]
    cores = [o.server_cpu / o.result.seconds for o in outcomes]
    client = [o.client_cpu / o.result.requests * 1000 for o in outcomes]
    print(f"\nthroughput: {med(rps):.0f} req/s ({', '.join(f'{x:.0f}' for x in rps)}); "
          f"sandbox CPU {med(cpu):.2f} ms per request ({med(cores):.2f} cores busy), "
          f"load generator CPU {med(client):.2f} ms per request; "
          f"5xx answers: {sum(len(o.result.five_xx) for o in outcomes)}; "
          f"unexpected answers: {sum(len(o.result.unexpected) for o in outcomes)}; "
          f"load average at the end {', '.join(f'{o.load_average:.1f}' for o in outcomes)}")
    if first.slow:
        print("slow connections (opened / cut by the server / longest held, s): " + "; ".join(
            f"{k} {s.opened}/{s.cut_by_server}/{s.longest_held:.1f}" for k, s in first.slow.items()))
    for i, o in enumerate(outcomes, 1):
        state = "consistent" if not o.consistency else f"{len(o.consistency)} problems"
        print(f"run {i}: {o.result.requests} requests in {o.result.seconds:.1f} s, store {state}, "
              f"{'PASS' if o.passed else 'FAIL'}")
        for p in o.problems[:30]:
            print(f"    {p}")
    print("PASS" if all(o.passed for o in outcomes) else "FAIL")


def serve_profiled(out: str, argv: list[str]) -> int:
    """`fibrecert sandbox` with every thread under cProfile (CPU time), each thread's profile merged
    when it ends (a server with a thread per connection has thousands); written to `out` at exit."""
    import cProfile
    import pstats

    merged: list[pstats.Stats] = []
    lock = threading.Lock()
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile(time.thread_time)  # CPU time: threads blocked in I/O or on a lock cost nothing
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()
            with lock:
                if merged:
                    merged[0].add(prof)
                else:
                    merged.append(pstats.Stats(prof))

    threading.Thread.run = run  # type: ignore[method-assign]
    from fibrecert.cli import main as cli_main

    code = cli_main(argv)
    with lock:
        if merged:
            merged[0].dump_stats(out)
    return code


def print_profile(path: str, top: int = 20) -> None:
    import pstats

    stats = pstats.Stats(path)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\nsandbox profile ({path}), top {top} by own time; total {total:.1f} s of thread CPU time:")
    print("| own s | cumulative s | calls | function |")
    print("| --- | --- | --- | --- |")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    for (file, line, name), (cc, nc, tt, ct, _) in rows:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        print(f"| {tt:.2f} | {ct:.2f} | {nc} | `{name}` {where} |")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-profiled"]:
        return serve_profiled(argv[1], argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--slowloris", type=int, default=40, help="slow connections held open during the run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="fresh sandboxes, medians reported")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="start the sandbox with --latency-ms")
    ap.add_argument("--json", metavar="FILE", help="also write the per-run figures as JSON")
    ap.add_argument("--sandbox-pythonpath", metavar="DIR",
                    help="start the sandbox from the fibrecert package found in DIR (e.g. an older commit's build)")
    ap.add_argument("--profile-server", metavar="FILE",
                    help="run the (first) sandbox under cProfile, write its stats to FILE and print the top")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="fibrecert-load-"))
    outcomes = []
    try:
        for n in range(args.repeat):
            outcomes.append(one_run(args, n, root))
            o = outcomes[-1]
            print(f"run {n + 1}/{args.repeat}: {o.result.requests} requests, "
                  f"{o.result.requests / o.result.seconds:.0f} req/s, {'PASS' if o.passed else 'FAIL'}", flush=True)
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    report(outcomes, args)
    if args.profile_server and Path(args.profile_server).exists():
        print_profile(args.profile_server)
    if args.json:
        Path(args.json).write_text(json.dumps([{
            "requests": o.result.requests, "seconds": o.result.seconds, "server_cpu": o.server_cpu,
            "client_cpu": o.client_cpu, "load_average": o.load_average,
            "five_xx": len(o.result.five_xx), "unexpected": len(o.result.unexpected), "problems": o.problems,
            "kinds": {k: {"n": len(v), "p50": pct([r.seconds for r in v], 50), "p99": pct([r.seconds for r in v], 99)}
                      for k, v in o.result.by_kind().items()}} for o in outcomes], indent=1))
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
