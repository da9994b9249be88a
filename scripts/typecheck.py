"""Type-check the package with mypy (settings: [tool.mypy] in pyproject.toml); exit status is mypy's.

mypy cannot follow the editable install's package-dir mapping (hwmodels/ is neurosim.hwmodels, and so on),
so this builds the installed layout as a tree of links under build/typecheck/ and checks that tree,
printing each finding against the file in the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = Path("build") / "typecheck"
OTHER_PACKAGES = ("benchmarks", "testbench")


def link_tree() -> dict[str, str]:
    """Link neurosim/ and its mapped subpackages into TREE; returns {path in the tree: path in the repo}."""
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    mapped = {name.split(".", 1)[1]: src for name, src in dirs.items() if name.startswith("neurosim.")}
    pkg = ROOT / TREE / "neurosim"
    pkg.mkdir(parents=True, exist_ok=True)
    for old in pkg.iterdir():
        old.unlink()
    entries = {e.name: e for e in (ROOT / dirs["neurosim"]).iterdir() if e.name != "__pycache__"}
    entries.update({name: ROOT / src for name, src in mapped.items()})
    for name, target in entries.items():
        (pkg / name).symlink_to(target)
    back = {f"{TREE / 'neurosim' / name}/": f"{src}/" for name, src in mapped.items()}
    back[f"{TREE}/"] = ""
    return back


def main() -> int:
    back = link_tree()
    args = [sys.executable, "-m", "mypy", "-p", "neurosim"]
    for name in OTHER_PACKAGES:
        args += ["-p", name]
    env = dict(os.environ, MYPYPATH=str(TREE))
    res = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    for line in (res.stdout + res.stderr).splitlines():
        for tree_path, repo_path in back.items():   # the mapped subpackages first, then neurosim/ itself
            if line.startswith(tree_path):
                line = repo_path + line[len(tree_path):]
                break
        print(line)
    return res.returncode


if __name__ == "__main__":
    raise SystemExit(main())
