"""The run engine (fibrecert/engine.py, fibrecert/core/results.py, fibrecert/core/case.py): deterministic case ids
whatever the concurrency, earned passes, bounded evidence chosen by id, cases that round-trip as data."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import BrokenExecutor, CancelledError, ThreadPoolExecutor

import pytest
from helpers import a_case

from fibrecert.apis import dialect
from fibrecert.apis.ala import ALA_BUYER, ALA_NO_CERT
from fibrecert.apis.fibrecafe import CLIENT_A_WRONG_SECRET, MALFORMED_TOKEN, TENANT_B, basic_credentials
from fibrecert.core.case import Binding, Case, FormBody, JsonBody, RawBody, SoapBody, id_key
from fibrecert.core.events import CheckDone, ExchangeDone, Marked
from fibrecert.core.exchange import TIMEOUT, Exchange
from fibrecert.core.identity import Identity
from fibrecert.core.results import MAX_PASS_SAMPLES, MAX_VIOLATIONS, ResultModel
from fibrecert.engine import Engine, _Jobs, _Lane
from fibrecert.reports.model import outcome_for
from fibrecert.target import load_target


@pytest.fixture
def engine(tmp_path, start_sandbox):
    sb = start_sandbox()
    target = load_target(sb.write_target(tmp_path / "t.toml"))

    def make(concurrency: int) -> Engine:
        e = Engine(target, profile="smoke", seed=42, concurrency=concurrency)
        made.append(e)
        return e

    made: list[Engine] = []
    yield make
    for e in made:
        e.close()


def _case_ids(engine: Engine) -> list[list[str]]:
    """Make cases in a fan-out, each item in its lane, with random delays; the ids each item got."""
    def item(n: int) -> list[str]:
        ids = []
        for _ in range(n):
            time.sleep(random.random() / 200)
            ids.append(engine.new_case(api="fibrecafe", operation="POST /service-orders", endpoint="api",
                                       path="/service-orders", identity=TENANT_B, body=JsonBody({"n": n})).id)
        return ids

    engine.enter(engine.test_lane(7, "suite::test_x", ("FC-SO-001",), "fibrecafe"))
    try:
        return engine.each([3, 1, 4, 1, 5, 9, 2, 6], item)
    finally:
        engine.leave()


def test_case_ids_are_the_same_whatever_the_concurrency(engine):
    one, many = _case_ids(engine(1)), _case_ids(engine(8))
    assert one == many
    assert one[0] == ["X007-1.1", "X007-1.2", "X007-1.3"] and one[2][0] == "X007-3.1"


def test_each_runs_items_side_by_side_up_to_the_bound(engine):
    e = engine(4)
    running, peak, lock = [0], [0], threading.Lock()

    def work(_: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    e.enter(e.test_lane(1, "t", (), "ala"))
    try:
        e.each(range(12), work)
    finally:
        e.leave()
    assert 2 <= peak[0] <= 4


def test_the_first_item_of_each_fan_out_starts_before_the_rest_of_any():
    jobs, started, gate = _Jobs(), [], threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        blocker = jobs.submit(pool, True, gate.wait)  # holds the only thread while the rest queue up
        rest = [jobs.submit(pool, False, started.append, f"a{i}") for i in range(3)]
        first = jobs.submit(pool, True, started.append, "b0")
        gate.set()
        for f in (blocker, *rest, first):
            f.result(timeout=10)
    finally:
        pool.shutdown()
    assert started == ["b0", "a0", "a1", "a2"]


def test_jobs_a_closing_or_broken_pool_will_not_run_end_instead_of_waiting_forever():
    jobs, gate = _Jobs(), threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    running = jobs.submit(pool, True, gate.wait)
    waiting = [jobs.submit(pool, False, lambda: None) for _ in range(3)]
    pool.shutdown(wait=False, cancel_futures=True)  # what Engine.close does
    gate.set()
    assert running.result(timeout=10) is True
    for f in waiting:
        with pytest.raises(CancelledError):
            f.result(timeout=10)
    with pytest.raises(CancelledError):  # submitted after the shutdown
        jobs.submit(pool, True, lambda: None).result(timeout=10)

    def failing_initializer() -> None:
        raise RuntimeError("no thread for you")

    broken = ThreadPoolExecutor(max_workers=1, initializer=failing_initializer)
    futures = [jobs.submit(broken, i == 0, lambda: None) for i in range(3)]
    for f in futures:
        with pytest.raises((BrokenExecutor, CancelledError)):
            f.result(timeout=10)
    broken.shutdown()


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_generating_before_the_first_request_is_told_apart_from_generating_in_all(engine):
    e = engine(4)
    e.enter(e.test_lane(2, "suite::test_gen", (), "fibrecafe"))
    try:
        with e.generating():
            _burn(0.05)
            # the first request leaves from another thread while this block is still drawing (streaming)
            e.each([1], lambda _: e.send(e.new_case(api="fibrecafe", operation="POST /service-orders",
                                                     endpoint="api", path="/service-orders", identity=TENANT_B,
                                                     body=JsonBody({}))))
            _burn(0.05)
        with e.generating():
            _burn(0.05)
    finally:
        e.leave()
    total, before_first = e.generating_seconds("suite::test_gen")
    assert 0.15 <= total < 0.5
    assert 0.05 <= before_first < 0.1
    assert e.generating_seconds("suite::never_sent") == (0.0, 0.0)


def test_a_sequence_in_a_lane_makes_every_case_depend_on_the_steps_before(engine):
    e = engine(1)
    lane = _Lane("001", "t")
    e.enter(lane)
    try:
        lane.sequence = [Exchange(case=a_case("X001.1", "ala", "POST /ceaseOrder", ALA_BUYER), url="u",
                                  request_headers={}, request_body="")]
        case = e.new_case(api="ala", operation="POST /cancelOrder", endpoint="seller", path="/cancelOrder",
                          identity=ALA_BUYER, body=SoapBody(b"<cancelOrder/>"))
    finally:
        lane.sequence = None
        e.leave()
    assert case.after == ("X001.1",)


@pytest.mark.parametrize("body", [
    SoapBody(b"<ceaseOrder><message><messageId>m1</messageId></message></ceaseOrder>"),
    SoapBody(b"<ceaseOrder>" + b"x" * 10_000 + b"</ceaseOrder>"),
    JsonBody({"orderId": 3, "reasonCode": "OTHER"}),
    JsonBody({"orderId": 0.1}, raw='{"orderId": 1e-1}'),
    JsonBody({"text": "y" * 5000}),
    FormBody((("grant_type", "client_credentials"),)),
    RawBody(b"\xff\xfe not utf-8"),
    RawBody(b"[" * 50_000 + b"]" * 50_000),
], ids=["soap", "soap-large", "json", "json-raw", "json-large", "form", "raw-binary", "raw-deep"])
def test_a_case_round_trips_through_json_exactly(body):
    import json

    case = Case(id="X001-2.3", api="fibrecafe", operation="POST /service-orders", endpoint="api",
                path="/service-orders", identity=MALFORMED_TOKEN, body=body, method="PUT",
                headers=(("Content-Type", "application/json"),), omit_headers=("X-Request-ID",),
                bindings=(("order", Binding("17", "orderId", "X001-1.1")),), after=("X001-1.1",),
                test="suite::t", serves=("FC-SO-001",), constraint="fc:x:y", note="n", tags=frozenset({"method=PUT"}),
                may_be_refused=True)
    again = Case.from_json(json.loads(json.dumps(case.to_json())))
    assert again == case
    wire = dialect("ala" if isinstance(body, SoapBody) else "fibrecafe")
    assert wire.encode(again.body) == wire.encode(body)


def test_identities_round_trip_by_name_and_curl_never_holds_a_credential():
    for identity in (ALA_BUYER, ALA_NO_CERT, TENANT_B, MALFORMED_TOKEN, CLIENT_A_WRONG_SECRET,
                     Identity("ala", "cert", "untrusted")):
        assert Identity.parse(identity.api, identity.name) == identity
        args, _ = dialect(identity.api).curl_arguments(identity)
        assert all("$" in a or "never-issued" in a or "not a token" in a or "wrong" in a for a in args), args
    assert basic_credentials("tenant a", "p@ss:word") == "Basic dGVuYW50JTIwYTpwJTQwc3MlM0F3b3Jk"
    with pytest.raises(ValueError):
        Identity.parse("ala", "tenant-a")


def _exchange(eid: str, status: int | None = 200, error: str | None = None, operation: str = "POST /x") -> Exchange:
    return Exchange(case=a_case(eid, "fibrecafe", operation, TENANT_B), url="u",
                    request_headers={}, request_body="", status=status, error=error)


def test_evidence_keeps_the_smallest_ids_whatever_the_order_and_counts_everything():
    model = ResultModel()
    ids = [f"X{t:03d}-{n}.1" for t in range(1, 4) for n in range(1, 6)]
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    for eid in shuffled:
        ex = _exchange(eid, status=200 if eid.endswith("1.1") else 400)
        model(ExchangeDone(ex))
        model(CheckDone("R-1", (ex,), "status_in", (200,), passed=ex.status == 200, observed="o", declared="d"))
    state = model.snapshot().requirements["R-1"]
    assert state.violations == 12 and state.passes == 3
    want = sorted([i for i in ids if not i.endswith("-1.1")], key=id_key)[:MAX_VIOLATIONS]
    assert [o.exchange.id for o in state.violation_samples] == want
    assert [o.exchange.id for o in state.passing_evidence()] == ["X001-1.1"]  # one kind of answer: the first
    assert len(state.passing_evidence()) <= MAX_PASS_SAMPLES


def test_an_unanswered_exchange_earns_no_pass():
    model = ResultModel()
    ex = _exchange("X001.1", status=None, error=TIMEOUT)
    model(ExchangeDone(ex))
    model(CheckDone("R-1", (ex,), "status_in", (200,), passed=False, exercised=False, observed="no answer"))
    state = model.snapshot().requirements["R-1"]
    assert state.passes == 0 and state.violations == 0 and state.unanswered == 1
    outcome, reason = outcome_for("MUST", state.passes, state.violations, state.not_tested, state.skipped,
                                  state.errors, unanswered=state.unanswered)
    assert outcome == "not_tested" and "complete answer" in reason


def test_a_value_never_sent_keeps_a_requirement_from_passing():
    assert outcome_for("MUST", 3, 0, [], [], [], missing_values=["reasonCode=OTHER"]) == (
        "not_tested", "never sent or seen: reasonCode=OTHER")
    assert outcome_for("MUST", 3, 0, [], [], [], missing_values=[]) == ("pass", "")


def test_marks_are_recorded_per_requirement():
    model = ResultModel()
    model(Marked("R-2", "not_tested", "no data"))
    model(Marked("R-2", "skip", "no role"))
    st = model.snapshot().requirements["R-2"]
    assert st.not_tested == ["no data"] and st.skipped == ["no role"]


_DRAWS = textwrap.dedent("""
    import importlib, sys
    from pathlib import Path
    from fibrecert.engine import share_hypothesis_prng
    share_hypothesis_prng()
    import hypothesis
    from hypothesis import Phase, settings, strategies as st

    def draw():
        out = []
        @hypothesis.seed(7)
        @settings(max_examples=300, database=None, phases=[Phase.generate], deadline=None)
        @hypothesis.given(st.integers(), st.text(max_size=30))
        def t(i, s):
            out.append((i, s))
        t()
        return out

    before = draw()
    Path("late_module.py").write_text(Path("late_module.txt").read_text())
    sys.path.insert(0, ".")
    importlib.import_module("late_module")
    print("same" if draw() == before else "differ")
""")


def test_a_module_imported_mid_run_does_not_change_what_a_seed_draws(tmp_path):
    """Hypothesis draws now and then a constant found in local modules, collected when a draw first needs
    them: unpinned, a module another thread imports mid-run (its constants below) changes the values the
    same seed gives (this script prints "differ" without share_hypothesis_prng's pin)."""
    (tmp_path / "late_module.txt").write_text('BIG = 1000000000007\nOTHER = 515151\nWORD = "alpha-beta-gamma"\n')
    (tmp_path / "draws.py").write_text(_DRAWS)
    done = subprocess.run([sys.executable, "draws.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "same"
