"""How hard to search: examples per generated test, per profile (cli-and-target.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int          # Hypothesis examples per property (one request each)
    enum_repeats: int      # requests per documented enum value


PROFILES = {
    "smoke": Profile("smoke", examples=2, enum_repeats=1),
    "standard": Profile("standard", examples=12, enum_repeats=1),
    "full": Profile("full", examples=60, enum_repeats=3),
}
