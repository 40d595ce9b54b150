"""How hard to search: examples per generated test, per profile (cli-and-target.md)."""

from fibrecert.engine import PROFILES, Profile

__all__ = ["PROFILES", "Profile"]
