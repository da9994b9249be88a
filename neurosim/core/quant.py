"""INT8 quantizers: per-token activation counts and per-channel (or per-group) weights.

Activations, one scale per token row (the last axis is the feature axis):

* ``absmax`` (default): ``V = max(|x|) / 127``, ``s = round_half_to_even(x / V)``; INT8 by construction.
* ``adaptive`` (SpikingBrain 1.0): ``V_th = mean(|x|) / k`` clamped to [1e-5, 1e4],
  ``s = round_half_to_even(x / V_th)``, then clamped to ``[-clamp, clamp]`` or, with ``clamp=None``,
  left unclamped (large counts become bursts with more time steps, as in the 1.0 code).
  Clamping adaptive counts to 8 bits destroys a real model, so the caller must choose.

The dequantized linear output is ``y = V * w_scale * (W_int @ s)``; the integer product is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim import NeurosimError
from neurosim.core.engine import int_linear

SCALES = ("absmax", "adaptive")
#: SpB1.0's bounds on the adaptive threshold V_th.
VTH_MIN, VTH_MAX = 1e-5, 1e4
#: Smallest normal float32: a scale below it (subnormal) would lose precision, so it counts as zero.
_F32_TINY = np.float32(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class ActQuant:
    """Quantized activations: ``x ~= scale * counts``."""

    counts: np.ndarray  #: int32, same shape as x
    scale: np.ndarray  #: float32, shape x.shape[:-1] + (1,): V or V_th of each row
    clamped: int  #: number of values that were clamped
    #: (smallest, largest) count when the quantizer knows it (None: not recorded)
    count_range: tuple[int, int] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class WeightQuant:
    """Quantized weights: ``w ~= scale * w_int`` (per output channel, or per group of inputs)."""

    w_int: np.ndarray  #: int8 [out, in]
    scale: np.ndarray  #: float32 [out, 1] or [out, in // group_size]
    clamped: int  #: number of codes clamped to [-127, 127]
    group_size: int | None


def _check_float(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise NeurosimError(f"{what} must be a floating-point array, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[-1] == 0:
        raise NeurosimError(f"{what} must have a non-empty last (feature) axis, got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise NeurosimError(f"{what} contains {bad} NaN/inf value(s)")
    return x


def check_activation_args(scale: str, k: float, clamp: int | None, levels: int) -> None:
    """The argument checks of :func:`quantize_activations` (one-line NeurosimErrors), shared with
    its tensor form in :mod:`neurosim.core.gpu`."""
    if scale not in SCALES:
        raise NeurosimError(f"unknown activation scale {scale!r}; choose one of {', '.join(SCALES)}")
    if clamp is not None and (int(clamp) != clamp or clamp < 1):
        raise NeurosimError(f"clamp must be a positive integer or None, got {clamp!r}")
    if scale == "absmax":
        if clamp is None:
            raise NeurosimError("absmax scaling is INT8 by construction; clamp=None only applies to adaptive")
        if int(levels) != levels or not 1 <= levels <= clamp:
            raise NeurosimError(f"absmax levels must be an integer in [1, clamp={clamp}], got {levels!r}")
    elif not (k > 0 and np.isfinite(k)):
        raise NeurosimError(f"adaptive threshold divisor k must be a positive number, got {k!r}")


def quantize_activations(
    x: np.ndarray, scale: str = "absmax", k: float = 3.0, clamp: int | None = 127, levels: int = 127
) -> ActQuant:
    """Quantize each row of ``x`` (last axis = features) to integer spike counts.

    ``clamp`` is the largest allowed |count| (``None``: no clamp, only for ``adaptive``).
    ``levels`` is absmax's largest count: ``V = max|x| / levels`` (127 = INT8; a longer spike
    window holds more, e.g. 2047 for an 11-step bitwise window); it must not exceed ``clamp``.
    Rows that are all zero (or whose absmax scale is below float32's normal range) get scale 1.0 and
    zero counts.
    """
    check_activation_args(scale, k, clamp, levels)
    xa = np.asarray(x)
    if (scale == "absmax" and clamp is not None and xa.dtype in (np.float32, np.float64) and xa.ndim >= 1 and xa.shape[-1]
            and xa.size):
        from neurosim.core.fast import absmax_counts

        r = absmax_counts(xa, levels, clamp)  # one numba pass, bit-identical to the numpy path below
        if r is not None:
            counts, v32, clamped, lo, hi = r
            return ActQuant(counts=counts, scale=v32, clamped=clamped, count_range=(lo, hi))
    return _quantize_activations_numpy(x, scale, k, clamp, levels)


def _quantize_activations_numpy(x, scale="absmax", k=3.0, clamp=127, levels=127) -> ActQuant:
    """The numpy reference of :func:`quantize_activations` (the adaptive scale and the checks)."""
    x = _check_float(x, "activations")
    check_activation_args(scale, k, clamp, levels)
    ax = np.abs(x)
    if scale == "absmax":
        v = ax.max(axis=-1, keepdims=True).astype(np.float64) / float(levels)
        # rows whose scale is not a normal float32 (all zero, or tiny values) quantize to 0
        under = v.astype(np.float32) < _F32_TINY
        v = np.where(under, 1.0, v)
        x = np.where(under, 0, x).astype(x.dtype)
    else:
        v = np.clip(ax.mean(axis=-1, keepdims=True, dtype=np.float64) / k, VTH_MIN, VTH_MAX)
    # The division is done in float32 like the reference implementations (x and V both float32).
    v32 = v.astype(np.float32)
    q = x.astype(np.float32, copy=False) / v32
    np.rint(q, out=q)  # rounds half to even
    clamped = 0
    if clamp is not None and np.abs(q).max(initial=0) > clamp:
        clamped = int((np.abs(q) > clamp).sum())
        np.clip(q, -clamp, clamp, out=q)
    if np.abs(q).max(initial=0) >= 2**31:
        raise NeurosimError("activation counts exceed int32; the adaptive threshold is far too small")
    return ActQuant(counts=q.astype(np.int32), scale=v32, clamped=clamped)


def quantize_weights(w: np.ndarray, group_size: int | None = None, clamp: bool = True, *,
                     scale: np.ndarray | None = None, name: str = "weights") -> WeightQuant:
    """Symmetric INT8 weights ``w_int = round_half_to_even(w / scale)``, ``scale = max|w| / 127``.

    One scale per output channel (row), or per output channel per group of ``group_size`` inputs
    (the 1.0 code uses 128). The scale is rounded to float32 and the division done in float32, as
    for activations. With this scale no code exceeds 127; ``clamp`` guards float rounding. Rows (or
    groups) that are zero, or whose scale is below float32's normal range, get scale 1.0 and zero codes.

    ``scale``: a stored scale (e.g. a checkpoint's group scales), [out, 1] or [out, in // group_size],
    instead of the derived one. Codes may then exceed 127 in magnitude; they are never wrapped: with
    ``clamp`` they are clipped to [-127, 127] and counted in ``clamped`` (the trace's ``weight_clamped``),
    without it a one-line :class:`NeurosimError` names the tensor ``name`` and the count.
    """
    wa = np.asarray(w)
    if scale is not None:
        return _quantize_weights_numpy(w, group_size, clamp, scale=scale, name=name)
    if group_size is None and wa.dtype == np.float32 and wa.ndim == 2 and wa.size:
        from neurosim.core.fast import absmax_weights

        r = absmax_weights(wa)  # one parallel numba pass, bit-identical to the numpy path below
        if r is not None and (clamp or not r[2]):
            return WeightQuant(w_int=r[0], scale=r[1], clamped=r[2], group_size=None)
    return _quantize_weights_numpy(w, group_size, clamp, name=name)


def _quantize_weights_numpy(w: np.ndarray, group_size: int | None = None, clamp: bool = True, *,
                            scale: np.ndarray | None = None, name: str = "weights") -> WeightQuant:
    """The numpy reference of :func:`quantize_weights` (groups, stored scales, float64 input and
    the checks)."""
    w = _check_float(w, name)
    if w.ndim != 2:
        raise NeurosimError(f"{name} must be a 2-D [out, in] matrix, got shape {w.shape}")
    out_f, in_f = w.shape
    if group_size is None:
        group_size_eff = in_f
    else:
        if int(group_size) != group_size or group_size < 1 or in_f % group_size:
            raise NeurosimError(
                f"group_size {group_size!r} must be a positive divisor of in_features {in_f}"
            )
        group_size_eff = group_size
    g = w.astype(np.float32, copy=False).reshape(out_f, in_f // group_size_eff, group_size_eff)
    if scale is None:
        s = (np.abs(g).max(axis=2).astype(np.float64) / 127.0).astype(np.float32)
        s = np.where(s >= _F32_TINY, s, np.float32(1.0))
    else:
        s = _stored_scale(scale, (out_f, in_f // group_size_eff), name)
    q = g / s[:, :, None]
    np.rint(q, out=q)
    clamped = 0
    if np.abs(q).max(initial=0) > 127:
        clamped = int((np.abs(q) > 127).sum())
        if not clamp:
            raise NeurosimError(f"{name}: {clamped} weight code(s) fall outside [-127, 127] "
                                f"(largest |code| {int(np.abs(q).max())}) and clamp=False")
        np.clip(q, -127, 127, out=q)
    return WeightQuant(w_int=q.reshape(out_f, in_f).astype(np.int8), scale=s, clamped=clamped,
                       group_size=group_size)


def _stored_scale(scale, shape: tuple[int, int], name: str) -> np.ndarray:
    """A stored weight scale as float32 of ``shape``; a wrong shape or a scale that is not a
    positive finite number is a one-line error naming the tensor."""
    s = np.asarray(scale)
    if s.dtype.kind != "f" or s.shape != shape:
        raise NeurosimError(f"{name}: stored scale must be a float array of shape {shape}, "
                            f"got {s.dtype} {s.shape}")
    s = s.astype(np.float32)
    if not (np.isfinite(s) & (s >= _F32_TINY)).all():
        raise NeurosimError(f"{name}: stored scale has {int((~(np.isfinite(s) & (s >= _F32_TINY))).sum())} "
                            f"value(s) that are not positive finite float32 numbers")
    return s


def dequant_linear(aq: ActQuant, wq: WeightQuant, product=None) -> np.ndarray:
    """Float32 output ``y = V * w_scale * (W_int @ s)`` of a quantized linear layer.

    ``product(counts, w_int) -> integer [..., out]`` computes the exact integer product (default
    :func:`neurosim.core.engine.int_linear`; the event-driven engine gives the same integers). With
    per-group weight scales it is called once per group of inputs.
    """
    product = product or int_linear
    counts = aq.counts
    if counts.shape[-1] != wq.w_int.shape[1]:
        raise NeurosimError(
            f"activation features {counts.shape[-1]} != weight in_features {wq.w_int.shape[1]}"
        )
    # Exact integers (|acc| < 2^53) times the float32 scales in float64, rounded once to float32.
    if wq.group_size is None:
        from neurosim.core.fast import dequant_rows

        # the same float64 products, rounded once (numba, bit-identical to the numpy form below)
        return dequant_rows(product(counts, wq.w_int), aq.scale, wq.scale[:, 0])
    return _dequant_grouped(aq, wq, product)


def _dequant_numpy(aq: ActQuant, wq: WeightQuant, product=None) -> np.ndarray:
    """The numpy reference of :func:`dequant_linear`."""
    product = product or int_linear
    counts = aq.counts
    if wq.group_size is None:
        acc = product(counts, wq.w_int).astype(np.float64)
        y = acc * aq.scale.astype(np.float64) * wq.scale[:, 0].astype(np.float64)
        return y.astype(np.float32)
    return _dequant_grouped(aq, wq, product)


def _dequant_grouped(aq: ActQuant, wq: WeightQuant, product) -> np.ndarray:
    counts = aq.counts
    g = wq.group_size
    assert g is not None                      # grouped weights have a group size
    y = np.zeros(counts.shape[:-1] + (wq.w_int.shape[0],), dtype=np.float64)
    for j in range(wq.scale.shape[1]):
        part = product(counts[..., j * g : (j + 1) * g], wq.w_int[:, j * g : (j + 1) * g])
        y += part.astype(np.float64) * wq.scale[:, j].astype(np.float64)
    return (y * aq.scale.astype(np.float64)).astype(np.float32)
