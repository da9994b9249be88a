"""Float32 weights that are exactly ``d * q + m`` per block of 32 inputs, held as INT8 codes for
the few-row float products of cached decoding.

A checkpoint dequantized from a block-quantized GGUF (the default SmolLM2-135M: Q4_1 projections,
a Q8_0 embedding) stores float32 weights in which every block of :data:`BLOCK` consecutive inputs
of a row is ``float32(float32(d * q) + m)`` for small integers ``q`` and two float32 numbers: the
scale ``d``, a float16 value as GGUF stores it, and the offset ``m`` (-0.0 for the symmetric forms,
which makes the add the identity). :func:`block_weights` recovers such a form (``q`` in int8) and
keeps it only when it reproduces every stored weight bit for bit, so the codes are a lossless
1.25-byte copy of the 4-byte weights. A decode step multiplies one token by every weight matrix and
is bound by reading the weights; :func:`block_rows_linear` reads the codes, rebuilds each weight
exactly and multiplies.

Arithmetic: ``d`` has at most 11 significant bits and ``|q| <= 128``, so ``d * q`` is exact in
float32 and the weight is one fused multiply-add, ``w = fma(d, q, m)`` (the same bits as the two
roundings above). The product is ``x @ w.T`` of the stored weights in one fixed order: for each
output, ``acc = fma(x[k], w[k], acc)`` for k = 0, 1, ..., in-1 from ``acc = 0`` (one rounding per
term). BLAS (gemv or gemm) sums in its own order, so the results agree to float rounding, not bit
for bit.

Layout (vector loads over the outputs of a tile): ``codes`` [tiles, in, TILE] (lane o of tile t
is row ``t * TILE + o``), ``steps`` [tiles, in // BLOCK, 2, TILE] (each block's scale ``d`` and
offset ``m``); rows past ``out`` are zero padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["BLOCK", "TILE", "BlockWeights", "block_weights", "block_rows_linear"]

#: inputs per (scale, offset) pair: the GGUF block size of Q4_0/Q4_1/Q5_0/Q5_1/Q8_0
BLOCK = 32
#: outputs per tile of the codes (the kernel's vector lanes)
TILE = 64
_RINT = 1.5 * 2.0**52
_FORMS = 5


@dataclass(frozen=True)
class BlockWeights:
    """A float32 weight matrix [out, in] held as ``float32(float32(d * codes) + m)`` per block."""

    codes: np.ndarray   #: int8 [tiles, in, TILE]
    steps: np.ndarray   #: float32 [tiles, in // BLOCK, 2, TILE]: the blocks' d, then m
    out: int            #: rows of the weight matrix

    @property
    def shape(self) -> tuple[int, int]:
        return self.out, self.codes.shape[1]

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.steps.nbytes

    def weights(self) -> np.ndarray:
        """The float32 weights [out, in] they stand for (equal to the encoded matrix bit for bit)."""
        t, k, _ = self.codes.shape
        d = np.repeat(self.steps[:, :, 0], BLOCK, axis=1)
        m = np.repeat(self.steps[:, :, 1], BLOCK, axis=1)
        w = (d * self.codes.astype(np.float32)) + m         # float32 multiply, then float32 add
        return np.ascontiguousarray(w.transpose(0, 2, 1).reshape(t * TILE, k)[:self.out])


@njit(cache=True, inline="always")
def _half(x):
    """x (float64) rounded to 11 significant bits (Veltkamp's split; steps of 2^-24 below 2^-14):
    the float16 value GGUF stored for a scale, as float64. The caller verifies every weight, so
    ties and overflow need no care; at most 11 significant bits is what makes ``d * q`` exact."""
    if x == 0.0:
        return x
    if abs(x) < 2.0**-14:
        return ((x * 2.0**24 + _RINT) - _RINT) * 2.0**-24
    c = x * (2.0**42 + 1.0)
    return c - (c - x)


@njit(cache=True, inline="always")
def _fits(v, vbits, d, m, qmin, qmax, c, w):
    """Whether every float32 v[j] (bit patterns vbits) equals float32(float32(d * c[j]) + m),
    sign of zero included, for c[j] = rint((v[j] - m) / d) (0 when d == 0) in [qmin, qmax];
    fills c (the codes as float32) and w (the rebuilt weights). Branch-free over the block."""
    inv = 0.0 if d == 0 else 1.0 / np.float64(d)
    m64 = np.float64(m)
    bad = 0
    for j in range(BLOCK):
        # rint by adding and removing 1.5 * 2^52 (exact for |x| < 2^51; inlined, unlike np.rint);
        # a wrong guess only fails the check below
        cj = ((np.float64(v[j]) - m64) * inv + _RINT) - _RINT
        bad |= (cj < qmin) | (cj > qmax)
        c[j] = np.float32(min(max(cj, qmin), qmax))
        w[j] = np.float32(d * c[j]) + m
    wbits = w.view(np.uint32)
    for j in range(BLOCK):
        bad |= wbits[j] != vbits[j]
    return bad == 0


@njit(cache=True)
def _encode(w, codes, steps):
    """Fill the tile layout from w [N, K] (float32, C-contiguous, K % BLOCK == 0); False at the
    first block with no exact form (then the outputs are incomplete)."""
    n, k = w.shape
    bits = w.view(np.uint32)
    c = np.empty(BLOCK, np.float32)
    rebuilt = np.empty(BLOCK, np.float32)
    neg0 = np.float32(-0.0)
    last = 0
    for o in range(n):
        t, lane = o // TILE, o % TILE
        for b in range(k // BLOCK):
            v = w[o, b * BLOCK:(b + 1) * BLOCK]
            vbits = bits[o, b * BLOCK:(b + 1) * BLOCK]
            lo, hi = v[0], v[0]
            for j in range(1, BLOCK):
                lo = min(lo, v[j])
                hi = max(hi, v[j])
            ext = hi if abs(hi) >= abs(lo) else lo   # the value of largest magnitude
            found = False
            d = m = neg0
            # offset forms q in [0, 15] (Q4_1) or [0, 31] (Q5_1): m = the block minimum; symmetric
            # forms (m = -0.0): Q8_0 (d = max|v| / 127), Q4_0 (max / -8), Q5_0 (max / -16); d
            # rounded to 11 significant bits (GGUF's float16); the last block's form first
            for i in range(_FORMS):
                form = (last + i) % _FORMS
                if form < 2:   # a constant block: d = -0.0, so d * 0 + m = m for every m, zeros included
                    d0 = (np.float64(hi) - np.float64(lo)) / (15.0 if form == 0 else 31.0) if hi != lo else -0.0
                    m = lo
                else:
                    d0 = (abs(np.float64(ext)) / 127.0 if form == 2
                          else np.float64(ext) / (-8.0 if form == 3 else -16.0))
                    m = neg0
                d = np.float32(_half(d0))
                if _fits(v, vbits, d, m, 0.0 if form < 2 else -128.0, 127.0, c, rebuilt):
                    found = True
                    last = form
                    break
            if not found:
                return False
            steps[t, b, 0, lane] = d
            steps[t, b, 1, lane] = m
            for j in range(BLOCK):
                codes[t, b * BLOCK + j, lane] = np.int8(c[j])
    return True


def block_weights(w) -> BlockWeights | None:
    """The exact block form of float32 weights w [out, in], or None when some block has none (or
    w is not a float32 matrix whose ``in`` is a multiple of :data:`BLOCK`)."""
    w = np.asarray(w)
    if w.dtype != np.float32 or w.ndim != 2 or w.shape[1] % BLOCK or not w.size:
        return None
    n, k = w.shape
    tiles = -(-n // TILE)
    codes = np.zeros((tiles, k, TILE), np.int8)
    steps = np.zeros((tiles, k // BLOCK, 2, TILE), np.float32)
    if not _encode(np.ascontiguousarray(w), codes, steps):
        return None
    return BlockWeights(codes, steps, n)


@njit(cache=True, fastmath={"contract"})   # a * b + c -> fma(a, b, c); nothing reordered
def _rows(x, codes, steps, out):  # pragma: no cover - compiled
    # lanes = the TILE outputs of a tile (vector loads of codes and steps); two inputs per update
    # of the accumulators, in order: acc = fma(x[i + 1], w[i + 1], fma(x[i], w[i], acc))
    r_, k = x.shape
    acc = np.empty(TILE, np.float32)
    for r in range(r_):
        xr = x[r]
        for t in range(codes.shape[0]):
            acc[:] = 0
            for b in range(k // BLOCK):
                d = steps[t, b, 0]
                m = steps[t, b, 1]
                for i in range(b * BLOCK, (b + 1) * BLOCK, 2):
                    x0, x1 = xr[i], xr[i + 1]
                    c0, c1 = codes[t, i], codes[t, i + 1]
                    for lane in range(TILE):
                        w0 = d[lane] * np.float32(c0[lane]) + m[lane]
                        w1 = d[lane] * np.float32(c1[lane]) + m[lane]
                        acc[lane] = (acc[lane] + x0 * w0) + x1 * w1
            out[r, t * TILE:(t + 1) * TILE] = acc


def block_rows_linear(x, bw: BlockWeights) -> np.ndarray:
    """``x @ w.T`` (float32 [..., out]) for float32 x [..., in] and the weights bw stands for, in
    the summation order of the module docstring; meant for a few rows (one streaming pass over the
    codes per row)."""
    k = bw.codes.shape[1]
    if x.dtype != np.float32 or x.shape[-1] != k:
        raise ValueError(f"x {x.dtype} {x.shape} does not fit float32 weights {bw.shape}")
    rows = np.ascontiguousarray(x.reshape(-1, k))
    out = np.empty((rows.shape[0], bw.codes.shape[0] * TILE), np.float32)
    _rows(rows, bw.codes, bw.steps, out)
    if out.shape[1] != bw.out:
        out = out[:, :bw.out]
    return out.reshape(x.shape[:-1] + (bw.out,))
