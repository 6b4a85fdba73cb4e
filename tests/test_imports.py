"""The package's import graph: module-level and function-local imports alike, relative
and absolute. Data flows one way, so no module imports (even late) one that imports it.
(That only the kernels import numba is tests/test_kernels.py's.)"""

from __future__ import annotations

import ast
from pathlib import Path

import riskengine

PACKAGE = Path(riskengine.__file__).parent
NAME = PACKAGE.name


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path):
    """``(node, module)`` of every import in ``path``: each imported module's full name
    (``from . import x`` counts as importing the submodule ``x`` when it is one)."""
    me = _module(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            submodules = [f"{mod}.{a.name}" for a in node.names if _is_module(f"{mod}.{a.name}")]
            if node.module or len(submodules) < len(node.names):
                yield node, mod  # (``from . import x`` of a submodule reads only ``x``)
            for sub in submodules:
                yield node, sub


def graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports."""
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        me = _module(path)
        edges[me] = {m for _, m in _imports(path)
                     if (m == NAME or m.startswith(NAME + ".")) and m != me}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    edges = graph()
    assert "riskengine.simulate" in edges["riskengine.runs"]  # (the graph sees imports)
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

