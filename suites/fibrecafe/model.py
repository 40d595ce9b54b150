"""What the Fibre Cafe should remember within one order-lifecycle sequence (profile decisions 2-4): orders
with their tenant and state, the cancellation ids it gave. Plain state, no I/O: the machine in
test_fc_stateful.py sends the calls and compares the answers with it."""

from __future__ import annotations

from dataclasses import dataclass

from fibrecert.suites.sequences import CANCEL_PENDING, IN_FLIGHT, ModelOrder  # noqa: F401


@dataclass(eq=False)
class FcOrder(ModelOrder):
    name: str
    id: int
    tenant: str                 # "a" or "b"
    order_type: str
    state: str = IN_FLIGHT
    refused_intruder: bool = False

    def __repr__(self) -> str:
        return self.name


class FibreCafeModel:
    """What the Fibre Cafe should remember within one sequence (profile decisions 2-4)."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, int], FcOrder] = {}  # (tenant, id)
        self.cancellation_ids: set[int] = set()
        self.names = 0

    def next_name(self) -> str:
        self.names += 1
        return f"o{self.names}"

    def issued(self, tenant: str, order_id: int) -> bool:
        return (tenant, order_id) in self.orders

    def created(self, order: FcOrder) -> None:
        self.orders[(order.tenant, order.id)] = order

    def cancelled(self, order: FcOrder, cancellation_id: int | None) -> None:
        order.state, order.refused_intruder = CANCEL_PENDING, False
        if cancellation_id is not None:
            self.cancellation_ids.add(cancellation_id)
