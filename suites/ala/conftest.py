"""The ALA suites' fixtures: the client they send with, and the buyer role when the target has one."""

from __future__ import annotations

import pytest

from fibrecert.apis.ala import AlaClient
from fibrecert.engine import Engine
from fibrecert.suites.plugin import api_client, skip_unless


@pytest.fixture
def ala(run: Engine) -> AlaClient:
    return api_client(run, "ala")


@pytest.fixture
def ala_buyer_role(run: Engine, ala: AlaClient, request: pytest.FixtureRequest) -> AlaClient:
    skip_unless(run, request, "buyer" in ala.target.roles,
                "the target file declares no ALA buyer role (buyer_base_url)")
    return ala
