"""CUDA backend of the integer products (optional extra ``neurosim[gpu]``: PyTorch).

``cuda_exact_linear(counts, w_int)`` is :func:`neurosim.core.dense.exact_linear` on a CUDA GPU: INT8
counts times INT8 weights by the int8 tensor-core matmul with int32 accumulation
(``torch._int_mm``), exact by construction while ``max|count| * 128 * in_features < 2^31`` (for
INT8 counts, |c| <= 127: any K below 132,000, e.g. 127 * 128 * 9728 < 2^31). Counts beyond int8
use float64 on the GPU (exact below 2^53). ``cuda_dense_linear`` returns the same
:class:`SpikeLinearResult` as the CPU golden model, events counted from the counts (popcount by
coding, :func:`neurosim.core.dense.spike_events`). Shapes are zero-padded to what ``_int_mm``
accepts (rows > 16, K and N multiples of 8); padding adds zeros and changes no integer.

``require_cuda()`` raises a one-line :class:`NeurosimError` naming the missing piece (PyTorch, or a
usable CUDA GPU); nothing here imports torch before it is called.
"""

from __future__ import annotations

import numpy as np

from neurosim import NeurosimError

__all__ = ["INT32_EXACT", "require_cuda", "cuda_exact_linear", "cuda_dense_linear", "WeightCache"]

#: int32 accumulation is exact while |sum| < 2^31.
INT32_EXACT = 2**31


def require_cuda():
    """The ``torch`` module when PyTorch is installed and sees a CUDA GPU; else a one-line error."""
    try:
        import torch
    except ImportError:
        raise NeurosimError("--device cuda needs PyTorch: install the extra, pip install 'neurosim[gpu]'") from None
    if not torch.cuda.is_available():
        raise NeurosimError("--device cuda: PyTorch sees no usable CUDA GPU (torch.cuda.is_available() is False)")
    return torch


def _pad(n: int, multiple: int, minimum: int = 0) -> int:
    return max(-(-n // multiple) * multiple, minimum)


def _to_gpu_int8_t(w: np.ndarray, torch, device):
    """INT8 weights [out, in] -> padded [in8, out8] int8 on the GPU, column-major (the B of _int_mm)."""
    N, K = w.shape
    t = torch.zeros((_pad(N, 8), _pad(K, 8)), dtype=torch.int8, device=device)
    t[:N, :K] = torch.from_numpy(np.ascontiguousarray(w)).to(device)
    return t.t()


class WeightCache:
    """INT8 weights uploaded once per key (weight-stationary on the GPU), as padded [in, out] tensors."""

    def __init__(self):
        self._store: dict = {}

    def get(self, key, w_int: np.ndarray, torch, device):
        hit = self._store.get(key)
        if hit is not None and hit[0].shape == w_int.shape and np.array_equal(hit[0], w_int):
            return hit[1]
        t = _to_gpu_int8_t(w_int, torch, device)
        self._store[key] = (w_int.copy(), t)
        return t


def cuda_exact_linear(counts, w_int, *, w_gpu=None, device: str = "cuda") -> np.ndarray:
    """Exact ``counts @ w_int.T`` on the GPU, as numpy: int32 when ``in * 128 * max|count| < 2^31``
    (as the CPU engine), else int64; equals :func:`neurosim.core.engine.int_linear`.

    ``w_gpu``: the padded CUDA tensor of ``w_int`` from :class:`WeightCache` (uploaded when None)."""
    from neurosim.core.engine import _check_counts, _check_weights

    torch = require_cuda()
    w = _check_weights(w_int)
    c = _check_counts(counts, w.shape[1])
    N, K = w.shape
    rows = c.reshape(-1, K)
    M = rows.shape[0]
    max_abs = int(np.abs(rows).max(initial=0))
    out_dtype = np.int32 if K * 128 * max(max_abs, 1) < INT32_EXACT else np.int64
    shape = c.shape[:-1] + (N,)
    if M == 0:
        return np.zeros(shape, out_dtype)
    if max_abs <= 127 and K * 128 * max(max_abs, 1) < INT32_EXACT:
        wt = w_gpu if w_gpu is not None else _to_gpu_int8_t(w, torch, device)
        Kp, Np = wt.shape
        Mp = _pad(M, 8, 24)
        a = torch.zeros((Mp, Kp), dtype=torch.int8, device=device)
        a[:M, :K] = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int8)).to(device)
        out = torch._int_mm(a, wt)[:M, :N]
        return out.cpu().numpy().astype(out_dtype, copy=False).reshape(shape)
    if K * 128 * max(max_abs, 1) <= 2**53:  # wide counts: float64 on the GPU is exact below 2^53
        a = torch.from_numpy(rows.astype(np.float64)).to(device)
        b = torch.from_numpy(np.ascontiguousarray(w.T, dtype=np.float64)).to(device)
        return (a @ b).cpu().numpy().astype(out_dtype).reshape(shape)
    from neurosim.core.dense import exact_linear

    return exact_linear(c, w)  # beyond every float: the CPU's int64 path


def cuda_dense_linear(counts, w_int, coding: str, T: int | None = None, *, w_gpu=None, device: str = "cuda"):
    """:func:`neurosim.core.dense.dense_linear` with the product on the GPU (same result, bit for bit)."""
    from neurosim.core.coding import check_coding, resolve_steps
    from neurosim.core.dense import spike_events
    from neurosim.core.engine import SpikeLinearResult, _check_counts, _check_weights

    check_coding(coding)
    w = _check_weights(w_int)
    c = _check_counts(counts, w.shape[1])
    T = resolve_steps(c, coding, T)
    out = cuda_exact_linear(c, w, w_gpu=w_gpu, device=device)
    events = spike_events(c, coding, T)
    N, K = w.shape
    return SpikeLinearResult(out=out, events=events, accumulates=events * N,
                             dense_macs=int(np.prod(c.shape[:-1], dtype=np.int64)) * K * N)
