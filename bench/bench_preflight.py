"""How long the preflight takes: against the reference sandbox (all endpoints pass), and against the
wrong endpoints a vendor meets first (closed port, plain HTTP, a port that accepts and never answers).

    python bench/bench_preflight.py --repeat 5

Each case calls fibrecert.preflight.probe() in this process (no interpreter start-up counted) with the
default timeout of 5 s, and prints the median wall time and the one-line finding.
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fibrecert.preflight import failures, probe
from fibrecert.sandbox import Sandbox
from fibrecert.target import load_target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="fibrecert-bench-preflight-"))
    with Sandbox(folder / "state", pki_dir=folder / "pki", services=5) as sb:
        target = load_target(sb.write_target(folder / "target.toml"))

        class Plain(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a) -> None:
                pass

        plain = ThreadingHTTPServer(("127.0.0.1", 0), Plain)
        threading.Thread(target=plain.serve_forever, daemon=True).start()
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]

        def ala_at(port: int):
            return target.with_section("ala", dataclasses.replace(target.ala, base_url=f"https://localhost:{port}"))

        cases = [
            ("sandbox, both APIs (3 endpoints)", target, target.apis),
            ("closed port (ALA)", ala_at(closed), ("ala",)),
            ("plain-HTTP port (ALA)", ala_at(plain.server_address[1]), ("ala",)),
            ("accepts, never answers (ALA)", ala_at(silent.getsockname()[1]), ("ala",)),
        ]
        print(f"| case | median of {args.repeat} | first failure |")
        print("| --- | --- | --- |")
        for name, t, apis in cases:
            times, line = [], ""
            for _ in range(args.repeat):
                started = time.perf_counter()
                findings = probe(t, apis)
                times.append(time.perf_counter() - started)
                failed = failures(findings)
                line = failed[0].line() if failed else "all stages ok"
            print(f"| {name} | {statistics.median(times):.2f} s | {line} |")
        plain.shutdown()
        silent.close()


if __name__ == "__main__":
    main()
