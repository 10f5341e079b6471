"""The floors hold and nothing imports in a circle, read from the source with `ast` (nothing runs).

* dwcp/ holds sans-I/O protocol cores: no sockets, event loops, threads, clocks, processes or
  metrics inside, and from the agent only its own modules and the config model below it;
* transport/ (the I/O that drives the cores) reaches no floor above it;
* the SDK (its own distribution) never imports the agent, and neither imports tools/ (training),
  benchmarks/ or tests/;
* no import cycle among the agent's and the SDK's modules, nor among the parts of any package
  (dwcp/mode and dwcp/probe, transport and migration, ...). Imports inside functions count
  (deferring an import is how a cycle hides); imports under `if TYPE_CHECKING:` do not (they
  never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"novacron": REPO / "agent" / "novacron", "novacron_sdk": REPO / "sdk" / "novacron_sdk"}

# What a protocol core must not import: I/O, event loops, threads, clocks, processes, metrics, argv.
NOT_IN_CORES = frozenset({
    "socket", "ssl", "select", "selectors", "threading", "asyncio", "time", "concurrent",
    "subprocess", "multiprocessing", "signal", "prometheus_client", "argparse",
})  # fmt: skip
CORE_MAY_IMPORT = ("novacron.dwcp", "novacron.config")
ABOVE_TRANSPORT = ("novacron.migration", "novacron.vms", "novacron.api", "novacron.runtime", "novacron.cli",
                   "novacron.boot", "novacron.faces")  # fmt: skip


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module (or package) it names, absolute
    line: int
    deferred: bool  # inside a function
    type_only: bool  # under `if TYPE_CHECKING:`


def modules(roots: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under each root package."""
    out: dict[str, Path] = {}
    for top, root in roots.items():
        for path in sorted(root.rglob("*.py")):
            parts = [top, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """Every import statement in the file (and importlib/__import__ calls with a literal name),
    resolved to absolute names: `from pkg import mod` names pkg.mod when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(node: ast.AST, deferred: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    yield from walk_one(stmt, deferred, True)
                for stmt in child.orelse:
                    yield from walk_one(stmt, deferred, type_only)
                continue
            yield from walk_one(child, deferred, type_only)

    def walk_one(node: ast.AST, deferred: bool, type_only: bool) -> Iterator[Import]:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, line, deferred, type_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield Import(name, sub if sub in known else base, line, deferred, type_only)
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            yield Import(name, node.args[0].value, line, deferred, type_only)  # type: ignore[attr-defined]
        inner = deferred or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from walk(node, inner, type_only)

    yield from walk(ast.parse(path.read_text(), str(path)), False, False)


def _dynamic_import(call: ast.Call) -> bool:
    f = call.func
    named = (isinstance(f, ast.Name) and f.id == "__import__") or (
        isinstance(f, ast.Attribute) and f.attr == "import_module"
    )
    return named and bool(call.args) and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)


def owner(target: str, known: dict[str, Path]) -> str | None:
    """The module of ours that `target` names (a name inside a module counts as the module)."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> modules of ours it imports when it runs (TYPE_CHECKING imports left out)."""
    edges: dict[str, set[str]] = {m: set() for m in known}
    for name, path in known.items():
        for imp in imports_of(name, path, known):
            target = owner(imp.target, known)
            if target is not None and target != name and not imp.type_only:
                edges[name].add(target)
    return edges


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same imports between the parts of each package: within the package two imports have
    in common, the child (subpackage or module) holding the importer depends on the child holding
    the imported. So dwcp.mode -> dwcp.probe when anything in mode imports anything in probe, and
    transport -> migration when anything in transport imports migration. A package's modules
    using its own subpackages (or the other way round) are the module graph's concern."""
    out: dict[str, set[str]] = {}
    for a, targets in edges.items():
        pa = a.split(".")
        for b in targets:
            pb = b.split(".")
            k = 0
            while k < min(len(pa), len(pb)) and pa[k] == pb[k]:
                k += 1
            if k in (len(pa), len(pb)):  # one is the other's package
                continue
            here, there = ".".join(pa[: k + 1]), ".".join(pb[: k + 1])
            out.setdefault(here, set()).add(there)
            out.setdefault(there, set())
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


KNOWN = modules(ROOTS)
EDGES = graph(KNOWN)


def _imports_under(prefix: str) -> Iterator[Import]:
    for name, path in KNOWN.items():
        if name == prefix or name.startswith(prefix + "."):
            yield from imports_of(name, path, KNOWN)


def _within(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def test_the_tree_is_where_the_checks_look() -> None:
    assert {"novacron.dwcp.amst.receiver", "novacron.transport.channel", "novacron_sdk.errors"} <= set(KNOWN)


def test_protocol_cores_do_no_io() -> None:
    found = [f"{i.module}:{i.line} imports {i.target}" for i in _imports_under("novacron.dwcp")
             if i.target.split(".")[0] in NOT_IN_CORES]  # fmt: skip
    assert found == [], "dwcp/ must stay sans-I/O; move these a floor up (transport/, cli/, tools/)"


def test_protocol_cores_import_only_cores_and_the_config_model() -> None:
    found = [f"{i.module}:{i.line} imports {i.target}" for i in _imports_under("novacron.dwcp")
             if _within(i.target, ("novacron",)) and not _within(i.target, CORE_MAY_IMPORT)]  # fmt: skip
    assert found == []


def test_transport_reaches_no_floor_above_it() -> None:
    found = [f"{i.module}:{i.line} imports {i.target}" for i in _imports_under("novacron.transport")
             if _within(i.target, ABOVE_TRANSPORT)]  # fmt: skip
    assert found == []


def test_the_sdk_never_imports_the_agent() -> None:
    found = [f"{i.module}:{i.line} imports {i.target}" for i in _imports_under("novacron_sdk")
             if i.target == "novacron" or i.target.startswith("novacron.")]  # fmt: skip
    assert found == []


def test_nothing_shipped_imports_training_benchmarks_or_tests() -> None:
    offline = ("tools", "benchmarks", "tests")
    found = [f"{i.module}:{i.line} imports {i.target}" for name in ROOTS for i in _imports_under(name)
             if _within(i.target, offline)]  # fmt: skip
    assert found == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(EDGES) == []


def test_no_import_cycle_between_packages() -> None:
    assert cycles(package_graph(EDGES)) == []


@pytest.fixture
def tangled(tmp_path: Path) -> dict[str, Path]:
    """A package whose cycles hide as the agent's could: behind a function, and a type-only one."""
    pkg = tmp_path / "tangled"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "def later():\n    from tangled import b\n",
        "b.py": "from . import a\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tangled.d import D\n",
        "d.py": "from tangled.c import *\nclass D: ...\n",
        "e.py": "import importlib\nimportlib.import_module('socket')\nfrom tangled.sub import f\n",
        "sub/__init__.py": "",
        "sub/f.py": "from ..e import x\n",
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    return modules({"tangled": pkg})


def test_the_checks_see_deferred_relative_and_dynamic_imports(tangled: dict[str, Path]) -> None:
    edges = graph(tangled)
    assert cycles(edges) == [["tangled.a", "tangled.b"], ["tangled.e", "tangled.sub.f"]]  # c <-> d is type-only
    assert cycles(package_graph(edges)) == [["tangled.a", "tangled.b"], ["tangled.e", "tangled.sub"]]
    found = {i.target for i in imports_of("tangled.e", tangled["tangled.e"], tangled)}
    assert "socket" in found
