"""Fixtures for the project's own tests: real sandboxes on loopback, and the CLI as a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Deterministic in CI (and everywhere): no example database, derandomised generation.
settings.register_profile("fibrecert-tests", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fibrecert-tests")

@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the sandbox PKI cache of CLI runs inside the test session, never in ~/.cache."""
    os.environ["FIBRECERT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki") / "pki"


@pytest.fixture
def start_sandbox(tmp_path: Path, pki_dir: Path):
    """Start a real sandbox (optionally with defects); stopped at the end of the test."""
    from fibrecert.sandbox import Sandbox

    started = []

    def start(**kwargs):
        sb = Sandbox(kwargs.pop("state_dir", tmp_path / f"state{len(started)}"), pki_dir=pki_dir, **kwargs).start()
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()
