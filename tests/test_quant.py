import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neurosim import NeurosimError
from neurosim.core.quant import dequant_linear, quantize_activations, quantize_weights

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


def ref_counts(x, v):
    """float64 reference of round-half-to-even(x / V) with V as float32."""
    return np.rint(x.astype(np.float32) / v.astype(np.float32))


@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 40)), elements=finite))
def test_absmax_is_int8_and_matches_reference(x):
    aq = quantize_activations(x)
    assert aq.counts.dtype == np.int32 and aq.counts.shape == x.shape
    assert np.abs(aq.counts).max() <= 127
    mx = np.abs(x.astype(np.float64)).max(axis=1, keepdims=True)
    under = (mx / 127).astype(np.float32) < np.finfo(np.float32).tiny
    v = np.where(under, 1.0, mx / 127)
    np.testing.assert_array_equal(aq.scale, v.astype(np.float32))
    xr = np.where(under, 0, x)  # rows whose scale underflows count as zero rows
    np.testing.assert_array_equal(aq.counts, ref_counts(xr, v))
    assert aq.clamped == 0
    # the largest magnitude of every non-zero row maps to exactly 127
    nz = ~under[:, 0]
    assert (np.abs(aq.counts[nz]).max(axis=1) == 127).all()


@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 40)), elements=finite),
       st.sampled_from([1.0, 3.0, 8.0]))
def test_adaptive_unclamped_matches_reference(x, k):
    aq = quantize_activations(x, "adaptive", k=k, clamp=None)
    v = np.clip(np.abs(x.astype(np.float64)).mean(axis=1, keepdims=True) / k, 1e-5, 1e4)
    np.testing.assert_array_equal(aq.counts, ref_counts(x, v))
    assert aq.clamped == 0


def test_adaptive_clamp_counts_exactly():
    x = np.array([[1000.0, -800.0] + [0.1] * 98], np.float32)
    free = quantize_activations(x, "adaptive", k=3.0, clamp=None)
    clamped = quantize_activations(x, "adaptive", k=3.0, clamp=127)
    over = int((np.abs(free.counts) > 127).sum())
    assert over == 2 and clamped.clamped == 2
    assert np.abs(clamped.counts).max() == 127
    np.testing.assert_array_equal(clamped.counts, np.clip(free.counts, -127, 127))


def test_round_half_to_even():
    # x / V lands exactly on .5: V = 2/127 * ... choose a row whose absmax gives V = 1
    x = np.array([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5]], np.float32)
    aq = quantize_activations(x)
    assert aq.counts.tolist() == [[127, 0, 2, 2, 0, -2]]


def test_zero_rows_and_vth_bounds():
    aq = quantize_activations(np.zeros((2, 8), np.float32), "adaptive")
    assert (aq.counts == 0).all() and np.allclose(aq.scale, 1e-5)
    aq = quantize_activations(np.zeros((2, 8), np.float32))
    assert (aq.counts == 0).all() and (aq.scale == 1).all()
    big = np.full((1, 4), 1e9, np.float32)
    assert quantize_activations(big, "adaptive", k=1.0, clamp=None).scale[0, 0] == np.float32(1e4)


@pytest.mark.parametrize("bad, msg", [
    (np.array([[1, 2]], np.int32), "floating-point"),
    (np.array([[np.nan, 1.0]], np.float32), "NaN"),
    (np.array([[np.inf, 1.0]], np.float32), "NaN/inf"),
    (np.zeros((2, 0), np.float32), "non-empty"),
])
def test_bad_activations(bad, msg):
    with pytest.raises(NeurosimError, match=msg):
        quantize_activations(bad)


def test_bad_parameters():
    x = np.ones((1, 4), np.float32)
    with pytest.raises(NeurosimError, match="unknown activation scale"):
        quantize_activations(x, "minmax")
    with pytest.raises(NeurosimError, match="k must be"):
        quantize_activations(x, "adaptive", k=0)
    with pytest.raises(NeurosimError, match="clamp"):
        quantize_activations(x, clamp=-3)
    with pytest.raises(NeurosimError, match="absmax"):
        quantize_activations(x, "absmax", clamp=None)


@given(arrays(np.float32, st.tuples(st.integers(1, 8), st.sampled_from([4, 8, 16])), elements=finite),
       st.sampled_from([None, 4]))
def test_weight_quantizer(w, group):
    wq = quantize_weights(w, group_size=group)
    assert wq.w_int.dtype == np.int8 and np.abs(wq.w_int.astype(int)).max() <= 127
    g = w.shape[1] if group is None else group
    blocks = w.astype(np.float64).reshape(w.shape[0], -1, g)
    s = (np.abs(blocks).max(axis=2) / 127).astype(np.float32)
    s = np.where(s >= np.finfo(np.float32).tiny, s, np.float32(1.0))
    np.testing.assert_array_equal(wq.scale, s)
    # float32 division, rounded half to even (as for activations)
    expect = np.rint(w.reshape(w.shape[0], -1, g) / s[:, :, None])
    tiny = (np.abs(blocks).max(axis=2) / 127).astype(np.float32) < np.finfo(np.float32).tiny
    expect = np.where(tiny[:, :, None], 0, expect).reshape(w.shape)
    np.testing.assert_array_equal(wq.w_int, expect)
    assert wq.clamped == 0


def test_weight_group_must_divide():
    with pytest.raises(NeurosimError, match="group_size"):
        quantize_weights(np.ones((2, 10), np.float32), group_size=4)
    with pytest.raises(NeurosimError, match="2-D"):
        quantize_weights(np.ones(10, np.float32))


@pytest.mark.parametrize("group", [None, 32])
@pytest.mark.parametrize("scale", ["absmax", "adaptive"])
def test_dequant_linear_matches_float64(group, scale):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 128)).astype(np.float32)
    w = (rng.standard_normal((24, 128)) * 0.05).astype(np.float32)
    aq = quantize_activations(x, scale, clamp=None if scale == "adaptive" else 127)
    wq = quantize_weights(w, group_size=group)
    y = dequant_linear(aq, wq)
    # float64 reference of the same formula from the integers and scales
    c = aq.counts.astype(np.float64)
    if group is None:
        ref = aq.scale.astype(np.float64) * (c @ wq.w_int.T.astype(np.float64)) * wq.scale[:, 0]
    else:
        ref = np.zeros((5, 24))
        for j in range(128 // group):
            sl = slice(j * group, (j + 1) * group)
            ref += (c[:, sl] @ wq.w_int[:, sl].T.astype(np.float64)) * wq.scale[:, j]
        ref *= aq.scale.astype(np.float64)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=2**-23, atol=0)
    # and it approximates the float product (k=3 adaptive is coarse: V_th is about 0.27 sigma)
    tol = 0.05 if scale == "absmax" else 0.15
    assert np.abs(y - x @ w.T).max() < tol * np.abs(x @ w.T).max()


def test_adaptive_counts_beyond_int32_are_a_clear_error():
    """Through the run's projection hook: an adaptive threshold far too small for the row is a clear
    error, not a silent int32 wrap."""
    from neurosim.run import Recorder, Settings, projection_for

    def hook(clamp):
        s = Settings(mode="spike", coding="bitwise", scale="adaptive", clamp=clamp, k=3.0).validate()
        return Recorder(projection_for(s), {"p.weight": "full"})
    x = np.zeros((1, 8), np.float32)
    x[0, 0] = np.float32(3e38)
    with pytest.raises(NeurosimError, match="exceed int32"):
        hook(None)("p.weight", x, np.ones((2, 8), np.float32))
    # with the 8-bit clamp the same row is fine (infinite quotient clamped to 127)
    y = hook(127)("p.weight", x, np.ones((2, 8), np.float32))
    assert np.isfinite(y).all()


def test_stored_scale_codes_outside_int8_are_clamped_and_counted_never_wrapped():
    """A stored (group) scale smaller than max|w|/127 puts codes outside INT8 (as in published
    W8A-spike checkpoints): they are clipped to [-127, 127] and counted, or refused by name."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (4, 256)).astype(np.float32)
    derived = quantize_weights(w, group_size=128)
    stored = derived.scale.copy()
    stored[1, 0] *= 0.8                       # one group's stored scale too small: |code| up to ~159
    wq = quantize_weights(w, group_size=128, scale=stored, name="layers.3.mlp.up_proj")
    ref = np.rint(w.reshape(4, 2, 128) / stored[:, :, None]).reshape(4, 256)
    assert np.abs(ref).max() > 128
    assert wq.clamped == int((np.abs(ref) > 127).sum()) > 0
    assert wq.w_int.dtype == np.int8
    assert np.array_equal(wq.w_int, np.clip(ref, -127, 127))          # clipped, not wrapped
    assert np.array_equal(np.sign(wq.w_int), np.sign(ref))
    with pytest.raises(NeurosimError, match=r"^layers\.3\.mlp\.up_proj: \d+ weight code\(s\) fall outside"):
        quantize_weights(w, group_size=128, scale=stored, clamp=False, name="layers.3.mlp.up_proj")
    # the stored scale that matches the derived one reproduces the derived quantization exactly
    same = quantize_weights(w, group_size=128, scale=derived.scale)
    assert np.array_equal(same.w_int, derived.w_int) and same.clamped == 0
    with pytest.raises(NeurosimError, match="q_proj: stored scale must be a float array of shape"):
        quantize_weights(w, group_size=128, scale=stored[:, :1], name="q_proj")
    with pytest.raises(NeurosimError, match="q_proj: stored scale has 1 value"):
        quantize_weights(w, group_size=128, scale=np.where(stored == stored[0, 0], 0, stored), name="q_proj")


def test_mac_model_refuses_codes_that_would_wrap():
    """The INT8 MAC golden model never wraps: wide integer codes outside INT8 are refused by name."""
    from neurosim.core.engine import check_int8_codes, int_linear
    codes = np.array([[5, -128, 127], [131, -3, -140]], np.int32)
    with pytest.raises(NeurosimError, match=r"^w_up: 2 code\(s\) outside INT8 \[-128, 127\] \(min -140, max 131\)"):
        check_int8_codes(codes, "w_up")
    with pytest.raises(NeurosimError, match=r"weights: 2 code\(s\) outside INT8"):
        int_linear(np.ones((1, 3), np.int32), codes)
    ok = check_int8_codes(np.clip(codes, -128, 127), "w_up")
    assert ok.dtype == np.int8 and ok.tolist() == [[5, -128, 127], [127, -3, -128]]
    assert int_linear(np.ones((1, 3), np.int32), ok).tolist() == [[4, -4]]
