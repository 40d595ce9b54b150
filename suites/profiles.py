"""How hard to search: examples per generated test, per profile (cli-and-target.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int          # Hypothesis examples per property (one request each)
    enum_repeats: int      # requests per documented enum value
    negatives: str         # boundary-invalid cases: "sample" (one per kind), "each" (one per constraint), "all"


PROFILES = {
    "smoke": Profile("smoke", examples=2, enum_repeats=1, negatives="sample"),
    "standard": Profile("standard", examples=12, enum_repeats=1, negatives="each"),
    "full": Profile("full", examples=60, enum_repeats=3, negatives="all"),
}
