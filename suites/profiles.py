"""How hard to search: the one definition is fibrecert/core/profile.py (re-exported for the suites)."""

from fibrecert.core.profile import PROFILES, Profile

__all__ = ["PROFILES", "Profile"]
