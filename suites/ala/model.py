"""What an ALA seller should remember within one order-lifecycle sequence (profile rule 11): orders with
their owner and state, services and their cease state, the messageIds of accepted ceaseOrders. Plain
state, no I/O: the machine in test_ala_stateful.py sends the calls and compares the answers with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fibrecert.suites.sequences import ACTIVE, CANCEL_PENDING, CEASED, IN_FLIGHT, ModelOrder  # noqa: F401


@dataclass(eq=False)
class AlaOrder(ModelOrder):
    name: str                   # o1, o2, ... within one sequence
    ref: str                    # the sellerOrderReference the target gave
    service: str
    correlation_id: str         # the order's event chain: its cease, repeats and cancels carry it
    buyer_order_ref: str
    cease: dict[str, Any]       # the ceaseOrder as sent (messageId included), for repeats
    log_index: int = 0          # where its ceaseOrder's exchange is in the sequence (for repeats to compare with)
    state: str = IN_FLIGHT
    refused_intruder: str = ""  # the SEC requirement of another buyer's refused cancel since the owner's last one

    def __repr__(self) -> str:  # how Hypothesis and the step log name it
        return self.name


class AlaModel:
    """What an ALA seller should remember within one sequence (profile rule 11)."""

    def __init__(self) -> None:
        self.orders: dict[str, AlaOrder] = {}            # by sellerOrderReference
        self.services: dict[str, str] = {}               # serviceIdentifier -> active | ceased
        self.messages: dict[str, str] = {}               # messageId of an accepted ceaseOrder -> its sellerOrderReference
        self.names = 0

    def next_name(self) -> str:
        self.names += 1
        return f"o{self.names}"

    def service_state(self, service: str) -> str:
        return self.services.get(service, ACTIVE)

    def placed(self, order: AlaOrder) -> None:
        self.orders[order.ref] = order
        self.services[order.service] = CEASED
        self.messages[order.cease["message"]["messageId"]] = order.ref

    def cancelled(self, order: AlaOrder) -> None:
        order.state, order.refused_intruder = CANCEL_PENDING, ""

    def knows(self, ref: str) -> bool:
        return ref in self.orders
