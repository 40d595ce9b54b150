"""`fibrecert replay RESULTS.json EXCHANGE`: send a recorded case again, with fresh credentials for
each recorded identity (secrets are never stored), and compare what comes back.

A case that was a sequence (place an order, then cancel it) is replayed whole, in order; ids the
target assigns along the way (Fibre Cafe `id`, ALA `sellerOrderReference`) are carried into the later
steps in place of the recorded ones, so the replay exercises the same behaviour on fresh state.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from fibrecert.target import Target, TargetError, load_target
from fibrecert.transport import Exchange, RateLimiter, SecretRegistry, Transport, redact_headers, redact_text


def find_case(results: dict[str, Any], exchange_id: str) -> list[dict[str, Any]] | None:
    """The recorded steps up to and including `exchange_id` (a sequence, or a single exchange)."""
    for req in results.get("requirements", []):
        for ev in req.get("evidence", []):
            steps = [*ev.get("sequence", []), ev]
            for i, step in enumerate(steps):
                if step.get("exchange") == exchange_id:
                    return steps[: i + 1]
    return None


def _assigned(step: dict[str, Any], body: str) -> dict[str, str]:
    """Ids the target assigned in an answer: JSON `id`, XML `sellerOrderReference`."""
    found: dict[str, str] = {}
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "id" in data:
            found["id"] = str(data["id"])
    except ValueError:
        m = re.search(r"<(?:\w+:)?sellerOrderReference>([^<]*)</", body)
        if m:
            found["sellerOrderReference"] = m.group(1)
    return found


class _Replayer:
    def __init__(self, target: Target):
        self.target = target
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
        replayer = _Replayer(load_target(target_file))
    except TargetError as exc:
        err.write(f"fibrecert: {exc}\n")
        return 2
    mapping: dict[str, str] = {}
    ex: Exchange | None = None
    for n, step in enumerate(steps, 1):
        body = step["request"].get("body", "")
        for old, new in mapping.items():
            body = re.sub(rf'("orderId"\s*:\s*){re.escape(old)}\b', rf"\g<1>{new}", body)
            body = body.replace(f">{old}<", f">{new}<")
        try:
            ex = replayer.send(step, body)
        except TargetError as exc:
            err.write(f"fibrecert: {exc}\n")
            return 2
        recorded = step["response"]
        was = recorded.get("status") or recorded.get("error")
        now = ex.status if ex.status is not None else ex.error
        out.write(f"Step {n}/{len(steps)} {step['exchange']} ({step.get('identity', '')}): "
                  f"{step['request']['method']} {step['request']['url']}: recorded {was}, now {now}\n")
        if "body" in recorded and ex.error is None:
            old_ids, new_ids = _assigned(step, recorded["body"]), _assigned(step, ex.text)
            for key in old_ids.keys() & new_ids.keys():
                mapping[old_ids[key]] = new_ids[key]
    assert ex is not None
    secrets = replayer.secrets
    if ex.error:
        out.write(f"{ex.error}: {secrets.scrub(ex.error_detail)}\n")
    else:
        out.write(f"HTTP {ex.status}\n")
        for k, v in redact_headers(ex.response_headers, secrets).items():
            out.write(f"{k}: {v}\n")
        out.write("\n" + redact_text(ex.text, secrets) + "\n")
    final = steps[-1]["response"]
    same = (ex.status if ex.status is not None else ex.error) == (final.get("status") or final.get("error"))
    out.write("Same observation as recorded.\n" if same else "Different from the recorded observation.\n")
    replayer.transport.close()
    return 0 if same else 1
