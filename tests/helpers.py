"""Helpers shared by the project's tests (imported as a plain module: tests/ is on sys.path)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]


def fibrecert(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI exactly as a user would, in a subprocess (`run` gets a fixed seed unless given one,
    so the project's tests are deterministic)."""
    if args and args[0] == "run" and "--seed" not in args:
        args = (*args, "--seed", "20261122")
    return subprocess.run([sys.executable, "-m", "fibrecert", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=str(REPO))


def pytest_suites(*args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
                  ) -> subprocess.CompletedProcess:
    """`python -m pytest` on the suites with only the fibrecert plugin loaded (as `fibrecert run` does):
    the plugins installed beside it (Hypothesis', Schemathesis', xdist, Playwright) cost every start
    ~2.5 s of CPU and add nothing to a certification. tests/test_run.py runs the suites once with
    every installed plugin, as a user's plain `pytest` would."""
    return subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "fibrecert.suites.plugin", "-q",
                           "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
                          capture_output=True, text=True, timeout=timeout, cwd=str(cwd),
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})})


def results(report_dir: Path) -> dict:
    return json.loads((report_dir / "results.json").read_text(encoding="utf-8"))


def outcomes(report_dir: Path) -> dict[str, str]:
    return {r["id"]: r["outcome"] for r in results(report_dir)["requirements"]}


@contextlib.contextmanager
def serving(handler: type, **state: Any) -> Iterator[Any]:
    """A plain HTTP server on loopback in a thread of its own, answering with `handler`; `state` set as
    attributes of the server (what the handler records or replays); shut down on exit."""
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    for name, value in state.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


def a_case(id: str = "X000001", api: str = "fibrecafe", operation: str = "POST /x", identity: Any = "tenant-a",
           **fields: Any) -> Any:
    """A Case (fibrecert/core/case.py) for the tests that send or judge one exchange by hand: `identity` an
    Identity or its name in `api`'s scheme; the body, endpoint and path are the API's plainest unless given
    (what goes on the wire is what the test hands the transport)."""
    from fibrecert.apis import dialect
    from fibrecert.core.case import Case, JsonBody, SoapBody
    from fibrecert.core.identity import Identity

    dialect(api)  # its identity scheme registered
    if isinstance(identity, str):
        identity = Identity.parse(api, identity)
    fields.setdefault("body", SoapBody(b"<x/>") if api == "ala" else JsonBody({}))
    fields.setdefault("endpoint", "seller" if api == "ala" else "api")
    fields.setdefault("path", "/" + operation.split("/", 1)[-1])
    return Case(id=id, api=api, operation=operation, identity=identity, **fields)
