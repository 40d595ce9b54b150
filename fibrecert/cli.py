"""The `fibrecert` command (shared/spec/cli-and-target.md): run, sandbox, report, replay."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from pathlib import Path

from fibrecert import __version__, constraints_cli


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a finite number greater than 0")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fibrecert", description="Conformance certification for UK wholesale "
                                "fibre ordering APIs: NICC ALA 2.30 and Fibre Cafe 1.17.")
    p.add_argument("--version", action="version", version=f"fibrecert {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="certify a target (default: the embedded reference sandbox)")
    r.add_argument("--target", metavar="FILE", help="target file (TOML); without it, the embedded sandbox is certified")
    r.add_argument("--api", choices=["ala", "fibrecafe", "all"], default="all")
    r.add_argument("--profile", choices=["smoke", "standard", "full"], default="standard")
    r.add_argument("--report-dir", metavar="DIR", default="reports/latest")
    r.add_argument("--seed", type=int, help="reproduce a run exactly")
    r.add_argument("--max-rps", type=_positive_float, metavar="R", help="never send more than R requests per second")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--events", metavar="FILE", help="also write the run's events (time-stamped NDJSON) to FILE")
    r.add_argument("--sandbox-defect", action="append", default=[], metavar="NAME",
                   help="(self-test) start the embedded sandbox with a named defect")

    s = sub.add_parser("sandbox", help="run the reference sandbox in the foreground and write a target file")
    s.add_argument("--state-dir", metavar="DIR", help="database and target file (default: a cache folder)")
    s.add_argument("--target-file", metavar="FILE", help="where to write the target file (default: STATE_DIR/target.toml)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--ala-port", type=int, default=0)
    s.add_argument("--ala-buyer-port", type=int, default=0)
    s.add_argument("--fibrecafe-port", type=int, default=0)
    s.add_argument("--services", type=int, default=600, help="active services to seed for the buyer")
    s.add_argument("--token-ttl", type=_positive_float, default=3600.0, help="access token lifetime, seconds")
    s.add_argument("--namespace", default="", help="core ALA namespace (default: unqualified)")
    s.add_argument("--defect", action="append", default=[], metavar="NAME", help="switch on a named defect")
    s.add_argument("--list-defects", action="store_true", help="list the named defects and exit")

    rp = sub.add_parser("report", help="render the HTML report again from a results file")
    rp.add_argument("results", metavar="RESULTS.json")
    rp.add_argument("-o", "--output", metavar="DIR", help="folder for index.html (default: beside RESULTS.json)")

    rr = sub.add_parser("replay", help="send one recorded case again and show the answer")
    rr.add_argument("results", metavar="RESULTS.json")
    rr.add_argument("exchange", metavar="EXCHANGE", help="an exchange id from the report's evidence (e.g. X000042)")
    rr.add_argument("--target", metavar="FILE", help="target file (default: the one the run used)")

    constraints_cli.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            from fibrecert.runner import RunOptions, run

            return run(RunOptions(target=args.target, api=args.api, profile=args.profile,
                                  report_dir=args.report_dir, seed=args.seed, max_rps=args.max_rps,
                                  quiet=args.quiet, defects=tuple(args.sandbox_defect), events=args.events))
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "report":
            return _report(args)
        if args.command == "replay":
            from fibrecert.replay import replay

            return replay(args.results, args.exchange, args.target)
        if args.command == "constraints":
            return constraints_cli.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("fibrecert: interrupted\n")
        return 130
    except BrokenPipeError:  # output piped into a pager or `head` that closed early
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 2


def _sandbox(args: argparse.Namespace) -> int:
    from fibrecert.sandbox import DEFECTS, Sandbox, default_cache_dir

    if args.list_defects:
        for d in DEFECTS.values():
            print(f"{d.name:<34} violates {', '.join(d.violates):<28} {d.description}")
        return 0
    state = Path(args.state_dir) if args.state_dir else default_cache_dir() / "sandbox"
    try:
        sandbox = Sandbox(state, host=args.host, ports=(args.ala_port, args.ala_buyer_port, args.fibrecafe_port),
                          services=args.services, token_ttl=args.token_ttl, namespace=args.namespace,
                          defects=tuple(args.defect)).start()
    except ValueError as exc:
        sys.stderr.write(f"fibrecert: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"fibrecert: cannot start the sandbox: {exc}\n")
        return 2
    target = sandbox.write_target(Path(args.target_file) if args.target_file else None)
    print(f"ALA seller   {sandbox.ala_url}  (mutual TLS: /ceaseOrder, /cancelOrder)")
    print(f"ALA buyer    {sandbox.ala_buyer_url}  (mutual TLS: /unsolicitedCeaseRequest)")
    print(f"Fibre Cafe   {sandbox.fibrecafe_url}  (OAuth2: /auth/tenant/access-token)")
    print(f"State        {sandbox.store.path}")
    if args.defect:
        print(f"Defects      {', '.join(args.defect)}")
    print(f"Target file  {target}")
    print("Certify it:  fibrecert run --target " + str(target))
    print("Ctrl-C stops the sandbox.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def _report(args: argparse.Namespace) -> int:
    from fibrecert.reports import html_writer
    from fibrecert.reports.model import RunResult

    path = Path(args.results)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        result = RunResult.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.stderr.write(f"fibrecert: {path}: not a readable fibrecert results file ({type(exc).__name__}: {exc})\n")
        return 2
    out = Path(args.output) if args.output else path.parent
    out.mkdir(parents=True, exist_ok=True)
    written = html_writer.write(result, out)
    print(f"{result.verdict}: {written}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
