"""The numba kernels of neurosim.core.fast against their numpy references, bit for bit."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from neurosim import NeurosimError
from neurosim.core import quant as Q
from neurosim.core.coding import count_histogram
from neurosim.core.dense import exact_linear, exact_product, float32_weights
from neurosim.core.engine import int_linear
from neurosim.core.fast import absmax_counts, dequant_rows, histogram_silent


def _rows(seed, m, f, dtype, kind):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, f)) * 10.0 ** rng.uniform(-3, 3, (m, 1))
    if kind == "ties":   # exact .5 multiples of the scale: rint must round half to even
        x = rng.integers(-254, 255, (m, f)) / 2.0
        x[:, 0] = 127.0
    elif kind == "zeros":
        x[::2] = 0.0
    elif kind == "tiny":
        x[::2] *= 1e-39
    return x.astype(dtype)


def _same_act(a, b):
    assert a.counts.dtype == b.counts.dtype == np.int32
    assert np.array_equal(a.counts, b.counts)
    assert a.scale.dtype == b.scale.dtype and a.scale.shape == b.scale.shape
    assert np.array_equal(a.scale.view(np.uint32), b.scale.view(np.uint32))
    assert a.clamped == b.clamped


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 9), f=st.integers(1, 70),
       dtype=st.sampled_from([np.float32, np.float64]), kind=st.sampled_from(["normal", "ties", "zeros", "tiny"]),
       levels=st.sampled_from([1, 3, 127]), extra=st.sampled_from([0, 5]))
def test_absmax_matches_numpy(seed, m, f, dtype, kind, levels, extra):
    x = _rows(seed, m, f, dtype, kind)
    clamp = max(levels, 1) + extra
    fast = Q.quantize_activations(x, "absmax", clamp=clamp, levels=levels)
    ref = Q._quantize_activations_numpy(x, "absmax", clamp=clamp, levels=levels)
    _same_act(fast, ref)
    lo, hi = fast.count_range
    assert lo == min(0, int(ref.counts.min())) and hi == max(0, int(ref.counts.max()))


def test_absmax_3d_and_all_zero():
    x = np.zeros((2, 3, 8), np.float32)
    x[1, 2] = np.linspace(-1, 1, 8)
    _same_act(Q.quantize_activations(x), Q._quantize_activations_numpy(x))
    assert Q.quantize_activations(x).counts.shape == (2, 3, 8)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_absmax_rejects_nonfinite(bad):
    x = np.ones((3, 5), np.float32)
    x[2, 1] = bad
    with pytest.raises(NeurosimError, match="NaN/inf"):
        Q.quantize_activations(x)
    assert absmax_counts(x, 127, 127) is None


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 6), n=st.integers(1, 40),
       dt=st.sampled_from([np.int32, np.int64, np.float32, np.float64]))
def test_dequant_matches_numpy(seed, m, n, dt):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-2**23, 2**23, (m, n)).astype(dt)
    a = (rng.random((m, 1)) * 10.0 ** rng.uniform(-6, 3)).astype(np.float32)
    w = (rng.random(n) * 10.0 ** rng.uniform(-6, 3)).astype(np.float32)
    ref = (acc.astype(np.float64) * a.astype(np.float64) * w.astype(np.float64)).astype(np.float32)
    assert np.array_equal(dequant_rows(acc, a, w).view(np.uint32), ref.view(np.uint32))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 8), k=st.integers(1, 50), span=st.sampled_from([0, 1, 127, 3000]))
def test_histogram_silent_matches_numpy(seed, m, k, span):
    rng = np.random.default_rng(seed)
    c = rng.integers(-span, span + 1, (m, k)).astype(np.int32)
    c[:, rng.random(k) < 0.3] = 0
    v, f, silent = histogram_silent(c)
    rv, rf = count_histogram(c)
    assert np.array_equal(v, rv) and np.array_equal(f, rf) and v.dtype == f.dtype == np.int64
    assert silent == int((c == 0).all(axis=0).sum())
    v2, f2, s2 = histogram_silent(c, int(c.min()), int(c.max()))
    assert np.array_equal(v2, rv) and np.array_equal(f2, rf) and s2 == silent


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), k=st.integers(1, 300), n=st.integers(1, 20),
       big=st.sampled_from([1, 127, 2047, 2**20]))
def test_exact_product_with_cached_weights(seed, m, k, n, big):
    rng = np.random.default_rng(seed)
    c = rng.integers(-big, big + 1, (m, k)).astype(np.int32)
    w = rng.integers(-127, 128, (n, k)).astype(np.int8)
    ref = int_linear(c, w)
    wt = float32_weights(w)
    assert np.array_equal(exact_product(c, w, wt32=wt), ref)
    out = exact_linear(c, w, wt32=wt)
    assert np.array_equal(out, ref) and out.dtype == exact_linear(c, w).dtype


def _same_weights(a, b):
    assert a.w_int.dtype == b.w_int.dtype == np.int8 and np.array_equal(a.w_int, b.w_int)
    assert a.scale.shape == b.scale.shape and np.array_equal(a.scale.view(np.uint32), b.scale.view(np.uint32))
    assert a.clamped == b.clamped and a.group_size == b.group_size


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 9), k=st.integers(1, 70),
       kind=st.sampled_from(["normal", "ties", "zeros", "tiny"]))
def test_weight_quantizer_matches_numpy(seed, n, k, kind):
    w = _rows(seed, n, k, np.float32, kind)
    _same_weights(Q.quantize_weights(w), Q._quantize_weights_numpy(w))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_weight_quantizer_rejects_nonfinite(bad):
    w = np.ones((4, 6), np.float32)
    w[3, 2] = bad
    with pytest.raises(NeurosimError, match="NaN/inf"):
        Q.quantize_weights(w)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 200_000))
def test_bf16_widening_matches_numpy(seed, n):
    from neurosim.core.fast import bf16_to_float32
    from neurosim.model.safetensors_io import to_float32

    bits = np.random.default_rng(seed).integers(0, 1 << 16, n, dtype=np.uint16).reshape(-1, 1)
    out, bad = bf16_to_float32(bits)
    ref = to_float32(bits, "BF16")
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.array_equal(out.view(np.uint32), ref.view(np.uint32))
    assert bad == int((~np.isfinite(ref)).sum())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), k=st.integers(1, 150), n_tiles=st.integers(1, 4))
def test_pack_tiles_is_the_padded_transpose(seed, n, k, n_tiles):
    from neurosim.core.fast import pack_tiles

    w = np.random.default_rng(seed).integers(-128, 128, (n, k), dtype=np.int8)
    cols = -(-n // n_tiles)
    n_tiles = -(-n // cols)
    padded = np.zeros((n_tiles * cols, k), np.int8)
    padded[:n] = w
    ref = padded.reshape(n_tiles, cols, k).transpose(0, 2, 1)
    assert np.array_equal(pack_tiles(w, n_tiles, cols), ref)
