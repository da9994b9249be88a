"""``--baseline SRC`` of the benchmarks: a measurement made again with an earlier neurosim package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def with_package(src: str, imports: str, expression: str) -> Any:
    """The JSON value of ``expression`` in a fresh Python whose ``neurosim`` is the package under
    ``src`` and whose ``benchmarks`` is this checkout's (``imports``: the statements it needs first).
    RuntimeError naming the last line the run printed to stderr when it fails."""
    if not (Path(src) / "neurosim" / "__init__.py").is_file():
        raise RuntimeError(f"{src} holds no neurosim package (give the folder above its neurosim/)")
    pkg = ROOT / "benchmarks"
    code = ("import importlib.util,json,sys\n"
            f"s=importlib.util.spec_from_file_location('benchmarks',{str(pkg / '__init__.py')!r},"
            f"submodule_search_locations=[{str(pkg)!r}])\n"
            "m=importlib.util.module_from_spec(s);sys.modules['benchmarks']=m;s.loader.exec_module(m)\n"
            f"{imports}\nprint('RESULT '+json.dumps({expression}))")
    path = [str(Path(src).resolve()), str(ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    # -P: no current directory on the path, so neurosim comes from src
    r = subprocess.run([sys.executable, "-P", "-c", code], env=dict(os.environ, PYTHONPATH=os.pathsep.join(path)),
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"the run with the neurosim of {src} failed: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
