"""The Fibre Cafe suites' fixture (the client they send with) and shared helpers."""

from __future__ import annotations

import pytest

from fibrecert.apis.fibrecafe import FibreCafeClient
from fibrecert.engine import Engine
from fibrecert.suites import checks as c
from fibrecert.suites.plugin import api_client


@pytest.fixture
def fc(run: Engine) -> FibreCafeClient:
    return api_client(run, "fibrecafe")


def check_error_answer(verify, ex, structure: str, details: str) -> None:  # noqa: ANN001
    """Every error answer of an operation: documented status and body (MUST), details (SHOULD)."""
    if ex.status is not None and ex.status >= 400:
        verify(structure, ex, c.fc_error_structure)
        verify(details, ex, c.fc_error_details)
