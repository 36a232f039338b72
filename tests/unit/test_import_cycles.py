"""No import cycles between the modules of our packages (ivr, callcenter, knowledge_base).

Every module is parsed with ``ast`` (nothing is imported), and every ``import`` statement in it
counts, wherever it stands: at the top, inside a function or a method, inside ``try``. A cycle
hidden by a deferred import (``def f(): from ivr.menu.engine import X``) is still a cycle: the
two modules cannot be understood, tested or split apart without each other.

Left out: imports under ``if TYPE_CHECKING:`` (they exist for the type checker only and never
run), and the implicit import of a module's parent packages (``import a.b.c`` runs
``a/__init__.py`` and ``a/b/__init__.py``; an edge is drawn to ``a.b.c`` only, otherwise every
package that re-exports from its own submodules would form a cycle with them).

Resolution: relative imports are made absolute; ``from pkg import name`` is an edge to
``pkg.name`` when that is one of our modules (a submodule), else to ``pkg``; an import of a
module we do not have whose prefix is ours (``import ivr.menu.engine.Thing``-like, or a
missing module) is an edge to the longest prefix we do have.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ivr", "callcenter", "knowledge_base")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, nested ones included, except those that run only
    under the type checker (the body of ``if TYPE_CHECKING:``; its ``else`` counts)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _ours(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its longest prefix that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base_parts = name.split(".")
                    # a package's own module is itself; a module's is its package
                    drop = node.level - 1 if is_package else node.level
                    base_parts = base_parts[:len(base_parts) - drop] if drop else base_parts
                    base = ".".join(base_parts)
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.append(submodule if submodule in modules else base)
            for target in targets:
                resolved = _ours(target, modules)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for target in edges:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest cycle through the first module of ``component`` (breadth first)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return component  # pragma: no cover - a component always holds a cycle


def cycles(graph: dict[str, set[str]]) -> list[str]:
    return [" -> ".join(shortest_cycle(graph, component)) + f"  (component: {component})"
            for component in strongly_connected(graph)]


def test_the_graph_sees_nested_and_relative_imports() -> None:
    """The resolver itself: a deferred import inside a function is an edge, an import under
    ``if TYPE_CHECKING:`` is not, ``from pkg import submodule`` is an edge to the submodule."""
    modules = our_modules()
    graph = import_graph(modules)
    assert "ivr.menu.engine" in graph
    assert "ivr.ports" in graph["ivr.menu.engine"]
    # callcenter/cli.py imports inside its command functions only
    assert any(target.startswith("callcenter.") for target in graph["callcenter.cli"])
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import ivr.bridge\n"
        "def f() -> None:\n    from ivr.menu import engine\n")
    names = {n.module if isinstance(n, ast.ImportFrom) and n.module else n.names[0].name
             for n in _imports(tree)}
    assert names == {"typing", "ivr.menu"}


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert shortest_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    found = cycles(import_graph(our_modules()))
    assert not found, "import cycles:\n" + "\n".join(found)
