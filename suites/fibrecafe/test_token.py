"""OAuth2 client-credentials token endpoint: a known tenant gets a bearer token, with its credentials in
HTTP Basic or in the form; a wrong client secret, or two clients' credentials in one request, get none;
a token past its expires_in is not authorised."""

from __future__ import annotations

import json
import time

import pytest

from fibrecert.apis.fibrecafe import (CLIENT_A, CLIENT_A_BASIC_B_FORM, CLIENT_A_IN_FORM, CLIENT_A_WRONG_SECRET,
                                      CLIENT_SHORT_TTL, TENANT_SHORT_TTL)
from fibrecert.suites import checks as c


def _secret(run, ex):  # noqa: ANN001
    """The token an answer issued (a secret from now on, whatever else the answer holds), or None."""
    try:
        token = json.loads(ex.response_body).get("access_token")
    except (ValueError, AttributeError, RecursionError):
        return None
    if not isinstance(token, str) or not token:
        return None
    run.secrets.add(token)
    return token


@pytest.mark.requirement("FC-AUTH-001")
def test_token_endpoint_issues_a_bearer_token_to_a_known_tenant(run, fc, verify):
    ex = fc.request_token(CLIENT_A)
    _secret(run, ex)
    if verify("FC-AUTH-001", ex, c.status_in, 200):
        verify("FC-AUTH-001", ex, c.json_content_type)
        verify("FC-AUTH-001", ex, c.token_answer)


@pytest.mark.requirement("SEC-012")
def test_token_endpoint_refuses_a_wrong_client_secret(run, fc, verify):
    ex = fc.request_token(CLIENT_A_WRONG_SECRET)
    if verify("SEC-012", ex, c.status_in, 400, 401):
        verify("SEC-012", ex, c.no_token_issued)


@pytest.mark.requirement("FC-AUTH-002")
def test_token_endpoint_takes_client_credentials_in_the_form_too(run, fc, verify):
    ex = fc.request_token(CLIENT_A_IN_FORM)
    _secret(run, ex)
    if verify("FC-AUTH-002", ex, c.status_in, 200):
        verify("FC-AUTH-002", ex, c.json_content_type)
        verify("FC-AUTH-002", ex, c.token_answer)


@pytest.mark.requirement("SEC-014")
def test_token_endpoint_refuses_credentials_of_two_clients_in_one_request(run, fc, verify):
    if not fc.target.other_client_id:
        verify.not_tested(["SEC-014"], "the target file gives no other_client_id (a second tenant)")
        pytest.skip("no second tenant")
    # tenant a in HTTP Basic, tenant b in the form: each valid alone, together one client authenticated
    # and another named. Whichever the target believed, a token would be issued to a client it should not.
    ex = fc.request_token(CLIENT_A_BASIC_B_FORM)
    _secret(run, ex)
    if verify("SEC-014", ex, c.status_in, 400):
        verify("SEC-014", ex, c.no_token_issued)


EXPIRY_WAIT_LIMIT = 15.0  # seconds: the longest expires_in a run waits out
EXPIRY_MARGIN = 1.0       # seconds past expires_in before the token is used again (a whole second rounded)
EXPIRY_ATTEMPTS = 3       # tokens asked for until one is accepted while fresh (a busy client may be slow to use it)


def _short_lived_token(run, fc):  # noqa: ANN001
    """Ask for a token of the expiry test's client: (token, expires_in, when it was received, the exchange)."""
    ex = fc.request_token(CLIENT_SHORT_TTL)
    received = time.monotonic()
    token = _secret(run, ex)
    try:
        expires = json.loads(ex.response_body).get("expires_in") if ex.status == 200 else None
    except (ValueError, AttributeError, RecursionError):
        expires = None
    if isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0:
        expires = None
    return token, expires, received, ex


@pytest.mark.long_chain
@pytest.mark.requirement("SEC-015")
def test_an_expired_token_is_not_authorised(run, fc, verify):
    client = ("short_ttl_client_id" if fc.target.short_ttl_client_id else "client_id")
    for attempt in range(1, EXPIRY_ATTEMPTS + 1):
        token, expires, received, ex = _short_lived_token(run, fc)
        if token is None or expires is None:
            verify.not_tested(["SEC-015"], f"the token endpoint gave {client} no token with an expires_in: "
                                           f"{ex.describe()}")
            return
        if expires > EXPIRY_WAIT_LIMIT:
            verify.not_tested(["SEC-015"], f"{client}'s tokens live {expires} s, longer than the {EXPIRY_WAIT_LIMIT:g} s "
                                           "a run waits: name a client whose tokens expire sooner in the target file "
                                           "(short_ttl_client_id)")
            return
        run.credentials.adopt("s", token)
        fresh = fc.post("/service-orders", fc.cease_order_body(), identity=TENANT_SHORT_TTL,
                        note=f"{client}'s token while fresh (attempt {attempt})")
        if fresh.status == 201:
            break
    else:  # the fresh token was never accepted: its expiry says nothing
        verify.not_tested(["SEC-015"], f"{client}'s token was not accepted while fresh, {EXPIRY_ATTEMPTS} times "
                                       f"(last: {fresh.describe()})")
        return
    time.sleep(max(0.0, received + expires + EXPIRY_MARGIN - time.monotonic()))
    late = fc.post("/service-orders", fc.cease_order_body(), identity=TENANT_SHORT_TTL,
                   note=f"the same token {expires + EXPIRY_MARGIN:g} s after it was issued with expires_in {expires}")
    verify("SEC-015", [fresh, late], c.fc_error, 401, "NOT_AUTHORISED")
