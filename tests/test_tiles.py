import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.core.coding import decode
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
