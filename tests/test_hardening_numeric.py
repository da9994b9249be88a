"""Hardening: numeric guards and fuzzing of the paths the existing tests leave out.

Already covered: quantizer zero rows and the V_th bounds (tests/test_quant.py), one-token and
longer-than-block runs end to end (tests/test_runner.py), windows/blocks against loops
(tests/test_layers.py), property tests of codings, quantizers, engine, trace (hypothesis profiles
"ci" and "long" in tests/conftest.py). Added here:

* the projection hook of int8/spike modes (``neurosim.run.Recorder`` around the int8 / spike projection) on all-zero activations, huge
  outliers and activations under the V_th floor: exact outputs (spike == int8 == the float64
  formula), sane statistics, totals without division by zero, tiles that read back;
* sequences of length 1, exactly one MoBA block / SWA window, and longer: prefix consistency
  (causality across block and window edges) and spike == int8 logits bit for bit;
* tiles (the trace's hardware slices) fuzzed through write_tile/read_tile;
* the hypothesis profiles themselves (NEUROSIM_PROFILE=long is more than ci).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.core.coding import CODINGS, decode, encode, required_steps
from neurosim.core.engine import int_linear
from neurosim.core.quant import VTH_MAX, VTH_MIN
from neurosim.run import Recorder, Settings, aggregate_totals, projection_for
from neurosim.run.tiles import read_tile, write_tile

ROOT = Path(__file__).resolve().parent.parent
SIGNED = ("bitwise", "bitwise_2c", "ternary")
SCALINGS = [("absmax", 127), ("adaptive", 127), ("adaptive", None)]


def hook(mode, coding, scale, clamp, k=3.0):
    s = Settings(mode=mode, coding=coding, scale=scale, clamp=clamp, k=k).validate()
    return Recorder(projection_for(s), {"p.weight": "full"})


def both_modes(x, w, coding, scale, clamp, k=3.0):
    """(y_int8, y_spike, record_int8, record_spike) of one projection."""
    out = []
    for mode in ("int8", "spike"):
        h = hook(mode, coding, scale, clamp, k)
        y = h("p.weight", x, w)
        out.append((y, h.records["p.weight"]))
    (yi, ri), (ys, rs) = out
    return yi, ys, ri, rs


def assert_sane(r: dict):
    for key in ("sparsity_data", "zero_fraction", "silent_channel_fraction"):
        assert 0.0 <= r[key] <= 1.0, (key, r[key])
    if r["sparsity_fixed"] is not None:
        assert 0.0 <= r["sparsity_fixed"] <= 1.0
    assert all(0.0 <= f <= 1.0 for f in r["firing_rate"])
    assert r["accumulates"] == r["events"] * r["out_features"]
    assert r["dense_macs"] == r["tokens"] * r["in_features"] * r["out_features"]
    assert r["T_engine"] >= 1 and r["T_data"] >= 1
    json.dumps(r, allow_nan=False)        # no NaN/inf anywhere (the trace writer refuses them)


@pytest.mark.parametrize("coding", SIGNED)
@pytest.mark.parametrize("scale, clamp", SCALINGS)
def test_all_zero_activations(coding, scale, clamp):
    rng = np.random.default_rng(0)
    x = np.zeros((3, 32), np.float32)
    w = rng.standard_normal((6, 32)).astype(np.float32)
    yi, ys, ri, rs = both_modes(x, w, coding, scale, clamp)
    assert yi.dtype == np.float32 and not yi.any() and not ys.any()
    assert ri == rs
    assert_sane(rs)
    assert rs["events"] == rs["spikes"] == 0 and rs["zero_fraction"] == 1.0 and rs["sparsity_data"] == 1.0
    assert rs["silent_channel_fraction"] == 1.0
    tot = aggregate_totals([rs])
    assert tot["sparsity_data"] == 1.0 and tot["spikes_per_activation"] == 0.0 and tot["accumulates_per_dense_mac"] == 0.0
    json.dumps(tot, allow_nan=False)


@pytest.mark.parametrize("coding", SIGNED)
def test_all_zero_tile_round_trip(tmp_path, coding):
    counts = np.zeros((4, 40), np.int32)
    w = np.random.default_rng(1).integers(-128, 128, size=(16, 40)).astype(np.int8)
    tile = read_tile(write_tile(tmp_path / "z.npz", counts, w, coding))
    assert tile["T"] == required_steps(counts, coding) >= 1
    assert not tile["spikes"].any() and not tile["expected"].any()


def float64_formula(h, x, w):
    """The dequantized product from the hook's own quantizers, in float64: V * w_scale * (W_int @ s)."""
    from neurosim.core.quant import quantize_activations, quantize_weights
    s = h.projection.quant
    aq = quantize_activations(x, s.scale, k=s.k, clamp=s.clamp)
    wq = quantize_weights(w)
    return aq, aq.scale.astype(np.float64) * (aq.counts.astype(np.float64) @ wq.w_int.T.astype(np.float64)) \
        * wq.scale[:, 0].astype(np.float64)


@pytest.mark.parametrize("coding", SIGNED)
def test_huge_outliers_absmax(coding):
    """A 1e30 outlier channel: V = max/127, every other value of the row quantizes to 0; the output
    is exact against the integer formula and carries the outlier's contribution."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 48)).astype(np.float32)
    x[:, 5] = np.float32(1e30) * np.array([1, -1, 1, -1], np.float32)
    w = (rng.standard_normal((8, 48)) * 0.05).astype(np.float32)
    yi, ys, ri, rs = both_modes(x, w, coding, "absmax", 127)
    np.testing.assert_array_equal(yi, ys)
    assert ri == rs and rs["clamped"] == 0
    assert_sane(rs)
    h = hook("spike", coding, "absmax", 127)
    aq, ref = float64_formula(h, x, w)
    assert (np.abs(aq.counts[:, 5]) == 127).all() and np.count_nonzero(aq.counts) == 4
    np.testing.assert_allclose(ys, ref, rtol=1e-6)
    # against the float product: the error is the INT8 weight rounding of the outlier's column
    # (at most half a weight step, max|w_row|/254, times 1e30) plus the dropped small values
    exact = x.astype(np.float64) @ w.T.astype(np.float64)
    bound = 1e30 * np.abs(w).max(axis=1) / 254 + np.abs(np.delete(x, 5, axis=1)).sum(axis=1, keepdims=True)
    assert (np.abs(ys - exact) <= bound * (1 + 1e-5)).all()
    assert np.isfinite(ys).all() and rs["zero_fraction"] == pytest.approx(1 - 4 / (4 * 48))


@pytest.mark.parametrize("coding", SIGNED)
def test_huge_outliers_adaptive_vth_ceiling(coding):
    """mean|x|/k far above 1e4: V_th sits at the 1e4 ceiling; unclamped counts burst into a longer
    window (bitwise T > 7) and spike == int8 exactly; with clamp 127 the excess is counted."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 64)).astype(np.float32)
    x[:, 9] = np.float32(2e8)
    w = (rng.standard_normal((8, 64)) * 0.05).astype(np.float32)
    yi, ys, ri, rs = both_modes(x, w, coding, "adaptive", None, k=1.0)
    h = hook("spike", coding, "adaptive", None, k=1.0)
    aq, ref = float64_formula(h, x, w)
    assert (aq.scale == np.float32(VTH_MAX)).all()
    assert aq.counts[:, 9].tolist() == [20000, 20000] and rs["clamped"] == 0
    np.testing.assert_array_equal(yi, ys)
    np.testing.assert_allclose(ys, ref, rtol=1e-6)
    assert rs["T_data"] == required_steps(aq.counts, coding) and rs["T_fixed"] is None
    if coding != "ternary":
        assert rs["T_engine"] > 8
    assert_sane(rs)
    # the 8-bit clamp: only the outliers are clamped
    yi, ys, ri, rs = both_modes(x, w, coding, "adaptive", 127, k=1.0)
    np.testing.assert_array_equal(yi, ys)
    assert rs["clamped"] == 2 and rs["T_fixed"] is not None
    assert_sane(rs)


def test_adaptive_counts_beyond_int32_are_a_clear_error():
    x = np.zeros((1, 8), np.float32)
    x[0, 0] = np.float32(3e38)
    with pytest.raises(NeurosimError, match="exceed int32"):
        hook("spike", "bitwise", "adaptive", None)("p.weight", x, np.ones((2, 8), np.float32))
    # with the 8-bit clamp the same row is fine (infinite quotient clamped to 127)
    y = hook("spike", "bitwise", "adaptive", 127)("p.weight", x, np.ones((2, 8), np.float32))
    assert np.isfinite(y).all()


@pytest.mark.parametrize("coding", SIGNED)
def test_activations_under_the_vth_floor(coding):
    """|x| ~ 1e-9: V_th sits at the 1e-5 floor and every count is 0: output exactly 0, sparsity 1."""
    x = (np.random.default_rng(4).standard_normal((3, 16)) * 1e-9).astype(np.float32)
    w = np.ones((4, 16), np.float32)
    yi, ys, ri, rs = both_modes(x, w, coding, "adaptive", None)
    h = hook("spike", coding, "adaptive", None)
    aq, _ = float64_formula(h, x, w)
    assert (aq.scale == np.float32(VTH_MIN)).all() and not aq.counts.any()
    assert not ys.any() and not yi.any()
    assert rs["sparsity_data"] == 1.0 and rs["events"] == 0
    assert_sane(rs)


# -- sequences: one token, exactly one block/window, longer ------------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from neurosim.model import Model, load_checkpoint
    d = tmp_path_factory.mktemp("ckpt") / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(d)]) == 0
    ckpt = load_checkpoint(d)
    attn = ckpt.config["attn"]
    assert attn["moba_chunk_size"] == 8 and attn["window_size"] == 8     # the edges tested below
    return Model(ckpt)


def test_prefix_consistency_across_block_and_window_edges(tiny_model):
    """Causality: the logits of the first n tokens do not depend on later tokens, for n = 1, one
    MoBA block / SWA window (8), one more (9) and beyond two blocks (17), in every layer kind."""
    m = tiny_model
    assert {m.layer_kind(i) for i in range(m.n_layers)} >= {"moba", "full", "sse_swa"}
    ids = np.random.default_rng(5).integers(3, 512, size=26)
    full = m.forward(ids)
    assert full.shape == (26, 512) and np.isfinite(full).all()
    for n in (1, 8, 9, 17):
        part = m.forward(ids[:n])
        np.testing.assert_allclose(part, full[:n], rtol=2e-4, atol=2e-4, err_msg=f"prefix of {n} tokens")


@pytest.mark.parametrize("n", [1, 8, 9, 17])
def test_spike_equals_int8_at_block_edges(tiny_model, n):
    """spike mode gives int8 mode's logits bit for bit for one token, one block/window and beyond."""
    ids = np.random.default_rng(6).integers(3, 512, size=n)
    kinds = {nm: tiny_model.layer_kind(i) for i in range(tiny_model.n_layers)
             for nm in tiny_model.projection_names(i)}
    logits, recs = {}, {}
    for mode in ("int8", "spike"):
        h = Recorder(projection_for(Settings(mode=mode).validate()), kinds)
        logits[mode] = tiny_model.forward(ids, linear=h)
        recs[mode] = h.records
    np.testing.assert_array_equal(logits["int8"], logits["spike"])
    assert recs["int8"] == recs["spike"] and len(recs["spike"]) == len(kinds)
    fp = tiny_model.forward(ids)
    assert np.isfinite(logits["spike"]).all()
    # the quantized logits still carry the float model's signal (random weights: a loose check)
    assert np.corrcoef(logits["spike"].ravel(), fp.ravel())[0, 1] > 0.8
    for r in recs["spike"].values():
        assert r["tokens"] == n
        assert_sane(r)
    tot = aggregate_totals(list(recs["spike"].values()))
    json.dumps(tot, allow_nan=False)
    assert 0 < tot["accumulates_per_dense_mac"] < 8


# -- tiles fuzzed --------------------------------------------------------------------------------

RANGE = {"binary": (0, 127), "ternary": (-127, 127), "bitwise": (-127, 127), "bitwise_2c": (-128, 127)}


@given(data=st.data())
def test_tile_round_trip_fuzz(tmp_path_factory, data):
    coding = data.draw(st.sampled_from(CODINGS))
    lo, hi = RANGE[coding]
    m, k, n = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 24)), data.draw(st.integers(1, 16))
    kind = data.draw(st.sampled_from(["uniform", "sparse", "zero", "extreme"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    if kind == "zero":
        counts = np.zeros((m, k), np.int64)
    elif kind == "extreme":
        counts = rng.choice([lo, hi, 0], size=(m, k))
    else:
        counts = rng.integers(lo, hi + 1, size=(m, k))
        if kind == "sparse":
            counts[rng.random((m, k)) < 0.8] = 0
    w = rng.integers(-128, 128, size=(n, k)).astype(np.int8)
    extra = data.draw(st.integers(0, 2))
    T = None if data.draw(st.booleans()) else required_steps(counts, coding) + extra
    path = write_tile(tmp_path_factory.mktemp("tile") / "t.npz", counts, w, coding, T=T, source="fuzz")
    tile = read_tile(path)
    np.testing.assert_array_equal(tile["counts"], counts)
    np.testing.assert_array_equal(decode(tile["spikes"], coding), counts)
    np.testing.assert_array_equal(tile["spikes"], encode(counts, coding, tile["T"]))
    np.testing.assert_array_equal(tile["expected"], int_linear(counts, w))
    assert tile["coding"] == coding and tile["source"] == "fuzz"
    assert tile["T"] == (T if T is not None else required_steps(counts, coding))
    assert [p.name for p in path.parent.iterdir()] == ["t.npz"]      # no temporary file left


# -- the hypothesis profiles -----------------------------------------------------------------------

def test_profiles_ci_and_long():
    """The CI profile is the default and NEUROSIM_PROFILE=long selects a larger one, for every
    property test under tests/ (conftest.py is loaded before them)."""
    ci, long = settings.get_profile("ci"), settings.get_profile("long")
    assert long.max_examples > ci.max_examples >= 50
    assert ci.deadline is None and long.deadline is None
    want = os.environ.get("NEUROSIM_PROFILE", "ci")
    assert settings.default.max_examples == settings.get_profile(want).max_examples
    code = ("import sys; sys.argv = ['x']; import tests.conftest; from hypothesis import settings; "
            "print(settings.default.max_examples)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, NEUROSIM_PROFILE="long"))
    assert r.returncode == 0, r.stderr[-800:]
    assert int(r.stdout.strip()) == long.max_examples
