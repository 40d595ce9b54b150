"""The reference sandbox and the suite's own parts for issue 20's items 3 and 5, exercised directly: header
names in any case and media-type parameters are accepted (and refused by the defects that say so), the
token endpoint takes credentials in the form and refuses two clients' at once, the short-TTL client's
tokens expire, ids reused across parties never return the other party's answer; the new identities, the
form credentials and the target-file keys."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from fibrecert import strategies
from fibrecert.apis import dialect
from fibrecert.apis.fibrecafe import (CLIENT_A_BASIC_B_FORM, CLIENT_A_IN_FORM, CLIENT_SHORT_TTL, TENANT_SHORT_TTL,
                                      authorization, client_credentials, form_fields)
from fibrecert.contracts import soap
from fibrecert.core.identity import Credentials, Identity
from fibrecert.core.redaction import SecretRegistry, redact
from fibrecert.target import TargetError, load_target

CEASE = {"orderType": "CEASE", "supplier": "DUMMY_SUPPLIER", "serviceId": "SVC-1"}


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _token(sb, data: dict, auth: str | None = None) -> requests.Response:  # noqa: ANN001
    headers = {"Authorization": auth} if auth else {}
    return requests.post(f"{sb.fibrecafe_url}/auth/tenant/access-token", data={"grant_type": "client_credentials", **data},
                         headers=headers, verify=str(sb.pki.ca), timeout=10)


def _fc(sb, path: str, body: dict, headers: dict) -> requests.Response:  # noqa: ANN001
    return requests.post(f"{sb.fibrecafe_url}{path}", data=json.dumps(body), headers=headers,
                         verify=str(sb.pki.ca), timeout=10)


def _fc_headers(token: str, **names: str) -> dict[str, str]:
    base = {"Authorization": f"Bearer {token}", "X-Request-ID": str(uuid.uuid4()), "X-Conversation-ID": "c-1",
            "Content-Type": "application/json"}
    return {**base, **names}


# --------------------------------------------------------------------------------------- token endpoint
def test_token_endpoint_takes_form_credentials_and_refuses_two_clients_at_once(start_sandbox):
    sb = start_sandbox(services=1)
    a, b = sb.tenant_secret("tenant-a"), sb.tenant_secret("tenant-b")
    form = _token(sb, {"client_id": "tenant-a", "client_secret": a})
    assert form.status_code == 200 and form.json()["access_token"]
    same = _token(sb, {"client_id": "tenant-a"}, _basic("tenant-a", a))  # the same client named twice: fine
    assert same.status_code == 200
    both = _token(sb, {"client_id": "tenant-b", "client_secret": b}, _basic("tenant-a", a))
    assert both.status_code == 400 and "access_token" not in both.text
    assert both.json()["error"] == "invalid_request"


@pytest.mark.parametrize("defect", ["fc-token-basic-only", "fc-token-to-wrong-client"])
def test_the_token_defects_issue_a_token_for_two_clients_at_once(start_sandbox, defect):
    sb = start_sandbox(services=1, defects=(defect,))
    a, b = sb.tenant_secret("tenant-a"), sb.tenant_secret("tenant-b")
    both = _token(sb, {"client_id": "tenant-b", "client_secret": b}, _basic("tenant-a", a))
    assert both.status_code == 200
    # basic-only issues tenant a's token; to-wrong-client tenant b's: b's orders are then the token's
    token = both.json()["access_token"]
    order = _fc(sb, "/service-orders", CEASE, _fc_headers(token))
    assert order.status_code == 201
    owner = sb.store._db.execute("SELECT tenant FROM fc_orders WHERE id=?", (order.json()["id"],)).fetchone()[0]
    assert owner == ("tenant-a" if defect == "fc-token-basic-only" else "tenant-b")


def test_the_short_ttl_clients_tokens_expire_and_the_defect_accepts_them(start_sandbox):
    for defects, late in (((), 401), (("fc-expired-token-accepted",), 201)):
        sb = start_sandbox(services=1, defects=defects)
        answer = _token(sb, {}, _basic("tenant-short-ttl", sb.tenant_secret("tenant-short-ttl"))).json()
        assert answer["expires_in"] == 2
        assert _fc(sb, "/service-orders", CEASE, _fc_headers(answer["access_token"])).status_code == 201
        time.sleep(2.2)
        _token(sb, {"client_id": "tenant-a", "client_secret": sb.tenant_secret("tenant-a")})  # purges expired ones
        assert _fc(sb, "/service-orders", CEASE, _fc_headers(answer["access_token"])).status_code == late
        long_lived = _token(sb, {}, _basic("tenant-a", sb.tenant_secret("tenant-a"))).json()
        assert long_lived["expires_in"] == 3600


# --------------------------------------------------------------------------------------- envelopes
@pytest.mark.parametrize("defect, refused", [(None, set()),
                                            ("fc-header-names-case-sensitive", {"lower", "upper"}),
                                            ("fc-json-charset-refused", {"charset"})])
def test_fibre_cafe_header_case_and_charset(start_sandbox, defect, refused):
    sb = start_sandbox(services=1, defects=(defect,) if defect else ())
    token = _token(sb, {"client_id": "tenant-a", "client_secret": sb.tenant_secret("tenant-a")}).json()["access_token"]
    variants = {"lower": {k.lower(): v for k, v in _fc_headers(token).items()},
                "upper": {k.upper(): v for k, v in _fc_headers(token).items()},
                "charset": _fc_headers(token, **{"Content-Type": "application/json; charset=utf-8"})}
    for name, headers in variants.items():
        got = _fc(sb, "/service-orders", CEASE, headers).status_code
        assert got == (400 if name in refused else 201), (name, got)


def _ala_cease(sb, service: str, headers: dict) -> requests.Response:  # noqa: ANN001
    data = {"message": {"messageId": str(uuid.uuid4()), "correlationId": str(uuid.uuid4()),
                        "sentAt": "2026-12-01T10:00:00Z"},
            "orderReferences": {"buyerOrderReference": "B-1"}, "buyer": {"buyerIdentifier": "SPDEV1"},
            "seller": {"sellerIdentifier": "CITYFIBRE"}, "alaCease": {"serviceIdentifier": service}}
    body = soap.build_envelope(strategies.encode_ala("ceaseOrder", data, ""))
    client = sb.pki.clients["SPDEV1"]
    return requests.post(f"{sb.ala_url}/ceaseOrder", data=body, headers=headers, verify=str(sb.pki.ca),
                         cert=(str(client.cert), str(client.key)), timeout=10)


@pytest.mark.parametrize("defect, refused", [(None, set()),
                                            ("ala-header-names-case-sensitive", {"lower"}),
                                            ("ala-exact-content-type", {"text/xml", "UTF-8", "application/xml"})])
def test_ala_header_case_and_content_types(start_sandbox, defect, refused):
    sb = start_sandbox(services=4, defects=(defect,) if defect else ())
    services = sb.store.active_services("SPDEV1")
    variants = {"lower": {"content-type": "text/xml; charset=utf-8", "soapaction": '""'},
                "text/xml": {"Content-Type": "text/xml"},
                "UTF-8": {"Content-Type": "text/xml; charset=UTF-8"},
                "application/xml": {"Content-Type": "application/xml"}}
    for (name, headers), service in zip(variants.items(), services):
        got = _ala_cease(sb, service, headers).status_code
        assert got == (400 if name in refused else 200), (name, got)


# --------------------------------------------------------------------------------------- identities
def test_the_new_identities_round_trip_and_are_refused_by_design_where_they_should_be():
    for ident in (CLIENT_A_IN_FORM, CLIENT_A_BASIC_B_FORM, CLIENT_SHORT_TTL, TENANT_SHORT_TTL):
        assert Identity.parse("fibrecafe", ident.name) == ident
    assert CLIENT_A_BASIC_B_FORM.name == "tenant-a:basic+tenant-b:form" and CLIENT_A_BASIC_B_FORM.refused_by_design
    assert not CLIENT_A_IN_FORM.refused_by_design and not TENANT_SHORT_TTL.refused_by_design
    args, notes = dialect("fibrecafe").curl_arguments(CLIENT_SHORT_TTL)
    assert args == ['--user "$short_ttl_client_id:$short_ttl_client_secret"'] and not notes


def _target(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text('[fibrecafe]\nbase_url = "https://fc.example/v1"\nclient_id = "a"\nclient_secret = "sa-secret"\n'
                    f'supplier = "S"\n{extra}')
    return path


def test_form_credentials_and_the_short_ttl_client_come_from_the_target_file(tmp_path):
    target = load_target(_target(tmp_path, 'other_client_id = "b"\nother_client_secret = "sb-secret/+&="\n'
                                           'short_ttl_client_id = "s"\nshort_ttl_client_secret = "ss-secret"\n'))
    assert "ss-secret" in target.secrets()
    registry = SecretRegistry()
    creds = Credentials(target, registry, tmp_path)
    assert client_credentials(creds, "s") == ("s", "ss-secret")
    assert form_fields(creds, CLIENT_A_IN_FORM) == (("client_id", "a"), ("client_secret", "sa-secret"))
    fields = form_fields(creds, CLIENT_A_BASIC_B_FORM)
    assert fields == (("client_id", "b"), ("client_secret", "sb-secret/+&="))
    assert authorization(creds, CLIENT_A_BASIC_B_FORM).startswith("Basic ")
    from urllib.parse import quote_plus
    encoded = quote_plus("sb-secret/+&=")  # as it travels in the form, and as a target may echo it
    assert encoded != "sb-secret/+&=" and "sb-secret" not in redact(f"you sent {encoded}", registry)
    # without a short-TTL client, the expiry test looks at tenant a's tokens
    plain = load_target(_target(tmp_path, ""))
    assert client_credentials(Credentials(plain, SecretRegistry(), tmp_path), "s") == ("a", "sa-secret")


@pytest.mark.parametrize("extra, key", [('short_ttl_client_id = "s"\n', "short_ttl_client_secret"),
                                        ('short_ttl_client_secret = "x-secret"\n', "short_ttl_client_id")])
def test_the_short_ttl_client_needs_both_keys(tmp_path, extra, key):
    with pytest.raises(TargetError, match=key):
        load_target(_target(tmp_path, extra))
