"""`fibrecert replay RESULTS.json EXCHANGE`: send a recorded case again and re-run the checks it was
judged by.

results.json holds every exchange of a run as a structured Case (fibrecert/core/case.py) with the checks run
on it. Replay loads that Case, never parses evidence text:
- the chain it depends on goes first, in order: the exchanges its test data came from (an order an
  earlier answer assigned) and the exchanges it was judged with (the steps of a sequence, the earlier
  holder of an id that must be unique); the ids the target assigns now are carried into later steps;
- every ALA messageId is replaced by a fresh one, consistently (a step that repeated an earlier step's
  messageId repeats its replacement), since a seller answers a used messageId from memory;
- credentials come from the target file given (tokens are fetched anew), so a replay can be pointed at
  another deployment with --target;
- an active service the case ceased is test data: replay names the service it would cease instead (one of
  the target file's active_services that neither the results file names nor the target's ledger records
  as used) and sends nothing until --allow-cease says so; then it records that service in the ledger
  (NAME.ledger.json beside the target file) before sending, as a run does.

Exit status: 0 the target now satisfies every requirement the exchange was checked for; 1 it still
violates one (or gave no answer to judge); 2 usage or configuration error.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from lxml import etree

from fibrecert.apis import dialect
from fibrecert.core.case import MESSAGE_ID, ORDER, SERVICE, Case, JsonBody, RawBody, SoapBody, id_key
from fibrecert.core.exchange import Exchange
from fibrecert.ledger import Ledger, LedgerError
from fibrecert.target import TargetError, load_target


class ReplayError(Exception):
    """A usage or configuration problem (exit 2)."""


def _show(value: Any, limit: int = 60) -> str:
    from fibrecert.wording import terminal_safe

    return terminal_safe(value if isinstance(value, str) else repr(value), limit)


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ReplayError(f"{what} is not a list of exchange ids")
    return value


def _check_entries(record: dict[str, Any], exchange_id: str) -> list[dict[str, Any]]:
    """The record's checks, each {requirement, check, args, chain} of the right types (ReplayError)."""
    entries = record.get("checks", [])
    if not isinstance(entries, list):
        raise ReplayError(f"exchange {_show(exchange_id)}: its checks are not a list")
    for n, entry in enumerate(entries, start=1):
        where = f"exchange {_show(exchange_id)}: check {n}"
        if not isinstance(entry, dict) or not isinstance(entry.get("requirement"), str) \
                or not isinstance(entry.get("check"), str):
            raise ReplayError(f"{where} is not an object with a requirement and a check name")
        args = entry.get("args", [])
        scalar = (str, int, float, bool, type(None))
        if not isinstance(args, list) or not all(isinstance(a, scalar) or (isinstance(a, list) and all(
                isinstance(x, scalar) for x in a)) for a in args):
            raise ReplayError(f"{where}: its args are not a list of plain values")
        _str_list(entry.get("chain", []), f"{where}: its chain")
    return entries


def _chain(records: dict[str, dict[str, Any]], exchange_id: str) -> list[str]:
    """The exchange ids to send before `exchange_id`, in the order they were sent."""
    seen: set[str] = set()
    todo = [exchange_id]
    while todo:
        current = todo.pop()
        record = records.get(current)
        if record is None:
            raise ReplayError(f"exchange {_show(current)} is not in the results file")
        case = record.get("case", {})
        if not isinstance(case, dict):
            raise ReplayError(f"exchange {_show(current)}: its case is not an object")
        before = list(_str_list(case.get("after", []), f"exchange {_show(current)}: its case's after"))
        for check in _check_entries(record, current):
            before.extend(check.get("chain", []))
        for b in before:
            if b not in seen and b != exchange_id:
                seen.add(b)
                todo.append(b)
    return sorted(seen, key=id_key)


def load_results(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A results file from anywhere, as (the document, its exchange records by id); ReplayError (one
    line naming the file) for anything that is not one: read through fibrecert/safefiles.py (a regular
    file, a size and a nesting limit), then its shape checked. What the cases may send is checked when
    they are loaded (`Replayer.prepare`)."""
    from fibrecert.safefiles import InputError, load_json

    try:
        results = load_json(path, "results file")
    except InputError as exc:
        raise ReplayError(str(exc)) from None
    if not isinstance(results, dict):
        raise ReplayError(f"{path}: not a fibrecert results file (a JSON object is expected, not "
                          f"{type(results).__name__ if results is not None else 'null'})")
    exchanges = results.get("exchanges", [])
    if not isinstance(exchanges, list):
        raise ReplayError(f"{path}: not a fibrecert results file (\"exchanges\" is not a list)")
    records: dict[str, dict[str, Any]] = {}
    for n, record in enumerate(exchanges, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ReplayError(f"{path}: exchange {n} is not an object with an id")
        records[record["id"]] = record
    if results.get("target_file") is not None and not isinstance(results["target_file"], str):
        raise ReplayError(f"{path}: target_file is not a string")
    return results, records


def _set_xml(xml: bytes, path: str, value: str) -> bytes:
    from fibrecert.contracts.alapath import ElementPath
    from fibrecert.contracts.soap import safe_parser

    root = etree.fromstring(xml, safe_parser())
    el = ElementPath(path).find(root, namespace=None)  # the core names in whatever namespace was sent
    if el is None or not path:
        return xml
    el.text = value
    return etree.tostring(root)


def _substitute(case: Case, values: dict[str, str]) -> Case:
    """The case with every binding's old value replaced by its new one (by path where the body has
    structure, by value in raw bodies)."""
    body = case.body
    bindings = dict(case.bindings)
    for kind, b in list(bindings.items()):
        new = values.get(b.value)
        if new is None or new == b.value or not b.value:  # an empty value would be "found" everywhere
            continue
        if isinstance(body, SoapBody) and b.path:
            body = SoapBody(_set_xml(body.xml, b.path, new))
        elif isinstance(body, JsonBody) and b.path and isinstance(body.value, dict) and b.path in body.value:
            old_value = body.value[b.path]
            as_int = isinstance(old_value, int) and new.lstrip("-").isdigit() and len(new) < 40
            body = JsonBody({**body.value, b.path: int(new) if as_int else new})
        elif isinstance(body, RawBody):
            body = RawBody(body.data.replace(b.value.encode(), new.encode()))
        bindings[kind] = type(b)(new, b.path, b.source)
    return case.with_(body=body, bindings=tuple(sorted(bindings.items())))


class Replayer:
    def __init__(self, results: dict[str, Any], target_file: str, *, allow_cease: bool = False,
                 out: TextIO | None = None):
        from fibrecert.engine import Engine

        self.results, self.out, self.allow_cease = results, out or sys.stdout, allow_cease
        exchanges = results.get("exchanges", []) if isinstance(results, dict) else None
        if not isinstance(exchanges, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str)
                                                      for r in exchanges):
            raise ReplayError("not a fibrecert results file (give one read by load_results)")
        self.records = {r["id"]: r for r in exchanges}
        from fibrecert.endpoints import EndpointError, check_target

        try:
            self.target = load_target(target_file)
            check_target(self.target)
        except TargetError as exc:
            raise ReplayError(str(exc)) from None
        except EndpointError as exc:
            raise ReplayError(f"{self.target.path}: {exc}") from None
        self._cases: dict[str, Case] = {}
        self.engine = Engine(self.target, profile="smoke", concurrency=1)
        self.values: dict[str, str] = {}      # recorded value -> the value to send now
        self.sent: dict[str, Exchange] = {}   # recorded exchange id -> its replay
        self.tag = uuid.uuid4().hex[:8]

    def close(self) -> None:
        """The end: no longer in progress in the ledger (what it claimed stays recorded: it was sent to be
        ceased), then the connections."""
        try:
            for run_id in dict.fromkeys(getattr(self, "_claimed_as", [])):
                try:
                    self.ledger().settle(run_id, [])
                except LedgerError as exc:
                    sys.stderr.write(f"fibrecert: the ledger was not updated: {exc}\n")
        finally:
            self.engine.close()

    def _case(self, exchange_id: str) -> Case:
        """The recorded case, loaded and checked (fibrecert/endpoints.py: its operation, endpoint, path,
        credentials, method and headers) before anything is sent; ReplayError (one line) otherwise."""
        if exchange_id in self._cases:
            return self._cases[exchange_id]
        from fibrecert.endpoints import EndpointError, check_case

        record = self.records.get(exchange_id)
        if record is None:
            raise ReplayError(f"exchange {_show(exchange_id)} is not in the results file")
        if "case" not in record:
            raise ReplayError(f"exchange {_show(exchange_id)} has no recorded case (a results file of an older fibrecert?)")
        try:
            case = Case.from_json(record["case"])
            if case.id != exchange_id:
                raise ValueError(f"its case's id is {_show(case.id)}")
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, UnicodeError) as exc:
            raise ReplayError(f"exchange {_show(exchange_id)}: the recorded case cannot be used: "
                              f"{_show(str(exc) or type(exc).__name__, 200)}") from None
        if case.api not in self.target.apis:
            raise ReplayError(f"{self.target.path}: has no [{case.api}] section to send {_show(exchange_id)} to")
        try:
            check_case(self.target, case)
        except EndpointError as exc:
            raise ReplayError(f"exchange {_show(exchange_id)}: {exc}") from None
        try:
            dialect(case.api).encode(case.body)  # a recorded SOAP body must parse before anything is sent
        except Exception as exc:  # noqa: BLE001 - lxml and json raise many kinds: one line, exit 2
            raise ReplayError(f"exchange {_show(exchange_id)}: the recorded body cannot be sent "
                              f"({type(exc).__name__})") from None
        self._cases[exchange_id] = case
        return case

    def prepare(self, exchange_id: str, requirement: str | None = None) -> list[str]:
        """Every exchange to send for `exchange_id` (its chain, then itself), each case loaded and checked,
        and the checks it was judged by resolved: ReplayError before anything is sent when any of it
        cannot be used (a case that would leave the target, an unknown check name...)."""
        ids = [*_chain(self.records, exchange_id), exchange_id]
        for i in ids:
            self._case(i)
        self.resolve_checks(exchange_id, requirement)
        return ids

    def _fresh_services(self) -> list[str]:
        """The target file's active_services that neither the results name nor the ledger records as used."""
        named = {str(b["value"]) for r in self.records.values() if isinstance(r.get("case"), dict)
                 and isinstance(r["case"].get("bindings"), dict) for b in r["case"]["bindings"].values()
                 if isinstance(b, dict) and isinstance(b.get("value"), (str, int))}
        listed = [s for api in self.target.apis for s in dialect(api).active_services(self.target) if s not in named]
        try:
            return self.ledger().remaining(listed)
        except LedgerError as exc:
            raise ReplayError(str(exc)) from None

    def ledger(self) -> Ledger:
        """The target file's test-data ledger (NAME.ledger.json beside it), as a run uses it."""
        return Ledger.for_target(self.target.path)

    def claim_services(self, plan: list[tuple[str, str]], run_id: str, command: str = "") -> list[tuple[str, str]]:
        """Record in the ledger, before anything is sent, the services this replay will cease (atomically,
        as a run claims its own: two replays at once never take the same one); the plan with the
        services actually claimed. Recorded even if the cease then fails: never a ceased service that
        looks fresh."""
        if not plan:
            return plan
        try:
            # in progress until close() settles it: `fibrecert ledger --release-all` meanwhile keeps them
            claimed = self.ledger().claim(run_id, self._fresh_services(), len(plan), command=command, running=True)
        except LedgerError as exc:
            raise ReplayError(str(exc)) from None
        self._claimed_as = [*getattr(self, "_claimed_as", []), run_id]
        if len(claimed) < len(plan):
            try:
                self.ledger().settle(run_id, claimed)
            except LedgerError:
                pass
            raise ReplayError("no active service left to replay this ceaseOrder with: the target file's "
                              "unused active_services are all named in the results or the ledger (add fresh ones)")
        return [(old, new) for (old, _), new in zip(plan, claimed)]

    def plan_services(self, ids: list[str]) -> list[tuple[str, str]]:
        """(recorded service, the one this replay would cease instead) for every service binding."""
        fresh = list(reversed(self._fresh_services()))  # pop() takes the first unused one, as claim() does
        plan = []
        for i in ids:
            b = self._case(i).binding(SERVICE)
            if b is not None and b.value not in dict(plan):
                if not fresh:
                    raise ReplayError("no active service left to replay this ceaseOrder with: the target file's "
                                      "active_services are all named in the results (give a target file with fresh ones)")
                plan.append((b.value, fresh.pop()))
        return plan

    def send(self, exchange_id: str) -> Exchange:
        """Send one recorded exchange again. Its case and the checks it was judged by are checked first
        (ReplayError, nothing sent); `prepare` checks a whole chain before its first request."""
        case = self._case(exchange_id)
        self.resolve_checks(exchange_id, None)
        message = case.binding(MESSAGE_ID)
        if message is not None and message.value.strip() and message.value not in self.values:
            self.values[message.value] = f"{message.value}~replay-{self.tag}-{len(self.values) + 1}"
        order = case.binding(ORDER)
        if order is not None and order.source in self.sent:
            from fibrecert.apis import dialect

            earlier = self.sent[order.source]
            now = dialect(earlier.api).assigned_id(earlier)
            if now is not None:
                self.values[order.value] = now
        replayed = _substitute(case, self.values).with_(id=f"{case.id}~replay")
        self.engine.enter(self.engine.test_lane(0, case.test, case.serves, case.api))
        try:
            ex = self.engine.send(replayed)
        finally:
            self.engine.leave()
        self.sent[exchange_id] = ex
        return ex

    def rebind(self, arg: Any) -> Any:
        """A check argument that is a recorded binding (an echoed order id, a message id) takes the value
        this replay sent instead."""
        if isinstance(arg, bool) or not isinstance(arg, (str, int)) or str(arg) not in self.values:
            return arg
        new = self.values[str(arg)]
        return int(new) if isinstance(arg, int) and new.lstrip("-").isdigit() else new

    def resolve_checks(self, exchange_id: str, only: str | None) -> list[tuple[str, dict[str, Any], Any]]:
        """(requirement, recorded entry, check function) for each check `exchange_id` was judged by;
        ReplayError for a check name this fibrecert does not know or arguments it cannot take."""
        import inspect

        from fibrecert.suites.checks import CHECKS

        record = self.records.get(exchange_id)
        if record is None:
            raise ReplayError(f"exchange {_show(exchange_id)} is not in the results file")
        found = []
        for entry in _check_entries(record, exchange_id):
            if only and entry["requirement"] != only:
                continue
            fn = CHECKS.get(entry["check"])
            if fn is None:
                raise ReplayError(f"check {_show(entry['check'])} is not known to this fibrecert version: "
                                  "nothing was sent")
            try:
                inspect.signature(fn).bind(None, *entry.get("args", []))
            except (TypeError, ValueError):
                raise ReplayError(f"check {_show(entry['check'])} cannot take the recorded arguments: "
                                  "nothing was sent") from None
            found.append((entry["requirement"], entry, fn))
        return found

    def checks(self, exchange_id: str, only: str | None) -> list[tuple[str, dict[str, Any], Any, list[Exchange]]]:
        found = []
        for requirement, entry, fn in self.resolve_checks(exchange_id, only):
            chain = [self.sent[i] for i in entry.get("chain", []) if i in self.sent]
            found.append((requirement, entry, fn, [*chain, self.sent[exchange_id]]))
        return found


def replay(results_path: str, exchange_id: str, target_path: str | None = None, *, allow_cease: bool = False,
           requirement: str | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from fibrecert.core.redaction import redact
    from fibrecert.wording import terminal_safe

    out, err = out or sys.stdout, err or sys.stderr  # read now: the streams may have been replaced

    try:
        results, records = load_results(results_path)
    except ReplayError as exc:
        err.write(f"fibrecert: {terminal_safe(str(exc), 500)}\n")
        return 2
    if exchange_id not in records:
        err.write(f"fibrecert: {terminal_safe(str(results_path), 200)}: no exchange {_show(exchange_id)} (every "
                  "exchange of the run has an id: see the report's evidence or the \"exchanges\" list of results.json)\n")
        return 2
    target_file = target_path or results.get("target_file")
    if not target_file:
        err.write("fibrecert: the results name no target file: give --target FILE\n")
        return 2
    if not target_path:  # as recorded: relative to the folder of results.json (an older run's: absolute)
        if not isinstance(target_file, str):
            err.write(f"fibrecert: {results_path}: target_file is not a path: give --target FILE\n")
            return 2
        target_file = str(Path(results_path).parent / target_file)
    try:
        replayer = Replayer(results, target_file, allow_cease=allow_cease, out=out)
    except ReplayError as exc:
        err.write(f"fibrecert: {terminal_safe(str(exc), 500)}\n")
        return 2
    try:
        ids = replayer.prepare(exchange_id, requirement)  # every case checked before anything is sent
        if not replayer.resolve_checks(exchange_id, requirement):
            err.write(f"fibrecert: exchange {_show(exchange_id)} has no recorded check"
                      + (f" for {_show(requirement)}" if requirement else "") + "\n")
            return 2
        aged = [i for i in ids if replayer._case(i).identity.token_ages]
        if aged:
            err.write(f"fibrecert: exchange {_show(aged[0])} was sent with a short-lived token "
                      f"({replayer._case(aged[0]).identity.name}) at the age it had then; a replay would send a token "
                      "fetched now and could not reproduce its answer, so nothing was sent: run its test again "
                      "instead (fibrecert run --only REQUIREMENT)\n")
            return 2
        plan = replayer.plan_services(ids)
        case = replayer._case(exchange_id)
        out.write(f"Replaying {_show(exchange_id)} ({case.operation} as {case.identity.name}) against "
                  f"{replayer.engine.url(case)} (target file {replayer.target.path}"
                  + ("" if target_path else ", named by the results file: give --target for results from "
                     "someone else") + ")"
                  + (f", after {len(ids) - 1} earlier exchange(s) of its chain: {_show(', '.join(ids[:-1]), 500)}"
                     if len(ids) > 1 else "")
                  + "\n")
        if plan:
            what = ", ".join(f"{new} (in place of {old})" for old, new in plan)
            if not allow_cease:
                err.write(f"fibrecert: this replay would cease active service(s) {what} of the target file; "
                          "nothing was sent: add --allow-cease to go ahead\n")
                return 2
            plan = replayer.claim_services(plan, f"replay-{replayer.tag}", f"fibrecert replay {exchange_id}")
            what = ", ".join(f"{new} (in place of {old})" for old, new in plan)
            out.write(f"Ceasing active service(s) {what} (recorded in the ledger {replayer.ledger().path.name}).\n")
            replayer.values.update(dict(plan))
        for i in ids:
            ex = replayer.send(i)
            recorded = records[i].get("answer")
            now = ex.status if ex.error is None else ex.error
            out.write(f"  {_show(i)}: {terminal_safe(ex.method, 10)} {ex.url} as {ex.identity}: recorded "
                      f"{_show(recorded, 40)}, now {now}\n")
        checks = replayer.checks(exchange_id, requirement)
        last = replayer.sent[exchange_id]
        secrets = replayer.engine.secrets
        if last.error:
            out.write(f"Answer: no complete answer: {terminal_safe(redact(last.describe(), secrets))}\n")
        else:
            out.write(f"Answer: HTTP {last.status}\n")
            body = redact(last.text, secrets)
            if body:
                out.write(terminal_safe(body, 2000) + "\n")
        violated = 0
        for req, entry, fn, chain in checks:
            args = [replayer.rebind(a) for a in entry.get("args", [])]
            label = terminal_safe(f"{req} {entry['check']}({', '.join(map(repr, entry.get('args', [])))})", 300)
            try:
                outcome = replayer.engine.run_check(fn, chain, *args)
            except Exception as exc:  # noqa: BLE001 - recorded arguments a check cannot work with
                violated += 1
                out.write(f"  not run         {label}: the recorded arguments do not fit it ({type(exc).__name__})\n")
                continue
            was = _show(entry.get("outcome", ""), 40)
            if not outcome.exercised:
                violated += 1
                out.write(f"  still violated  {label}: {terminal_safe(outcome.observed)} (was: {was})\n")
            elif outcome.passed:
                out.write(f"  satisfied       {label} (was: {was})\n")
            else:
                violated += 1
                out.write(f"  still violated  {label}: {terminal_safe(redact(outcome.observed, secrets))} / "
                          f"Declared: {terminal_safe(outcome.declared)} (was: {was})\n")
        if violated:
            out.write(f"The target still violates {violated} of the {len(checks)} check(s) {exchange_id} was judged by.\n")
            return 1
        out.write(f"The target now satisfies every check {exchange_id} was judged by.\n")
        return 0
    except ReplayError as exc:
        err.write(f"fibrecert: {terminal_safe(str(exc), 500)}\n")
        return 2
    except Exception as exc:  # a target that stops answering mid-chain, or anything else: one line
        from fibrecert.core.exchange import TargetUnreachable

        if isinstance(exc, TargetUnreachable):
            err.write(f"fibrecert: the target stopped answering during the replay: {terminal_safe(str(exc))}\n")
            return 1
        raise
    finally:
        replayer.close()
