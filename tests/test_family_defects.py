"""Each constraint-family defect of the sandbox (sandbox/defects.py, `family=`) is caught at the
standard profile too (tests/test_run.py runs every defect alone at smoke).

Kept cheap: only the inventory-driven negative suite tests run (pytest on the suites with -k, in this
process, against a real sandbox on loopback), and family defects share a run. They can share one
because each forgives one family only, so the constraint every exchange names tells the families apart:
a defect is caught when the suite fails its requirement and a negative of its family was accepted, and
a negative of a family no switched-on defect forgives must never be accepted. Defects whose forgiveness
could chain (null read as absent, then a missing field defaulted; an empty string that breaks a
minLength and a non-blank pattern at once) are kept in different runs.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pytest

import fibrecert.suites as suites_pkg
import json

from fibrecert import contracts, strategies
from fibrecert.sandbox import DEFECTS
from fibrecert.sandbox.defects import Defects
from fibrecert.sandbox.lenient import ALA_FAMILY_DEFECTS, FC_FAMILY_DEFECTS, ala_forgive, json_errors
from fibrecert.suites.clients import AlaClient, FibreCafeClient

from helpers import outcomes

SUITES = Path(suites_pkg.__file__).resolve().parent
GROUPS = {  # run name -> (API, negative suite, -k expression, defects switched on together)
    "ala": ("ala", "ala/test_ala_negative.py", "outside_its_contract",
            ("ala-accepts-blank-strings", "ala-accepts-impossible-dates", "ala-accepts-enum-near-misses",
             "ala-accepts-bad-reason-codes", "ala-defaults-missing-elements", "ala-accepts-unknown-elements")),
    "fibrecafe-values": ("fibrecafe", "fibrecafe/test_fc_negative.py", "outside_the_contract",
                         ("fc-coerces-types", "fc-accepts-out-of-bounds", "fc-accepts-pattern-violations",
                          "fc-accepts-impossible-dates", "fc-accepts-unknown-properties", "fc-accepts-null",
                          "fc-ignores-order-type", "fc-lenient-enums", "fc-missing-headers-accepted")),
    "fibrecafe-fields": ("fibrecafe", "fibrecafe/test_fc_negative.py", "outside_the_contract",
                         ("fc-accepts-blank-strings", "fc-defaults-missing-fields")),
}


def test_every_family_defect_is_in_a_standard_run_and_families_are_not_doubled():
    grouped = [d for *_, defects in GROUPS.values() for d in defects]
    assert sorted(grouped) == sorted(n for n, d in DEFECTS.items() if d.family)
    for *_, defects in GROUPS.values():
        families = [DEFECTS[d].family for d in defects]
        assert len(families) == len(set(families))  # one defect per family in a run: attribution is exact
    attacked = {(c.api, c.family) for c in strategies.inventory() if c.attacked}
    covered = {("ala" if n.startswith("ala-") else "fibrecafe", d.family) for n, d in DEFECTS.items() if d.family}
    assert attacked <= covered, f"constraint families no defect accepts: {sorted(attacked - covered)}"


@functools.lru_cache(maxsize=None)
def _negatives(operation: str, profile: str) -> tuple:
    return tuple(strategies.negatives(operation, strategies.example(operation), profile, 1))


@pytest.mark.parametrize("defect", sorted(FC_FAMILY_DEFECTS))
def test_each_fibre_cafe_family_defect_forgives_its_family_and_no_other(defect):
    """The sandbox's own reading (no HTTP): every negative it forgives is of the defect's family
    (at full, so Hypothesis' draws are held to it too)."""
    forgiven: Counter[str] = Counter()
    for operation, component in (("/service-orders", "ServiceOrderRequest"),
                                 ("/service-order-cancellations", "ServiceOrderCancellationRequest")):
        for n in _negatives(operation, "full"):
            if n.headers or n.raw_json == "" or not isinstance(n.payload, dict):
                continue  # headers and bodies that are not objects never reach the schema
            body = json.loads(n.raw_json) if n.raw_json is not None else json.loads(json.dumps(n.payload))
            if not json_errors(Defects({defect}), component, body)[1]:
                forgiven[n.constraint.family] += 1
    assert set(forgiven) == {DEFECTS[defect].family}, forgiven


@pytest.mark.parametrize("defect", sorted(ALA_FAMILY_DEFECTS))
def test_each_ala_family_defect_forgives_its_family_and_no_other(defect):
    forgiven: Counter[str] = Counter()
    schema = contracts.ala_schema()
    for operation in contracts.ALA_OPERATIONS:
        for n in _negatives(operation, "standard"):
            if schema.is_valid(ala_forgive(Defects({defect}), n.payload)):
                forgiven[n.constraint.family] += 1
    assert set(forgiven) == {DEFECTS[defect].family}, forgiven


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_family_defects_are_caught_at_standard(group, tmp_path, start_sandbox, monkeypatch):
    api, suite, expression, defects = GROUPS[group]
    sent: list[tuple[str | None, int | None]] = []
    for client in (AlaClient, FibreCafeClient):
        original = client.post

        def post(self, *args, __original=original, **kwargs):  # noqa: ANN001, ANN002, ANN003
            ex = __original(self, *args, **kwargs)
            sent.append((ex.constraint, ex.status))
            return ex

        monkeypatch.setattr(client, "post", post)
    target = start_sandbox(defects=defects).write_target(tmp_path / "target.toml")
    report = tmp_path / "report"
    pytest.main([str(SUITES / suite), "-k", expression, "--target", str(target), "--fibrecert-profile", "standard",
                 "--fibrecert-seed", "1", "--fibrecert-api", api, "--report-dir", str(report), "-q",
                 "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"])
    seen = outcomes(report)
    caught = {r for r, o in seen.items() if o in ("fail", "warn")}
    declared = {r for d in defects for r in DEFECTS[d].declared}
    assert caught <= declared, f"also failed: {sorted(caught - declared)}"
    family_of = {c.id: c.family for c in strategies.inventory(api=api)}
    accepted = {family_of[c] for c, status in sent if c is not None and status is not None and status < 300}
    on = {DEFECTS[d].family for d in defects}
    assert accepted <= on, f"accepted negatives of families no defect forgives: {sorted(accepted - on)}"
    for d in defects:
        assert caught & set(DEFECTS[d].violates), f"{d}: none of {DEFECTS[d].violates} failed"
        assert DEFECTS[d].family in accepted, f"{d}: no {DEFECTS[d].family} negative was accepted at standard"
    attacked = {c.id for c in strategies.inventory(api=api) if c.attacked}
    assert attacked <= {c for c, _ in sent}, "every constraint attacked, each exchange naming its constraint"
