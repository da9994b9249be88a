"""Size limits that keep the code reviewable, over every package folder (checked by parsing the source,
not by importing it): no module over MAX_MODULE_LINES lines, no function over MAX_FUNCTION_LINES lines
(``def`` to last line, docstring and nested functions included), no function with more than
MAX_PARAMETERS parameters (``self``/``cls`` not counted; ``*args`` and ``**kwargs`` count one each).

EXEMPT lists the places still over a limit with their size today: an exempt place may shrink but not
grow, and its entry fails the test once it is within the limit, so the table cannot go stale."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("neurosim", "hwmodels", "rtl", "reports", "testbench", "benchmarks")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
MAX_PARAMETERS = 10
#: generated modules the module-size limit does not apply to (none today)
GENERATED: tuple[str, ...] = ()

#: (limit, place) -> its size today; a place is a file, or file:qualified.function.name. The two
#: SSE recurrences take the recurrence's own nine arrays (queries, keys, values, gates, routes) plus
#: their options: no settings object carries such per-call tensors, so the parameter limit (meant for
#: options a settings object holds) leaves them be.
EXEMPT: dict[tuple[str, str], int] = {
    ("parameters", "neurosim/model/layers.py:sse_recurrence"): 14,
    ("parameters", "neurosim/model/torch_layers.py:sse_recurrence"): 14,
}
LIMITS = {"module lines": MAX_MODULE_LINES, "function lines": MAX_FUNCTION_LINES, "parameters": MAX_PARAMETERS}


def parameter_count(fn: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> int:
    """Parameters of ``fn``: positional, keyword-only, ``*args`` and ``**kwargs``, less ``self``/``cls``."""
    a = fn.args
    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
    first = (a.posonlyargs + a.args)[:1]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)
    return n - (in_class and not static and bool(first) and first[0].arg in ("self", "cls"))


def measure_source(source: str, where: str) -> dict[tuple[str, str], int]:
    """Every size of one module: {(limit, place): size}, for the module and each function in it."""
    sizes = {("module lines", where): len(source.splitlines())}

    def visit(node: ast.AST, prefix: str, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                assert child.end_lineno is not None
                sizes[("function lines", f"{where}:{name}")] = child.end_lineno - child.lineno + 1
                sizes[("parameters", f"{where}:{name}")] = parameter_count(child, in_class)
                visit(child, name + ".", False)
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".", True)
            else:
                visit(child, prefix, in_class)

    visit(ast.parse(source, filename=where), "", False)
    return sizes


def measure_all() -> dict[tuple[str, str], int]:
    """The sizes of every module and function under FOLDERS (generated modules left out of module lines)."""
    sizes: dict[tuple[str, str], int] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            sizes.update(measure_source(path.read_text(), where))
            if where in GENERATED:
                del sizes[("module lines", where)]
    return sizes


SIZES = measure_all()


@pytest.mark.parametrize("limit", list(LIMITS))
def test_no_new_place_over_the_limit_and_no_exempt_place_grows(limit):
    assert sum(1 for kind, _ in SIZES if kind == "module lines") > 100      # every folder was read
    over = {place: size for (kind, place), size in SIZES.items() if kind == limit and size > LIMITS[limit]}
    new = {p: s for p, s in over.items() if (limit, p) not in EXEMPT}
    grown = {p: f"{EXEMPT[(limit, p)]} -> {s}" for p, s in over.items() if s > EXEMPT.get((limit, p), s)}
    assert not new, f"over {LIMITS[limit]} {limit}: {new} (cut them into named steps)"
    assert not grown, f"exempt places grew ({limit}): {grown}"


def test_exempt_table_is_not_stale():
    stale = {k: v for k, v in EXEMPT.items() if SIZES.get(k, 0) <= LIMITS[k[0]]}
    assert not stale, f"within the limit now (or gone): remove from EXEMPT: {sorted(stale)}"


def test_measure_counts_lines_parameters_and_nesting():
    body = "\n".join(f"    x{i} = {i}" for i in range(3))
    src = (f"class C:\n    def m(self, a, *b, c, **d):\n        def inner(e):\n            return e\n"
           f"        return a\n\n    @staticmethod\n    def s(self):\n        pass\n\n\ndef f(a, /, b):\n{body}\n")
    sizes = measure_source(src, "m.py")
    assert sizes[("module lines", "m.py")] == len(src.splitlines()) == 15
    assert sizes[("parameters", "m.py:C.m")] == 4 and sizes[("function lines", "m.py:C.m")] == 4
    assert sizes[("parameters", "m.py:C.m.inner")] == 1
    assert sizes[("parameters", "m.py:C.s")] == 1          # a static method's first parameter counts
    assert sizes[("parameters", "m.py:f")] == 2 and sizes[("function lines", "m.py:f")] == 4
