"""neurosim.run.fidelity (one projection interface, three fidelities, the recorder) and
neurosim.run.metrics (accuracy against the float pass, totals)."""

import numpy as np
import pytest

from neurosim.core.coding import spike_counts_per_value
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
    assert list(got) == ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight",
                         "model.layers.2.self_attn.q_proj.weight", "model.layers.2.mlp.down_proj.weight"]
    assert got["model.layers.2.mlp.down_proj.weight"] == "tile03_L2_mlp_down_proj"
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
