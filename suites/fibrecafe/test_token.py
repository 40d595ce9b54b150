"""OAuth2 client-credentials token endpoint: a known tenant gets a bearer token; a wrong client
secret gets none."""

from __future__ import annotations

import json

import pytest

from fibrecert.identity import CLIENT_A, CLIENT_A_WRONG_SECRET
from fibrecert.suites import checks as c


@pytest.mark.requirement("FC-AUTH-001")
def test_token_endpoint_issues_a_bearer_token_to_a_known_tenant(run, fc, verify):
    ex = fc.request_token(CLIENT_A)
    try:  # the token it issued is a secret from now on, whatever else the answer holds
        token = json.loads(ex.response_body).get("access_token")
        run.secrets.add(token if isinstance(token, str) else None)
    except (ValueError, AttributeError, RecursionError):
        pass
    if verify("FC-AUTH-001", ex, c.status_in, 200):
        verify("FC-AUTH-001", ex, c.json_content_type)
        verify("FC-AUTH-001", ex, c.token_answer)


@pytest.mark.requirement("SEC-012")
def test_token_endpoint_refuses_a_wrong_client_secret(run, fc, verify):
    ex = fc.request_token(CLIENT_A_WRONG_SECRET)
    if verify("SEC-012", ex, c.status_in, 400, 401):
        verify("SEC-012", ex, c.no_token_issued)
