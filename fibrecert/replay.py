"""`fibrecert replay RESULTS.json EXCHANGE`: send a recorded case again and re-run the checks it was
judged by.

results.json holds every exchange of a run as a structured Case (fibrecert/case.py) with the checks run
on it. Replay loads that Case, never parses evidence text:
- the chain it depends on goes first, in order: the exchanges its test data came from (an order an
  earlier answer assigned) and the exchanges it was judged with (the steps of a sequence, the earlier
  holder of an id that must be unique); the ids the target assigns now are carried into later steps;
- every ALA messageId is replaced by a fresh one, consistently (a step that repeated an earlier step's
  messageId repeats its replacement), since a seller answers a used messageId from memory;
- credentials come from the target file given (tokens are fetched anew), so a replay can be pointed at
  another deployment with --target;
- an active service the case ceased is test data: replay names the service it would cease instead (one of
  the target file's active_services that the results file does not name) and sends nothing until
  --allow-cease says so.

Exit status: 0 the target now satisfies every requirement the exchange was checked for; 1 it still
violates one (or gave no answer to judge); 2 usage or configuration error.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from lxml import etree

from fibrecert.case import MESSAGE_ID, ORDER, SERVICE, Case, JsonBody, RawBody, SoapBody, id_key
from fibrecert.target import TargetError, load_target
from fibrecert.transport import Exchange


class ReplayError(Exception):
    """A usage or configuration problem (exit 2)."""


def _chain(records: dict[str, dict[str, Any]], exchange_id: str) -> list[str]:
    """The exchange ids to send before `exchange_id`, in the order they were sent."""
    seen: set[str] = set()
    todo = [exchange_id]
    while todo:
        current = todo.pop()
        record = records.get(current)
        if record is None:
            raise ReplayError(f"exchange {current} is not in the results file")
        before = list(record.get("case", {}).get("after", []))
        for check in record.get("checks", []):
            before.extend(check.get("chain", []))
        for b in before:
            if b not in seen and b != exchange_id:
                seen.add(b)
                todo.append(b)
    return sorted(seen, key=id_key)


def _set_xml(xml: bytes, path: str, value: str) -> bytes:
    from fibrecert.contracts.soap import safe_parser

    root = etree.fromstring(xml, safe_parser())
    el: Any = root
    for part in path.split("."):
        el = next((c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == part), None)
        if el is None:
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
        if new is None or new == b.value:
            continue
        if isinstance(body, SoapBody) and b.path:
            body = SoapBody(_set_xml(body.xml, b.path, new))
        elif isinstance(body, JsonBody) and b.path and isinstance(body.value, dict) and b.path in body.value:
            old_value = body.value[b.path]
            body = JsonBody({**body.value, b.path: int(new) if isinstance(old_value, int) else new})
        elif isinstance(body, RawBody):
            body = RawBody(body.data.replace(b.value.encode(), new.encode()))
        bindings[kind] = type(b)(new, b.path, b.source)
    return case.with_(body=body, bindings=tuple(sorted(bindings.items())))


class Replayer:
    def __init__(self, results: dict[str, Any], target_file: str, *, allow_cease: bool = False,
                 out: TextIO = sys.stdout):
        from fibrecert.engine import Engine

        self.results, self.out, self.allow_cease = results, out, allow_cease
        self.records = {r["id"]: r for r in results.get("exchanges", [])}
        try:
            self.target = load_target(target_file)
        except TargetError as exc:
            raise ReplayError(str(exc)) from None
        self.engine = Engine(self.target, profile="smoke", concurrency=1)
        self.values: dict[str, str] = {}      # recorded value -> the value to send now
        self.sent: dict[str, Exchange] = {}   # recorded exchange id -> its replay
        self.tag = uuid.uuid4().hex[:8]

    def close(self) -> None:
        self.engine.close()

    def _case(self, exchange_id: str) -> Case:
        record = self.records[exchange_id]
        if "case" not in record:
            raise ReplayError(f"exchange {exchange_id} has no recorded case (a results file of an older fibrecert?)")
        case = Case.from_json(record["case"])
        if case.api not in self.target.apis:
            raise ReplayError(f"{self.target.path}: has no [{case.api}] section to send {exchange_id} to")
        return case

    def plan_services(self, ids: list[str]) -> list[tuple[str, str]]:
        """(recorded service, the one this replay would cease instead) for every service binding."""
        named = {b["value"] for r in self.records.values() for b in r.get("case", {}).get("bindings", {}).values()
                 if isinstance(b, dict) and "value" in b}
        fresh = [s for s in (self.target.ala.active_services if self.target.ala else ()) if s not in named]
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
        case = self._case(exchange_id)
        message = case.binding(MESSAGE_ID)
        if message is not None and message.value.strip() and message.value not in self.values:
            self.values[message.value] = f"{message.value}~replay-{self.tag}-{len(self.values) + 1}"
        order = case.binding(ORDER)
        if order is not None and order.source in self.sent:
            from fibrecert.suites.checks import assigned_id

            now = assigned_id(self.sent[order.source])
            if now is not None:
                self.values[order.value] = now
        replayed = _substitute(case, self.values).with_(id=f"{case.id}~replay")
        self.engine.enter(self.engine.test_lane(0, case.test, case.serves, case.api, None))
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

    def checks(self, exchange_id: str, only: str | None) -> list[tuple[str, dict[str, Any], Any, list[Exchange]]]:
        from fibrecert.suites.checks import CHECKS

        found = []
        for entry in self.records[exchange_id].get("checks", []):
            if only and entry["requirement"] != only:
                continue
            fn = CHECKS.get(entry["check"])
            if fn is None:
                raise ReplayError(f"check {entry['check']} is not known to this fibrecert version")
            chain = [self.sent[i] for i in entry.get("chain", []) if i in self.sent]
            found.append((entry["requirement"], entry, fn, [*chain, self.sent[exchange_id]]))
        return found


def replay(results_path: str, exchange_id: str, target_path: str | None = None, *, allow_cease: bool = False,
           requirement: str | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from fibrecert.redaction import redact
    from fibrecert.runner import terminal_safe

    try:
        results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        err.write(f"fibrecert: {results_path}: not a readable results file ({exc})\n")
        return 2
    records = {r.get("id"): r for r in results.get("exchanges", []) if isinstance(r, dict)}
    if exchange_id not in records:
        err.write(f"fibrecert: {results_path}: no exchange {exchange_id} (every exchange of the run has an id: "
                  "see the report's evidence or the \"exchanges\" list of results.json)\n")
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
        err.write(f"fibrecert: {exc}\n")
        return 2
    try:
        ids = [*_chain(records, exchange_id), exchange_id]
        plan = replayer.plan_services(ids)
        case = replayer._case(exchange_id)
        out.write(f"Replaying {exchange_id} ({case.operation} as {case.identity.name}) against "
                  f"{replayer.engine.url(case)} (target file {replayer.target.path})"
                  + (f", after {len(ids) - 1} earlier exchange(s) of its chain: {', '.join(ids[:-1])}" if len(ids) > 1 else "")
                  + "\n")
        if plan:
            what = ", ".join(f"{new} (in place of {old})" for old, new in plan)
            if not allow_cease:
                err.write(f"fibrecert: this replay would cease active service(s) {what} of the target file; "
                          "nothing was sent: add --allow-cease to go ahead\n")
                return 2
            out.write(f"Ceasing active service(s) {what}.\n")
            replayer.values.update(dict(plan))
        for i in ids:
            ex = replayer.send(i)
            recorded = records[i].get("answer")
            now = ex.status if ex.error is None else ex.error
            out.write(f"  {i}: {ex.method} {ex.url} as {ex.identity}: recorded {recorded}, now {now}\n")
        checks = replayer.checks(exchange_id, requirement)
        if not checks:
            err.write(f"fibrecert: exchange {exchange_id} has no recorded check"
                      + (f" for {requirement}" if requirement else "") + "\n")
            return 2
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
            outcome = replayer.engine.run_check(fn, chain, *args)
            was = entry.get("outcome", "")
            label = f"{req} {entry['check']}({', '.join(map(repr, entry.get('args', [])))})"
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
        err.write(f"fibrecert: {exc}\n")
        return 2
    except Exception as exc:  # a target that stops answering mid-chain, or anything else: one line
        from fibrecert.transport import TargetUnreachable

        if isinstance(exc, TargetUnreachable):
            err.write(f"fibrecert: the target stopped answering during the replay: {terminal_safe(str(exc))}\n")
            return 1
        raise
    finally:
        replayer.close()
