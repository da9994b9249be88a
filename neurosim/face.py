"""Lazy public faces of packages: ``package.name`` imports the owning submodule on first use.

A package ``__init__`` lists its public names by owning submodule and gets ``__all__``,
``__getattr__`` and ``__dir__`` from :func:`lazy_face`, so ``from neurosim.run import execute`` works
without importing every submodule (numba, matplotlib, Amaranth load only when needed)::

    __all__, __getattr__, __dir__ = lazy_face(__name__, {"runner": ("execute",), "trace": ("TraceWriter",)})
"""

from __future__ import annotations

import sys
from importlib import import_module

__all__ = ["lazy_face"]


def lazy_face(package: str, owners: dict[str, tuple[str, ...]]):
    """``(__all__, __getattr__, __dir__)`` for ``package`` whose public names live in the submodules
    ``owners`` (submodule name relative to the package, or an absolute dotted module -> its names)."""
    where = {name: mod for mod, names in owners.items() for name in names}
    if len(where) != sum(len(n) for n in owners.values()):
        raise ValueError(f"{package}: a public name is listed under two modules")

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        mod = where[name]
        value = getattr(import_module(mod if "." in mod else f"{package}.{mod}"), name)
        setattr(sys.modules[package], name, value)  # later lookups are plain attribute reads
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(where))

    return list(where), __getattr__, __dir__
