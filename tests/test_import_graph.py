"""The package's import graph has no cycle: every module of neurosim (rtl/, hwmodels/ and reports/
included, under their import names) and of benchmarks/, with the imports read from the source (ast).

Imports inside functions count as well: a deferred import hides a cycle from the interpreter's
start-up, not from the reader, and turns into an error as soon as someone moves it to the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: import name of a package -> its folder (pyproject.toml's package-dir)
FOLDERS = {"neurosim": ROOT / "neurosim", "neurosim.rtl": ROOT / "rtl", "neurosim.hwmodels": ROOT / "hwmodels",
           "neurosim.reports": ROOT / "reports", "benchmarks": ROOT / "benchmarks"}


def modules() -> dict[str, Path]:
    """Import name -> source file of every module of the packages in FOLDERS."""
    out = {}
    for pkg, folder in FOLDERS.items():
        for f in sorted(folder.rglob("*.py")):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([pkg, *parts])] = f
    return out


def imported(name: str, path: Path, known: dict[str, Path], deferred: bool) -> set[str]:
    """The modules of ``known`` that module ``name`` imports (at its top level only, or anywhere)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = ast.walk(tree) if deferred else iter(tree.body)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    wanted = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            wanted |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            wanted |= {base} | {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    out = set()
    for mod in wanted:
        while mod and mod not in known:
            mod = mod.rpartition(".")[0]
        if mod and mod != name:
            out.add(mod)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_cycles_finds_a_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imported_resolves_relative_and_from_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from . import sib\nfrom .pkg import thing\nimport x.y\n\ndef f():\n    from z import w\n")
    known = {"p.m": src, "p.sib": src, "p.pkg": src, "x": src, "z.w": src}
    assert imported("p.m", src, known, deferred=False) == {"p.sib", "p.pkg", "x"}
    assert imported("p.m", src, known, deferred=True) == {"p.sib", "p.pkg", "x", "z.w"}


#: cycles through a deferred import that are still to cut (none)
DEFERRED_TO_CUT: list[list[str]] = []


@pytest.mark.parametrize("deferred", [False, True], ids=["top-level", "with-deferred"])
def test_no_import_cycle(deferred):
    known = modules()
    assert "neurosim.run.fidelity" in known and "neurosim.hwmodels.flow" in known and "benchmarks.engine" in known
    graph = {name: imported(name, path, known, deferred) for name, path in known.items()}
    found = cycles(graph)
    assert [c for c in found if not deferred or c not in DEFERRED_TO_CUT] == []
