"""`fibrecert constraints [--api ala|fibrecafe|all] [--format table|json]`: the constraint inventory.

Every field path x constraint of each request, read from the contracts (XSD, OpenAPI), with the
requirement its negatives count for and how many negatives each profile sends for it. The counts come
from the same generator the suites use, on each operation's contract example (`full` adds values drawn
by Hypothesis from the run's seed; the count shown is for seed 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

PROFILES = ("smoke", "standard", "full")
SEED = 0  # the count under full depends on the seed (values drawn by Hypothesis); shown for seed 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("constraints", help="list the constraint inventory the negative suites attack",
                              description="Every field path x constraint of each request (from the XSD and the "
                                          "OpenAPI document), the requirement its negatives count for, how many "
                                          "negatives smoke, standard and full send for it, and the rule of the "
                                          "standard it rests on (a published fact, or the profile decision that "
                                          "makes the contract stricter than the published page).")
    p.add_argument("--api", choices=["ala", "fibrecafe", "all"], default="all")
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
    for c in constraints:
        out.append({**c.public(), "negatives": {p: counts[p][c.id] for p in PROFILES}})
    return out


def _table(items: list[dict[str, Any]], seed: int) -> str:
    head = ("constraint", "family", "detail", "requirement", "smoke", "standard", "full", "rule")
    lines = [(r["id"], r["family"], _clip(r["detail"], 60), r["requirement"] or "never sent",
              *(str(r["negatives"][p]) for p in PROFILES), r["rule"]) for r in items]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    widths[-1] = 0  # the rule, last: as long as it is
    fmt = "  ".join(f"{{:{'>' if 4 <= i < 7 else '<'}{w}}}" for i, w in enumerate(widths))
    text = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    text += [fmt.format(*line) for line in lines]
    attacked = sum(1 for r in items if r["requirement"])
    totals = {p: sum(r["negatives"][p] for r in items) for p in PROFILES}
    text.append("")
    text.append(f"{len(items)} constraints ({attacked} attacked, {len(items) - attacked} listed only) in "
                f"{len({r['operation'] for r in items})} operations; negatives sent: smoke {totals['smoke']}, "
                f"standard {totals['standard']}, full {totals['full']} (seed {seed})")
    return "\n".join(text)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def run(args: argparse.Namespace) -> int:
    from fibrecert import strategies

    items = rows(args.api, SEED)
    if args.format == "json":
        json.dump({"families": strategies.FAMILIES, "constraints": items}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(_table(items, SEED))
    return 0
