"""`fibrecert replay RESULTS.json EXCHANGE`: send one recorded case again, exactly as recorded but
with fresh credentials for the recorded identity (secrets are never stored), and compare answers."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from fibrecert.target import TargetError, load_target
from fibrecert.transport import RateLimiter, SecretRegistry, Transport, redact_headers, redact_text


def find_exchange(results: dict[str, Any], exchange_id: str) -> dict[str, Any] | None:
    for req in results.get("requirements", []):
        for ev in req.get("evidence", []):
            for item in [ev, *ev.get("sequence", [])]:
                if item.get("exchange") == exchange_id:
                    return item
    return None


def replay(results_path: str, exchange_id: str, target_path: str | None = None,
           out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        err.write(f"fibrecert: {results_path}: not a readable results file ({exc})\n")
        return 2
    recorded = find_exchange(results, exchange_id)
    if recorded is None:
        err.write(f"fibrecert: {results_path}: no evidence with exchange {exchange_id}\n")
        return 2
    target_file = target_path or results.get("target_file")
    if not target_file:
        err.write("fibrecert: the results name no target file: give --target FILE\n")
        return 2
    try:
        target = load_target(target_file)
    except TargetError as exc:
        err.write(f"fibrecert: {exc}\n")
        return 2
    secrets = SecretRegistry(target.secrets())
    transport = Transport(secrets=secrets, limiter=RateLimiter(None))
    request, identity = recorded["request"], recorded.get("identity", "")
    headers = {k: v for k, v in request["headers"].items() if k.lower() not in ("authorization", "content-length")}
    body = request.get("body", "")
    api = "ala" if target.ala and request["url"].startswith((target.ala.base_url, target.ala.buyer_base_url or "\0")) else "fibrecafe"
    from fibrecert.suites.clients import BAD_TOKENS, WRONG_SECRET, AlaClient, FibreCafeClient

    if api == "ala":
        if target.ala is None:
            err.write("fibrecert: the target file has no [ala] section\n")
            return 2
        client = AlaClient(target.ala, transport, Path(tempfile.mkdtemp(prefix="fibrecert-replay-")))
        ex = transport.send(api="ala", operation="replay", identity=identity, method=request["method"],
                            url=request["url"], headers=headers, body=body,
                            verify=str(target.ala.ca_bundle) if target.ala.ca_bundle else True,
                            cert=client.cert_for(identity), timeout=target.ala.timeout)
    else:
        if target.fibrecafe is None:
            err.write("fibrecert: the target file has no [fibrecafe] section\n")
            return 2
        fc = FibreCafeClient(target.fibrecafe, transport)
        if identity in BAD_TOKENS:
            headers["Authorization"] = BAD_TOKENS[identity]
        elif identity.startswith("tenant-") and request["url"] == target.fibrecafe.token_url:
            import base64

            client_id, secret = fc.credentials(identity[7])
            if identity.endswith(":wrong-secret"):
                secret = WRONG_SECRET
            secrets.add(secret)
            headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        elif identity.startswith("tenant-"):
            headers["Authorization"] = f"Bearer {fc.token(identity[7])}"
        ex = transport.send(api="fibrecafe", operation="replay", identity=identity, method=request["method"],
                            url=request["url"], headers=headers, body=body, verify=fc.verify,
                            timeout=target.fibrecafe.timeout)
    was = recorded["response"]
    out.write(f"Replayed {exchange_id} ({identity}): {request['method']} {request['url']}\n")
    out.write(f"Recorded: {was.get('status') or was.get('error')}\n")
    now = ex.status if ex.status is not None else ex.error
    out.write(f"Now:      {now}\n")
    if ex.error:
        out.write(f"{ex.error}: {secrets.scrub(ex.error_detail)}\n")
    else:
        for k, v in redact_headers(ex.response_headers, secrets).items():
            out.write(f"{k}: {v}\n")
        out.write("\n" + redact_text(ex.text, secrets) + "\n")
    same = now == (was.get("status") or was.get("error"))
    out.write("Same observation as recorded.\n" if same else "Different from the recorded observation.\n")
    transport.close()
    return 0 if same else 1
