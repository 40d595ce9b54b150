"""Order lifecycles (profile rule 11), checked against a model of what the seller should remember:
ceaseOrder -> orderResponse -> cancelOrder -> Pending; a second cancel, a second cease of the same
service, a cancel of a reference never issued -> 400; a ceaseOrder repeating a messageId -> the first
answer again or 400, never a second order; another buyer's cancel -> refused, the order still the
owner's to cancel; the correlationId of an order's chain echoed along it.

Scripted flows run each of these once (so every run exercises them); generated sequences (a Hypothesis
rule-based state machine) interleave them, and a failing one is shrunk to the shortest that still fails.
Every order is placed by ceasing a fresh active service, so the services this costs are bounded: the
flows cease 3 (at most 4: a repeated messageId naming another service takes one, given back unless the
seller wrongly ceased it); the generated sequences at most `SequenceBudget.ceases` (1 / 6 / 30 for smoke /
standard / full, at most 1 / 1 / 3 per sequence) and, only when one failed, shrinking at most
`SequenceBudget.shrink_ceases` more (8 / 16 / 40).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, multiple, precondition, rule

from fibrecert.apis.ala import ALA_OTHER_BUYER
from fibrecert.suites import checks as c
from fibrecert.suites.ala.model import CANCEL_PENDING, CEASED, AlaModel, AlaOrder
from fibrecert.suites.sequences import SequenceMachine, Session, explore, recorded, run_flows

REQUIREMENTS = ("ALA-CEASE-001", "ALA-CEASE-002", "ALA-CEASE-003", "ALA-CEASE-005", "INT-003",
                "INT-001", "ALA-CANCEL-001", "ALA-CANCEL-002", "ALA-CANCEL-003", "ALA-CANCEL-005",
                "INT-004", "INT-005", "ALA-CANCEL-011", "SEC-003", "SEC-006")
# What needs an order (an active service ceased): not_tested, never passed, when the services run out.
NEEDS_AN_ORDER = tuple(r for r in REQUIREMENTS if r != "INT-004")
# A generated sequence places at most this many orders (each ceases a service). Where the ceases are few,
# one each: every sequence then plays its rules on an order of its own, instead of the first few
# sequences using the budget up and the rest having none.
ORDERS_PER_SEQUENCE = {"smoke": 1, "standard": 1, "full": 3}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class AlaOrderLifecycles(SequenceMachine):
    """Rules are the buyer's (and another buyer's) moves; each compares the seller's answer with the model."""

    orders = Bundle("orders")

    def __init__(self, session: Session):
        super().__init__(session)
        self.ala = session.run.clients["ala"]
        self.ns = self.ala.namespace
        self.model = AlaModel()
        self.unknown = 0

    # ------------------------------------------------------------------ messages
    def _ids(self, correlation_id: str) -> dict[str, str]:
        return {"messageId": self.run.token("uuid"), "correlationId": correlation_id, "sentAt": _now()}

    def _parties(self, buyer: str | None = None) -> dict[str, Any]:
        t = self.ala.target
        return {"buyer": {"buyerIdentifier": buyer or t.buyer_identifier},
                "seller": {"sellerIdentifier": t.seller_identifier}}

    def cease_body(self, service: str, correlation_id: str | None = None) -> dict[str, Any]:
        return {"message": self._ids(correlation_id or self.run.token("uuid")),
                "orderReferences": {"buyerOrderReference": f"FIBRECERT-{self.run.token('uuid')}"},
                **self._parties(), "alaCease": {"serviceIdentifier": service}}

    def cancel_body(self, ref: str, correlation_id: str, buyer_order_ref: str, *, buyer: str | None = None) -> dict[str, Any]:
        return {"message": self._ids(correlation_id), **self._parties(buyer),
                "orderReferences": {"buyerOrderReference": buyer_order_ref},
                "targetSellerOrderReference": ref,
                "cancellationReason": {"cancellationReasonCode": "300", "cancellationReasonMessage": "No longer needed"}}

    def never_issued(self) -> str:
        self.unknown += 1
        return f"FIBRECERT-NEVER-ISSUED-{self.run.token().upper()}-{self.unknown}"

    def fault(self, requirement: str) -> None:
        if self.log[-1].status is not None and self.log[-1].status >= 400:
            self.check(requirement, c.fault_fields, fatal=False)

    # ------------------------------------------------------------------ rules
    @initialize(target=orders)
    def first_order(self) -> Any:
        """Every generated sequence starts with an order, so the rules on orders are in play at once."""
        return self.cease() if self.session.may_cease() else multiple()

    @precondition(lambda self: len(self.model.orders) < ORDERS_PER_SEQUENCE.get(self.run.profile.name, 3)
                  and self.session.may_cease())
    @rule(target=orders)
    @recorded
    def cease(self) -> AlaOrder:
        service = self.session.take_service()
        name = self.model.next_name()
        body = self.cease_body(service)
        self.step(f"{name} = ceaseOrder({service})")
        ex = self.call(self.ala.post, "ceaseOrder", body)
        if ex.status == 400:
            self.ala.services.release(service)
        self.check("ALA-CEASE-001", c.status_in, 200)
        payload = self.check("ALA-CEASE-002", c.soap_payload, self.ns, "orderResponse")
        ref = self.ala.text(payload, "orderReferences/sellerOrderReference") or ""
        self.check("ALA-CANCEL-011", c.xml_field, self.ns, "orderResponse", "message/correlationId",
                   body["message"]["correlationId"], "correlationId", fatal=False)
        self.unique("ALA-CEASE-003", ("order", "ala"), "sellerOrderReference")
        order = AlaOrder(name=name, ref=ref, service=service, correlation_id=body["message"]["correlationId"],
                         buyer_order_ref=body["orderReferences"]["buyerOrderReference"], cease=copy.deepcopy(body),
                         log_index=len(self.log) - 1)
        self.model.placed(order)
        return order

    @rule(order=orders)
    @recorded
    def cancel(self, order: AlaOrder) -> None:
        self.step(f"cancelOrder({order.name})")
        ex = self.call(self.ala.post, "cancelOrder", self.cancel_body(order.ref, order.correlation_id,
                                                                      order.buyer_order_ref))
        if order.state == CANCEL_PENDING:
            self.check("INT-005", c.status_in, 400)
            self.fault("ALA-CANCEL-005")
            return
        if order.refused_intruder:  # the refused request changed nothing: the owner's cancel is not refused
            self.check(order.refused_intruder, c.status_not_in, 400)
        self.check("ALA-CANCEL-001", c.status_in, 200, 400)
        if ex.status == 400:  # an up-front rejection (doc); the order stays in flight
            self.fault("ALA-CANCEL-005")
            self.check("ALA-CANCEL-002", c.status_in, 200, fatal=False)
            return
        self.model.cancelled(order)
        if self.check("ALA-CANCEL-002", c.soap_payload, self.ns, "cancelOrderResponse", fatal=False) is None:
            return
        root = "cancelOrderResponse"
        self.check("ALA-CANCEL-002", c.xml_field, self.ns, root, "cancellationStatus", "Pending", "cancellationStatus",
                   fatal=False)
        self.check("ALA-CANCEL-003", c.xml_field, self.ns, root, "orderReferences/sellerOrderReference", order.ref,
                   "sellerOrderReference", fatal=False)
        self.check("ALA-CANCEL-003", c.xml_field, self.ns, root, "orderReferences/buyerOrderReference",
                   order.buyer_order_ref, "buyerOrderReference", fatal=False)
        self.check("ALA-CANCEL-011", c.xml_field, self.ns, root, "message/correlationId", order.correlation_id,
                   "correlationId", fatal=False)

    @rule(order=orders)
    @recorded
    def cease_again(self, order: AlaOrder) -> None:
        assert self.model.service_state(order.service) == CEASED
        self.step(f"ceaseOrder({order.service}) again (ceased by {order.name})")
        self.call(self.ala.post, "ceaseOrder", self.cease_body(order.service))
        self.check("INT-003", c.status_in, 400)
        self.fault("ALA-CEASE-005")

    @rule(order=orders, another_service=st.booleans())
    @recorded
    def repeat_cease(self, order: AlaOrder, another_service: bool) -> None:
        """The ceaseOrder of `order` again with its messageId: unchanged (a retransmission), or naming
        another active service. A conforming seller answers as before (the same sellerOrderReference)
        or with a 400; a new sellerOrderReference is a second order - proven by cancelling it."""
        body = copy.deepcopy(order.cease)
        what = f"ceaseOrder repeating {order.name}'s messageId"
        service = None
        if another_service and self.session.may_cease():
            service = self.session.take_service()
            body["alaCease"]["serviceIdentifier"] = service
            what += f", naming another active service {service}"
        self.step(what)
        ex = self.call(self.ala.post, "ceaseOrder", body, fresh_message_id=False)
        # the first answer again (the same sellerOrderReference) or a 400: the other service was not ceased
        # (a conforming seller leaves it active), so it goes back to the pool; a new reference ceased it
        if service is not None and (ex.status == 400 or (ex.status == 200 and c.assigned_id(ex)
                                                          and c.assigned_id(ex) == c.assigned_id(self.log[order.log_index]))):
            self.ala.services.release(service)
            self.session.give_back()
        # the first answer again (the same sellerOrderReference) or a 400; a new reference is a second order
        self.check("INT-001", c.repeated_answer, order.log_index)
        if self.log[-1].status == 400:
            self.fault("ALA-CEASE-005")
            return
        payload = self.check("ALA-CEASE-002", c.soap_payload, self.ns, "orderResponse")
        self.check("ALA-CANCEL-011", c.xml_field, self.ns, "orderResponse", "message/correlationId",
                   order.correlation_id, "correlationId", fatal=False)
        del payload

    @precondition(lambda self: self.ala.target.other_client is not None)
    @rule(order=orders, for_itself=st.sampled_from([True, False]))  # for itself first: two requests, SEC-006
    @recorded
    def another_buyer_cancels(self, order: AlaOrder, for_itself: bool) -> None:
        """Another buyer's certificate: acting for itself (rule 11: 400, as for a reference never issued)
        or for the buyer (rule 10: 403). Either way the order stays the owner's to cancel."""
        t = self.ala.target
        if for_itself and t.other_buyer_identifier:
            self.step(f"{t.other_buyer_identifier} cancels {order.name} for itself")
            self.call(self.ala.post, "cancelOrder", self.cancel_body(
                order.ref, self.run.token("uuid"), f"FIBRECERT-{self.run.token('uuid')}", buyer=t.other_buyer_identifier),
                identity=ALA_OTHER_BUYER)
            self.check("SEC-006", c.status_not_in, 200, 201, 202)
            self.fault("ALA-CANCEL-005")
            self.step(f"{t.other_buyer_identifier} cancels a reference never issued")
            self.call(self.ala.post, "cancelOrder", self.cancel_body(
                self.never_issued(), self.run.token("uuid"), f"FIBRECERT-{self.run.token('uuid')}", buyer=t.other_buyer_identifier),
                identity=ALA_OTHER_BUYER)
            self.check("SEC-006", c.same_answer, "another buyer's order", "a reference never issued")
            order.refused_intruder = "SEC-006"
            return
        self.step(f"{t.other_buyer_identifier or 'another buyer'} cancels {order.name} as {t.buyer_identifier}")
        self.call(self.ala.post, "cancelOrder", self.cancel_body(order.ref, self.run.token("uuid"), order.buyer_order_ref),
                  identity=ALA_OTHER_BUYER)
        self.check("SEC-003", c.status_in, 403)
        self.fault("ALA-CANCEL-005")
        order.refused_intruder = "SEC-003"

    @rule(reference=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=12))
    @recorded
    def cancel_never_issued(self, reference: str) -> None:
        ref = f"FIBRECERT-NEVER-ISSUED-{reference}"
        self.step(f"cancelOrder({ref})")
        self.call(self.ala.post, "cancelOrder", self.cancel_body(ref, self.run.token("uuid"), f"FIBRECERT-{self.run.token('uuid')}"))
        self.check("INT-004", c.status_in, 400)
        self.fault("ALA-CANCEL-005")


# ---------------------------------------------------------------------- scripted flows
def _cancel_twice(m: AlaOrderLifecycles) -> None:
    o = m.cease()
    m.cancel(o)
    m.cancel(o)


def _cease_twice_then_repeat_the_message_id(m: AlaOrderLifecycles) -> None:
    """One order for both: a new ceaseOrder of its service is refused (INT-003), which changes nothing,
    so its own ceaseOrder repeated is then answered as the first time or refused (INT-001)."""
    o = m.cease()
    m.cease_again(o)
    m.repeat_cease(o, another_service=False)
    m.repeat_cease(o, another_service=True)


def _another_buyer_then_the_owner(m: AlaOrderLifecycles) -> None:
    o = m.cease()
    m.another_buyer_cancels(o, for_itself=True)
    m.another_buyer_cancels(o, for_itself=False)
    m.cancel(o)


def _never_issued(m: AlaOrderLifecycles) -> None:
    m.cancel_never_issued(m.run.token().upper())


FLOW_CEASES = 4  # the flows below cease this many active services (one of them only on a defective seller)


def _missing_parties(session: Session, verify) -> bool:  # noqa: ANN001
    """Mark the other-buyer requirements not_tested when the target file has no other buyer."""
    t = session.run.clients["ala"].target
    if t.other_client is None:
        verify.not_tested(("SEC-003", "SEC-006"), "the target file gives no other_client_cert (another buyer's identity)")
        return True
    if not t.other_buyer_identifier:
        verify.not_tested(("SEC-006",), "the target file gives no other_buyer_identifier (another buyer acting for itself)")
    return False


def _session(run, verify, ceases: int | None = None) -> Session:  # noqa: ANN001
    session = Session(run, verify, seed=run.case_seed(), ceases=ceases)
    if not run.services.left:
        session.may_cease()  # notes why
    return session


@pytest.mark.long_chain
@pytest.mark.requirement(*REQUIREMENTS)
def test_order_lifecycle_flows_agree_with_the_model(run, ala, verify):
    session = _session(run, verify, ceases=FLOW_CEASES)
    no_other_buyer = _missing_parties(session, verify)
    flows = [(_cancel_twice, NEEDS_AN_ORDER), (_cease_twice_then_repeat_the_message_id, NEEDS_AN_ORDER),
             (_never_issued, ("INT-004",))]
    if not no_other_buyer:
        flows.insert(2, (_another_buyer_then_the_owner, NEEDS_AN_ORDER))
    run_flows(session, lambda: AlaOrderLifecycles(session), flows)


@pytest.mark.long_chain
@pytest.mark.requirement(*REQUIREMENTS)
def test_generated_call_sequences_agree_with_the_model(run, ala, verify):
    session = _session(run, verify)
    _missing_parties(session, verify)
    try:
        explore(session, lambda: AlaOrderLifecycles(session))
    finally:
        if session.out_of_data:
            verify.not_tested(NEEDS_AN_ORDER, session.out_of_data)
