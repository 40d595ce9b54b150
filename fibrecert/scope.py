"""What a run certifies: its scope (docs/levels-and-verdicts.md#certification).

A run is a **certification** only when all three hold:
- its profile is `standard` or `full` (smoke is a quick check: it sends too little to certify);
- it ran the whole catalogue of the APIs it tested (no `--only` / `--skip`);
- its target is not fibrecert's own embedded reference sandbox (`fibrecert run` without `--target`):
  that certifies fibrecert, not an implementation.

Anything else is marked "NOT A CERTIFICATION", with each reason, in results.json (`scope`), on the
report's banner, in certificate.json and in `fibrecert verify`'s output. The verdict is unchanged: a
smoke run can be CONFORMANT, it is just not a certification.

The contracts and the requirement catalogue are bound by digest (`digests` in results.json, made by
fibrecert/signing.py): the SHA-256 of the canonical JSON of {path: SHA-256} of every contract file (the
catalogue: the files under requirements/; the contracts: every other one), so that two runs against the
same contracts carry the same two values and a certificate made against other contracts is told apart.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fibrecert.core.profile import PROFILES, profile_named

CERTIFYING_PROFILES = tuple(p.name for p in PROFILES.values() if p.certifying)
REFERENCE_SANDBOX = "reference sandbox"
VENDOR_TARGET = "vendor target"


def origin_of(url: str) -> str:
    """scheme://host:port of a URL (the port always written), the key of `server_certificates`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{host}:{port}"


def assess(profile: Any, *, embedded: bool, selection: str) -> dict[str, Any]:
    """The `scope` of a run: whether it is a certification, and if not, why not (each reason a short
    phrase first: "smoke profile", "reference sandbox", "subset")."""
    reasons: list[str] = []
    if not profile_named(profile).certifying:
        reasons.append(f"{profile_named(profile).name} profile: a certification runs the "
                       f"{' or '.join(CERTIFYING_PROFILES)} profile")
    if embedded:
        reasons.append("reference sandbox: the target was fibrecert's own embedded sandbox, not an "
                       "implementation under test")
    if selection:
        reasons.append(f"subset: only part of the catalogue was run ({selection})")
    return {
        "certification": not reasons,
        "not_a_certification": reasons,
        "profile": profile,
        "selection": selection or "all",
        "target_kind": REFERENCE_SANDBOX if embedded else VENDOR_TARGET,
    }


def headline(scope: dict[str, Any] | None) -> str:
    """One line: "CERTIFICATION" or "NOT A CERTIFICATION: reason; reason"."""
    if not isinstance(scope, dict):
        return "NOT A CERTIFICATION: the results carry no scope (made by an older fibrecert)"
    if scope.get("certification") is True:
        return "CERTIFICATION"
    reasons = scope.get("not_a_certification")
    shown = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) and reasons else "no reason given"
    return f"NOT A CERTIFICATION: {shown}"
