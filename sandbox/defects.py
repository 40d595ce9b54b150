"""Named defect switches: deliberate, documented departures from the profile, used to prove that the
suite's checks can fail. Each defect names the requirement ids it violates. A clean sandbox has none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    name: str
    violates: tuple[str, ...]
    description: str


CATALOGUE: dict[str, Defect] = {d.name: d for d in [
    Defect("ala-cease-500-on-valid", ("ALA-CEASE-001", "ROB-001"),
           "answers a valid ceaseOrder of an active service with HTTP 500"),
    Defect("ala-cease-no-correlation-echo", ("ALA-CEASE-003",),
           "orderResponse carries a fresh correlationId instead of echoing the request's"),
    Defect("ala-accepts-other-buyer", ("SEC-003",),
           "lets any trusted certificate act for any buyerIdentifier"),
    Defect("ala-accepts-missing-field", ("ALA-CEASE-004", "ALA-CANCEL-004", "ALA-UCR-004", "ROB-001"),
           "skips XSD validation of requests (a missing required element is accepted or crashes it)"),
    Defect("ala-fault-without-faultcode", ("ALA-CEASE-005", "ALA-CEASE-006", "ALA-CANCEL-005", "ALA-CANCEL-006",
                                           "ALA-UCR-004", "SEC-001", "SEC-003", "SEC-004", "SEC-005"),
           "sends faults without a faultcode (so every refusal 'with a fault' is broken too)"),
    Defect("ala-ucr-rejects-wlto", ("ALA-UCR-002",),
           "rejects an unsolicitedCeaseRequest whose cfh:newOrderType is WLTO"),
    Defect("fc-no-auth", ("SEC-011", "SEC-013"),
           "serves the Fibre Cafe API without checking the bearer token (so tenants are not told apart)"),
    Defect("fc-cancel-other-tenant", ("SEC-013",),
           "lets a tenant cancel another tenant's order"),
    Defect("fc-double-cancel", ("FC-SOC-008", "FC-SOC-009"),
           "accepts a second cancellation of the same order"),
    Defect("fc-error-code-outside-enum", ("FC-SO-004", "FC-SOC-005", "FC-SO-003", "FC-SO-006", "FC-SOC-004",
                                          "FC-SOC-007", "FC-SOC-009", "SEC-011"),
           "error bodies carry code BAD_THING, outside the documented enum (so every specific rejection is wrong)"),
    Defect("fc-cancel-status-outside-enum", ("FC-SOC-001",),
           "cancellation 201 carries status DONE, outside the documented enum"),
    Defect("fc-rejects-end-user-not-moving", ("FC-SOC-002", "FC-SOC-001"),
           "rejects the documented reasonCode END_USER_NOT_MOVING with 400"),
    Defect("fc-missing-headers-accepted", ("FC-SO-003", "FC-SOC-004"),
           "does not require X-Request-ID / X-Conversation-ID"),
    Defect("fc-token-any-secret", ("SEC-012",),
           "issues a token whatever the client secret"),
]}


class Defects:
    def __init__(self, names: frozenset[str] | set[str] | tuple[str, ...] = ()):
        unknown = sorted(set(names) - set(CATALOGUE))
        if unknown:
            raise ValueError(f"unknown defect: {unknown[0]} (see --list-defects)")
        self.names = frozenset(names)

    def on(self, name: str) -> bool:
        assert name in CATALOGUE, name
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)
