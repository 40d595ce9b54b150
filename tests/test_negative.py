"""Boundary-invalid traffic beyond the constraint inventory (tests/test_inventory.py covers the inventory
and its negatives; tests/test_family_defects.py its one-family defects): every negative family the
suites send has a sandbox defect that the suite must catch (tests/test_run.py runs each one)."""

from __future__ import annotations

from fibrecert.sandbox import DEFECTS


def test_each_negative_family_has_a_defect_that_the_suite_must_catch():
    families = {
        "XSD values and enumerations": "ala-accepts-invalid-values",
        "XSD closed content": "ala-accepts-unknown-elements",
        "SOAP transport": "ala-accepts-any-content-type",
        "DTDs and entities": "ala-accepts-dtd",
        "OpenAPI values and near-miss enums": "fc-lenient-enums",
        "JSON bodies that are not objects": "fc-500-on-non-object",
        "Fibre Cafe content type": "fc-ignores-content-type",
        "missing required elements": "ala-accepts-missing-field",
        "missing headers": "fc-missing-headers-accepted",
        "ALA security": "ala-accepts-other-buyer",
        "Fibre Cafe security": "fc-no-auth",
        "cross-tenant": "fc-cancel-other-tenant",
        "token endpoint": "fc-token-any-secret",
        "rejection shape (ALA)": "ala-fault-without-faultcode",
        "rejection shape (Fibre Cafe)": "fc-error-code-outside-enum",
        "type coercion (Fibre Cafe)": "fc-coerces-types",
        "unknown JSON properties and null": "fc-accepts-unknown-properties",
    }
    missing = {family: d for family, d in families.items() if d not in DEFECTS}
    assert not missing
