"""The `fibrecert` command (docs/cli.md, docs/target-file.md): run, sandbox, report, replay (and the
sub-commands that register themselves: keygen, verify, audit, init, requirements, constraints, ledger)."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from pathlib import Path

from fibrecert import __version__
from fibrecert.apis import api_choices, certified
from fibrecert.cli_help import RUN_EXIT_CODES as _RUN_EXIT_CODES
from fibrecert.cli_help import HelpFormatter, exit_codes
from fibrecert.core.profile import DEFAULT_PROFILE, PROFILES, profiles_help


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a finite number greater than 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port from 1 to 65535 (0: any free port)")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 1000000")
    return value


def _namespace(text: str) -> str:
    """An XML namespace name: empty (unqualified) or a URI without spaces or control characters."""
    if len(text) > 512 or any(not ch.isprintable() or ch.isspace() for ch in text) or any(c in text for c in "<>\"'{}"):
        raise argparse.ArgumentTypeError("must be a namespace URI (no spaces, quotes, braces or control characters, "
                                         "at most 512 characters), or empty")
    return text


RUN_EXIT_CODES = exit_codes(*(f"{code}  {meaning}" for code, meaning in _RUN_EXIT_CODES))


def _version() -> str:
    return f"fibrecert {__version__} (certifies {certified()})"


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= 60_000:
        raise argparse.ArgumentTypeError("must be a number of milliseconds from 0 to 60000")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fibrecert", description="Conformance certification for UK wholesale "
                                f"fibre ordering APIs: {certified()}.", formatter_class=HelpFormatter)
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="certify a target (default: the embedded reference sandbox)",
                       formatter_class=HelpFormatter, epilog=RUN_EXIT_CODES)
    r.add_argument("--target", metavar="FILE", help="target file (TOML); without it, the embedded sandbox is certified")
    r.add_argument("--api", choices=api_choices(), default="all",
                   help="which API of the target file to certify")
    r.add_argument("--profile", choices=list(PROFILES), default=DEFAULT_PROFILE,
                   help=f"how hard to search: {profiles_help()}")
    r.add_argument("--report-dir", metavar="DIR", default="reports/latest",
                   help="where index.html, results.json and junit.xml are written")
    r.add_argument("--seed", type=int, help="reproduce a run's cases exactly (default: a random seed, printed)")
    r.add_argument("--max-rps", type=_positive_float, metavar="R",
                   help="never send more than R requests per second (default: no limit)")
    r.add_argument("--concurrency", type=_positive_int, metavar="N", default=None,
                   help="requests in flight at once, across all tests (default 16; 1 = strictly sequential); "
                        "always within --max-rps")
    r.add_argument("--only", action="append", default=[], metavar="PATTERN",
                   help="run only the requirements matching PATTERN (an id or a glob such as 'FC-SOC-*'; repeatable); "
                        "a subset is never CONFORMANT")
    r.add_argument("--skip", action="append", default=[], metavar="PATTERN",
                   help="leave out the requirements matching PATTERN (repeatable)")
    r.add_argument("--quiet", action="store_true", help="no progress output (the verdict is still printed)")
    r.add_argument("-v", "--verbose", action="store_true", help="one line per finished test")
    r.add_argument("--events", metavar="FILE", help="also write the run's events (time-stamped NDJSON) to FILE")
    r.add_argument("--expect", metavar="FILE",
                   help="known deviations (TOML: id, reason, expires): the exit code gates on new fails only; "
                        "the report's verdict never changes because of it")
    r.add_argument("--sign", metavar="KEYFILE|env:VAR",
                   help="sign the report: certificate.json beside it (Ed25519, from fibrecert keygen; the key from "
                        "a file or from the environment variable VAR; never written anywhere)")
    r.add_argument("--sandbox-defect", action="append", default=[], metavar="NAME",
                   help="(self-test) start the embedded sandbox with a named defect")

    s = sub.add_parser("sandbox", help="run the reference sandbox in the foreground and write a target file",
                       formatter_class=HelpFormatter, epilog="exit status: 0 stopped by Ctrl-C or SIGTERM, 2 usage error "
                                                     "(an unknown defect, a port in use)")
    s.add_argument("--state-dir", metavar="DIR", help="database and target file (default: a cache folder)")
    s.add_argument("--target-file", metavar="FILE", help="where to write the target file (default: STATE_DIR/target.toml)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--ala-port", type=_port, default=0, metavar="N", help="port of the ALA seller (default 0: any free port)")
    s.add_argument("--ala-buyer-port", type=_port, default=0, metavar="N", help="port of the ALA buyer (default 0: any free port)")
    s.add_argument("--fibrecafe-port", type=_port, default=0, metavar="N", help="port of Fibre Cafe (default 0: any free port)")
    s.add_argument("--services", type=_count, default=600, metavar="N", help="active services to seed for the buyer")
    s.add_argument("--token-ttl", type=_positive_float, default=3600.0, help="access token lifetime, seconds")
    s.add_argument("--namespace", type=_namespace, default="", help="core ALA namespace (default: unqualified)")
    s.add_argument("--defect", action="append", default=[], metavar="NAME", help="switch on a named defect")
    s.add_argument("--list-defects", action="store_true", help="list the named defects and exit")
    s.add_argument("--latency-ms", type=_milliseconds, default=0.0, metavar="MS",
                   help="hold every answer (and TLS handshake) MS milliseconds, as if across the internet")

    rp = sub.add_parser("report", help="render the HTML report again from a results file", formatter_class=HelpFormatter,
                        epilog="exit status: 0 written, 2 not a readable results file")
    rp.add_argument("results", metavar="RESULTS.json")
    rp.add_argument("-o", "--output", metavar="DIR", help="folder for index.html (default: beside RESULTS.json)")

    rr = sub.add_parser("replay", help="send one recorded case (and the chain it depends on) again and re-run its checks",
                        formatter_class=HelpFormatter,
                        epilog="exit status: 0 the target now satisfies every check the exchange was judged by; "
                               "1 it still violates one (or gives no answer); 2 usage or configuration error")
    rr.add_argument("results", metavar="RESULTS.json")
    rr.add_argument("exchange", metavar="EXCHANGE", help="an exchange id of the run (e.g. X017.3): any of them")
    rr.add_argument("--target", metavar="FILE", help="target file (default: the one the run used)")
    rr.add_argument("--allow-cease", action="store_true",
                    help="allow the replay to cease one of the target file's active_services (it names it first)")
    rr.add_argument("--requirement", metavar="ID", help="re-run only the checks of this requirement")

    from fibrecert import audit, constraints_cli, init_template, ledger_cli, requirements_cli, signing

    signing.register(sub)  # keygen, verify
    audit.register(sub)
    init_template.register(sub)
    requirements_cli.register(sub)
    constraints_cli.register(sub)
    ledger_cli.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from fibrecert.safefiles import InputError, sweep_stale

    sweep_stale()  # folders with secrets left by a fibrecert that was killed (docs/security.md)
    try:
        if args.command == "run":
            from fibrecert.runner import RunOptions, run

            return run(RunOptions(target=args.target, api=args.api, profile=args.profile,
                                  report_dir=args.report_dir, seed=args.seed, max_rps=args.max_rps,
                                  quiet=args.quiet, verbose=args.verbose, defects=tuple(args.sandbox_defect),
                                  events=args.events, concurrency=args.concurrency, only=tuple(args.only),
                                  skip=tuple(args.skip), sign=args.sign, expect=args.expect))
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "report":
            return _report(args)
        if args.command == "replay":
            from fibrecert.replay import replay

            return replay(args.results, args.exchange, args.target, allow_cease=args.allow_cease,
                          requirement=args.requirement)
        if args.command in ("keygen", "verify"):
            from fibrecert import signing

            return signing.run_keygen(args) if args.command == "keygen" else signing.run_verify(args)
        if hasattr(args, "handler"):  # sub-commands that register themselves (init, requirements)
            return args.handler(args)
        if args.command == "constraints":
            from fibrecert import constraints_cli

            return constraints_cli.run(args)
    except InputError as exc:  # the one boundary for an input file that cannot be used
        from fibrecert.wording import terminal_safe

        sys.stderr.write(f"fibrecert: {terminal_safe(str(exc), 500)}\n")
        return 2
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
            if d.conformant:  # a documented throttle: no defect, nothing may fail
                print(f"{d.name:<34} no defect {'(a run stays CONFORMANT)':<27} {d.description}")
                continue
            print(f"{d.name:<34} violates {', '.join(d.violates):<28} {d.description}")
            if d.may_also:
                print(f"{'':<34} may also violate {', '.join(d.may_also)} ({d.why})")
        return 0
    state = Path(args.state_dir) if args.state_dir else default_cache_dir() / "sandbox"
    try:
        sandbox = Sandbox(state, host=args.host, ports=(args.ala_port, args.ala_buyer_port, args.fibrecafe_port),
                          services=args.services, token_ttl=args.token_ttl, namespace=args.namespace,
                          defects=tuple(args.defect), latency_ms=args.latency_ms).start()
    except ValueError as exc:
        sys.stderr.write(f"fibrecert: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"fibrecert: cannot start the sandbox: {exc}\n")
        return 2
    try:
        target = sandbox.write_target(Path(args.target_file) if args.target_file else None)
    except OSError as exc:
        sandbox.stop()
        sys.stderr.write(f"fibrecert: --target-file {args.target_file or ''}: cannot write the target file "
                         f"({exc.strerror or type(exc).__name__})\n")
        return 2
    print(f"ALA seller   {sandbox.ala_url}  (mutual TLS: /ceaseOrder, /cancelOrder)")
    print(f"ALA buyer    {sandbox.ala_buyer_url}  (mutual TLS: /unsolicitedCeaseRequest)")
    print(f"Fibre Cafe   {sandbox.fibrecafe_url}  (OAuth2: /auth/tenant/access-token)")
    print(f"State        {sandbox.store.path}")
    if args.defect:
        print(f"Defects      {', '.join(args.defect)}")
    if args.latency_ms:
        print(f"Latency      {args.latency_ms:g} ms added to every answer and TLS handshake")
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
    from fibrecert.reports.json_writer import json_safe
    from fibrecert.reports.model import RunResult

    from fibrecert.wording import terminal_safe
    from fibrecert.safefiles import load_json

    path = Path(args.results)
    data = load_json(path, "results file")  # a regular file, size and nesting limits (InputError: exit 2)
    try:
        # json_safe: a results.json written elsewhere may hold NaN or a lone surrogate (\udXXX).
        result = RunResult.from_json(json_safe(data))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        sys.stderr.write(f"fibrecert: {path}: not a readable fibrecert results file "
                         f"({type(exc).__name__}: {terminal_safe(str(exc), 200)})\n")
        return 2
    out = Path(args.output) if args.output else path.parent
    try:
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(20, "not a folder")
        out.mkdir(parents=True, exist_ok=True)
        written = html_writer.write(result, out)
    except OSError as exc:
        sys.stderr.write(f"fibrecert: -o {out}: cannot write the report there ({exc.strerror or type(exc).__name__})\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - a results file of another shape than fibrecert writes: one line
        sys.stderr.write(f"fibrecert: {path}: not a readable fibrecert results file (cannot render it: "
                         f"{type(exc).__name__})\n")
        return 2
    print(f"{result.verdict}: {written}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
