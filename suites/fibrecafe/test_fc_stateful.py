"""Order lifecycles (profile decisions 2-4), checked against a model of what the Fibre Cafe should
remember: every order shape (provide, cease, modify) -> 201 with a new id -> cancellation -> 201 with a
status in the enum and the orderId echoed -> a second cancellation -> 422; a cancellation of an id
never issued -> 422, never 201; another tenant's cancellation -> never 201, answered as for an id never
issued, and the owner can still cancel; order and cancellation ids never repeat.

Scripted flows run each of these once; generated sequences (a Hypothesis rule-based state machine)
interleave them across both tenants and shrink a failing sequence to the shortest that fails.

Schemathesis' own stateful phase is not used: it chains operations through OpenAPI links and checks
answers against the schema, while these flows need two tenants' tokens, the run's transport
(rate limit, redaction, evidence), a model of what should be remembered, and checks that record
against requirements; the cancellation's orderId is a body field, not a linkable response value.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, precondition, rule

from fibrecert import contracts, strategies
from fibrecert.apis.fibrecafe import TENANT_A, TENANT_B
from fibrecert.suites import checks as c
from fibrecert.suites.fibrecafe.model import CANCEL_PENDING, FcOrder, FibreCafeModel
from fibrecert.suites.sequences import SequenceMachine, Session, explore, recorded, run_flows

PATH_ORDERS = "/service-orders"
PATH_CANCEL = "/service-order-cancellations"
REQUIREMENTS = ("FC-SO-001", "FC-SO-002", "FC-SOC-001", "FC-SOC-003", "FC-SOC-005", "FC-SOC-006", "INT-012",
                "FC-SOC-009", "INT-011", "FC-SOC-014", "SEC-013")
TENANTS = {"a": TENANT_A, "b": TENANT_B}
NEVER_ISSUED = 2_000_000_000  # plus a per-sequence offset: ids a target has not issued


def _order_types() -> list[str]:
    schemas = contracts.openapi_document()["components"]["schemas"]
    return [*schemas["ProvideOrder"]["properties"]["orderType"]["enum"],
            schemas["CeaseOrder"]["properties"]["orderType"]["const"],
            schemas["ModifyOrder"]["properties"]["orderType"]["const"]]


ORDER_TYPES = _order_types()
REASON_CODES = contracts.enum_of("ReasonCode")


class FibreCafeOrderLifecycles(SequenceMachine):
    orders = Bundle("orders")

    def __init__(self, session: Session):
        super().__init__(session)
        self.fc = session.run.clients["fibrecafe"]
        self.model = FibreCafeModel()
        self.two_tenants = bool(self.fc.target.other_client_id)

    # ------------------------------------------------------------------ bodies
    def order_body(self, order_type: str) -> dict[str, Any]:
        rng, supplier = self.rng, self.fc.target.supplier
        ref = f"{rng.getrandbits(48):012X}"
        if order_type == "CEASE":
            body: dict[str, Any] = {"orderType": "CEASE", "supplier": supplier, "serviceId": f"SVC-{ref}"}
        elif order_type == "MODIFY":
            body = {"orderType": "MODIFY", "supplier": supplier, "serviceId": f"SVC-{ref}",
                    "serviceCharacteristics": [{"name": "downloadSpeed", "value": "500"}]}
        else:
            body = {"orderType": order_type, "supplier": supplier,
                    "address": {"id": str(10_000_000 + rng.randrange(90_000_000)), "type": "UPRN"},
                    "serviceOrderItem": {"serviceSpecification": {"id": "FTTP"},
                                         "serviceCharacteristics": [{"name": "downloadSpeed", "value": "900"}]},
                    "primaryContact": {"name": "Fibrecert Test", "email": f"test-{ref}@fibrecert.invalid",
                                       "phoneNumber": "01632960000"}}
        return strategies.assert_valid_fibrecafe("ServiceOrderRequest", body)

    def errors(self) -> None:
        """Every error answer: documented status and body (MUST), details (SHOULD)."""
        if self.log[-1].status is not None and self.log[-1].status >= 400:
            self.check("FC-SOC-005", c.fc_error_structure, fatal=False)
            self.check("FC-SOC-006", c.fc_error_details, fatal=False)

    def never_issued(self) -> int:
        return NEVER_ISSUED + self.rng.randrange(1_000_000)

    # ------------------------------------------------------------------ rules
    @initialize(target=orders, order_type=st.sampled_from(ORDER_TYPES))
    def first_order(self, order_type: str) -> FcOrder:
        """Every generated sequence starts with an order, so the rules on orders are in play at once."""
        return self.create("a", order_type)

    @rule(target=orders, tenant=st.sampled_from(("a", "b")), order_type=st.sampled_from(ORDER_TYPES))
    @recorded
    def create(self, tenant: str, order_type: str) -> FcOrder:
        tenant = tenant if self.two_tenants else "a"
        name = self.model.next_name()
        body = self.order_body(order_type)
        self.step(f"{name} = create {order_type} order (tenant {tenant})")
        self.call(self.fc.post, PATH_ORDERS, body, identity=TENANTS[tenant])
        self.check("FC-SO-001", c.status_in, 201)
        self.check("FC-SO-001", c.json_schema_valid, "ServiceOrder", fatal=False)
        order_id = self.check("FC-SO-001", c.json_id, "id")  # fatal: the model needs the order's id
        self.check("FC-SO-001", c.json_echo, fatal=False)  # decision 2: every field of the request, nested included
        self.check("FC-SO-001", c.json_field, "status", "RECEIVED_BY_GATEWAY", fatal=False)
        self.unique("FC-SO-002", ("order", "fibrecafe", tenant), "order id")
        order = FcOrder(name=name, id=order_id, tenant=tenant, order_type=order_type)
        self.model.created(order)
        return order

    @rule(order=orders, reason=st.sampled_from(REASON_CODES))
    @recorded
    def cancel(self, order: FcOrder, reason: str) -> None:
        body = {"orderId": order.id, "reasonCode": reason}
        self.step(f"cancel {order.name} ({reason}, tenant {order.tenant})")
        ex = self.call(self.fc.post, PATH_CANCEL, body, identity=TENANTS[order.tenant])
        if order.state == CANCEL_PENDING:
            self.check("INT-012", c.status_not_in, 201)
            self.errors()
            self.check("FC-SOC-009", c.fc_error, 422, "INVALID_REQUEST", fatal=False)
            return
        if ex.status != 201:
            self.errors()
        if order.refused_intruder:  # the refused request changed nothing: the order is still in flight
            self.check("SEC-013", c.status_not_in, 422)
        self.check("FC-SOC-001", c.status_in, 201)
        answer = self.check("FC-SOC-001", c.json_schema_valid, "ServiceOrderCancellation", fatal=False)
        if answer is None:  # accepted all the same: the order is no longer in flight
            self.model.cancelled(order, None)
            return
        self.unique("FC-SOC-014", ("cancellation", "fibrecafe"), "cancellation id")
        self.model.cancelled(order, answer["id"])
        self.check("FC-SOC-003", c.json_content_type, fatal=False)
        self.check("FC-SOC-003", c.json_field_in, "status", "RECEIVED_BY_GATEWAY", "PENDING", fatal=False)
        self.check("FC-SOC-003", c.json_echo, "orderId", "reasonCode", fatal=False)

    @precondition(lambda self: self.two_tenants)
    @rule(order=orders, reason=st.sampled_from(REASON_CODES))
    @recorded
    def other_tenant_cancels(self, order: FcOrder, reason: str) -> None:
        other = "b" if order.tenant == "a" else "a"
        body = {"orderId": order.id, "reasonCode": reason}
        self.step(f"tenant {other} cancels {order.name} (tenant {order.tenant}'s)")
        self.call(self.fc.post, PATH_CANCEL, body, identity=TENANTS[other])
        self.check("SEC-013", c.status_not_in, 200, 201, 202)
        self.errors()
        self.step(f"tenant {other} cancels an order id never issued")
        self.call(self.fc.post, PATH_CANCEL, {**body, "orderId": self.never_issued()}, identity=TENANTS[other])
        self.check("SEC-013", c.same_answer, "another tenant's order", "an id never issued")
        order.refused_intruder = True

    @rule(offset=st.integers(min_value=0, max_value=999_999), reason=st.sampled_from(REASON_CODES))
    @recorded
    def cancel_never_issued(self, offset: int, reason: str) -> None:
        order_id = NEVER_ISSUED + offset
        self.step(f"cancel order {order_id} (never issued, {reason})")
        self.call(self.fc.post, PATH_CANCEL, {"orderId": order_id, "reasonCode": reason})
        self.check("INT-011", c.status_not_in, 201)
        self.errors()
        self.check("FC-SOC-009", c.fc_error, 422, "INVALID_REQUEST", "NOT_FOUND", fatal=False)


# ---------------------------------------------------------------------- scripted flows
def _lifecycle(order_type: str):  # noqa: ANN202
    def flow(m: FibreCafeOrderLifecycles) -> None:
        o = m.create("a", order_type)
        m.cancel(o, "NO_LONGER_REQUIRED")
        m.cancel(o, "NO_LONGER_REQUIRED")
    return flow


def _another_tenant_then_the_owner(m: FibreCafeOrderLifecycles) -> None:
    o = m.create("a", "CEASE")
    m.other_tenant_cancels(o, "CUSTOMER_CHANGED_MIND")
    m.cancel(o, "CUSTOMER_CHANGED_MIND")


def _never_issued(m: FibreCafeOrderLifecycles) -> None:
    m.cancel_never_issued(m.rng.randrange(1_000_000), "OTHER")


@pytest.mark.long_chain
@pytest.mark.requirement(*REQUIREMENTS)
def test_order_lifecycle_flows_agree_with_the_model(run, fc, verify):
    session = Session(run, verify, seed=run.case_seed())
    # one flow per shape: provide (its first orderType), cease, modify; then the other provide orderTypes
    # (every documented value at every profile, whatever the few generated sequences draw), last, so that
    # nothing the first flows catch is caught later
    flows = [(_lifecycle(t), REQUIREMENTS) for t in (ORDER_TYPES[0], "CEASE", "MODIFY")]
    flows.append((_never_issued, ("INT-011",)))
    if fc.target.other_client_id:
        flows.append((_another_tenant_then_the_owner, ("SEC-013",)))
    else:
        verify.not_tested(["SEC-013"], "the target file gives no other_client_id (a second tenant)")
    flows += [(_lifecycle(t), REQUIREMENTS) for t in ORDER_TYPES if t not in (ORDER_TYPES[0], "CEASE", "MODIFY")]
    run_flows(session, lambda: FibreCafeOrderLifecycles(session), flows)


@pytest.mark.long_chain
@pytest.mark.requirement(*REQUIREMENTS)
def test_generated_call_sequences_agree_with_the_model(run, fc, verify):
    session = Session(run, verify, seed=run.case_seed())
    if not fc.target.other_client_id:
        verify.not_tested(["SEC-013"], "the target file gives no other_client_id (a second tenant)")
    explore(session, lambda: FibreCafeOrderLifecycles(session))
