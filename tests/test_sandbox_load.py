"""The sandbox under hostile load, in miniature (bench/bench_sandbox_load.py is the full-size run):
200 mixed requests at concurrency 16 over real (mutual) TLS while 20 slow clients hold connections:
no 5xx, every answer the one the profile expects, a normal request answered within a second while
the slow clients are connected, and the store consistent afterwards (with itself and with what the
clients were told)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_sandbox_load", REPO / "bench" / "bench_sandbox_load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_sandbox_load", module)
    spec.loader.exec_module(module)
    return module


load = _bench()
REQUESTS, CONCURRENCY, SLOW, SEED = 200, 16, 20, 11


def test_mixed_load_with_slow_clients_no_5xx_and_a_consistent_store(start_sandbox: Any) -> None:
    sb = start_sandbox(services=load.services_needed(REQUESTS, SEED) + 2)
    target = load.Target.from_file(sb.write_target())
    slow = load.SlowClients(target, SLOW).start()
    try:
        assert slow.wait_open(SLOW), "the slow clients could not connect"
        deadline = time.monotonic() + 5
        while sum(s.open_connections for s in sb.servers) < SLOW and time.monotonic() < deadline:
            time.sleep(0.01)  # connected on the client's side: the server has yet to take them in
        assert sum(s.open_connections for s in sb.servers) >= SLOW

        # a normal request, on a new connection, while the slow clients are connected
        worker = load.Worker(target, load.Told(), 5.0)
        started = time.monotonic()
        answer = worker.send("probe", (201,), worker.fc, "POST", "/service-orders",
                             load.json.dumps(load.fc_order(target, 1)).encode(), load.fc_headers(worker.tok("a")))
        elapsed = time.monotonic() - started
        worker.close()
        assert answer is not None and answer.status == 201
        assert elapsed < 1.0, f"a normal request took {elapsed:.2f} s with {SLOW} slow clients connected"

        result = load.run_load(target, requests=REQUESTS, concurrency=CONCURRENCY, seed=SEED)
        assert slow.open_now >= SLOW // 2, "the slow clients were not held open during the load"
    finally:
        slow.finish()

    assert result.requests >= REQUESTS
    kinds = result.by_kind()
    for kind in ("ala cease", "ala cancel", "fc create", "fc cancel", "ala invalid", "fc invalid"):
        assert kinds.get(kind), f"the mix sent no {kind!r}"
    assert result.five_xx == []
    assert [(r.kind, r.status, r.error) for r in result.unexpected] == []
    told = result.told
    told.fc_orders[int(load.json.loads(answer.body)["id"])] = target.tenant_a[0]  # the probe's order
    assert sb.store.consistency_problems() == []
    assert load.compare_with_store(sb.store.path, told, target.services) == []
    assert told.ala_orders and told.fc_orders and told.fc_cancellations  # the comparison had something to compare
