"""Shared helpers of the Fibre Cafe suites."""

from __future__ import annotations

from fibrecert.suites import checks as c


def check_error_answer(verify, ex, structure: str, details: str) -> None:  # noqa: ANN001
    """Every error answer of an operation: documented status and body (MUST), details (SHOULD)."""
    if ex.status is not None and ex.status >= 400:
        verify(structure, ex, c.fc_error_structure)
        verify(details, ex, c.fc_error_details)
