"""The package's import graph: module-level and function-local imports alike, relative
and absolute. Data flows one way, so no module imports (even late) one that imports it.
(That only the kernels import numba is tests/test_kernels.py's.) And what a process loads:
`import riskengine` none of the heavy libraries, a run only those it uses."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
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



# What a process loads: `import riskengine` none of the heavy libraries, `riskengine
# --help` none of the engine, and a run only what it uses. Each in a fresh interpreter.

HEAVY = ("numpy", "numba", "scipy", "scipy.stats", "scipy.optimize", "pandas", "xarray",
         "pyarrow", "dask", "dask.array", "distributed", "matplotlib", "pydantic", "rich")


def _loaded_after(code: str) -> list[str]:
    """The modules of HEAVY loaded once ``code`` has run in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_riskengine_loads_no_heavy_library():
    assert _loaded_after("import riskengine") == []


def test_help_loads_none_of_the_engine():
    code = ("import contextlib, io\nfrom riskengine.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    main(['run', '--help'])")
    assert _loaded_after(code) == []


def test_a_run_loads_no_optimizer_statistics_plots_or_cluster(tmp_path):
    """A plain ``riskengine run`` (the shipped program) loads what it simulates and writes
    with, and not SciPy's optimizers and distributions, matplotlib or dask.distributed."""
    code = ("import contextlib, io\nfrom riskengine.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['run', '--paths', '1024', '--quiet', '--out', {str(tmp_path / 'run')!r}]) == 0")
    loaded = _loaded_after(code)
    assert {"numba", "pandas", "xarray", "pyarrow"} <= set(loaded)  # (it ran)
    assert not {"scipy.optimize", "scipy.stats", "matplotlib", "distributed"} & set(loaded)


def test_a_run_without_dask_options_does_not_import_dask_array(tmp_path):
    """xarray imports dask.array to ask whether data is a dask array; a run without
    --dask-* makes none and tells xarray so, for the run only: xarray's record of dask
    is left as it was."""
    code = ("import contextlib, io\nfrom riskengine.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['run', '--paths', '1024', '--quiet', '--out', {str(tmp_path / 'run')!r}]) == 0\n"
            "from xarray.namedarray import pycompat\n"
            "assert 'dask' not in pycompat._cached_duck_array_modules")
    loaded = _loaded_after(code)
    assert "xarray" in loaded and "dask.array" not in loaded


def test_the_public_names_resolve_on_first_use():
    """``riskengine.X`` is what its module defines, for every public name; the lazy table
    and the imports a type checker reads name the same module for each; ``simulate`` and
    ``sensitivity`` stay the functions once their modules of the same name are loaded."""
    import importlib

    import riskengine.sensitivity  # (the modules, whatever the attributes)
    import riskengine.simulate

    typed = {}
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1
                typed.update({a.asname or a.name: imp.module for a in imp.names})
    assert typed == riskengine._SOURCES
    assert set(riskengine.__all__) | {"__version__"} == set(typed)
    for name, source in typed.items():
        module = importlib.import_module(f"riskengine.{source}")
        assert getattr(riskengine, name) is getattr(module, name)
    assert riskengine.simulate is sys.modules["riskengine.runs"].simulate
    assert callable(riskengine.sensitivity)
