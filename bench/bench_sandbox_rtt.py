"""One request at a time against `fibrecert sandbox`: the round trip of a single request on loopback.

Starts the sandbox (a real process), then sends `--count` requests of each kind one after the other
from one client: a Fibre Cafe create order, an ALA ceaseOrder (mutual TLS), each on a kept-alive
connection (when the server keeps it) and on a fresh connection per request (`Connection: close`, so
the TLS handshake is included). Prints the median and p90 round trip per kind, in milliseconds.

    python bench/bench_sandbox_rtt.py [--count 200] [--latency-ms 0] [--sandbox-pythonpath DIR]
    python bench/bench_sandbox_rtt.py --split-writes   # the same server, but headers and body sent in
                                                       # two writes and Nagle left on: the stall one write avoids
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sandbox_load as load  # noqa: E402


def serve_split(argv: list[str]) -> int:
    """`fibrecert sandbox` with the one-write answer undone: the status line and headers in one send,
    the body in another, and TCP_NODELAY cleared on accepted sockets (as most servers behave)."""
    import socket

    from fibrecert.cli import main as cli_main
    from fibrecert.sandbox import server

    send, init = server._Connection.send, server._Connection.__init__

    def split_send(self: Any, data: bytes) -> None:
        head, sep, body = data.partition(b"\r\n\r\n")
        send(self, head + sep)
        if body:
            send(self, body)

    def nagle_init(self: Any, srv: Any, raw: socket.socket, addr: Any) -> None:
        init(self, srv, raw, addr)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)

    server._Connection.send = split_send  # type: ignore[method-assign]
    server._Connection.__init__ = nagle_init  # type: ignore[method-assign]
    return cli_main(argv)


def main() -> int:
    if sys.argv[1:2] == ["--serve-split"]:
        return serve_split(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--split-writes", action="store_true",
                    help="headers and body in two writes, Nagle on (to measure what one write saves)")
    ap.add_argument("--sandbox-pythonpath", metavar="DIR",
                    help="start the sandbox from the fibrecert package found in DIR (e.g. an older commit's build)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fibrecert-rtt-"))
    (root / "run").mkdir()
    launcher = [sys.executable, str(Path(__file__).resolve()), "--serve-split"] if args.split_writes else None
    sb = load.SandboxProcess(root / "run", 2 * args.count + 10, args.latency_ms, pythonpath=args.sandbox_pythonpath,
                             launcher=launcher)
    try:
        t = sb.target
        w = load.Worker(t, load.Told(), 10.0)
        token = w.tok("a")
        services = iter(t.services)
        rows = []
        for fresh in (False, True):
            extra = {"Connection": "close"} if fresh else {}
            for kind in ("fc create", "ala cease"):
                times, connects0 = [], (w.fc.connects, w.ala.connects)
                for n in range(args.count):
                    if kind == "fc create":
                        conn, path = w.fc, "/service-orders"
                        body = json.dumps(load.fc_order(t, n)).encode()
                        headers = {**load.fc_headers(token), **extra}
                        want = 201
                    else:
                        conn, path = w.ala, "/ceaseOrder"
                        body, headers, want = load.cease_xml(t, next(services)), {**load.SOAP, **extra}, 200
                    started = time.perf_counter()
                    answer = conn.request("POST", path, body, headers)
                    times.append(time.perf_counter() - started)
                    if answer.status != want:
                        raise SystemExit(f"{kind}: answered {answer.status}")
                connects = (w.fc.connects - connects0[0]) if kind == "fc create" else (w.ala.connects - connects0[1])
                q = statistics.quantiles(times, n=10)
                rows.append((kind, "fresh connection each" if fresh else "kept alive", connects,
                             statistics.median(times) * 1000, q[-1] * 1000))
        w.close()
    finally:
        sb.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"| request | connection | connections opened for {args.count} requests | median ms | p90 ms |")
    print("| --- | --- | --- | --- | --- |")
    for kind, mode, connects, med, p90 in rows:
        print(f"| {kind} | {mode} | {connects} | {med:.2f} | {p90:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
