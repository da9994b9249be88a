"""Block codes of float32 weights (the fp decode steps' product): the encoding is exact or refused,
the product equals a sequential float32 dot product bit for bit and a float64 one to rounding."""

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

from neurosim.core.blockweights import BLOCK, TILE, block_rows_linear, block_weights
from neurosim.core.gemv import FEW_ROWS

FORMS = [Q.Q4_1, Q.Q5_1, Q.Q8_0, Q.Q4_0, Q.Q5_0]


def gguf_weights(qtype, shape, seed=0, scale=0.05, edit=None):
    """float32 weights as a GGUF block quantization dequantizes them (what the converter stores);
    ``edit(w)`` changes the source weights before quantizing."""
    w = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)
    if edit is not None:
        edit(w)
    return np.asarray(dequantize(quantize(w, qtype), qtype), dtype=np.float32).reshape(shape)


def edges(w):
    w[1] = 0.0                          # an all-zero row (Q4_0 dequantizes it to -0.0)
    w[2, :BLOCK] = 0.03                 # a constant block
    w[3, BLOCK:2 * BLOCK] = -1e-9       # a block of tiny values (float16 subnormal scales)


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("qtype", FORMS, ids=lambda q: q.name)
def test_gguf_block_forms_encode_exactly(qtype):
    w = gguf_weights(qtype, (150, 4 * BLOCK), seed=int(qtype), edit=edges)
    w[3] = 0.0                                   # an all-zero row
    w[4, :BLOCK] = w[4, 0]                        # a constant block
    w[5, :BLOCK] = -w[5, :BLOCK]                 # a block flipped in sign
    bw = block_weights(w)
    assert bw is not None and bw.shape == w.shape
    assert bw.codes.dtype == np.int8 and bw.codes.shape == (-(-150 // TILE), 4 * BLOCK, TILE)
    assert np.array_equal(bits(bw.weights()), bits(w))        # lossless, sign of zero included
    assert bw.nbytes == bw.codes.shape[0] * TILE * w.shape[1] * 1.25   # 1.25 bytes per (padded) weight


def test_weights_without_an_exact_block_form_are_refused():
    rng = np.random.default_rng(1)
    w = gguf_weights(Q.Q4_1, (64, 2 * BLOCK))
    assert block_weights(w) is not None
    w2 = w.copy()
    w2[17, 40] = np.nextafter(w2[17, 40], np.float32(1))   # one weight one ulp off its grid
    assert block_weights(w2) is None
    assert block_weights(rng.standard_normal((64, 64)).astype(np.float32)) is None   # plain float32
    assert block_weights(w[:, :48]) is None                  # rows not a multiple of BLOCK
    assert block_weights(w.astype(np.float64)) is None       # not float32
    neg = w.copy()
    neg[0, :BLOCK] = -0.0                                    # -0.0 survives (symmetric forms add -0.0)
    bw = block_weights(neg)
    assert bw is not None and np.array_equal(bits(bw.weights()), bits(neg))


def sequential(x, w):
    """float32 x [R, K] @ w.T, each output acc = fma(x[k], w[k], acc) for k = 0, 1, ...: the float64
    product is exact and its sum with acc is rounded to float64, then to float32 (equal to one
    rounding except on double-rounding ties, which these seeded inputs do not hit)."""
    acc = np.zeros((x.shape[0], w.shape[0]), np.float32)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    for k in range(w.shape[1]):
        acc = (acc + x64[:, k:k + 1] * w64[None, :, k]).astype(np.float32)
    return acc


@pytest.mark.parametrize("qtype", [Q.Q4_1, Q.Q8_0], ids=lambda q: q.name)
@pytest.mark.parametrize("rows", [1, 2, FEW_ROWS])
@pytest.mark.parametrize("out", [1, TILE, 3 * TILE + 5])
def test_product_is_the_sequential_fused_dot_product(qtype, rows, out):
    k = 6 * BLOCK
    w = gguf_weights(qtype, (out, k), seed=rows + out)
    x = np.random.default_rng(out).standard_normal((rows, k)).astype(np.float32)
    bw = block_weights(w)
    got = block_rows_linear(x, bw)
    assert got.dtype == np.float32 and got.shape == (rows, out)
    assert np.array_equal(bits(got), bits(sequential(x, w)))           # bit for bit, every lane
    ref = x.astype(np.float64) @ w.T.astype(np.float64)
    bound = k * np.finfo(np.float32).eps * (np.abs(x).astype(np.float64) @ np.abs(w.T).astype(np.float64))
    assert (np.abs(got - ref) <= bound).all()
    assert np.allclose(got, x @ w.T, rtol=1e-5, atol=1e-6)               # BLAS, to rounding


def test_batch_axes_and_bad_inputs():
    w = gguf_weights(Q.Q4_1, (70, 2 * BLOCK))
    bw = block_weights(w)
    x = np.random.default_rng(2).standard_normal((2, 1, 2 * BLOCK)).astype(np.float32)
    got = block_rows_linear(x, bw)
    assert got.shape == (2, 1, 70)
    assert np.array_equal(got.reshape(2, 70), block_rows_linear(x.reshape(2, -1), bw))
    with pytest.raises(ValueError):
        block_rows_linear(x.astype(np.float64), bw)
    with pytest.raises(ValueError):
        block_rows_linear(x[..., :BLOCK], bw)
