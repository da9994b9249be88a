import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurosim import NeurosimError
from neurosim.core.coding import CODINGS, encode, required_steps
from neurosim.core.engine import PackedWeights, int_linear, spike_linear

from cases import draw_linear_case, python_ints


def check(counts, w, coding, T=None):
    ref = int_linear(counts, w)
    r = spike_linear(counts, w, coding, T)
    assert r.out.shape == ref.shape
    np.testing.assert_array_equal(r.out, ref)
    Tt = T if T is not None else required_steps(counts, coding)
    s = encode(counts, coding, Tt)
    assert r.events == int((s != 0).sum())
    assert r.accumulates == r.events * w.shape[0]
    assert r.dense_macs == counts.size * w.shape[0]
    r2 = spike_linear(s, w, coding, spikes=True)
    np.testing.assert_array_equal(r2.out, ref)
    assert r2.events == r.events
    return r


@pytest.mark.parametrize("coding", CODINGS)
@given(data=st.data())
def test_engine_equals_dense_reference(coding, data):
    counts, w, T = draw_linear_case(data, coding, 5, 70, 300)
    r = check(counts, w, coding, T)
    if counts.size * w.shape[0] < 3000:
        np.testing.assert_array_equal(r.out, python_ints(counts, w).astype(np.int64))


@pytest.mark.parametrize("coding", CODINGS)
def test_full_size_K_9728(coding):
    rng = np.random.default_rng(7)
    lo = 0 if coding == "binary" else -127
    counts = rng.integers(lo, 128, (3, 9728)).astype(np.int32)
    counts[:, ::3] = 0
    w = rng.integers(-128, 128, (300, 9728)).astype(np.int8)
    r = check(counts, w, coding)
    assert r.out.dtype == np.int32


@pytest.mark.parametrize("coding", CODINGS)
def test_extremes(coding):
    K, N = 513, 260
    w_max = np.full((N, K), 127, np.int8)
    w_min = np.full((N, K), -128, np.int8)
    top = np.full((2, K), 127, np.int32)
    check(np.zeros((2, K), np.int32), w_max, coding)
    for w in (w_max, w_min):
        check(top, w, coding)
        if coding != "binary":
            check(-top, w, coding)
    if coding == "bitwise_2c":
        r = check(np.full((1, K), -128, np.int32), w_min, coding, T=8)
        assert int(r.out[0, 0]) == 128 * 128 * K
    single = np.zeros((1, K), np.int32)
    single[0, 200] = 1 if coding == "binary" else -77
    r = check(single, w_max, coding)
    assert (r.out == single[0, 200] * 127).all()


@pytest.mark.parametrize("spikes", [False, True])
def test_one_step_twos_complement_window_is_the_sign_step(spikes):
    """T = 1 in two's complement holds only {-1, 0}: its single step weighs -1 (found by hypothesis)."""
    counts = np.array([[-1, 0, -1]], np.int32)
    w = np.array([[1, 5, 3], [-2, 7, 1]], np.int8)
    x = encode(counts, "bitwise_2c", 1) if spikes else counts
    r = spike_linear(x, w, "bitwise_2c", 1, spikes=spikes)
    np.testing.assert_array_equal(r.out, int_linear(counts, w))
    assert r.events == 2


def test_int64_output_when_int32_cannot_be_proven():
    # unclamped adaptive counts can be huge: K * 128 * max|count| >= 2^31 -> int64
    K = 4096
    counts = np.zeros((1, K), np.int64)
    counts[0, :] = 5000
    w = np.full((3, K), -128, np.int8)
    r = spike_linear(counts, w, "bitwise")
    assert r.out.dtype == np.int64
    assert int(r.out[0, 0]) == -128 * 5000 * K
    np.testing.assert_array_equal(r.out, int_linear(counts, w))


def test_leading_dims_and_packed_weights():
    rng = np.random.default_rng(3)
    counts = rng.integers(-20, 20, (2, 3, 40))
    w = rng.integers(-128, 128, (17, 40)).astype(np.int8)
    pw = PackedWeights(w)
    r = spike_linear(counts, pw, "ternary")
    assert r.out.shape == (2, 3, 17)
    np.testing.assert_array_equal(r.out, int_linear(counts, w))


def test_bad_input():
    w = np.zeros((4, 8), np.int8)
    with pytest.raises(NeurosimError, match="int8"):
        spike_linear(np.zeros((1, 8), np.int32), w.astype(np.int16), "bitwise")
    with pytest.raises(NeurosimError, match="integers"):
        spike_linear(np.zeros((1, 8), np.float32), w, "bitwise")
    with pytest.raises(NeurosimError, match="does not match"):
        spike_linear(np.zeros((1, 9), np.int32), w, "bitwise")
    with pytest.raises(NeurosimError, match="do not fit"):
        spike_linear(np.full((1, 8), 200, np.int32), w, "bitwise", T=7)
    with pytest.raises(NeurosimError, match="spike train"):
        spike_linear(np.zeros((1, 8), np.int32), w, "bitwise", spikes=True)
    with pytest.raises(NeurosimError, match="values in"):
        spike_linear(np.full((2, 1, 8), -1, np.int8), w, "binary", spikes=True)
    with pytest.raises(NeurosimError, match="unknown coding"):
        spike_linear(np.zeros((1, 8), np.int32), w, "octal")


def _reference_events(counts, mode, T, KC):
    """The event lists of events.events_from_counts, built one event at a time in Python."""
    M, K = counts.shape
    G = 1 if mode == 0 else T
    segs = [[] for _ in range(-(-K // KC) * M * G * 2)]
    for m in range(M):
        for k in range(K):
            v = int(counts[m, k])
            base = ((k // KC) * M + m) * G
            if mode == 0:
                segs[base * 2 + (v < 0)] += [k] * abs(v)
                continue
            pattern = abs(v) if mode == 1 else v & ((1 << T) - 1)
            for b in range(T):
                if pattern >> b & 1:
                    segs[(base + T - 1 - b) * 2 + (mode == 1 and v < 0)].append(k)
    ptr = np.cumsum([0] + [len(s) for s in segs])
    return ptr, np.array([k for s in segs for k in s], dtype=np.int32)


@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), k=st.integers(1, 300),
       kc=st.integers(1, 200) | st.sampled_from([64, 128]),
       mode=st.sampled_from([0, 1, 2]), dtype=st.sampled_from([np.int8, np.int16, np.int32, np.int64]))
def test_event_lists_match_one_event_at_a_time(seed, m, k, kc, mode, dtype):
    """Several 64-input words per row, chunk boundaries inside words and on word edges."""
    from neurosim.core.events import events_from_counts

    T = 4 if mode == 0 else 8
    lo = -(1 << (T - 1)) if mode == 2 else -(2**T - 1)
    hi = (1 << (T - 1)) - 1 if mode == 2 else 2**T - 1
    info = np.iinfo(dtype)
    counts = np.random.default_rng(seed).integers(max(lo, info.min), min(hi, info.max) + 1, (m, k)).astype(dtype)
    counts[:, ::3] = 0
    ptr, ev = events_from_counts(counts, mode, T, kc)
    rptr, rev = _reference_events(counts, mode, T, kc)
    np.testing.assert_array_equal(ptr, rptr)
    np.testing.assert_array_equal(ev, rev)


_WIDTH_CASE = """
import sys, numpy as np
from neurosim.vectors import prefer_wide_vectors
wide = prefer_wide_vectors()   # before the first kernel
from numba.core import registry
from neurosim.core import engine as E
from neurosim.core.quant import quantize_activations
from neurosim.model import layers as L
rng = np.random.default_rng(11)
w = rng.integers(-128, 128, (1100, 700)).astype(np.int8)
for coding in ("binary", "ternary", "bitwise", "bitwise_2c"):
    lo = 0 if coding == "binary" else -127
    c = rng.integers(lo, 128, (9, 700))
    c[rng.random(c.shape) < 0.3] = 0
    r = E.spike_linear(c, w, coding)
    np.save(sys.argv[1] + "/" + coding + ".npy", np.append(r.out.astype(np.int64).ravel(), r.events))
# float kernels too (no fastmath: the width must not change a bit)
x = rng.standard_normal((37, 700)).astype(np.float32)
q, k, v = (rng.standard_normal((37, 3, 16)).astype(np.float32) for _ in range(3))
floats = [quantize_activations(x, "absmax").scale, L.attend(q, k, v, *L.causal_segments(np.arange(37)))]
np.save(sys.argv[1] + "/float.npy", np.concatenate([f.astype(np.float64).ravel() for f in floats]))
tm = registry.cpu_target.target_context.codegen()._tm_features
print(wide, "-prefer-256-bit" in tm.split(","))
"""


def test_vector_width_tuning_keeps_integers(tmp_path):
    """The kernels compiled with LLVM's default 256-bit tuning (NEUROSIM_VECTOR_WIDTH=256) and with
    512-bit vectors (the default on AVX-512 hosts) give identical integers, event counts and float
    kernel results; the tuning is in effect in numba's target machine exactly when reported."""
    import os
    import subprocess
    import sys

    import llvmlite.binding as llvm

    flags = {}
    for width in ("256", "default"):
        d = tmp_path / width
        d.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_CPU_FEATURES"}
        if width == "256":
            env["NEUROSIM_VECTOR_WIDTH"] = "256"
        else:
            env.pop("NEUROSIM_VECTOR_WIDTH", None)
        p = subprocess.run([sys.executable, "-c", _WIDTH_CASE, str(d)], env=env, capture_output=True,
                           text=True, check=True)
        flags[width] = p.stdout.strip().splitlines()[-1]
    avx512 = "+avx512bw" in llvm.get_host_cpu_features().flatten().split(",")
    assert flags["256"] == "False False"
    assert flags["default"] == ("True True" if avx512 else "False False")
    for coding in [*CODINGS, "float"]:
        a = np.load(tmp_path / "256" / f"{coding}.npy")
        b = np.load(tmp_path / "default" / f"{coding}.npy")
        np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(11)
    w = rng.integers(-128, 128, (1100, 700)).astype(np.int8)
    c = rng.integers(-127, 128, (9, 700))
    c[rng.random(c.shape) < 0.3] = 0
    r = spike_linear(c, w, "bitwise")
    assert r.events == int((encode(c, "bitwise") != 0).sum())


@pytest.mark.parametrize("coding", CODINGS)
def test_event_lists_shared_by_products_of_one_input(coding):
    """``lists`` keeps the event lists of one count array: a second product of those counts with
    other weights (other widths, other chunkings) reuses them where the chunking agrees and gives
    exactly what it gives without them."""
    rng = np.random.default_rng(5)
    lo = 0 if coding == "binary" else -127
    c = rng.integers(lo, 128, (7, 300))
    c[rng.random(c.shape) < 0.4] = 0
    lists = {}
    for n in (40, 1300, 200):
        w = rng.integers(-128, 128, (n, 300)).astype(np.int8)
        plain = spike_linear(c, w, coding)
        shared = spike_linear(c, w, coding, lists=lists)
        np.testing.assert_array_equal(shared.out, plain.out)
        np.testing.assert_array_equal(shared.out, int_linear(c, w))
        assert shared.events == plain.events
    assert len(lists) == 1   # every chunking here is one chunk of all 300 inputs: one set of lists
