"""The ``python-stdlib`` evaluation corpus: the standard library's own ``.py`` files of the running
interpreter (licence: the PSF License of that Python), tests and vendored code left out.

The file list is sorted by path relative to the standard library folder, so it depends only on the
Python version, which is recorded with it (:func:`corpus_record`). Windows are drawn one per file
(:func:`neurosim.run.windows.select_windows` with ``one_per_text``): files in a seeded random order,
a seeded random slot of each, so only the files drawn are tokenized and no two windows share a file.
"""

from __future__ import annotations

import platform
import sysconfig
from pathlib import Path

from neurosim import NeurosimError

__all__ = ["STDLIB_CORPUS", "stdlib_root", "stdlib_files", "stdlib_texts", "corpus_record"]

STDLIB_CORPUS = "python-stdlib"
#: folders left out anywhere in a path: tests, third-party and vendored code, bytecode
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "_vendor", "vendor",
              "__pycache__", "_bundled"}


def stdlib_root() -> Path:
    """The standard library folder of the running interpreter."""
    root = Path(sysconfig.get_paths()["stdlib"])
    if not (root / "os.py").is_file():
        raise NeurosimError(f"no Python standard library sources in {root} (os.py missing)")
    return root


def _is_test_or_vendored(rel: Path) -> bool:
    name = rel.name
    return bool(set(rel.parts[:-1]) & _SKIP_DIRS) or name.startswith("test_") or name.endswith("_test.py") \
        or name == "conftest.py"


def stdlib_files() -> list[str]:
    """The corpus files: paths relative to :func:`stdlib_root`, sorted, tests and vendored code out."""
    root = stdlib_root()
    rels = (p.relative_to(root) for p in root.rglob("*.py"))
    return sorted(r.as_posix() for r in rels if not _is_test_or_vendored(r))


def stdlib_texts() -> list[tuple[str, str]]:
    """(``stdlib/REL``, source text) for every corpus file, in :func:`stdlib_files` order."""
    root = stdlib_root()
    return [(f"stdlib/{rel}", (root / rel).read_text(encoding="utf-8", errors="replace"))
            for rel in stdlib_files()]


def corpus_record(corpus: str | None, texts: list[tuple[str, str]]) -> dict:
    """What eval.json says about the corpus: its sources in order, and for ``python-stdlib`` the
    Python version and implementation they belong to."""
    out: dict = {"sources": [s for s, _ in texts]}
    if corpus == STDLIB_CORPUS:
        out = {"name": STDLIB_CORPUS, "python": platform.python_version(),
               "implementation": platform.python_implementation(), "root": str(stdlib_root()),
               "files": len(texts), **out}
    return out
