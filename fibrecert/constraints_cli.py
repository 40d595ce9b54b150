"""`fibrecert constraints [--api ala|fibrecafe|all] [--format table|json]`: the constraint inventory.

Every field path x constraint of each request, read from the contracts (XSD, OpenAPI), with both sides:
the requirement its negatives count for and how many negatives each profile sends for it, and the
boundary-valid values sent next to it at every profile (`valid`: on and next to each bound, every enum
value; "fact" where the field is a target fact the suite never varies). The counts come from the same
generators the suites use, on each operation's contract example (`full` adds values drawn by Hypothesis
from the run's seed; the count shown is for seed 0). Below the table: the valid values of fields no
constraint bounds, and the fields never varied (target facts) or varied within their type (tracked).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from fibrecert.apis import api_choices
from fibrecert.core.profile import PROFILES
SEED = 0  # the count under full depends on the seed (values drawn by Hypothesis); shown for seed 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("constraints", help="list the constraint inventory the negative suites attack",
                              description="Every field path x constraint of each request (from the XSD and the "
                                          "OpenAPI document), the requirement its negatives count for, how many "
                                          "negatives smoke, standard and full send for it, and the rule of the "
                                          "standard it rests on (a published fact, or the profile decision that "
                                          "makes the contract stricter than the published page).")
    p.add_argument("--api", choices=api_choices(), default="all")
    p.add_argument("--format", choices=["table", "json"], default="table")


def rows(api: str = "all", seed: int = 0) -> list[dict[str, Any]]:
    """One dict per constraint: its public fields plus `negatives` = {profile: count}."""
    from fibrecert import strategies

    out: list[dict[str, Any]] = []
    constraints = strategies.inventory(api=api)
    counts: dict[str, Counter[str]] = {p: Counter() for p in PROFILES}
    for operation in dict.fromkeys(c.operation for c in constraints):
        payload = strategies.example(operation)
        for profile in PROFILES:
            counts[profile].update(n.constraint.id for n in strategies.negatives(operation, payload, profile, seed))
    valid: dict[str, list[dict[str, Any]]] = {}
    facts: dict[str, dict[str, str]] = {}
    for operation in dict.fromkeys(c.operation for c in constraints):
        for probe in strategies.boundary_probes(operation):
            valid.setdefault(probe.constraint or f"{operation}|{probe.path}", []).append(probe.public())
        facts[operation] = strategies.boundary_fixed_fields(operation)
    for c in constraints:
        fixed = facts[c.operation].get(c.path, "")
        out.append({**c.public(), "negatives": {p: counts[p][c.id] for p in PROFILES},
                    "valid": valid.get(c.id, []), **({"fixed": fixed} if fixed else {})})
    return out


def unbounded(api: str = "all") -> list[dict[str, Any]]:
    """The valid values sent for fields no constraint bounds, and the fields never varied, per operation."""
    from fibrecert import strategies

    out: list[dict[str, Any]] = []
    for operation in dict.fromkeys(c.operation for c in strategies.inventory(api=api)):
        free: dict[str, list[dict[str, Any]]] = {}
        for probe in strategies.boundary_probes(operation):
            if probe.constraint is None:
                free.setdefault(probe.path, []).append(probe.public())
        out.append({"operation": operation, "unbounded": [{"path": p, "valid": v} for p, v in free.items()],
                    "fixed": strategies.boundary_fixed_fields(operation)})
    return out


def _valid_cell(r: dict[str, Any]) -> str:
    if r["valid"]:
        return str(len(r["valid"]))
    return "fact" if r.get("fixed", "").startswith("target fact") else "-"


def _table(items: list[dict[str, Any]], seed: int, extra: list[dict[str, Any]] | None = None) -> str:
    head = ("constraint", "family", "detail", "requirement", *PROFILES, "valid", "rule")
    lines = [(r["id"], r["family"], _clip(r["detail"], 60), r["requirement"] or "never sent",
              *(str(r["negatives"][p]) for p in PROFILES), _valid_cell(r), r["rule"]) for r in items]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    widths[-1] = 0  # the rule, last: as long as it is
    counts = range(4, 4 + len(PROFILES))  # the profiles' columns, right-aligned
    fmt = "  ".join(f"{{:{'>' if i in counts else '<'}{w}}}" for i, w in enumerate(widths))
    text = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    text += [fmt.format(*line) for line in lines]
    attacked = sum(1 for r in items if r["requirement"])
    totals = {p: sum(r["negatives"][p] for r in items) for p in PROFILES}
    text.append("")
    text.append(f"{len(items)} constraints ({attacked} attacked, {len(items) - attacked} listed only) in "
                f"{len({r['operation'] for r in items})} operations; negatives sent: "
                f"{', '.join(f'{p} {n}' for p, n in totals.items())} (seed {seed})")
    bounded = [r for r in items if r["valid"]]
    text.append(f"valid: {sum(len(r['valid']) for r in items)} boundary-valid values next to {len(bounded)} "
                f"constraints, sent at every profile (\"fact\": a target fact, never varied)")
    text.append("")
    text.append("Boundary-valid values sent (on and next to each bound, every enum value):")
    for r in bounded:
        text.append(f"  {r['id']}: " + "; ".join(f"{v['label']} {v['value']}" for v in r["valid"]))
    for op in extra or []:
        for u in op["unbounded"]:
            text.append(f"  {API_OF(op['operation'])}:{op['operation']}:{u['path']} (no constraint bounds it): "
                        + "; ".join(f"{v['label']} {v['value']}" for v in u["valid"]))
    if extra:
        text.append("")
        text.append("Fields the boundary-valid requests do not choose:")
        for op in extra:
            for path, why in op["fixed"].items():
                text.append(f"  {API_OF(op['operation'])}:{op['operation']}:{path}: {why}")
    return "\n".join(text)


def API_OF(operation: str) -> str:  # noqa: N802 - the inventory's id prefix of an operation
    return "fc" if operation.startswith("/") else "ala"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def run(args: argparse.Namespace) -> int:
    from fibrecert import strategies

    items = rows(args.api, SEED)
    extra = unbounded(args.api)
    if args.format == "json":
        json.dump({"families": strategies.FAMILIES, "constraints": items, "operations": extra}, sys.stdout,
                  indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(_table(items, SEED, extra))
    return 0
