"""Exact integer products for a few rows (cached decoding), straight from the INT8 weights.

``few_rows_linear(counts, w_int)`` equals :func:`neurosim.core.dense.exact_linear` (and
``int_linear``) bit for bit: integer multiply-accumulate in int32 when ``in * 128 * max|count|``
stays below 2^31 (the same bound that makes exact_linear return int32), else in int64; exact by
construction. A decode step multiplies one token by every weight matrix, so its cost is streaming
the weights: here they are read as INT8 (1 byte per weight), where the float32 BLAS route of
exact_linear first converts each matrix to float32 (4 bytes written, then read) on every call.
For many rows exact_linear (BLAS) is faster; :data:`FEW_ROWS` is where the projections switch.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["FEW_ROWS", "few_rows_linear"]

#: rows up to which the int8 projection uses few_rows_linear instead of exact_linear
FEW_ROWS = 4


def _rows_kernel(mul_t, acc_t):
    """A compiled ``out[r, o] = sum_i acc_t(mul_t(w[o, i]) * c[r, i])``: each INT8 weight widened to
    ``mul_t``, multiplied by the count and summed in ``acc_t``. int16 counts with (int16, int32):
    every product fits int32 (|w| <= 128, |c| < 2^15) and vectorises as 16-bit multiplies; the
    caller checks ``in * 128 * max|c| < 2^31`` for an int32 sum."""
    def rows(c, w, out):  # pragma: no cover - compiled
        n, k = c.shape
        for r in range(n):
            cr = c[r]
            for o in range(w.shape[0]):
                wr = w[o]
                acc = acc_t(0)
                for i in range(k):
                    acc += acc_t(mul_t(wr[i]) * cr[i])
                out[r, o] = acc
    return njit(cache=True, fastmath=False)(rows)


_k16 = _rows_kernel(np.int16, np.int32)
_k32 = _rows_kernel(np.int32, np.int32)
_k64 = _rows_kernel(np.int64, np.int64)


def few_rows_linear(counts, w_int) -> np.ndarray:
    """Exact ``counts @ w_int.T`` for integer counts [..., in] and INT8 weights [out, in]: int32
    when ``in * 128 * max|count| < 2^31`` (as exact_linear), else int64 (|sum| < 2^63 assumed:
    |count| < 2^46)."""
    w = np.asarray(w_int)
    if w.dtype != np.int8 or w.ndim != 2:
        raise ValueError(f"weights must be INT8 [out, in], got {w.dtype} {w.shape}")
    c = np.asarray(counts)
    if not np.issubdtype(c.dtype, np.integer) or c.shape[-1:] != (w.shape[1],):
        raise ValueError(f"counts {c.dtype} {c.shape} do not fit weights {w.shape}")
    K = w.shape[1]
    shape = c.shape[:-1] + (w.shape[0],)
    rows = c.reshape(-1, K)
    max_abs = int(np.abs(rows).max(initial=0)) if rows.size else 0
    if K * 128 * max(max_abs, 1) < 2**31:
        out = np.empty((rows.shape[0], w.shape[0]), np.int32)
        if max_abs < 2**15:
            _k16(np.ascontiguousarray(rows, dtype=np.int16), np.ascontiguousarray(w), out)
        else:
            _k32(np.ascontiguousarray(rows, dtype=np.int32), np.ascontiguousarray(w), out)
    else:
        if max_abs >= 2**46:
            raise ValueError("counts too large for an exact int64 product")
        out = np.empty((rows.shape[0], w.shape[0]), np.int64)
        _k64(np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(w), out)
    return out.reshape(shape)
