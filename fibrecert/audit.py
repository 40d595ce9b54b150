"""`fibrecert audit DIR --target FILE [--sample N] [--seed S] [--allow-cease]`: the operator's spot check
of a self-run certification (docs/operator.md).

A vendor's signature proves only that the vendor produced the report. The operator picks a reproducible
random sample of the report's exchanges (by default only those whose chain consumes no test data: no
ALA active service is ceased), sends each again to the live target through the replay machinery
(fibrecert/replay.py: the same requests as built from the target file, fresh messageIds and tokens, the
chain each exchange depends on first), re-runs the checks it was judged by, and compares:
- the judged outcome of every check (pass / violation / unanswered) with the recorded one;
- the observable facts the checks rely on (fibrecert/observed.py: status, error or fault code, reported
  state, whether each echoed value was echoed) of the exchange and of its chain, with the recorded ones;
- the SHA-256 fingerprints of the server certificates that answer now with those that answered the run
  (results.json `server_certificates`, bound by certificate.json).

Exit status: 0 the target agrees with its evidence; 1 it does not (each disagreement named, with the
exchange id), or it stopped answering; 2 bad input (no results.json, a bad target file, nothing to
sample, a sample that would cease services without --allow-cease).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any, TextIO

from fibrecert.apis import DIALECTS
from fibrecert.core.case import SERVICE, id_key
from fibrecert.core.identity import Identity

DEFAULT_SAMPLE = 20
EXIT_AGREES, EXIT_DISAGREES, EXIT_BAD_INPUT = 0, 1, 2


class AuditError(Exception):
    """Bad input (exit 2): one line."""


def _load(report: str) -> tuple[Path, dict[str, Any]]:
    path = Path(report)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditError(f"{path}: no results.json (give the report folder of a run)") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AuditError(f"{path}: not a readable results file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("exchanges"), list):
        raise AuditError(f"{path}: not a fibrecert results file (no exchanges)")
    return path, data


def _judged(record: dict[str, Any]) -> bool:
    """An exchange the run judged on a complete answer, with a case to send again."""
    return (isinstance(record.get("case"), dict) and isinstance(record.get("answer"), int)
            and any(isinstance(c, dict) and c.get("outcome") in ("pass", "violation") for c in record.get("checks", [])))


def _service(record: dict[str, Any]) -> str | None:
    case = record.get("case")
    bindings = case.get("bindings") if isinstance(case, dict) else None
    binding = bindings.get(SERVICE) if isinstance(bindings, dict) else None
    value = binding.get("value") if isinstance(binding, dict) else None
    return value if isinstance(value, str) else None


def _ages(record: dict[str, Any]) -> bool:
    """Sent with a short-lived token (the expiry requirement's, `Identity.token_ages`): what such an
    exchange shows depends on the token's age when it was sent (fresh, or past its expires_in), which a
    re-send with a token fetched now does not reproduce; the audit leaves them out of its sample."""
    case = record.get("case")
    if not (isinstance(case, dict) and case.get("api") in DIALECTS and isinstance(case.get("identity"), str)):
        return False
    try:
        return Identity.parse(case["api"], case["identity"]).token_ages
    except ValueError:
        return False


def _consumes(records: dict[str, dict[str, Any]], ids: list[str]) -> bool:
    """Whether sending these exchanges again would cease an active service (test data)."""
    for i in ids:
        bindings = records[i].get("case", {}).get("bindings", {})
        if isinstance(bindings, dict) and SERVICE in bindings:
            return True
    return False


def candidates(data: dict[str, Any], *, allow_cease: bool) -> tuple[list[str], dict[str, list[str]], int]:
    """(the exchange ids that may be sampled, each one's chain, how many were left out for consuming test
    data)."""
    from fibrecert.replay import ReplayError, _chain

    records = {r["id"]: r for r in data["exchanges"] if isinstance(r, dict) and isinstance(r.get("id"), str)}
    by_service: dict[str, list[str]] = {}
    for i, record in records.items():
        value = _service(record)
        if value is not None:
            by_service.setdefault(value, []).append(i)

    def full_chain(i: str) -> list[str]:
        """replay's chain, plus every earlier exchange that used the same active service (a second cease
        of a service is judged on the state the first left: without it the re-send would cease it anew)."""
        todo, seen = [i], set()
        while todo:
            current = todo.pop()
            for j in [*_chain(records, current), *(k for k in by_service.get(_service(records[current]) or "", [])
                                                   if id_key(k) < id_key(current))]:
                if j not in seen and j != i:
                    seen.add(j)
                    todo.append(j)
        return sorted(seen, key=id_key)

    chains: dict[str, list[str]] = {}
    consuming = 0
    for i, record in records.items():
        if not _judged(record) or _ages(record):
            continue
        try:
            chain = full_chain(i)
        except ReplayError:
            continue
        if any("case" not in records[c] for c in chain):
            continue
        if _consumes(records, [*chain, i]) and not allow_cease:
            consuming += 1
            continue
        chains[i] = chain
    return sorted(chains, key=id_key), chains, consuming


def _outcome(outcome: Any) -> str:
    return ("pass" if outcome.passed else "violation") if outcome.exercised else "unanswered"


def audit(report: str, target_path: str, *, sample: int = DEFAULT_SAMPLE, seed: int | None = None,
          allow_cease: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from fibrecert.core.exchange import TargetUnreachable
    from fibrecert.core.redaction import redact
    from fibrecert.observed import differences, facts
    from fibrecert.replay import Replayer, ReplayError
    from fibrecert.wording import terminal_safe

    try:
        if sample < 1:
            raise AuditError("--sample must be 1 or more")
        path, data = _load(report)
        pool, chains, consuming = candidates(data, allow_cease=allow_cease)
        if not pool:
            raise AuditError(f"{path}: no exchange to sample (judged on a complete answer"
                             + (", consuming no test data: --allow-cease also samples those that cease active "
                                "services" if consuming else "") + ")")
        if seed is None:
            seed = random.SystemRandom().randrange(1, 2**31)
        picked = sorted(random.Random(seed).sample(pool, min(sample, len(pool))), key=id_key)
        replayer = Replayer(data, target_path, allow_cease=allow_cease, out=out)
    except (AuditError, ReplayError) as exc:
        err.write(f"fibrecert: {exc}\n")
        return EXIT_BAD_INPUT

    records = replayer.records
    secrets = replayer.engine.secrets
    disagreements: dict[str, list[str]] = {}
    run_id = f"audit-{replayer.tag}"
    try:
        out.write(f"Audit of {path} against {replayer.target.path}: {len(picked)} of the {len(pool)} exchanges "
                  + ("" if allow_cease else f"that consume no test data ({consuming} others cease active services: "
                     "--allow-cease samples them too) ")
                  + f"(seed {seed}: --seed {seed} picks the same sample)\n")
        base_tag = replayer.tag
        for n, exchange_id in enumerate(picked, start=1):
            ids = [*chains[exchange_id], exchange_id]
            # each sample afresh: its own ids, and messageIds never sent before (replay numbers them per tag)
            replayer.values, replayer.sent, replayer.tag = {}, {}, f"{base_tag}-{n}"
            plan = replayer.plan_services(ids)
            if plan:  # only with --allow-cease (candidates() left consuming chains out otherwise)
                plan = replayer.claim_services(plan, run_id, f"fibrecert audit --allow-cease (sample {exchange_id})")
                replayer.values.update(dict(plan))
            found: list[str] = []
            for i in ids:
                ex = replayer.send(i)
                recorded = records[i].get("facts") or {"answer": records[i].get("answer")}
                now = facts(ex)
                for d in differences(recorded, {k: v for k, v in now.items() if k in recorded or k != "body"}):
                    found.append(f"{'' if i == exchange_id else f'(its chain step {i}) '}{terminal_safe(redact(d, secrets), 200)}")
            checks = replayer.checks(exchange_id, None)
            for req, entry, fn, chain in checks:
                args = [replayer.rebind(a) for a in entry.get("args", [])]
                outcome = replayer.engine.run_check(fn, chain, *args)
                was, now_outcome = entry.get("outcome"), _outcome(outcome)
                if was != now_outcome:
                    detail = outcome.observed if now_outcome != "pass" else "as declared"
                    found.append(f"{req} {entry['check']}: recorded {was}, now {now_outcome} "
                                 f"({terminal_safe(redact(str(detail), secrets), 200)})")
            last = replayer.sent[exchange_id]
            label = f"{exchange_id} {records[exchange_id].get('operation')} ({records[exchange_id].get('api')})"
            if found:
                disagreements[exchange_id] = found
                out.write(f"  DISAGREES  {label}:\n")
                for line in found:
                    out.write(f"             {line}\n")
            else:
                out.write(f"  agrees     {label}: {len(checks)} check(s), answer {last.describe()}"
                          + (f", after {len(ids) - 1} chain step(s)" if len(ids) > 1 else "") + "\n")
        cert_problems = _certificates(data.get("server_certificates"), replayer.engine.certificates_seen)
        for line in cert_problems:
            out.write(f"  DISAGREES  server certificate: {line}\n")
        if not cert_problems:
            seen = sorted({fp for fps in replayer.engine.certificates_seen.values() for fp in fps})
            if not data.get("server_certificates"):
                out.write(f"  note       server certificate: {', '.join(seen) or 'none seen'}; the results record none "
                          "to compare with (made by an older fibrecert)\n")
            else:
                out.write(f"  agrees     server certificate: {', '.join(seen) if seen else 'none seen (no TLS answer)'}"
                          " as recorded by the run\n")
    except ReplayError as exc:
        err.write(f"fibrecert: {exc}\n")
        return EXIT_BAD_INPUT
    except TargetUnreachable as exc:
        out.write(f"DISAGREES: the target stopped answering during the audit: {terminal_safe(str(exc))}\n")
        return EXIT_DISAGREES
    finally:
        replayer.close()
    if disagreements or cert_problems:
        parts = []
        if disagreements:
            parts.append(f"{len(disagreements)} of the {len(picked)} sampled exchanges ({', '.join(disagreements)})")
        if cert_problems:
            parts.append("the server certificate")
        out.write(f"DISAGREES: the live target does not answer as its evidence says: {' and '.join(parts)}\n")
        return EXIT_DISAGREES
    out.write(f"AGREES: the live target answered all {len(picked)} sampled exchanges as its evidence says\n")
    return EXIT_AGREES


def _certificates(recorded: Any, seen: dict[str, set[str]]) -> list[str]:
    """Every server certificate that answers now but did not answer the run (by fingerprint: the audit
    may reach the same target under another host name or port)."""
    if not isinstance(recorded, dict) or not recorded:
        return []  # nothing recorded to compare with (an older fibrecert, or no TLS): said by audit()
    known = {fp for fps in recorded.values() if isinstance(fps, list) for fp in fps if isinstance(fp, str)}
    out = []
    for origin, fps in sorted(seen.items()):
        for fp in sorted(fps - known):
            out.append(f"{origin} presents {fp}, not a certificate that answered the run "
                       f"({', '.join(sorted(known))})")
    return out


def register(subparsers: Any) -> None:
    from fibrecert.cli_help import HelpFormatter

    a = subparsers.add_parser(
        "audit", help="spot-check a report's evidence against the live target (the operator's check)",
        formatter_class=HelpFormatter,
        description="Send a reproducible random sample of a report's exchanges again to the live target "
                    "(through replay: fresh messageIds and tokens, each exchange's chain first), re-run the "
                    "checks they were judged by, and compare the judged outcomes, the observable facts "
                    "(status, error or fault code, echoed values) and the server certificates with the "
                    "recorded ones (docs/operator.md).",
        epilog="exit status: 0 the target agrees with its evidence; 1 it does not (each disagreement named "
               "with its exchange id); 2 bad input")
    a.add_argument("dir", metavar="DIR", help="the report folder (with results.json), or its results.json")
    a.add_argument("--target", metavar="FILE", required=True,
                   help="target file of the live target (its [ala] active_services are used only with --allow-cease)")
    a.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, metavar="N",
                   help=f"how many exchanges to send again (default {DEFAULT_SAMPLE}; fewer when fewer qualify)")
    a.add_argument("--seed", type=int, default=None, metavar="S",
                   help="pick the same sample again (default: a random seed, printed)")
    a.add_argument("--allow-cease", action="store_true",
                   help="also sample exchanges that cease an active service (each is replaced by an unused one of "
                        "the target file, recorded in its ledger)")
    a.set_defaults(handler=lambda args: audit(args.dir, args.target, sample=args.sample, seed=args.seed,
                                              allow_cease=args.allow_cease))
