"""Thread-count-stable float arithmetic for the printed accuracy figures (``neurosim run`` and
``neurosim eval``).

OpenBLAS splits a matrix product over its threads in blocks whose partial sums are added in an
order that depends on the thread count, so ``OPENBLAS_NUM_THREADS`` changes the last bits of a float
product, and a last bit can move an INT8 rounding decision (a count across a .5 boundary; ten
points of perplexity change were once measured on one passage this way). :func:`blas_one_thread` pins every
BLAS library loaded in the process to one thread for the duration of a ``with`` block, whatever the
environment says. The rest needs no pinning: the integer products are exact (dense:
:func:`neurosim.core.dense.exact_linear`, float32 BLAS on blocks small enough that every partial sum
is an integer below 2^24; spike: the event-driven engine), and the numba kernels are either integer
(the engine) or parallel over independent heads only, so ``NUMBA_NUM_THREADS`` cannot change a bit.
"""

from __future__ import annotations

__all__ = ["blas_one_thread"]


def blas_one_thread():
    """Context manager pinning OpenBLAS (and any other BLAS, via ``threadpoolctl``) to one thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
