"""512-bit vectors for neurosim's numba kernels on AVX-512 hosts (code generation only).

LLVM tunes Skylake-X and later Intel cores with ``prefer-256-bit``, so numba's loops run 16 int16
lanes per instruction there instead of 32 (the engine's event loop most of all). Clearing that
tuning flag changes which instructions are emitted, never the integers: loops without fastmath
keep their order of float operations. docs/results/engine.md measures the engine with it.

It must be set before numba builds its target machine, which the first ``@njit`` decoration of
the process does: call :func:`prefer_wide_vectors` before importing a module that compiles kernels
(``neurosim.cli.main``, the benchmarks and the test suite do; ``import neurosim`` does not).
Opt out with ``NEUROSIM_VECTOR_WIDTH=256``; a user's own ``NUMBA_CPU_FEATURES`` always wins.
"""

from __future__ import annotations

import os
import sys

__all__ = ["prefer_wide_vectors"]

_FLAG = "-prefer-256-bit"


def prefer_wide_vectors() -> bool:
    """Clear ``prefer-256-bit`` in numba's CPU features where the host has AVX-512BW and numba's
    target machine is not built yet (it sets ``NUMBA_CPU_FEATURES``, so child processes compile the
    same). Returns whether numba's kernels use 512-bit vectors."""
    if os.environ.get("NEUROSIM_VECTOR_WIDTH") == "256":
        return False
    if "NUMBA_CPU_FEATURES" in os.environ:  # the user's (or a parent process's) choice
        return _FLAG in os.environ["NUMBA_CPU_FEATURES"].split(",")
    numba = sys.modules.get("numba")
    if numba is not None:
        from numba.core import registry

        built = "_toplevel_target_context" in registry.cpu_target.__dict__
        if built or numba.config.CPU_FEATURES is not None:
            return _FLAG in (numba.config.CPU_FEATURES or "").split(",")
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # pragma: no cover - llvmlite cannot read this host's features
        return False
    if "+avx512bw" not in features.split(","):
        return False
    features += "," + _FLAG
    if numba is not None:
        numba.config.CPU_FEATURES = features
    # numba reads the variable when it is imported (here, and in child processes: same code)
    os.environ["NUMBA_CPU_FEATURES"] = features
    return True
