"""End-to-end `neurosim hw` on a tiny configuration, trace-tile stimulus, netlist scalarization."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.hwmodels import tools

try:
    LIB = tools.default_liberty()
except NeurosimError:
    LIB = None
pytestmark = pytest.mark.skipif(LIB is None, reason="qflow-tech-osu018 not installed")


def test_flow_end_to_end_deterministic(tmp_path):
    from neurosim.hwmodels.flow import run_flow
    # the generator's designs (the cocotb-verified ones) at one lane, K = 16: a fast but complete run
    kw = dict(freqs=(250.0,), lanes=1, k=16, rows=2, k_inputs=12, glitches=True,
              cache_dir=tmp_path / "cache", progress=False, pipelines={"mac": [1], "spike": [1]},
              tech_nodes=(45, 28))
    doc = run_flow(tmp_path / "hw", **kw)
    assert (tmp_path / "hw" / "hw.json").is_file() and (tmp_path / "hw" / "hw.md").is_file()
    res = doc["results"]
    assert set(res) == {"mac@250", "spike@250"}
    for r in res.values():
        assert r["meets_timing"] and r["slack_ns"] >= 0 and r["area_um2"] > 0
        for label in ("zero_delay", "gspecify"):
            p = r["power"][label]
            assert p["bit_exact"] and p["active"]["total_pj"] > p["idle_clock_gated"]["total_pj"] >= 0
    # glitches only add toggles
    for r in res.values():
        assert r["power"]["gspecify"]["active"]["toggles_per_cycle"] >= r["power"]["zero_delay"]["active"]["toggles_per_cycle"]
    c = doc["comparison"]["250"]
    assert c["area_reduction_pct"] == pytest.approx(
        100 * (1 - res["spike@250"]["area_um2"] / res["mac@250"]["area_um2"]))
    assert "refused" in doc["technology_scaling"]["nodes"]["28"]
    # rerun: everything from the caches, identical document apart from the 'run' field
    doc2 = run_flow(tmp_path / "hw", **kw)
    a = json.loads((tmp_path / "hw" / "hw.json").read_text())
    a.pop("run"), doc.pop("run"), doc2.pop("run")
    assert doc == doc2 == a


def test_tile_source_round_robin(tmp_path):
    from neurosim.core.coding import encode
    from neurosim.hwmodels.stimulus import build_stream, tile_source
    from neurosim.rtl.build import emit
    from neurosim.run.tiles import write_tile
    rng = np.random.default_rng(1)
    d = tmp_path / "trace" / "tiles"
    d.mkdir(parents=True)
    for j in range(2):
        counts = rng.integers(-20, 21, size=(2, 10)).astype(np.int32)
        w = rng.integers(-128, 128, size=(4, 10)).astype(np.int8)
        write_tile(d / f"t{j}.npz", counts, w, "bitwise", T=7, source=f"test{j}")
    src = tile_source(tmp_path / "trace", rows=3, k=8, lanes=3, coding="bitwise")
    assert src.counts.shape == (3, 8) and src.w_int.shape == (3, 3, 8) and src.spikes.shape == (7, 3, 8)
    np.testing.assert_array_equal(src.spikes, encode(src.counts, "bitwise", 7))
    m = emit("spike", coding="bitwise", lanes=3, k=8, pipeline=1, out_dir=tmp_path / "rtl")
    st = build_stream(src, "spike", m)
    assert st.events == int(np.count_nonzero(src.spikes))
    with pytest.raises(NeurosimError, match="lanes"):
        tile_source(tmp_path / "trace", rows=1, k=8, lanes=5, coding="bitwise")
    with pytest.raises(NeurosimError, match="no trace tiles"):
        tile_source(tmp_path / "none", rows=1, k=8, lanes=1, coding="bitwise")


def test_scalarize_ports_keeps_logic():
    from neurosim.hwmodels.gatesim import scalarize_ports
    text = ("module t(clk, w, acc);\n  input clk;\n  input [1:0] w;\n  output [1:0] acc;\n"
            "  INVX1 u0 (.A(w[0]), .Y(acc[1]));\n  INVX1 u1 (.A(w[1]), .Y(acc[0]));\nendmodule\n")
    out = scalarize_ports(text, {"clk": ("input", 1), "w": ("input", 2), "acc": ("output", 2)})
    assert ".A(w__0)" in out and ".Y(acc__1)" in out
    assert "assign w__1 = w[1];" in out and "assign acc[0] = acc__0;" in out
    assert "input [1:0] w;" in out


def test_busy_cycle_energy():
    from neurosim.hwmodels.flow import busy_cycle_energy
    p = {"active": {"cycles": 12, "total_pj": 10.0}, "idle_clocked": {"cycles": 5, "total_pj": 2.0}}
    # 12 active cycles at 10 pJ for 10 events: floor 2 pJ + 12 * 8 pJ / 10 events
    assert busy_cycle_energy(p, 10) == pytest.approx(2.0 + 12 * 8.0 / 10)
    p["idle_clocked"]["cycles"] = 0
    assert busy_cycle_energy(p, 10) == 10.0


@pytest.mark.parametrize("argv, msg", [
    (["--k", "0"], "--k must be 1.."),
    (["--k", "8", "--inputs", "12"], "--inputs must be 1..8"),
])
def test_hw_k_is_checked_before_any_work(tmp_path, capsys, argv, msg):
    """--k (the arrays' K) and --inputs against it: one-line errors, exit 2, nothing written."""
    from neurosim.cli import main
    out, cache = tmp_path / "hw", tmp_path / "cache"
    rc = main(["hw", "--out", str(out), "--cache", str(cache), "--quiet", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and err.count("\n") == 1
    assert not out.exists() and not cache.exists()
