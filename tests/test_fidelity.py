"""neurosim.run.fidelity (one projection interface, three fidelities, the recorder) and
neurosim.run.metrics (accuracy against the float pass, totals)."""

import json

import numpy as np
import pytest

from neurosim.core.coding import required_steps, spike_counts_per_value
from neurosim.core.quant import VTH_MAX, VTH_MIN
from neurosim.model.network import token_nll
from neurosim.run import (
    FloatProjection,
    Int8Projection,
    Quantization,
    Recorder,
    Settings,
    SpikeProjection,
    accuracy,
    aggregate_totals,
    choose_tiles,
    kl_divergence,
    projection_for,
    tile_rows,
    top1_agreement,
)

RNG = np.random.default_rng(11)
X = RNG.standard_normal((9, 48)).astype(np.float32) * np.linspace(0.1, 4, 48, dtype=np.float32)
W = RNG.standard_normal((20, 48)).astype(np.float32)


@pytest.mark.parametrize("coding", ["ternary", "bitwise", "bitwise_2c"])
@pytest.mark.parametrize("scale, clamp, group", [("absmax", 127, None), ("adaptive", None, None),
                                                 ("adaptive", 127, 16)])
def test_int8_and_spike_give_identical_integers(coding, scale, clamp, group):
    q = Quantization(scale=scale, clamp=clamp, weight_group=group, coding=coding)
    pi = Int8Projection(q).product("p.weight", X, W)
    ps = SpikeProjection(q).product("p.weight", X, W)
    assert pi.quantized and ps.quantized
    np.testing.assert_array_equal(pi.y, ps.y)
    np.testing.assert_array_equal(pi.acts.counts, ps.acts.counts)
    np.testing.assert_array_equal(pi.weights.w_int, ps.weights.w_int)
    assert pi.T == ps.T
    # int8 did not run the engine; the engine's events are the spikes of the counts in window T
    assert pi.events is None
    assert ps.events == int(spike_counts_per_value(ps.acts.counts, coding, ps.T).sum()) > 0
    assert pi.y.dtype == X.dtype


def test_float_projection_and_unselected_names_stay_float():
    ref = X @ W.T
    p = FloatProjection().product("p.weight", X, W)
    assert not p.quantized and np.array_equal(p.y, ref)
    spike = SpikeProjection(projections=["*.mlp.*"])
    assert not spike.selected("model.layers.0.self_attn.q_proj.weight")
    assert np.array_equal(spike("model.layers.0.self_attn.q_proj.weight", X, W), ref)
    assert not np.array_equal(spike("model.layers.0.mlp.up_proj.weight", X, W), ref)


def test_projection_for_settings():
    assert isinstance(projection_for(Settings(mode="fp").validate()), FloatProjection)
    p = projection_for(Settings(mode="int8", scale="adaptive", k=8.0, clamp=None, coding="ternary",
                                projections=["a*"]).validate())
    assert isinstance(p, Int8Projection) and p.mode == "int8"
    assert p.quant == Quantization(scale="adaptive", k=8.0, clamp=None, coding="ternary")
    assert p.selected("ab") and not p.selected("ba")


def test_recorder_records_quantized_products_only(tmp_path):
    kinds = {"a.weight": "full", "b.weight": "moba"}
    rec = Recorder(SpikeProjection(projections=["a*"]), kinds, tiles={"a.weight": "t0"}, tiles_out=tmp_path,
                   source="m")
    ya = rec("a.weight", X, W)
    rec("b.weight", X, W)
    assert list(rec.records) == ["a.weight"] and list(rec.histograms) == ["a.weight"]
    r = rec.records["a.weight"]
    assert r["kind"] == "full" and r["tokens"] == 9 and r["in_features"] == 48 and r["out_features"] == 20
    assert r["accumulates"] == r["events"] * 20 and r["dense_macs"] == 9 * 48 * 20
    assert rec.tiles_written == ["t0.npz"] and (tmp_path / "t0.npz").is_file()
    values, freq = rec.histograms["a.weight"]
    assert freq.sum() == X.size and np.all(np.diff(values) > 0)
    rec.recording = False
    rec.records.clear()
    assert np.array_equal(rec("a.weight", X, W), ya) and not rec.records
    fr = Recorder(FloatProjection(), kinds)
    fr("a.weight", X, W)
    assert fr.records == {} and fr.ordered_records() == []


def test_recorder_int8_events_equal_spike_events():
    kinds = {"a.weight": "full"}
    ri, rs = Recorder(Int8Projection(), kinds), Recorder(SpikeProjection(), kinds)
    ri("a.weight", X, W)
    rs("a.weight", X, W)
    assert ri.records == rs.records and ri.records["a.weight"]["events"] > 0


class _FakeModel:
    n_layers = 5

    def layer_prefix(self, i):
        return f"model.layers.{i}."


def test_choose_tiles_and_rows():
    names = [f"model.layers.{i}.{p}.weight" for i in range(5) for p in ("self_attn.q_proj", "mlp.down_proj")]
    got = choose_tiles(_FakeModel(), names, 4)
    # stratified (tests/test_tiles.py has the details): four layers, the two kinds twice each
    assert set(got) <= set(names) and len({nm.split(".")[2] for nm in got}) == 4
    assert sum(nm.endswith("down_proj.weight") for nm in got) == 2
    for j, (nm, stem) in enumerate(got.items()):
        assert stem == f"tile{j:02d}_" + nm.replace("model.layers.", "L").replace(".weight", "").replace(".", "_")
    assert choose_tiles(_FakeModel(), names, 0) == {}
    assert tile_rows(32) == slice(14, 18) and tile_rows(1) == slice(0, 1)


def test_accuracy_uses_the_model_nll():
    logits = RNG.standard_normal((12, 30)).astype(np.float32)
    noisy = logits + 0.3 * RNG.standard_normal(logits.shape).astype(np.float32)
    ids = RNG.integers(0, 30, size=12)
    same = accuracy(logits, logits, ids)
    assert same["mean_kl"] == 0.0 and same["top1_agreement"] == 1.0 and same["ppl_change"] == 0.0
    a = accuracy(logits, noisy, ids)
    assert a["positions"] == 12 and a["mean_kl"] > 0
    assert a["ppl_fp"] == float(np.exp(token_nll(logits, ids).mean()))
    assert a["ppl_quant"] == float(np.exp(token_nll(noisy, ids).mean()))
    assert a["top1_agreement"] == top1_agreement(logits, noisy) < 1.0
    assert np.all(kl_divergence(logits, noisy) >= 0)
    one = accuracy(logits[:1], noisy[:1], ids[:1])
    assert "ppl_fp" not in one and one["positions"] == 1


def test_aggregate_totals_of_records():
    kinds = {"a.weight": "full", "b.weight": "full"}
    rec = Recorder(SpikeProjection(), kinds)
    rec("a.weight", X, W)
    rec("b.weight", X[:5], W[:7])
    recs = rec.ordered_records()
    tot = aggregate_totals(recs)
    assert tot["projections"] == 2
    assert tot["events"] == sum(r["events"] for r in recs)
    assert tot["dense_macs"] == 9 * 48 * 20 + 5 * 48 * 7
    assert tot["accumulates_per_dense_mac"] == tot["accumulates"] / tot["dense_macs"]
    assert aggregate_totals([]) == {}


# -- numeric guards of the int8/spike projection hook: all-zero, huge outliers, under the V_th floor --
# exact outputs (spike == int8 == the float64 formula), sane statistics, totals without division by zero

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


@pytest.mark.parametrize("n", [1, 8, 9, 17])
def test_spike_equals_int8_at_block_edges(tiny_model, n):
    """spike mode gives int8 mode's logits bit for bit for one token, exactly one MoBA block / SWA
    window (8 tokens), one more and beyond two blocks."""
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


@pytest.mark.parametrize("mode", ["int8", "spike"])
def test_model_cache_skips_the_float_weights(tiny, mode):
    """A bound projection quantizes each weight once per model; on later passes it ``holds`` the
    weight, the model passes w=None without reading the checkpoint, and the logits and records
    are the same as the first pass's."""
    from neurosim.model import Model, load_checkpoint
    from neurosim.run import Recorder, Settings, projection_for, projection_kinds

    model = Model(load_checkpoint(tiny))
    kinds = projection_kinds(model)
    read = []
    tensor = model.ckpt.tensor
    model.ckpt.tensor = lambda name: read.append(name) or tensor(name)
    ids = np.arange(20) % model.vocab_size
    passes = []
    for _ in range(2):
        read.clear()
        rec = Recorder(projection_for(Settings(model=str(tiny), mode=mode).validate()), kinds)
        passes.append((model.forward(ids, linear=rec), rec.ordered_records(), list(read)))
    (l1, r1, read1), (l2, r2, read2) = passes
    assert set(kinds) <= set(read1)                 # the first pass reads every projection weight
    assert not set(kinds) & set(read2)              # the second reads none of them
    assert read2                                    # (norms, embeddings, lm_head still read)
    assert np.array_equal(l1, l2)
    assert json.dumps(r1, sort_keys=True) == json.dumps(r2, sort_keys=True)


@pytest.mark.parametrize("proj", [Int8Projection, SpikeProjection])
def test_shared_input_quantized_once_and_in_place_changes_seen(proj):
    """Projections of one input (q/k/v) reuse its quantization; an input changed in place between
    calls is quantized again (the projection keeps a copy, not a reference)."""
    p = proj(Quantization())
    x = X.copy()
    w2 = RNG.standard_normal((7, 48)).astype(np.float32)
    a = p.product("a.weight", x, W)
    b = p.product("b.weight", x, w2)
    assert b.acts is a.acts
    np.testing.assert_array_equal(b.y, proj(Quantization()).product("b.weight", x, w2).y)
    x[0, 0] += 1.5
    c = p.product("c.weight", x, w2)
    assert c.acts is not a.acts
    np.testing.assert_array_equal(c.y, proj(Quantization()).product("c.weight", x, w2).y)
    assert c.events == proj(Quantization()).product("c.weight", x, w2).events
