"""The golden integer core on PyTorch tensors (optional extra ``neurosim[gpu]``), for ``--device cuda``.

The same formulas as :mod:`neurosim.core.quant` and :mod:`neurosim.core.dense`, on tensors that stay
on one torch device ("cuda" in runs; "cpu" works too, for tests without a GPU):

* :func:`quantize_activations_tensor`: per-token absmax (``V = max|x| / levels``, in float64, rounded
  to float32) or the adaptive threshold (``V_th = clip(mean|x| / k)``), ``s = round_half_to_even(x /
  V)`` in float32, clamp. Same operations, same IEEE rounding (divisions are true divisions by
  tensors, never by a reciprocal), so **absmax counts equal the CPU's bit for bit given the same
  float input**. Adaptive: the row mean of |x| is a float64 sum in another order than numpy's; V_th
  differs only when that float64 mean lies within its rounding error (about 1e-16 relative) of a
  float32 rounding boundary, and then only that row's counts can move by one.
* :func:`quantize_weights_tensor`: per output channel (or group) ``scale = max|w| / 127`` (float64,
  rounded to float32), ``w_int = round_half_to_even(w / scale)``: identical to the CPU.
* :meth:`TensorWeightQuant.product`: the exact integer product. CUDA: ``torch._int_mm`` (int8 x int8,
  int32 accumulation; exact while ``bound * 128 * K < 2^31``, e.g. 127 * 128 * 9728); counts beyond
  int8, or a CPU device: float64 matmul, exact while every partial sum is below 2^53; beyond that
  the CPU's :func:`neurosim.core.dense.exact_linear`. Shapes are zero-padded to what ``_int_mm``
  accepts (rows > 16, K and N multiples of 8); padding adds zeros and changes no integer.
* :func:`dequant_linear_tensor`: ``y = float32((acc * V) * w_scale)`` in float64, per group summed
  in group order, as :func:`neurosim.core.quant.dequant_linear`.
* :func:`count_histogram_tensor`: the histogram of the counts on the device (``bincount``), from
  which every spike statistic and event count follows (:func:`neurosim.core.coding.histogram_stats`,
  :func:`neurosim.core.dense.spike_events` with ``freq``).

``cuda_exact_linear`` / ``cuda_dense_linear`` wrap these for numpy in and out (tests, benchmarks).
``require_torch()`` / ``require_cuda()`` raise a one-line :class:`NeurosimError` naming the missing
piece (PyTorch, or a usable CUDA GPU); nothing here imports torch before one of them is called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim import NeurosimError
from neurosim.core.quant import VTH_MAX, VTH_MIN, check_activation_args

__all__ = ["INT32_EXACT", "F64_EXACT", "require_torch", "require_cuda", "torch_device", "TensorActQuant",
           "TensorWeightQuant", "quantize_activations_tensor", "quantize_weights_tensor", "dequant_linear_tensor",
           "count_histogram_tensor", "histogram_to_host", "cuda_exact_linear", "cuda_dense_linear"]

#: int32 accumulation is exact while |sum| < 2^31.
INT32_EXACT = 2**31
#: float64 holds every integer of magnitude <= 2^53 exactly.
F64_EXACT = 2**53
#: the smallest normal float32 (a scale below it counts as zero, as on the CPU)
_F32_TINY = float(np.finfo(np.float32).tiny)


def require_torch():
    """The ``torch`` module, or a one-line error naming the extra to install. Unless the caller set
    ``PYTORCH_CUDA_ALLOC_CONF``, the CUDA allocator grows its segments in place (``expandable_segments``):
    at long context the sequence-sized tensors of varying size otherwise leave reserved memory unusable."""
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    try:
        import torch
    except ImportError:
        raise NeurosimError("--device cuda needs PyTorch: install the extra, pip install 'neurosim[gpu]'") from None
    return torch


def require_cuda():
    """The ``torch`` module when PyTorch is installed and sees a CUDA GPU; else a one-line error."""
    torch = require_torch()
    if not torch.cuda.is_available():
        raise NeurosimError("--device cuda: PyTorch sees no usable CUDA GPU (torch.cuda.is_available() is False)")
    return torch


def torch_device(device: str):
    """``(torch, torch.device)`` for ``"cuda"`` (a usable GPU required) or ``"cpu"``."""
    if device not in ("cuda", "cpu"):
        raise NeurosimError(f"unknown torch device {device!r}; choose cuda or cpu")
    torch = require_cuda() if device == "cuda" else require_torch()
    return torch, torch.device(device)


def _pad(n: int, multiple: int, minimum: int = 0) -> int:
    return max(-(-n // multiple) * multiple, minimum)


def _scalar(t, value, dtype):
    """``value`` as a 0-d tensor on ``t``'s device: torch multiplies by the reciprocal when it
    divides by a Python number on a GPU, so every exact division here divides by a tensor."""
    import torch

    return torch.tensor(value, dtype=dtype, device=t.device)


@dataclass
class TensorActQuant:
    """Quantized activations on a torch device: ``x ~= scale * counts``."""

    counts: Any  #: int32 tensor, x's shape
    scale: Any  #: float32 tensor x.shape[:-1] + (1,): V or V_th of each row
    clamped: Any  #: int64 0-d tensor: values clamped
    bound: int  #: a bound on |counts| (the clamp, or the measured maximum without one)
    nonfinite: Any  #: int64 0-d tensor: NaN/inf entries of x (the caller refuses them)


def quantize_activations_tensor(x, scale: str = "absmax", k: float = 3.0, clamp: int | None = 127,
                                levels: int = 127) -> TensorActQuant:
    """:func:`neurosim.core.quant.quantize_activations` of a float tensor ``x`` [..., K] (see the
    module docstring for where the float order can differ). Non-finite inputs are counted in
    ``nonfinite`` rather than raised, so that the check costs no device synchronisation; without a
    clamp the maximum count is measured (one synchronisation) and counts >= 2^31 raise."""
    import torch

    check_activation_args(scale, k, clamp, levels)
    f64, f32 = torch.float64, torch.float32
    nonfinite = (~torch.isfinite(x)).sum()
    ax = x.abs()
    under = None
    if scale == "absmax":
        v = ax.amax(dim=-1, keepdim=True).to(f64) / _scalar(x, float(levels), f64)
        under = v.to(f32) < _F32_TINY
        v = torch.where(under, _scalar(x, 1.0, f64), v)
    else:
        n = _scalar(x, float(x.shape[-1]), f64)
        v = (ax.to(f64).sum(dim=-1, keepdim=True) / n / _scalar(x, float(k), f64)).clamp(VTH_MIN, VTH_MAX)
    del ax
    v32 = v.to(f32)
    q = x.to(f32) / v32   # a fresh tensor, rounded and clamped in place (the same values, less memory)
    if under is not None:
        q.masked_fill_(under, 0.0)  # a row below the smallest scale counts zero (x / 1 -> 0)
    q.round_()  # round half to even
    if clamp is not None:
        clamped = (q.abs() > clamp).sum()
        q.clamp_(-clamp, clamp)
        bound = int(clamp)
    else:
        clamped = torch.zeros((), dtype=torch.int64, device=x.device)
        top = float(q.abs().max()) if q.numel() else 0.0
        if top >= 2**31:
            raise NeurosimError("activation counts exceed int32; the adaptive threshold is far too small")
        bound = int(top)
    return TensorActQuant(counts=q.to(torch.int32), scale=v32, clamped=clamped, bound=bound, nonfinite=nonfinite)


@dataclass
class TensorWeightQuant:
    """Quantized weights on a torch device (``w ~= scale * w_int``) and, made on first use, the
    operands of the exact product (per weight group: int8 for ``_int_mm``, float64 otherwise)."""

    w_int: Any  #: int8 tensor [out, in]
    scale: Any  #: float32 tensor [out, 1] or [out, in // group_size]
    clamped: int  #: codes clamped to [-127, 127]
    group_size: int | None
    _operands: dict = field(default_factory=dict, repr=False)

    @property
    def groups(self) -> int:
        """Number of weight groups (1 with per-channel scales)."""
        return int(self.scale.shape[1])

    def product(self, counts, bound: int, j: int = 0):
        """Exact ``counts @ w_int[:, group j].T`` for integer ``counts`` [M, group width] with
        ``|counts| <= bound``: an int32 (``_int_mm``), float64 (integer-valued) or int64 tensor [M, out]."""
        import torch

        N, K = self.w_int.shape
        g = K if self.group_size is None else self.group_size
        M = counts.shape[0]
        cuda = counts.device.type == "cuda"
        if cuda and bound <= 127 and g * 128 * max(bound, 1) < INT32_EXACT:
            wt = self._operands.get(("i8", j))
            if wt is None:
                w = torch.zeros((_pad(N, 8), _pad(g, 8)), dtype=torch.int8, device=counts.device)
                w[:N, :g] = self.w_int[:, j * g:(j + 1) * g]
                wt = self._operands[("i8", j)] = w.t()  # column-major [in, out], the B of _int_mm
            Kp, Mp = wt.shape[0], _pad(M, 8, 24)
            a = counts.to(torch.int8)
            if (Mp, Kp) != (M, g):
                a = torch.nn.functional.pad(a, (0, Kp - g, 0, Mp - M))
            return torch._int_mm(a, wt)[:M, :N]
        if g * 128 * max(bound, 1) <= F64_EXACT:
            wf = self._operands.get(("f64", j))
            if wf is None:
                wf = self._operands[("f64", j)] = self.w_int[:, j * g:(j + 1) * g].to(torch.float64).t()
            return counts.to(torch.float64) @ wf
        from neurosim.core.dense import exact_linear

        w = self.w_int[:, j * g:(j + 1) * g].cpu().numpy()
        out = exact_linear(counts.cpu().numpy(), w).astype(np.int64)
        return torch.from_numpy(out).to(counts.device)


def quantize_weights_tensor(w, group_size: int | None = None) -> TensorWeightQuant:
    """:func:`neurosim.core.quant.quantize_weights` (clamp on) of a float tensor ``w`` [out, in]:
    the same codes and scales bit for bit. ``clamped`` is read back (one synchronisation)."""
    import torch

    if w.dim() != 2:
        raise NeurosimError(f"weights must be a 2-D [out, in] matrix, got shape {tuple(w.shape)}")
    out_f, in_f = w.shape
    gs = in_f if group_size is None else group_size
    if int(gs) != gs or gs < 1 or in_f % gs:
        raise NeurosimError(f"group_size {group_size!r} must be a positive divisor of in_features {in_f}")
    f32, f64 = torch.float32, torch.float64
    g = w.to(f32).reshape(out_f, in_f // gs, gs)
    s = (g.abs().amax(dim=2).to(f64) / _scalar(w, 127.0, f64)).to(f32)
    s = torch.where(s >= _F32_TINY, s, _scalar(w, 1.0, f32))
    q = torch.round(g / s[:, :, None])
    clamped = int((q.abs() > 127).sum())
    q = q.clamp(-127, 127)
    return TensorWeightQuant(w_int=q.reshape(out_f, in_f).to(torch.int8), scale=s, clamped=clamped,
                             group_size=group_size)


def dequant_linear_tensor(aq: TensorActQuant, wq: TensorWeightQuant):
    """Float32 ``y = V * w_scale * (W_int @ s)`` on the device, as :func:`neurosim.core.quant.dequant_linear`:
    exact integers times the float32 scales in float64 (``(acc * V) * w_scale``; per group summed in
    group order from zero, then times V), rounded once to float32. ``aq.counts`` [M, in]."""
    import torch

    f64 = torch.float64
    c = aq.counts
    if c.shape[-1] != wq.w_int.shape[1]:
        raise NeurosimError(f"activation features {c.shape[-1]} != weight in_features {wq.w_int.shape[1]}")
    a_scale = aq.scale.to(f64)
    if wq.group_size is None:
        acc = wq.product(c, aq.bound).to(f64)   # a fresh tensor: scaled in place, the same products
        return acc.mul_(a_scale).mul_(wq.scale[:, 0].to(f64)).to(torch.float32)
    g = wq.group_size
    y = torch.zeros((c.shape[0], wq.w_int.shape[0]), dtype=f64, device=c.device)
    for j in range(wq.groups):
        part = wq.product(c[:, j * g:(j + 1) * g].contiguous(), aq.bound, j)
        y += part.to(f64) * wq.scale[:, j].to(f64)
    return y.mul_(a_scale).to(torch.float32)


def count_histogram_tensor(counts, bound: int):
    """``(lo, freq)``: ``freq[i]`` (int64 tensor) is how many counts equal ``lo + i``, for counts
    with ``|c| <= bound``; values that do not occur have frequency 0. Stays on the device (the
    bincount of ``2 * bound + 1`` bins; beyond 2^20 bins the occurring values, one synchronisation)."""
    import torch

    flat = counts.reshape(-1)
    if bound <= 1 << 20:
        return -bound, torch.bincount(flat + bound, minlength=2 * bound + 1)
    values, freq = torch.unique(flat, return_counts=True)
    return values, freq


def histogram_to_host(lo, freq) -> tuple[np.ndarray, np.ndarray]:
    """The ``(values, freq)`` of :func:`neurosim.core.coding.count_histogram` (int64, occurring
    values only, ascending) from :func:`count_histogram_tensor`'s result."""
    f = freq.cpu().numpy().astype(np.int64)
    v = np.asarray(lo.cpu().numpy(), np.int64) if hasattr(lo, "cpu") else np.arange(len(f), dtype=np.int64) + lo
    keep = f > 0
    return v[keep], f[keep]


def _weights_on(w_int, torch, device) -> TensorWeightQuant:
    from neurosim.core.engine import _check_weights

    w = torch.from_numpy(np.ascontiguousarray(_check_weights(w_int))).to(device)
    return TensorWeightQuant(w_int=w, scale=torch.ones((w.shape[0], 1), device=device), clamped=0, group_size=None)


def cuda_exact_linear(counts, w_int, *, w_gpu: TensorWeightQuant | None = None, device: str = "cuda") -> np.ndarray:
    """Exact ``counts @ w_int.T`` (numpy in and out) by :meth:`TensorWeightQuant.product` on ``device``:
    int32 when ``in * 128 * max|count| < 2^31`` (as the CPU engine), else int64; equals
    :func:`neurosim.core.engine.int_linear`. ``w_gpu``: ``w_int`` already on the device (reused)."""
    from neurosim.core.engine import _check_counts, _check_weights

    torch, dev = torch_device(device)
    w = _check_weights(w_int)
    c = _check_counts(counts, w.shape[1])
    N, K = w.shape
    rows = c.reshape(-1, K)
    max_abs = int(np.abs(rows).max(initial=0))
    out_dtype = np.int32 if K * 128 * max(max_abs, 1) < INT32_EXACT else np.int64
    shape = c.shape[:-1] + (N,)
    if rows.shape[0] == 0:
        return np.zeros(shape, out_dtype)
    wq = w_gpu if w_gpu is not None else _weights_on(w, torch, dev)
    if max_abs < 2**31:
        t = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int32)).to(dev)
    else:  # beyond int32 counts: the CPU's exact int64 path
        from neurosim.core.dense import exact_linear

        return exact_linear(c, w)
    out = wq.product(t, max_abs).cpu().numpy()
    return out.astype(out_dtype).reshape(shape)


def cuda_dense_linear(counts, w_int, coding: str, T: int | None = None, *, w_gpu: TensorWeightQuant | None = None,
                      device: str = "cuda"):
    """:func:`neurosim.core.dense.dense_linear` with the product and the count histogram on ``device``
    (the way ``--device cuda`` counts events): the same result, bit for bit."""
    from neurosim.core.coding import check_coding, resolve_steps
    from neurosim.core.dense import spike_events
    from neurosim.core.engine import SpikeLinearResult, _check_counts, _check_weights

    check_coding(coding)
    w = _check_weights(w_int)
    c = _check_counts(counts, w.shape[1])
    T = resolve_steps(c, coding, T)
    out = cuda_exact_linear(c, w, w_gpu=w_gpu, device=device)
    torch, dev = torch_device(device)
    bound = int(np.abs(c).max(initial=0))
    lo, freq = count_histogram_tensor(torch.from_numpy(np.ascontiguousarray(c, dtype=np.int64)).to(dev), bound)
    values, f = histogram_to_host(lo, freq)
    events = spike_events(values, coding, T, freq=f)
    N, K = w.shape
    return SpikeLinearResult(out=out, events=events, accumulates=events * N,
                             dense_macs=int(np.prod(c.shape[:-1], dtype=np.int64)) * K * N)
