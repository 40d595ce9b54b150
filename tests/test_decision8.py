"""Profile decision 8 (docs/profiles/fibrecafe-1.17.md#decision-8): identifiers are integers. A
fractional orderId is refused with 400, or with 422 INVALID_REQUEST/NOT_FOUND by an implementation that
looks the id up first (it passes FC-SOC-010); a parser that truncates it and cancels the other order
fails (the sandbox defect fc-truncates-fractional-ids: FC-SOC-010 and FC-SOC-016)."""

from __future__ import annotations

import io
import json

from fibrecert.runner import RunOptions, run
from fibrecert.sandbox import fibrecafe as fc_app

from helpers import outcomes, results

ONLY = ("FC-SOC-010", "FC-SOC-016")


def _lookup_first(monkeypatch):
    """The sandbox, changed as an independent implementation was: the cancellation looks the order up
    before it checks the type, so a fraction is "no such in-flight order" (422 INVALID_REQUEST)."""
    original = fc_app.FibreCafeApp._read
    seen = []

    def read(self, request):  # noqa: ANN001
        data = original(self, request)
        if request.path.endswith("/service-order-cancellations"):
            try:
                body = json.loads(data)
            except ValueError:
                body = None
            order_id = body.get("orderId") if isinstance(body, dict) else None
            if isinstance(order_id, float) and not order_id.is_integer():
                seen.append(order_id)
                raise fc_app.ApiError(422, "INVALID_REQUEST", "no such in-flight order")
        return data

    monkeypatch.setattr(fc_app.FibreCafeApp, "_read", read)
    return seen


def _run(target, report, profile):  # noqa: ANN001
    out, err = io.StringIO(), io.StringIO()
    code = run(RunOptions(target=str(target), api="fibrecafe", profile=profile, report_dir=str(report), seed=8,
                          only=ONLY, quiet=True), out=out, err=err)
    return code, out.getvalue() + err.getvalue()


def test_a_target_that_answers_a_fractional_order_id_with_422_passes(start_sandbox, tmp_path, monkeypatch):
    seen = _lookup_first(monkeypatch)
    sandbox = start_sandbox()
    target = sandbox.write_target(tmp_path / "target.toml")
    for profile in ("smoke", "standard"):
        report = tmp_path / profile
        code, text = _run(target, report, profile)
        assert code == 3, text  # a subset: never CONFORMANT, but nothing failed
        assert outcomes(report) == {"FC-SOC-010": "pass", "FC-SOC-016": "pass"}, text
    assert seen, "no fractional orderId reached the sandbox"
    answered_422 = [e for e in results(tmp_path / "standard")["exchanges"]
                    if e["operation"] == "POST /service-order-cancellations" and e["answer"] == 422
                    and any(c["check"] == "fc_fraction_refused" and c["outcome"] == "pass" for c in e["checks"])]
    assert answered_422


def test_a_target_that_truncates_a_fractional_order_id_fails(start_sandbox, tmp_path):
    sandbox = start_sandbox(defects=("fc-truncates-fractional-ids",))
    target = sandbox.write_target(tmp_path / "target.toml")
    code, text = _run(target, tmp_path / "r", "smoke")
    assert code == 1, text
    assert outcomes(tmp_path / "r") == {"FC-SOC-010": "fail", "FC-SOC-016": "fail"}
    data = results(tmp_path / "r")
    fail = next(r for r in data["requirements"] if r["id"] == "FC-SOC-016")
    assert fail["evidence"][0]["observed"] == "Received HTTP 422"  # the order was no longer in flight


def test_every_constraint_names_the_rule_it_rests_on():
    """No fail without a rule: each constraint names a published fact (doc) or a profile rule, with a
    link into docs/ that exists; where the contract is stricter than the published page, the profile
    decision that makes it so (`fibrecert constraints` shows it)."""
    import re

    from fibrecert import strategies
    from fibrecert.constraints_cli import rows

    from helpers import REPO

    anchors: dict[str, set[str]] = {}
    for c in strategies.inventory():
        m = re.match(r"(doc|profile [a-z ]+[0-9]*|profile choice, SHOULD) \((docs/[\w./-]+\.md)#([\w-]+)\): \S", c.rule)
        assert m, f"{c.id}: {c.rule!r}"
        page = REPO / m.group(2)
        if page not in anchors:
            anchors[page] = set(re.findall(r'<a id="([^"]+)"></a>', page.read_text(encoding="utf-8")))
        assert m.group(3) in anchors[page], f"{c.id}: {m.group(2)}#{m.group(3)} does not exist"
    by_id = {c.id: c.rule for c in strategies.inventory()}
    # stricter than the published pages: the decision is named
    assert by_id["fc:/service-order-cancellations:orderId:type"].startswith("profile decision 8 ")
    assert by_id["fc:/service-orders:ProvideOrder.appointmentReservationId:type"].startswith("profile decision 8 ")
    assert "ASCII" in by_id["fc:/service-order-cancellations:supplier:pattern"]
    assert "ASCII digits" in by_id["ala:cancelOrder:cancellationReason.cancellationReasonCode:pattern"]
    assert by_id["fc:/service-orders:ProvideOrder.serviceOrderItem.serviceCharacteristics:minItems"].startswith(
        "profile decision 1 ")
    assert by_id["fc:/service-order-cancellations:orderId:minimum"].startswith("doc ")
    assert {r["rule"] for r in rows("fibrecafe")} >= {by_id["fc:/service-order-cancellations:orderId:type"]}


def test_the_ascii_reading_of_the_patterns_is_the_contracts():
    """\\d and \\w are ASCII (ALA rule 6): a Unicode letter or digit is outside the supplier pattern and the
    cancellationReasonCode pattern, and the negatives attack exactly that."""
    from fibrecert import contracts, strategies

    validate = contracts.json_validator("ServiceOrderCancellationRequest").is_valid
    assert validate({"orderId": 1, "reasonCode": "OTHER", "supplier": "ACME_1"})
    for supplier in ("Acmé", "AC\u0663E", "\uff21CME"):
        assert not validate({"orderId": 1, "reasonCode": "OTHER", "supplier": supplier}), supplier
    sent = [n.payload.get("supplier") for n in strategies.negatives(
        "/service-order-cancellations", strategies.example("/service-order-cancellations"), "standard", 1)
        if n.constraint.id == "fc:/service-order-cancellations:supplier:pattern" and n.variant == "unicode-in-class"]
    assert sent and all(not s.isascii() for s in sent)
    reason = contracts.ala_schema().types["CancellationReasonCode"]
    assert reason.is_valid("300") and not reason.is_valid("\u0663") and not reason.is_valid("\uff13")
