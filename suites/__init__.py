"""The conformance suites (pytest): one folder per API, one file per operation or behaviour.

Each test declares the catalogue requirements it exercises with `@pytest.mark.requirement(...)` and
records every check through the `verify` fixture. See plugin.py for the fixtures every suite shares,
and each API folder's conftest.py for its client (`ala`, `fc`).
"""
