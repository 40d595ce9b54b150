"""JSON from a target is parsed without trusting its nesting: a body nested thousands of levels deep is
"not JSON" (a failed check with a clear reason), never a RecursionError, and never deep enough for the
interpreter to abort while the collector runs (which ended a hostile-target run with SIGABRT)."""

from __future__ import annotations

import json
import time

import pytest
from helpers import a_case

from fibrecert import wirejson
from fibrecert.core.exchange import Exchange
from fibrecert.suites import checks

DEEP = ["[" * 50_000 + "]" * 50_000, '{"a":' * 20_000 + "1" + "}" * 20_000, "[" * 2_000_000]


@pytest.mark.parametrize("text", DEEP, ids=["arrays", "objects", "unclosed"])
def test_deep_nesting_is_refused_before_parsing(text):
    with pytest.raises(json.JSONDecodeError, match="nested deeper than 100 levels"):
        wirejson.loads(text.encode())


def test_brackets_inside_strings_do_not_count_and_shallow_documents_parse_as_json_would():
    doc = {"text": "[" * 500 + '\\"{' * 300, "items": [[[1]]] * 5000, "nested": {"a": {"b": [None, True, 1.5]}}}
    raw = json.dumps(doc)
    assert wirejson.loads(raw) == doc
    assert wirejson.loads(raw.encode("utf-16")) == json.loads(raw.encode("utf-16"))
    assert wirejson.loads("[" * 100 + "]" * 100) is not None
    with pytest.raises(wirejson.TooDeep):
        wirejson.loads("[" * 101 + "]" * 101)


def test_a_five_megabyte_bomb_is_refused_quickly():
    started = time.perf_counter()
    with pytest.raises(wirejson.TooDeep):
        wirejson.loads(b"[" * 5_000_000)
    assert time.perf_counter() - started < 5  # generous: the scan stops at level 101


def test_a_deeply_nested_answer_fails_the_json_check_with_a_reason():
    ex = Exchange(case=a_case("X1", "fibrecafe", "POST /service-orders"),
                  url="https://t/v1/service-orders", request_headers={}, request_body="{}", status=400,
                  response_headers={"Content-Type": "application/json"}, response_body=DEEP[0].encode())
    with pytest.raises(checks.CheckFailed, match="not JSON"):
        checks.json_body(ex, "an error body")
