"""The constraint inventory and the negatives built from it: every constraint of the contracts is
listed (checked against hand-made lists), every attacked one gets a negative at every profile, every
negative is invalid by the contract's own validator, the same seed gives the same negatives, and the
values lenient implementations accept are among them."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from lxml import etree

from fibrecert import contracts, strategies
from fibrecert.contracts.alapath import ElementPath
from fibrecert.strategies import _inventory, _negatives

ALA_OPS = list(contracts.ALA_OPERATIONS)
FC_OPS = ["/service-orders", "/service-order-cancellations"]
SOC = "/service-order-cancellations"

# Hand-made from contracts/ala/2.30/ala-core.xsd (ceaseOrder) and contracts/fibrecafe/1.17/openapi.yaml
# (ServiceOrderCancellationRequest and its two header parameters): path -> keywords.
CEASE_ORDER = {
    "/": ["closed", "mixed", "sequence"],
    "message": ["minOccurs", "maxOccurs", "closed", "mixed", "sequence"],
    "message.messageId": ["minOccurs", "maxOccurs", "pattern"],
    "message.correlationId": ["minOccurs", "maxOccurs", "pattern"],
    "message.sentAt": ["minOccurs", "maxOccurs", "pattern", "xs:dateTime"],
    "orderReferences": ["minOccurs", "maxOccurs", "closed", "mixed"],
    "orderReferences.buyerOrderReference": ["minOccurs", "maxOccurs", "pattern"],
    "buyer": ["minOccurs", "maxOccurs", "closed", "mixed", "sequence"],
    "buyer.buyerIdentifier": ["minOccurs", "maxOccurs", "pattern"],
    "buyer.cfh:resellerId": ["maxOccurs"],
    "seller": ["minOccurs", "maxOccurs", "closed", "mixed"],
    "seller.sellerIdentifier": ["minOccurs", "maxOccurs", "pattern"],
    "alaCease": ["minOccurs", "maxOccurs", "closed", "mixed", "sequence"],
    "alaCease.serviceIdentifier": ["minOccurs", "maxOccurs", "pattern"],
    "alaCease.requestedDate": ["maxOccurs", "xs:date"],
}
CANCELLATIONS = {
    "headers/X-Request-ID": ["required"],
    "headers/X-Conversation-ID": ["required"],
    "/": ["required", "type", "additionalProperties"],
    "supplier": ["null", "type", "pattern"],
    "orderId": ["required", "type", "minimum"],
    "reasonCode": ["required", "type", "enum"],
    "text": ["null", "type", "minLength", "maxLength"],
}
COUNTS = {"ceaseOrder": 51, "cancelOrder": 55, "unsolicitedCeaseRequest": 50, "/service-orders": 132, SOC: 18}


def _ids(operation, listing):  # noqa: ANN001
    prefix = "ala" if operation in contracts.ALA_OPERATIONS else "fc"
    return sorted(f"{prefix}:{operation}:{path}:{kw}" for path, keywords in listing.items() for kw in keywords)


def test_the_cease_order_inventory_is_the_hand_made_list():
    found = strategies.inventory("ceaseOrder")
    assert sorted(c.id for c in found) == _ids("ceaseOrder", CEASE_ORDER)
    assert len(found) == len({c.id for c in found}) == 51
    by_id = {c.id: c for c in found}
    assert by_id["ala:ceaseOrder:message.sentAt:pattern"].family == "format"      # the time zone
    assert by_id["ala:ceaseOrder:message.messageId:pattern"].family == "blank"    # non-empty after trimming
    assert by_id["ala:ceaseOrder:message.messageId:pattern"].requirement == "ALA-CEASE-008"
    assert by_id["ala:ceaseOrder:alaCease.requestedDate:maxOccurs"].requirement == "ALA-CEASE-009"
    assert by_id["ala:ceaseOrder:message:minOccurs"].requirement == "ALA-CEASE-004"
    assert by_id["ala:ceaseOrder:/:sequence"].requirement is None  # element order: rule 4, never attacked


def test_the_cancellation_inventory_is_the_hand_made_list():
    found = strategies.inventory(SOC)
    assert sorted(c.id for c in found) == _ids(SOC, CANCELLATIONS)
    by_id = {c.id: c for c in found}
    expected = {"text:maxLength": ("bounds", "maxLength 1000", "FC-SOC-010"),
                "orderId:minimum": ("bounds", "minimum 1", "FC-SOC-010"),
                "supplier:pattern": ("pattern", "pattern ^[A-Za-z0-9_]{1,20}$", "FC-SOC-010"),
                "text:null": ("nullable", None, "FC-SOC-015"),
                "/:additionalProperties": ("closed", None, "FC-SOC-015"),
                "orderId:required": ("required", None, "FC-SOC-007"),
                "headers/X-Request-ID:required": ("header", None, "FC-SOC-004"),
                "/:type": ("type", "type object", "FC-SOC-011")}
    for key, (family, detail, requirement) in expected.items():
        c = by_id[f"fc:{SOC}:{key}"]
        assert (c.family, c.requirement) == (family, requirement), key
        assert detail is None or c.detail == detail, (key, c.detail)


def test_every_operation_has_its_number_of_constraints_and_every_family_is_known():
    for operation, count in COUNTS.items():
        found = strategies.inventory(operation)
        assert len(found) == count, operation
        assert {c.family for c in found} <= set(strategies.FAMILIES)
        assert all(c.requirement in contracts.requirements() for c in found if c.attacked)
    assert len(strategies.inventory(api="all")) == sum(COUNTS.values())
    assert {c.operation for c in strategies.inventory(api="ala")} == set(ALA_OPS)


def test_a_keyword_the_inventory_does_not_know_fails_loudly():
    with pytest.raises(NotImplementedError, match="multipleOf"):
        _inventory.walk_json(lambda *a, **k: None, {"type": "integer", "multipleOf": 2}, "x")
    with pytest.raises(NotImplementedError, match="format"):
        _inventory.walk_json(lambda *a, **k: None, {"type": "string", "format": "email"}, "x")


def _payloads(operation, namespace=""):  # noqa: ANN001
    return strategies.example(operation, namespace=namespace) if operation in ALA_OPS else strategies.example(operation)


def _uncovered(operation, negatives):  # noqa: ANN001
    covered = {n.constraint.id for n in negatives}
    return [c.id for c in strategies.inventory(operation) if c.attacked and c.id not in covered]


@pytest.mark.parametrize("profile", ["smoke", "standard"])
@pytest.mark.parametrize("operation,namespace", [(op, "") for op in ALA_OPS + FC_OPS]
                         + [(op, "urn:example:ala-core") for op in ALA_OPS])
def test_every_attacked_constraint_has_a_negative(operation, namespace, profile):
    negatives = strategies.negatives(operation, _payloads(operation, namespace), profile, 1)
    assert not _uncovered(operation, negatives)
    assert all(n.constraint.attacked for n in negatives)  # element order is never sent
    per = Counter(n.constraint.id for n in negatives)
    if profile == "smoke":
        assert set(per.values()) == {1}  # one per constraint, its most probing variant
    assert len({n.key for n in negatives}) == len(negatives)


def test_a_constraint_without_a_negative_is_detected(monkeypatch):
    """The coverage check above can fail: without blank-string variants those constraints go bare."""
    monkeypatch.setitem(_negatives._ALA_VALUE_BUILDERS, ("blank", "pattern"), lambda v, ctx: [])
    negatives = strategies.negatives("ceaseOrder", _payloads("ceaseOrder"), "smoke", 1)
    assert "ala:ceaseOrder:message.messageId:pattern" in _uncovered("ceaseOrder", negatives)


def _proven_invalid(n, namespace=""):  # noqa: ANN001
    """Check a negative with the contract's own validator, independently of the generator."""
    operation = n.constraint.operation
    if operation in ALA_OPS:
        return not contracts.ala_schema(namespace).is_valid(n.payload)
    if n.headers:  # a required header left out (None) or outside its parameter schema
        import jsonschema

        params = {p["name"]: p for p in contracts.openapi_document()["components"]["parameters"].values()}
        return all(v is None or not jsonschema.Draft202012Validator(params[h]["schema"]).is_valid(v)
                   for h, v in n.headers.items())
    if n.raw_json == "":
        return True  # no body at all
    value = json.loads(n.raw_json) if n.raw_json is not None else n.payload
    component = {"/service-orders": "ServiceOrderRequest", SOC: "ServiceOrderCancellationRequest"}[operation]
    return not contracts.json_validator(component).is_valid(value)


@pytest.mark.parametrize("profile", ["standard", "full"])
@pytest.mark.parametrize("operation", ALA_OPS + FC_OPS)
def test_every_negative_is_invalid_by_the_contracts_validator(operation, profile):
    payload = _payloads(operation)
    negatives = strategies.negatives(operation, payload, profile, 7)
    bad = [n.description for n in negatives if not _proven_invalid(n)]
    assert not bad, bad[:5]
    if operation in ALA_OPS:
        assert contracts.ala_schema().is_valid(payload)  # the valid original was not touched
    if profile == "full":
        assert any(n.variant.startswith("generated-") for n in negatives)


def test_the_same_seed_gives_the_same_negatives_and_another_seed_other_draws():
    def fingerprint(operation, seed):  # noqa: ANN001
        out = []
        for n in strategies.negatives(operation, _payloads(operation), "full", seed):
            payload = etree.tostring(n.payload) if operation in ALA_OPS else json.dumps(n.payload, sort_keys=True)
            out.append((n.constraint.id, n.variant, n.description, payload, n.raw_json, sorted(n.headers.items())))
        return out

    for operation in ("cancelOrder", SOC):
        assert fingerprint(operation, 11) == fingerprint(operation, 11)
        assert fingerprint(operation, 11) != fingerprint(operation, 12)
        standard = strategies.negatives(operation, _payloads(operation), "standard", 11)
        assert [n.key for n in standard] == [n.key for n in strategies.negatives(operation, _payloads(operation),
                                                                                "standard", 12)]


def test_smoke_comes_first_in_standard_and_standard_first_in_full():
    payload = _payloads("/service-orders")
    smoke, standard, full = (strategies.negatives("/service-orders", payload, p, 3) for p in ("smoke", "standard", "full"))
    assert [n.key for n in standard[: len(smoke)]] == [n.key for n in smoke]  # coverage first
    assert [n.key for n in full[: len(standard)]] == [n.key for n in standard]


def test_the_cancellation_negatives_include_what_lenient_implementations_accept():
    base = {"orderId": 7, "reasonCode": "OTHER", "supplier": "DUMMY_SUPPLIER", "text": "moving house"}
    negatives = strategies.negatives(SOC, base, "standard", 1)

    def sent(field):  # noqa: ANN001
        return [n.payload.get(field, "<absent>") if isinstance(n.payload, dict) else None
                for n in negatives if n.constraint.path == field]

    assert "" in sent("text")
    assert any(isinstance(t, str) and len(t) == 1001 for t in sent("text"))
    assert 0 in sent("orderId") and "7" in sent("orderId")                     # one below; a numeric string
    assert [7] in sent("orderId") and 7.5 in sent("orderId")                   # one-element array; a fraction
    assert any(n.raw_json and '"orderId": 75e-1' in n.raw_json for n in negatives)  # an exponent, as JSON text
    assert any(isinstance(s, str) and len(s) == 21 for s in sent("supplier"))  # one too many for ^\w{1,20}$
    assert "DUMMY_SUPPLIE-" in sent("supplier")                                # one character outside the class
    assert "\u041eTHER" in sent("reasonCode")                                  # Cyrillic O: a look-alike
    assert {"other", "OTHER ", " OTHER", "OTHER\u00a0", "Other", "OTHE"} <= {v for v in sent("reasonCode")
                                                                            if isinstance(v, str)}
    assert None in sent("text") and None in sent("supplier")                   # null for an optional property
    assert not any(v == 7.0 for v in sent("orderId"))  # 7.0 is an integer in JSON Schema 2020-12: not a negative
    smoke = {n.constraint.id: n for n in strategies.negatives(SOC, base, "smoke", 1)}
    assert smoke[f"fc:{SOC}:orderId:type"].payload["orderId"] == "7"          # the most probing value first
    assert smoke[f"fc:{SOC}:text:maxLength"].payload["text"].startswith("moving house")


def test_values_a_conformant_target_may_tolerate_are_never_negatives():
    element = strategies.example("unsolicitedCeaseRequest")
    date_time = contracts.ala_schema().maps.types["{http://www.w3.org/2001/XMLSchema}dateTime"]
    for n in strategies.negatives("unsolicitedCeaseRequest", element, "full", 5):
        for path in ("requestedDate",):
            el = ElementPath(path).find(n.payload, "")
            if n.constraint.path == path and el is not None and el.text:
                assert not date_time.is_valid(el.text), n.description  # profile rule 6
        if n.constraint.family == "blank":  # XSD \s is space, tab, CR, LF: a no-break space is not blank
            el = ElementPath(n.constraint.path).find(n.payload, "")
            assert set(el.text or "") <= set(" \t\n\r"), n.description


def test_an_invalid_starting_payload_is_refused():
    with pytest.raises(ValueError, match="valid"):
        strategies.negatives(SOC, {"orderId": 0, "reasonCode": "OTHER"}, "smoke", 1)
    with pytest.raises(ValueError, match="profile"):
        strategies.negatives(SOC, {"orderId": 1, "reasonCode": "OTHER"}, "exhaustive", 1)


def test_the_constraints_command_lists_the_inventory(capsys):
    from fibrecert.cli import main

    assert main(["constraints", "--api", "fibrecafe", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["id"]: r for r in data["constraints"]}
    assert set(rows) == {c.id for c in strategies.inventory(api="fibrecafe")}
    assert set(data["families"]) == set(strategies.FAMILIES)
    text_max = rows[f"fc:{SOC}:text:maxLength"]
    assert text_max["requirement"] == "FC-SOC-010" and text_max["negatives"]["smoke"] == 1
    assert all(r["negatives"]["smoke"] == 1 and r["negatives"]["standard"] >= 1 for r in rows.values())
    assert main(["constraints", "--api", "ala"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["constraint", "family", "detail", "requirement"]
    assert "ala:ceaseOrder:/:sequence" in table and "never sent" in table
    with pytest.raises(SystemExit) as info:
        main(["constraints", "--api", "soap"])
    assert info.value.code == 2
