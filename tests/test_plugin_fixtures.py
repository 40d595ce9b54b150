"""Suite tests run their bodies in the engine's worker threads after pytest has torn their fixtures down
(suites/plugin.py): a fixture that tears down after `yield` would do so mid-test, so the plugin refuses
such fixtures in suites, naming them, when the tests are collected."""

from __future__ import annotations

import pytest

from fibrecert.suites import plugin

SOURCE = '''
import pytest

@pytest.fixture
def made():
    yield 1

@pytest.fixture
def plain():
    return 1

@pytest.fixture
def uses_made(made):
    return made

def test_yields(made, plain):
    pass

def test_through_another(uses_made):
    pass

def test_plain(plain):
    pass
'''


def _collected(tmp_path) -> dict[str, pytest.Item]:
    # a basename of its own: the module of another test's probe stays imported
    (tmp_path / f"test_probe_{''.join(c for c in tmp_path.name if c.isalnum())}.py").write_text(SOURCE)
    items: dict[str, pytest.Item] = {}

    class Keep:
        def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:  # noqa: D102
            for item in items:
                kept[item.name] = item

    kept = items
    code = pytest.main([str(tmp_path), "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "--rootdir", str(tmp_path)], plugins=[Keep()])
    assert code == pytest.ExitCode.OK
    return items


def test_yield_fixtures_are_found_directly_and_through_another_fixture(tmp_path):
    items = _collected(tmp_path)
    assert plugin.yielding_fixtures(items["test_yields"]) == ["made"]
    assert plugin.yielding_fixtures(items["test_through_another"]) == ["made"]
    assert plugin.yielding_fixtures(items["test_plain"]) == []


def test_a_suite_test_with_a_yield_fixture_is_refused_with_the_way_out(tmp_path):
    items = _collected(tmp_path)
    with pytest.raises(pytest.UsageError) as info:
        plugin.refuse_yielding_fixtures(items["test_yields"])
    message = str(info.value)
    assert "test_yields" in message and "(made)" in message and "mid-test" in message
    assert "Return the value" in message
    plugin.refuse_yielding_fixtures(items["test_plain"])  # nothing to refuse
    # (the suites' own fixtures return their values: every suite test of `fibrecert run` is collected)
