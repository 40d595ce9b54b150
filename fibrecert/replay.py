"""`fibrecert replay RESULTS.json EXCHANGE`: send a recorded case again, with fresh credentials for
each recorded identity (secrets are never stored), and compare what comes back.

A case that was a sequence (place an order, cancel it, cancel it again) is replayed whole, in order,
on fresh state, so that the replay exercises the same behaviour rather than meeting the recorded
run's leftovers:
- ids the target assigns (Fibre Cafe order `id`, ALA `sellerOrderReference`) are carried into the
  later steps in place of the recorded ones;
- every ALA `messageId` is replaced by a fresh one, consistently (a step that repeated an earlier
  step's messageId repeats its replacement), since a seller answers a used messageId from memory;
- an ALA service the recorded run ceased (one of the target file's `active_services`, or one a
  ceaseOrder of the case ceased) is replaced by a still-active one: taken from the end of
  `active_services` (runs take from the front), skipping any service the results file names; a
  replacement the seller refuses as already ceased is followed by the next one (at most 20).
The replay is the same observation when every step gets the recorded status and the assigned ids
repeat (or not) exactly as recorded: a step that was given a new order reference must be given a new
one again, a step that was given an earlier step's reference must be given that step's again.

With `--target FILE` naming another deployment (a fixed build, a restarted sandbox), recorded URLs are
moved from the recorded target's base URLs to that file's.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator, TextIO

from fibrecert.target import Target, TargetError, load_target
from fibrecert.transport import Exchange, RateLimiter, SecretRegistry, Transport, redact_headers, redact_text

MAX_SERVICE_TRIES = 20


def find_case(results: dict[str, Any], exchange_id: str) -> list[dict[str, Any]] | None:
    """The recorded steps up to and including `exchange_id` (a sequence, or a single exchange)."""
    for req in results.get("requirements", []):
        for ev in req.get("evidence", []):
            steps = [*ev.get("sequence", []), ev]
            for i, step in enumerate(steps):
                if step.get("exchange") == exchange_id:
                    return steps[: i + 1]
    return None


def _element(name: str) -> re.Pattern[str]:
    """An XML element `name` (any prefix) holding only text: groups (open tag, text, close tag)."""
    return re.compile(rf"(<(?:[\w.-]+:)?{name}(?:\s[^>]*)?>)([^<]*)(</(?:[\w.-]+:)?{name}\s*>)")


MESSAGE_ID = _element("messageId")
SERVICE = _element("serviceIdentifier")
SELLER_REF = _element("sellerOrderReference")


def _status(recorded_or_ex: Any) -> Any:
    if isinstance(recorded_or_ex, Exchange):
        return recorded_or_ex.status if recorded_or_ex.status is not None else recorded_or_ex.error
    return recorded_or_ex.get("status") or recorded_or_ex.get("error")


def _operation(step: dict[str, Any]) -> str:
    return step["request"]["url"].rstrip("/").rsplit("/", 1)[-1]


ORDER = "order"                # carried into later steps (orderId, targetSellerOrderReference)
CANCELLATION = "cancellation"  # compared only


def _assigned(step: dict[str, Any], body: str) -> tuple[str, str] | None:
    """(kind, id) the target assigned in this answer: the Fibre Cafe order `id` of a create-order
    answer or the cancellation `id` of a cancellation answer; the `sellerOrderReference` of an ALA
    orderResponse (a ceaseOrder's answer)."""
    operation = _operation(step)
    if operation in ("service-orders", "service-order-cancellations"):
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or "id" not in data:
            return None
        return (ORDER if operation == "service-orders" else CANCELLATION), str(data["id"])
    if operation == "ceaseOrder":
        m = SELLER_REF.search(body)
        return (ORDER, m.group(2)) if m else None
    return None


class _FreshState:
    """What has to be new in a replay, and the mapping from recorded to new values."""

    def __init__(self, steps: list[dict[str, Any]], results: dict[str, Any], target: Target):
        self.message_ids: dict[str, str] = {}
        self.services: dict[str, str] = {}
        self.ids: dict[str, dict[str, str]] = {ORDER: {}, CANCELLATION: {}}       # recorded id -> new one
        self.id_owner: dict[str, dict[str, str]] = {ORDER: {}, CANCELLATION: {}}  # new id -> recorded one
        self.tag = uuid.uuid4().hex[:8]
        self.renewed = 0
        active = target.ala.active_services if target.ala else ()
        ceases = [s for s in steps if _operation(s) == "ceaseOrder"]
        ceased = {m.group(2) for s in ceases if _status(s["response"]) == 200
                  for m in SERVICE.finditer(s["request"].get("body", ""))}
        self.substitute = ceased | {m.group(2) for s in ceases for m in SERVICE.finditer(s["request"].get("body", ""))
                                    if m.group(2) in active}
        named = {m.group(2) for req in results.get("requirements", []) for ev in req.get("evidence", [])
                 for s in [*ev.get("sequence", []), ev] for m in SERVICE.finditer(s.get("request", {}).get("body", ""))}
        self._candidates: Iterator[str] = (s for s in reversed(active) if s not in named)

    def next_service(self) -> str | None:
        return next(self._candidates, None)

    def body(self, step: dict[str, Any]) -> str:
        body = step["request"].get("body", "")
        for old, new in self.ids[ORDER].items():
            body = re.sub(rf'("orderId"\s*:\s*){re.escape(old)}\b', rf"\g<1>{new}", body)
            body = body.replace(f">{old}<", f">{new}<")
        if _operation(step) in ("ceaseOrder", "cancelOrder", "unsolicitedCeaseRequest"):
            body = MESSAGE_ID.sub(self._message_id, body)
            if _operation(step) == "ceaseOrder":
                body = SERVICE.sub(self._service, body)
        return body

    def _message_id(self, m: re.Match[str]) -> str:
        old = m.group(2)
        if not old.strip():  # a blank messageId is the case itself (a negative case): keep it
            return m.group(0)
        if old not in self.message_ids:
            self.renewed += 1
            self.message_ids[old] = f"{old}~replay-{self.tag}-{self.renewed}"
        return f"{m.group(1)}{self.message_ids[old]}{m.group(3)}"

    def renew_message_ids(self, step: dict[str, Any]) -> None:
        for m in MESSAGE_ID.finditer(step["request"].get("body", "")):
            self.message_ids.pop(m.group(2), None)

    def _service(self, m: re.Match[str]) -> str:
        old = m.group(2)
        if old not in self.substitute:
            return m.group(0)
        if old not in self.services:
            fresh = self.next_service()
            if fresh is None:
                raise TargetError("no active service left to replay this ceaseOrder with: the target file's "
                                  "active_services are all named in the results (give a target file with fresh ones)")
            self.services[old] = fresh
        return f"{m.group(1)}{self.services[old]}{m.group(3)}"

    def assigned(self, n: int, step: dict[str, Any], ex: Exchange) -> str | None:
        """Map the id this step's answer assigned; a difference in which ids repeat, or None."""
        was = _assigned(step, step["response"].get("body", "")) if "body" in step["response"] else None
        now = _assigned(step, ex.text) if ex.error is None else None
        if was is None or now is None or was[0] != now[0]:
            return None
        kind, recorded, new = was[0], was[1], now[1]
        ids, owner = self.ids[kind], self.id_owner[kind]
        if recorded in ids and ids[recorded] != new:
            return (f"step {n} was given {kind} id {new!r}, a new one, where the recorded step was given the id "
                    "an earlier step had")
        if new in owner and owner[new] != recorded:
            return (f"step {n} was given {kind} id {new!r}, the id an earlier step was given, where the recorded "
                    f"step was given a new one ({recorded!r})")
        ids[recorded], owner[new] = new, recorded
        return None


def _rebase(results: dict[str, Any], target: Target) -> list[tuple[str, str]]:
    """(recorded base URL, the target file's) for each endpoint whose address differs."""
    recorded = results.get("target") or {}
    now = target.public()
    pairs = []
    for api, keys in (("ala", ("base_url", "buyer_base_url")), ("fibrecafe", ("token_url", "base_url"))):
        for key in keys:
            old, new = (recorded.get(api) or {}).get(key), (now.get(api) or {}).get(key)
            if old and new and old != new:
                pairs.append((old.rstrip("/"), new.rstrip("/")))
    return pairs


class _Replayer:
    def __init__(self, target: Target, rebase: list[tuple[str, str]] | None = None):
        self.target = target
        self.rebase = rebase or []
        self.secrets = SecretRegistry(target.secrets())
        self.transport = Transport(secrets=self.secrets, limiter=RateLimiter(None))
        from fibrecert.suites.clients import AlaClient, FibreCafeClient

        self.ala = AlaClient(target.ala, self.transport, Path(tempfile.mkdtemp(prefix="fibrecert-replay-"))) \
            if target.ala else None
        self.fc = FibreCafeClient(target.fibrecafe, self.transport) if target.fibrecafe else None

    def send(self, step: dict[str, Any], body: str) -> Exchange:
        from fibrecert.suites.clients import BAD_TOKENS, WRONG_SECRET

        request, identity = step["request"], step.get("identity", "")
        headers = {k: v for k, v in request["headers"].items() if k.lower() not in ("authorization", "content-length")}
        url = request["url"]
        for old, new in self.rebase:
            if url == old or url.startswith(old + "/"):
                url = new + url[len(old):]
                break
        ala = self.target.ala
        if ala and url.startswith(tuple(u for u in (ala.base_url, ala.buyer_base_url) if u)):
            assert self.ala is not None
            return self.transport.send(api="ala", operation="replay", identity=identity, method=request["method"],
                                       url=url, headers=headers, body=body,
                                       verify=str(ala.ca_bundle) if ala.ca_bundle else True,
                                       cert=self.ala.cert_for(identity), timeout=ala.timeout)
        if self.fc is None:
            raise TargetError("the target file has no section for " + url)
        if identity in BAD_TOKENS:
            headers["Authorization"] = BAD_TOKENS[identity]
        elif identity.startswith("tenant-") and url == self.fc.target.token_url:
            client_id, secret = self.fc.credentials(identity[7])
            if identity.endswith(":wrong-secret"):
                secret = WRONG_SECRET
            self.secrets.add(secret)
            headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        elif identity.startswith("tenant-"):
            headers["Authorization"] = f"Bearer {self.fc.token(identity[7])}"
        return self.transport.send(api="fibrecafe", operation="replay", identity=identity, method=request["method"],
                                   url=url, headers=headers, body=body, verify=self.fc.verify,
                                   timeout=self.fc.target.timeout)


def replay(results_path: str, exchange_id: str, target_path: str | None = None,
           out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        err.write(f"fibrecert: {results_path}: not a readable results file ({exc})\n")
        return 2
    steps = find_case(results, exchange_id)
    if steps is None:
        err.write(f"fibrecert: {results_path}: no evidence with exchange {exchange_id}\n")
        return 2
    target_file = target_path or results.get("target_file")
    if not target_file:
        err.write("fibrecert: the results name no target file: give --target FILE\n")
        return 2
    try:
        target = load_target(target_file)
        replayer = _Replayer(target, _rebase(results, target))
    except TargetError as exc:
        err.write(f"fibrecert: {exc}\n")
        return 2
    fresh = _FreshState(steps, results, target)
    differences: list[str] = []
    ex: Exchange | None = None
    try:
        for n, step in enumerate(steps, 1):
            ex = replayer.send(step, fresh.body(step))
            was = _status(step["response"])
            # A substituted service the seller refuses (another run ceased it): the next one, sent
            # with a new messageId (the refused message may be remembered).
            found = SERVICE.search(step["request"].get("body", "")) if _operation(step) == "ceaseOrder" else None
            old = found.group(2) if found else None
            for _ in range(MAX_SERVICE_TRIES - 1):
                if not (old in fresh.services and was == 200 and ex.status == 400):
                    break
                replacement = fresh.next_service()
                if replacement is None:
                    break
                out.write(f"Step {n}: service {fresh.services[old]} was refused (HTTP 400): trying {replacement}\n")
                fresh.services[old] = replacement
                fresh.renew_message_ids(step)
                ex = replayer.send(step, fresh.body(step))
            now = _status(ex)
            out.write(f"Step {n}/{len(steps)} {step['exchange']} ({step.get('identity', '')}): "
                      f"{step['request']['method']} {step['request']['url']}: recorded {was}, now {now}\n")
            if now != was:
                differences.append(f"step {n}: recorded {was}, now {now}")
            problem = fresh.assigned(n, step, ex)
            if problem:
                out.write(f"  {problem}\n")
                differences.append(problem)
    except TargetError as exc:
        err.write(f"fibrecert: {exc}\n")
        return 2
    finally:
        replayer.transport.close()
    assert ex is not None
    secrets = replayer.secrets
    if fresh.services or fresh.message_ids:
        out.write(f"(fresh state: {fresh.renewed} messageId(s) renewed"
                  + (", services " + ", ".join(f"{a} -> {b}" for a, b in fresh.services.items()) if fresh.services else "")
                  + ")\n")
    if ex.error:
        out.write(f"{ex.error}: {secrets.scrub(ex.error_detail)}\n")
    else:
        out.write(f"HTTP {ex.status}\n")
        for k, v in redact_headers(ex.response_headers, secrets).items():
            out.write(f"{k}: {v}\n")
        out.write("\n" + redact_text(ex.text, secrets) + "\n")
    if differences:
        out.write("Different from the recorded observation: " + "; ".join(differences) + "\n")
        return 1
    out.write("Same observation as recorded.\n")
    return 0
