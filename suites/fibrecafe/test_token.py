"""OAuth2 client-credentials token endpoint: a known tenant gets a bearer token; a wrong client
secret gets none."""

from __future__ import annotations

import json

import pytest

from fibrecert.suites import checks as c
from fibrecert.suites.clients import WRONG_SECRET


@pytest.mark.requirement("FC-AUTH-001")
def test_token_endpoint_issues_a_bearer_token_to_a_known_tenant(run, fc, verify):
    client_id, secret = fc.credentials("a")
    ex = fc.request_token(client_id, secret, identity="tenant-a")
    if not verify("FC-AUTH-001", ex, c.status_in, 200):
        return
    verify("FC-AUTH-001", ex, c.json_content_type)
    try:
        body = json.loads(ex.response_body)
    except ValueError:
        body = None
    problems = []
    if not isinstance(body, dict):
        problems.append("a body that is not a JSON object")
    else:
        run.secrets.add(body.get("access_token") if isinstance(body.get("access_token"), str) else None)
        if not isinstance(body.get("access_token"), str) or not body["access_token"]:
            problems.append("no non-empty access_token")
        if isinstance(body.get("expires_in"), bool) or not isinstance(body.get("expires_in"), int) or body["expires_in"] <= 0:
            problems.append(f"expires_in {body.get('expires_in')!r}")
        if str(body.get("token_type", "")).lower() != "bearer":
            problems.append(f"token_type {body.get('token_type')!r}")
    if problems:
        verify.fail("FC-AUTH-001", [ex], "Received " + ", ".join(problems),
                    '{"access_token": non-empty string, "expires_in": positive integer, "token_type": "Bearer"}')
    else:
        verify.passed("FC-AUTH-001", [ex])


@pytest.mark.requirement("SEC-012")
def test_token_endpoint_refuses_a_wrong_client_secret(run, fc, verify):
    client_id, secret = fc.credentials("a")
    ex = fc.request_token(client_id, WRONG_SECRET, identity="tenant-a:wrong-secret")
    if verify("SEC-012", ex, c.status_in, 400, 401):
        if b"access_token" in ex.response_body:
            verify.fail("SEC-012", [ex], "Received an access_token in the refusal", "no token for a wrong secret")
