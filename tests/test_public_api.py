"""Public faces: every package's ``__all__`` resolves, and no module imports another package's
``_private`` name (checked by parsing the imports of every module, not by running them)."""

from __future__ import annotations

import ast
import inspect
import importlib
from pathlib import Path

import pytest

from neurosim.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent

#: source folder -> import name (pyproject's package-dir mapping; benchmarks/testbench are top-level)
FOLDERS = {"neurosim": "neurosim", "rtl": "neurosim.rtl", "hwmodels": "neurosim.hwmodels",
           "reports": "neurosim.reports", "benchmarks": "benchmarks", "testbench": "testbench"}
#: the packages between which private names must not cross
PACKAGES = ("neurosim", "neurosim.core", "neurosim.model", "neurosim.run", "neurosim.sweep", "neurosim.rtl",
            "neurosim.hwmodels", "neurosim.reports", "benchmarks", "testbench")
#: the packages whose curated public face this test checks
FACES = ("neurosim", "neurosim.core", "neurosim.model", "neurosim.run", "neurosim.sweep", "neurosim.rtl",
         "neurosim.hwmodels", "neurosim.reports")


def package_of(dotted: str) -> str | None:
    """The longest package of PACKAGES that ``dotted`` (a module or an attribute path) lies in."""
    best = None
    for p in PACKAGES:
        if (dotted == p or dotted.startswith(p + ".")) and (best is None or len(p) > len(best)):
            best = p
    return best


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def modules():
    """(path, module name, is_package) of every Python file in the checked folders."""
    for folder, name in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            is_pkg = rel[-1] == "__init__"
            parts = rel[:-1] if is_pkg else rel
            yield path, ".".join((name, *parts)), is_pkg


def private_crossings(source: str, module: str, is_pkg: bool) -> list[str]:
    """Every ``from X import _name``, ``import X._mod`` and ``X._name`` (X an imported module or name)
    in ``source`` whose target lies in another package than ``module``."""
    own = package_of(module)
    here = module if is_pkg else module.rpartition(".")[0]
    tree = ast.parse(source)
    bound: dict[str, str] = {}  # local name -> dotted import path
    bad: list[str] = []

    def check(dotted: str, line: int) -> None:
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if is_private(part):
                prefix = ".".join(parts[:i])
                if package_of(prefix) is not None and package_of(prefix) != own:
                    bad.append(f"{module}:{line}: {dotted}")
                return

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                check(a.name, node.lineno)
                if a.asname:
                    bound[a.asname] = a.name
                else:
                    bound[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            for a in node.names:
                if a.name == "*":
                    continue
                check(f"{src}.{a.name}", node.lineno)
                bound[a.asname or a.name] = f"{src}.{a.name}"
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:  # the whole chain a.b.c once
            chain = []
            cur = node
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id in bound:
                check(".".join([bound[cur.id], *reversed(chain)]), node.lineno)
    return sorted(set(bad))


def test_checker_finds_crossings():
    """The checker itself: each form is caught across packages and allowed inside one."""
    src = (
        "from neurosim.run.runner import _softmax_stats\n"
        "import neurosim.core.engine as eng\n"
        "eng._walk_row\n"
        "from neurosim.model import network\n"
        "network._get(1)\n"
        "from neurosim.rtl.params import Params\n"
        "Params._cache\n"
        "import neurosim.hwmodels._impl\n"
        "from neurosim.run.fidelity import _histogram, Recorder\n"
        "from neurosim import __version__\n"
        "eng.__file__\n"
    )
    got = private_crossings(src, "benchmarks.x", False)
    assert sorted(g.split(": ")[1] for g in got) == sorted([
        "neurosim.run.runner._softmax_stats", "neurosim.core.engine._walk_row", "neurosim.model.network._get",
        "neurosim.rtl.params.Params._cache", "neurosim.hwmodels._impl", "neurosim.run.fidelity._histogram"])
    inside_run = private_crossings(src, "neurosim.run.fidelity", False)
    assert sorted(g.split(": ")[1] for g in inside_run) == sorted([
        "neurosim.core.engine._walk_row", "neurosim.model.network._get", "neurosim.rtl.params.Params._cache",
        "neurosim.hwmodels._impl"])
    assert private_crossings("from .fidelity import _histogram\n", "neurosim.run.runner", False) == []
    assert private_crossings("from ..core.engine import _walk_row\n", "neurosim.run.runner", False) == [
        "neurosim.run.runner:1: neurosim.core.engine._walk_row"]


def test_no_private_name_crosses_a_package():
    found = []
    n = 0
    for path, module, is_pkg in modules():
        n += 1
        found += private_crossings(path.read_text(encoding="utf-8"), module, is_pkg)
    assert n > 40  # the folders were found
    assert not found, "private names imported across packages:\n" + "\n".join(found)


@pytest.mark.parametrize("package", FACES)
def test_public_face_resolves(package):
    """Each package declares a curated ``__all__`` of public names, and every one of them resolves."""
    mod = importlib.import_module(package)
    names = getattr(mod, "__all__", None)
    assert names, f"{package} has no __all__"
    assert len(names) == len(set(names)), f"{package}.__all__ repeats a name"
    for name in names:
        assert not is_private(name), f"{package}.__all__ lists the private name {name}"
        getattr(mod, name)  # raises AttributeError for a name that does not resolve


def test_faces_load_lazily():
    """Importing the faces loads none of the heavy submodules (numba, llvmlite, matplotlib, Amaranth, Dask)
    and leaves the environment as it was (the vector width is set by an explicit call)."""
    import os
    import subprocess
    import sys

    code = ("import os, sys\n"
            "env = dict(os.environ)\n"
            "import neurosim, neurosim.core, neurosim.run, neurosim.reports, neurosim.sweep\n"
            "assert dict(os.environ) == env, 'import neurosim changed the environment'\n"
            "heavy = [m for m in ('numba', 'llvmlite', 'matplotlib', 'amaranth', 'dask', 'neurosim.core.engine',"
            " 'neurosim.run.runner') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "from neurosim.run import execute\n"
            "assert 'neurosim.run.runner' in sys.modules and neurosim.execute is execute\n")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "NEUROSIM_VECTOR_WIDTH")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr


def own_docstring(obj) -> str:
    """The docstring written for ``obj`` itself: a class's own ``__doc__`` (not a base class's, nor
    the ``Name(field, ...)`` signature that dataclasses and named tuples make up), a numba
    dispatcher's Python function's."""
    obj = getattr(obj, "py_func", obj)
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if doc.startswith(f"{obj.__name__}("):
            return ""
        return doc.strip()
    return (getattr(obj, "__doc__", None) or "").strip()


def public_callables():
    """(where, object) of every function and class named in the ``__all__`` of a face package or of
    one of its submodules, defined in this project."""
    seen = set()
    for _path, module, _is_pkg in modules():
        if package_of(module) not in FACES or module.endswith("__main__"):
            continue
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            fn = getattr(obj, "py_func", obj)
            if not (inspect.isfunction(fn) or inspect.isclass(fn)) or id(fn) in seen:
                continue
            if not getattr(fn, "__module__", "").startswith("neurosim"):
                continue
            seen.add(id(fn))
            yield f"{module}.{name}", obj


def test_own_docstring_checker():
    """The checker itself: a made-up dataclass signature and a base class's docstring do not count."""
    from dataclasses import dataclass

    @dataclass
    class Bare:
        x: int

    @dataclass
    class Documented:
        """A documented record."""
        x: int

    class Child(Documented):
        pass

    def f():
        """Does f."""

    assert own_docstring(Bare) == "" and own_docstring(Child) == ""
    assert own_docstring(Documented) == "A documented record." and own_docstring(f) == "Does f."


def test_public_callables_have_docstrings():
    """Every public function and class (``__all__`` of the faces and their submodules) says what it is."""
    found = list(public_callables())
    assert len(found) > 100  # the submodules were imported
    missing = [where for where, obj in found if not own_docstring(obj)]
    assert not missing, "public names without a docstring:\n" + "\n".join(missing)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_cli_help_lists_and_exits_zero(command, capsys):
    """``neurosim --help`` and every ``neurosim COMMAND --help`` print their help and exit 0
    (argparse %-formats help strings: a bare '%' in one used to crash the top-level help)."""
    from neurosim.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--help"] if command is None else [command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    if command is None:
        assert all(name in out for name in COMMANDS)
    else:
        assert out.startswith(f"usage: neurosim {command}")
