"""The package's functions stay small enough to read: at most 100 code lines (lines that
are neither blank, comment nor docstring) and at most 15 parameters each. A new capability
is a new function or a table row, not a branch in a long one."""

from __future__ import annotations

import ast
from pathlib import Path

import riskengine

PACKAGE = Path(riskengine.__file__).parent
MAX_CODE_LINES = 100
MAX_PARAMETERS = 15


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    first = node.body[0] if node.body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return set()


def code_lines(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the function's end that are neither blank, a comment, nor
    its docstring (nested functions count in the function that holds them)."""
    doc = _docstring_lines(node)
    return sum(1 for i in range(node.lineno, (node.end_lineno or node.lineno) + 1)
               if i not in doc and lines[i - 1].strip()
               and not lines[i - 1].strip().startswith("#"))


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = node.args
    return (len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None)
            + (a.kwarg is not None))


def functions(root: Path = PACKAGE):
    """``(where, code lines, parameters)`` of every function and method under ``root``."""
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                where = f"{path.relative_to(root.parent)}:{node.lineno}:{node.name}"
                yield where, code_lines(lines, node), parameters(node)


def test_no_function_has_more_than_100_code_lines():
    over = sorted(f"{where} ({n} code lines)" for where, n, _ in functions()
                  if n > MAX_CODE_LINES)
    assert not over, "\n".join(over)


def test_no_function_has_more_than_15_parameters():
    over = sorted(f"{where} ({n} parameters)" for where, _, n in functions()
                  if n > MAX_PARAMETERS)
    assert not over, "\n".join(over)


def test_the_count_skips_blank_lines_comments_and_the_docstring(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        'def f(a, b=1, *args, c, **kw):\n'
        '    """One line.\n\n    More docs.\n    """\n'
        '    # a comment\n\n'
        '    x = """not a docstring"""\n'
        '    def g():\n'
        '        return 1\n'
        '    return x\n')
    got = {where.rsplit(":", 1)[1]: (n, p) for where, n, p in functions(pkg)}
    assert got == {"f": (5, 5), "g": (2, 0)}  # def, x = ..., def g, return 1, return x
