"""A profile: everything that decides how hard a run searches, in one frozen object per name.

`PROFILES` is the only definition; everything else (the engine, the negative generators, the stateful
sequences, the ledger's claim, the scope of a certification, the expect-file gate, `fibrecert run --help`,
`fibrecert constraints`) reads the `Profile` it is handed or looks one up by name with `profile_named`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SequenceBudget:
    """How far the stateful suites search (suites/sequences.py)."""

    sequences: int          # generated sequences (Hypothesis examples), at most
    steps: int              # most steps (rule calls) in one generated sequence
    ceases: int             # ALA active services the generated sequences may cease
    shrink_requests: int    # requests the shrinking of failing sequences may send
    shrink_ceases: int      # ALA active services the shrinking may cease
    explorers: int = 4      # sequences generated side by side (each explorer: sequences / explorers)


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str           # one line for `fibrecert run --help`
    examples: int          # Hypothesis examples per property (one request each)
    enum_repeats: int      # requests per documented enum value
    first_negative_only: bool  # boundary-invalid cases: only the most probing one of each constraint
    drawn_negatives: int   # and values drawn by Hypothesis per constraint, beside the built ones
    sequences: SequenceBudget
    services_ceased: int   # ALA active services the profile ceases against a conformant target
    services_needed: int   # what a run requires before it starts (the ledger's claim)
    certifying: bool       # a run of this profile can certify (scope.assess)
    fully_exercising: bool  # exercises every constraint as standard does (the expect-file gate)
    stop_after_timeouts: int = 3  # consecutive timeouts after which an API is given up as unreachable


# Active services a profile ceases against a conformant target: measured on the reference sandbox
# (bench/bench_budget.py, "active services ceased"; 2026-12-02, issue 22: smoke 14, standard 20, full 53,
# were 26, 64 and 189), and what a run requires before it starts: that and a third more (a target that answers differently, or a failing
# sequence's shrinking, ceases more; the shrinking's own budget is bounded). A run claims up to half as
# many again, and gives back what it did not cease.
#
# Sequence budgets: each explorer's first sequence is Hypothesis' simplest (a first order and little
# else), so the budgets count one more sequence per explorer than a single explorer would need. The ceases
# are few (issue 22: a vendor's test data is rationed): the scripted flows place an order for every
# lifecycle rule, so generated sequences spend active services only on interleavings.
PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke", "seconds", examples=2, enum_repeats=1, first_negative_only=True, drawn_negatives=0,
        sequences=SequenceBudget(sequences=2, steps=6, ceases=1, shrink_requests=60, shrink_ceases=8, explorers=1),
        services_ceased=14, services_needed=19, certifying=False, fully_exercising=False),
    "standard": Profile(
        "standard", "the certification profile", examples=12, enum_repeats=1, first_negative_only=False, drawn_negatives=0,
        sequences=SequenceBudget(sequences=6, steps=10, ceases=6, shrink_requests=150, shrink_ceases=16,
                                 explorers=1),
        services_ceased=20, services_needed=27, certifying=True, fully_exercising=True),
    "full": Profile(
        "full", "more examples", examples=60, enum_repeats=3, first_negative_only=False, drawn_negatives=3,
        sequences=SequenceBudget(sequences=25, steps=25, ceases=30, shrink_requests=400, shrink_ceases=40,
                                 explorers=5),
        services_ceased=53, services_needed=71, certifying=True, fully_exercising=True),
}
DEFAULT_PROFILE = "standard"


def profile_named(profile: "Profile | str | Any") -> Profile:
    """The Profile of that name (a Profile is handed back as it is); ValueError for an unknown name."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except (KeyError, TypeError):
        raise ValueError(f"unknown profile {profile!r} (one of: {', '.join(PROFILES)})") from None


def profiles_help() -> str:
    """`smoke (seconds), standard (the certification profile), full (more examples)`."""
    return ", ".join(f"{p.name} ({p.summary})" for p in PROFILES.values())
