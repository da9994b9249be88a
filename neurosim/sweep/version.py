"""The code version a point's hash covers: the package version plus a digest of the source files
that compute results (neurosim, the RTL generator, the hardware models), so a changed model,
quantizer or flow never reuses an old point. The git commit is recorded when there is one."""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

from neurosim import __version__


def _roots() -> list[Path]:
    import neurosim
    roots = [Path(neurosim.__file__).parent]
    for name in ("neurosim.rtl", "neurosim.hwmodels"):
        try:
            import importlib
            roots.append(Path(str(importlib.import_module(name).__file__)).parent)
        except ImportError:
            pass
    return roots


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``VERSION+DIGEST``: 12 hex digits over every .py file of the result-computing packages."""
    h = hashlib.sha256()
    for root in _roots():
        for f in sorted(root.rglob("*.py")):
            if "__pycache__" in f.parts:
                continue
            h.update(f.relative_to(root.parent).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return f"{__version__}+{h.hexdigest()[:12]}"


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the source checkout (None outside a git work tree)."""
    root = _roots()[0].parent
    try:
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


__all__ = ["code_version", "git_commit"]
