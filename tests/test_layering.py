"""The layering of the product, read from the imports of every module (the AST, so imports inside
functions count too):

    core  <-  contracts  <-  apis (the dialects), strategies, the engine  <-  suites, sandbox, reports  <-  CLI

- the core (fibrecert/core/) imports no other part of the project;
- no import cycle between the parts: each subpackage (core, apis, contracts, strategies, suites, reports,
  sandbox) is one part, and so is each module directly in fibrecert/;
- only a dialect names an API's operations: the engine and the endpoint guard build no URL of their
  own, and a third API is a new module in fibrecert/apis/ (docs/adding-an-api.md).
"""

from __future__ import annotations

import ast
import importlib.util
from collections import defaultdict
from pathlib import Path

import pytest

import fibrecert

# the folders installed under the fibrecert package (pyproject.toml, [tool.setuptools.package-dir])
PACKAGES = ("core", "apis", "contracts", "strategies", "suites", "reports", "sandbox")


def _folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _modules() -> dict[str, Path]:
    """Every module of the product, by its dotted name."""
    found: dict[str, Path] = {}
    roots = {"fibrecert": Path(fibrecert.__file__).resolve().parent}
    roots.update({f"fibrecert.{p}": _folder(f"fibrecert.{p}") for p in PACKAGES})
    for name, folder in roots.items():
        pattern = "*.py" if name == "fibrecert" else "**/*.py"
        for path in folder.glob(pattern):
            rel = path.relative_to(folder).with_suffix("").parts
            dotted = ".".join((name, *rel))
            found[dotted.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports, anywhere in it (at the top, in functions, in classes)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module, *(f"{module}.{a.name}" for a in node.names)]
        for target in targets:
            while target and target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                out.add(target)
    return out


def part_of(module: str) -> str:
    """The part a module belongs to: its subpackage, or itself for a module directly in fibrecert/."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in PACKAGES:
        return ".".join(parts[:2])
    return module


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    edges = {name: _imports(name, path, modules) for name, path in modules.items()}
    parts: dict[str, set[str]] = defaultdict(set)
    for name, targets in edges.items():
        parts[part_of(name)]  # every part is a node, importing or not
        for target in targets:
            if part_of(target) != part_of(name):
                parts[part_of(name)].add(part_of(target))
    return edges, parts


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_every_part_and_imports_inside_functions():
    edges, parts = _graph()
    assert {f"fibrecert.{p}" for p in PACKAGES} <= set(parts)
    assert "fibrecert.apis" in parts["fibrecert.engine"]  # at the top of the module
    assert "fibrecert.engine" in edges["fibrecert.replay"]  # inside Replayer.__init__


def test_the_core_imports_no_other_part_of_the_project():
    edges, _ = _graph()
    core = {name: targets for name, targets in edges.items() if part_of(name) == "fibrecert.core"}
    assert core, "no core modules found"
    outside = {name: sorted(t for t in targets if part_of(t) != "fibrecert.core") for name, targets in core.items()}
    assert not {k: v for k, v in outside.items() if v}, outside


def test_no_import_cycle_between_the_parts():
    _, parts = _graph()
    assert cycles(parts) == []


def test_the_cycle_finder_finds_a_cycle():
    """The test above can fail: a cycle through three parts is found, and a chain is not one."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_dialects_sit_below_what_uses_them():
    """A dialect imports the core, the contracts and the strategies, never the engine, the suites, the
    reports or the command line: adding an API touches its dialect, not the engine."""
    _, parts = _graph()
    above = {"fibrecert.engine", "fibrecert.suites", "fibrecert.reports", "fibrecert.cli", "fibrecert.runner",
             "fibrecert.sandbox", "fibrecert.replay"}
    assert not parts["fibrecert.apis"] & above, sorted(parts["fibrecert.apis"] & above)


# Modules outside the dialects that still name an API, each for a reason a third API would not change.
NAMES_AN_API = {
    "fibrecert.ledger_cli": "reads the raw [ala] active_services of a target file that may not load whole yet",
    "fibrecert.constraints_cli": "prints the constraint inventory's ids, whose prefix names the contract kind",
}


def _names_of_apis(path: Path) -> list[str]:
    """The API names a module spells: as a string ("ala") or as an attribute (`target.ala`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and node.value in ("ala", "fibrecafe"):
            found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr in ("ala", "fibrecafe"):
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("POST /"):
            found.append(f"line {node.lineno}: {node.value!r}")
    return found


def _outside_the_dialects() -> list[str]:
    """The engine's modules (fibrecert/*.py), the core and the reports: everything a third API must not touch."""
    return sorted(name for name in _modules() if part_of(name) in ("fibrecert.core", "fibrecert.reports")
                  or (name.count(".") == 1 and name.split(".")[1] not in PACKAGES) or name == "fibrecert")


def test_the_scan_for_api_names_finds_them(tmp_path):
    """The test below can fail: a module naming an API by string or by attribute is found."""
    module = tmp_path / "m.py"
    module.write_text('def f(target):\n    return target.ala if "fibrecafe" else None\n')
    assert sorted(_names_of_apis(module)) == ["line 2: 'fibrecafe'", "line 2: .ala"]
    assert "fibrecert.engine" in _outside_the_dialects() and "fibrecert.reports.build" in _outside_the_dialects()


@pytest.mark.parametrize("module", _outside_the_dialects())
def test_no_api_is_named_outside_its_dialect(module):
    """Outside the dialects (fibrecert/apis/), the contracts, the generators, the suites and the sandbox,
    no module names an API or an operation: it asks the dialects (docs/adding-an-api.md)."""
    named = _names_of_apis(_modules()[module])
    if module in NAMES_AN_API:
        assert named, f"{module} names no API any more: remove it from NAMES_AN_API"
        return
    assert named == [], named


def test_the_operation_table_and_the_endpoint_guard_agree():
    from fibrecert import contracts, endpoints
    from fibrecert.apis import DIALECTS, operations

    table = operations()
    assert table == endpoints.OPERATIONS
    assert {op.name for op in DIALECTS["ala"].operations} == {f"POST /{op}" for op in contracts.ALA_OPERATIONS}
    for (api, name), op in table.items():
        assert op.api == api and op.name == name and op.endpoint in DIALECTS[api].endpoints
