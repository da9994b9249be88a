"""neurosim.run.tiles: write_tile/read_tile round trips (all-zero and fuzzed), tampered tiles."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurosim import NeurosimError
from neurosim.core.coding import CODINGS, decode, encode, required_steps
from neurosim.core.engine import int_linear
from neurosim.run.tiles import list_tiles, read_tile, write_tile


def test_tile_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.integers(-127, 128, (4, 32))
    w = rng.integers(-128, 128, (16, 32)).astype(np.int8)
    p = write_tile(tmp_path / "t0.npz", counts, w, "bitwise", T=8, source="unit")
    assert list_tiles(tmp_path) == [p]
    t = read_tile(p)
    assert t["coding"] == "bitwise" and t["T"] == 8 and t["source"] == "unit"
    np.testing.assert_array_equal(decode(t["spikes"], "bitwise"), counts)
    np.testing.assert_array_equal(t["expected"], counts @ w.T.astype(np.int64))
    assert not list(tmp_path.glob(".tile-*"))


def test_tampered_tile_is_rejected(tmp_path):
    counts = np.ones((1, 4), np.int32)
    w = np.ones((2, 4), np.int8)
    p = write_tile(tmp_path / "t.npz", counts, w, "ternary")
    with np.load(p) as z:
        d = dict(z)
    d["expected"] = d["expected"] + 1
    np.savez(p, **d)
    with pytest.raises(NeurosimError, match="disagree"):
        read_tile(p)
    del d["w_int"]
    np.savez(p, **d)
    with pytest.raises(NeurosimError, match="lacks key"):
        read_tile(p)
    p.write_bytes(b"junk")
    with pytest.raises(NeurosimError, match="cannot read tile"):
        read_tile(p)
    with pytest.raises(NeurosimError, match="does not exist"):
        list_tiles(tmp_path / "nope")


@pytest.mark.parametrize("coding", ("bitwise", "bitwise_2c", "ternary"))
def test_all_zero_tile_round_trip(tmp_path, coding):
    counts = np.zeros((4, 40), np.int32)
    w = np.random.default_rng(1).integers(-128, 128, size=(16, 40)).astype(np.int8)
    tile = read_tile(write_tile(tmp_path / "z.npz", counts, w, coding))
    assert tile["T"] == required_steps(counts, coding) >= 1
    assert not tile["spikes"].any() and not tile["expected"].any()


RANGE = {"binary": (0, 127), "ternary": (-127, 127), "bitwise": (-127, 127), "bitwise_2c": (-128, 127)}


@given(data=st.data())
def test_tile_round_trip_fuzz(tmp_path_factory, data):
    """Tiles (the trace's hardware slices) fuzzed through write_tile/read_tile."""
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


class _Layers:
    """A model stand-in: ``n_layers`` and ``layer_prefix`` are all choose_tiles reads."""

    def __init__(self, n_layers):
        self.n_layers = n_layers

    @staticmethod
    def layer_prefix(i):
        return f"model.layers.{i}."


KINDS7 = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def _names(n_layers, kinds=KINDS7):
    return [f"model.layers.{i}.{k}.weight" for i in range(n_layers) for k in kinds]


def _cells(picked):
    out = []
    for nm in picked:
        rest = nm.removeprefix("model.layers.").removesuffix(".weight")
        layer, kind = rest.split(".", 1)
        out.append((int(layer), kind))
    return out


def test_choose_tiles_is_stratified_over_layers_and_kinds():
    from collections import Counter

    from neurosim.run.tiles import choose_tiles
    model, names = _Layers(30), _names(30)
    picked = choose_tiles(model, names, 30)
    cells = _cells(picked)
    assert sorted(layer for layer, _ in cells) == list(range(30))          # every layer once
    per_kind = Counter(kind for _, kind in cells)
    assert set(per_kind) == set(KINDS7) and max(per_kind.values()) - min(per_kind.values()) <= 1
    # seeded: the same sample again, another seed another one; every name a real projection
    assert choose_tiles(model, names, 30) == picked
    assert choose_tiles(model, names, 30, seed=1) != picked
    assert set(picked) <= set(names)
    # numbered in the sampled order, and every prefix of that order is stratified too
    stems = list(picked.values())
    assert stems == sorted(stems) and stems[0].startswith("tile00_L")
    first7 = Counter(kind for _, kind in cells[:7])
    assert set(first7) == set(KINDS7) and len({layer for layer, _ in cells[:7]}) == 7
    # more tiles than layers: a second kind per layer, never a projection twice; all of them at most
    every = choose_tiles(model, names, 1000)
    assert len(every) == len(names) == len(set(every)) and list(every.values())[0].startswith("tile000_")
    assert choose_tiles(model, names, 0) == {}


def test_choose_tiles_with_layers_of_different_kinds():
    from neurosim.run.tiles import choose_tiles
    # layers with different projections (as SpB2.0's MoBA / SSE+SWA layers): kinds a layer lacks are skipped
    names = _names(2, ("self_attn.q_proj", "mlp.down_proj")) + \
        [f"model.layers.2.{k}.weight" for k in ("sse.q_proj", "sse.o_proj", "mlp.down_proj")]
    picked = choose_tiles(_Layers(3), names, 3)
    assert sorted(layer for layer, _ in _cells(picked)) == [0, 1, 2] and set(picked) <= set(names)
    assert len(choose_tiles(_Layers(3), names, 10)) == len(names)
