"""`fibrecert ledger TARGET [--services] [--format json] [--release ID ... | --release-all]`: the test-data
ledger beside a target file (fibrecert/ledger.py) as a tool.

Without --release: how many of the target file's `[ala] active_services` are used and unused, and which
runs used them (run id, when, the command); --services lists every service. --release gives back services
once the vendor has re-provisioned them (each ID a service or a run id; --release-all: every one), never
those of a run still in progress; the ledger is changed in one step under its lock, so a run starting
meanwhile never shares a service with another.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any, Sequence, TextIO

from fibrecert.cli_help import HelpFormatter, exit_codes
from fibrecert.ledger import Ledger, LedgerError, Use

__all__ = ["register", "run_ledger", "active_services"]


class _Usage(Exception):
    """A target file or argument that cannot be used: one line, exit 2."""


def active_services(target_path: str | Path) -> list[str]:
    """The target file's `[ala] active_services` (read without its secrets: no environment variable of the
    file need be set to look at its ledger)."""
    from fibrecert.safefiles import InputError, read_regular

    path = Path(target_path)
    try:
        text = read_regular(path, "target file").decode("utf-8")
        data = tomllib.loads(text)
    except InputError as exc:
        raise _Usage(str(exc)) from None
    except UnicodeDecodeError:
        raise _Usage(f"{path}: not a target file (not UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise _Usage(f"{path}: not a target file (TOML: {exc})") from None
    ala = data.get("ala")
    services = ala.get("active_services", []) if isinstance(ala, dict) else []
    if not isinstance(services, list) or not all(isinstance(s, str) and s for s in services):
        raise _Usage(f"{path}: [ala] active_services: must be a list of non-empty strings")
    return list(dict.fromkeys(services))


def _safe(text: str, limit: int = 200) -> str:
    from fibrecert.runner import terminal_safe

    return terminal_safe(text, limit)


def _runs(uses: Sequence[Use], live: set[str]) -> list[dict[str, Any]]:
    """One row per run that used services, in the order the runs first appear."""
    rows: dict[str, dict[str, Any]] = {}
    for u in uses:
        row = rows.setdefault(u.run, {"run": u.run, "at": u.at, "command": u.command, "services": 0,
                                      "in_progress": u.run in live})
        row["services"] += 1
        row["command"] = row["command"] or u.command
    return list(rows.values())


def show(ledger: Ledger, listed: list[str], *, services: bool, fmt: str, out: TextIO, target: str) -> int:
    uses = ledger.entries()
    live = {r.run for r in ledger.running() if r.in_progress()}
    by_service = {u.service: u for u in uses}
    unused = [s for s in listed if s not in by_service]
    used = [by_service[s] for s in listed if s in by_service]
    elsewhere = [u for u in uses if u.service not in set(listed)]
    runs = _runs(uses, live)
    if fmt == "json":
        out.write(json.dumps({
            "ledger": str(ledger.path), "target_file": target, "active_services": len(listed),
            "unused": unused, "used": [{"service": u.service, "run": u.run, "at": u.at, "command": u.command,
                                        "in_progress": u.run in live} for u in used],
            "not_in_target_file": [u.service for u in elsewhere], "runs": runs}, indent=1) + "\n")
        return 0
    out.write(f"Ledger {_safe(str(ledger.path))} (beside {_safe(target)})"
              + ("" if ledger.path.exists() else ": none yet (no run has used a service)") + "\n")
    out.write(f"active_services: {len(listed)} in the target file: {len(unused)} unused, {len(used)} used"
              + (f" (of which {sum(1 for u in used if u.run in live)} claimed by a run in progress)"
                 if any(u.run in live for u in used) else "") + "\n")
    if runs:
        out.write("Runs that used them, oldest first:\n")
        width = max(len(_safe(r["run"], 40)) for r in runs)
        for r in runs:
            state = "  (in progress)" if r["in_progress"] else ""
            out.write(f"  {_safe(r['run'], 40):<{width}}  {_safe(r['at'], 30)}  {r['services']:>5} services  "
                      f"{_safe(r['command'] or '(command not recorded)')}{state}\n")
    if elsewhere:
        out.write(f"{len(elsewhere)} used services are no longer listed in the target file "
                  "(--services lists them)\n")
    if services:
        out.write("Services:\n")
        for s in listed:
            u = by_service.get(s)
            if u is None:
                out.write(f"  {_safe(s, 100)}  unused\n")
            else:
                state = "claimed by a run in progress" if u.run in live else "used"
                out.write(f"  {_safe(s, 100)}  {state} by {_safe(u.run, 40)} at {_safe(u.at, 30)}\n")
        for u in elsewhere:
            out.write(f"  {_safe(u.service, 100)}  used by {_safe(u.run, 40)} at {_safe(u.at, 30)} "
                      "(not in the target file)\n")
    if used and not live:
        out.write(f"Once the vendor has re-provisioned them: fibrecert ledger {_safe(target)} --release-all "
                  "(or --release SERVICE|RUN ...)\n")
    return 0


def release(ledger: Ledger, listed: list[str], ids: list[str] | None, *, out: TextIO, target: str) -> int:
    done = ledger.release_used(ids)
    runs: dict[str, int] = {}
    for u in done.released:
        runs[u.run] = runs.get(u.run, 0) + 1
    left = ledger.remaining(listed)
    if done.released:
        which = ", ".join(f"{_safe(r, 40)}: {n}" for r, n in runs.items())
        out.write(f"Released {len(done.released)} service{'s' if len(done.released) != 1 else ''} ({which}) "
                  f"in {_safe(str(ledger.path))}: {len(left)} of the target file's {len(listed)} active_services "
                  "are now unused\n")
    else:
        out.write(f"Released nothing in {_safe(str(ledger.path))}: {len(left)} of the target file's {len(listed)} "
                  "active_services are unused\n")
    if done.kept:
        kept_runs = sorted({u.run for u in done.kept})
        out.write(f"Kept {len(done.kept)} claimed by a run in progress ({', '.join(_safe(r, 40) for r in kept_runs)}): "
                  "it may cease them at any moment; release them once it has finished\n")
    return 0


def run_ledger(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if args.release and args.release_all:
        err.write("fibrecert: ledger: --release and --release-all do not go together\n")
        return 2
    try:
        listed = active_services(args.target)
        ledger = Ledger.for_target(args.target)
        if args.release or args.release_all:
            return release(ledger, listed, None if args.release_all else list(args.release), out=out,
                           target=str(args.target))
        return show(ledger, listed, services=args.services, fmt=args.format, out=out, target=str(args.target))
    except (_Usage, LedgerError) as exc:
        err.write(f"fibrecert: {_safe(str(exc), 500)}\n")
        return 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `fibrecert ledger` to the CLI's sub-commands; `args.handler(args)` runs it."""
    p = subparsers.add_parser(
        "ledger", help="the test data runs have used: show it, or give it back once re-provisioned",
        description="The ledger beside a target file (NAME.toml -> NAME.ledger.json) records every one of its\n"
                    "[ala] active_services a run, replay or audit has claimed (ceased for real, or about to be).\n"
                    "Without --release: how many are used and unused, and which runs used them (run id, when,\n"
                    "command). --release gives services back once the vendor has re-provisioned them (they are\n"
                    "active again); it never gives back those of a run still in progress.",
        formatter_class=HelpFormatter,
        epilog=exit_codes("0  shown, or released (what was kept back is said)",
                          "2  usage or configuration error: an unreadable target file or ledger, an unknown id; "
                          "nothing changed"))
    p.add_argument("target", metavar="TARGET", help="the target file (its ledger is beside it)")
    p.add_argument("--services", action="store_true", help="also list every service: unused, or which run used it")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="a table for a terminal, or one JSON object")
    p.add_argument("--release", nargs="+", default=[], metavar="ID",
                   help="give back these services (each ID a service, or a run id: all of that run's) after the "
                        "vendor re-provisioned them")
    p.add_argument("--release-all", action="store_true",
                   help="give back every service in the ledger (the vendor re-provisioned the whole sandbox)")
    p.set_defaults(handler=run_ledger)
    return p
