"""Every requirement is exercised by at least one suite test, every suite test names catalogue
requirements, and every registered check is used: the chain catalogue -> test -> check is closed."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from helpers import a_case

import fibrecert.suites as suites_pkg
from fibrecert import contracts
from fibrecert.suites import checks

SUITES = Path(suites_pkg.__file__).resolve().parent


def suite_tests():
    """(module name, test name, requirement ids) for every test function in the suites."""
    out = []
    for api in ("ala", "fibrecafe"):
        for info in pkgutil.iter_modules([str(SUITES / api)]):
            if not info.name.startswith("test_"):
                continue
            module = importlib.import_module(f"fibrecert.suites.{api}.{info.name}")
            for name, obj in vars(module).items():
                if name.startswith("test_") and callable(obj):
                    ids = [i for m in getattr(obj, "pytestmark", []) if m.name == "requirement" for i in m.args]
                    out.append((f"{api}.{info.name}", name, ids))
    return out


def test_the_suites_have_tests():
    assert len(suite_tests()) >= 25


def test_every_suite_test_declares_requirements_that_exist():
    known = contracts.requirements()
    problems = [f"{m}::{t}: {'no requirement marker' if not ids else 'unknown ' + ', '.join(set(ids) - set(known))}"
                for m, t, ids in suite_tests() if not ids or set(ids) - set(known)]
    assert not problems, "\n".join(problems)


def test_every_requirement_is_exercised_by_a_suite_test():
    declared = {i for _, _, ids in suite_tests() for i in ids}
    universal = {"ROB-001", "ROB-002", "ROB-011", "ROB-012"}  # checked on every exchange by the plugin
    missing = sorted(set(contracts.requirements()) - declared - universal)
    assert not missing, f"requirements no suite test exercises: {missing}"


def test_must_requirements_without_a_test_are_reported():
    """The self-test above must be able to fail: a new MUST with no test is caught."""
    declared = {i for _, _, ids in suite_tests() for i in ids}
    fake = {"ALA-CEASE-999"}
    assert fake - declared == fake


def _names_used_in_suites() -> set[str]:
    """Names the suites use, and the engine (which runs the ROB-* checks on every exchange)."""
    import fibrecert.engine

    names: set[str] = set()
    for path in [*SUITES.rglob("*.py"), Path(fibrecert.engine.__file__)]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.Name):
                names.add(node.id)
    return names


def test_every_registered_check_is_used_by_a_suite():
    used = _names_used_in_suites()
    unused = sorted(name for name in checks.CHECKS if name not in used)
    assert not unused, f"checks registered but never used: {unused}"


def test_checks_raise_typed_failures_with_observed_and_declared():
    from fibrecert.core.exchange import Exchange

    ex = Exchange(case=a_case("X1", "ala", "POST /ceaseOrder", "buyer"),
                  url="https://x/ceaseOrder", request_headers={}, request_body="", status=418)
    with pytest.raises(checks.CheckFailed) as info:
        checks.status_in(ex, 200, 400)
    assert info.value.observed == "Received HTTP 418"
    assert info.value.declared == "HTTP 200 or 400"
    assert str(info.value) == "Received HTTP 418 / Declared: HTTP 200 or 400"


def test_checks_judge_what_the_case_sent_never_the_request_text():
    """json_echo and new_message_id read the Case's structured body; the request text (here deliberately
    something else) is evidence only. A raw body, malformed on purpose, has nothing to echo."""
    from fibrecert.core.case import JsonBody, RawBody, SoapBody
    from fibrecert.core.exchange import Exchange

    def fc(body, answer: bytes) -> Exchange:
        return Exchange(case=a_case("X1", body=body), url="https://x/v1/service-orders", request_headers={},
                        request_body='{"text": "not what the case holds"}', status=201,
                        response_headers={"Content-Type": "application/json"}, response_body=answer)

    checks.json_echo(fc(JsonBody({"text": "sent", "n": 2}), b'{"text": "sent", "n": 2.0, "id": 7}'))
    with pytest.raises(checks.CheckFailed, match="text is 'other'"):
        checks.json_echo(fc(JsonBody({"text": "sent"}), b'{"text": "other"}'))
    with pytest.raises(checks.CheckFailed, match="not a JSON object"):
        checks.json_echo(fc(RawBody(b'{"text": "sent"}'), b'{"text": "sent"}'))
    def ala(body) -> Exchange:  # the messageId new_message_id compares the answer's with
        return Exchange(case=a_case("X2", "ala", "POST /ceaseOrder", "buyer", body=body), url="https://x/ceaseOrder",
                        request_headers={}, request_body="<messageId>m-2</messageId>", status=200)

    assert checks._request_text(ala(SoapBody(b"<ceaseOrder><message><messageId>m-1</messageId></message>"
                                             b"</ceaseOrder>")), "messageId") == "m-1"
    assert checks._request_text(ala(RawBody(b"<messageId>m-3</messageId>")), "messageId") is None
