"""Tests of neurosim.hwmodels: real tool output (no mocks), hand-counted toggles, hand-computed energy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.hwmodels import tools
from neurosim.hwmodels.gatesim import Vectors, simulate
from neurosim.hwmodels.netlist import parse_netlist
from neurosim.hwmodels.vcd import count_toggles
from neurosim.hwmodels.liberty import Library
from neurosim.hwmodels.power import (clock_energy_per_cycle, energy_per_cycle, leakage_nw,
                                     net_energies)

try:
    LIB_PATH = tools.default_liberty()
except NeurosimError:
    LIB_PATH = None
needs_lib = pytest.mark.skipif(LIB_PATH is None, reason="qflow-tech-osu018 not installed")


@pytest.fixture(scope="module")
def lib():
    return Library.load(LIB_PATH)


# a tiny hand-written netlist of OSU cells: y = ~a & b, q = y registered
TINY = """
module tiny(clk, rst, a, b, y, q);
  input clk; input rst; input a; input b; output y; output q;
  wire n1;
  INVX1 u1 (.A(a), .Y(n1));
  AND2X1 u2 (.A(n1), .B(b), .Y(y));
  DFFPOSX1 u3 (.CLK(clk), .D(y), .Q(q));
endmodule
"""


@needs_lib
def test_liberty_values(lib):
    assert lib.voltage == 1.8
    assert lib.cells["AND2X1"].area == 32 and lib.cells["DFFPOSX1"].area == 96
    assert lib.cells["DFFPOSX1"].is_sequential and not lib.cells["AND2X1"].is_sequential
    assert lib.cells["DFFPOSX1"].pins["CLK"].clock
    assert lib.cells["DFFPOSX1"].pins["D"].capacitance == pytest.approx(0.00882947)
    # on a grid point: mean over related pins A and B of (rise + fall) / 2, values from the .lib
    a = (0.017698 + 0.063015) / 2
    b = (0.018327 + 0.072689) / 2
    assert lib.output_toggle_energy("AND2X1", "Y", 0.0125, 0.18) == pytest.approx((a + b) / 2, rel=1e-9)
    # output transition on a grid point: mean over arcs A, B of (rise + fall) / 2 (rise/fall_transition)
    tr = ((0.047719 + 0.042236) / 2 + (0.049456 + 0.041168) / 2) / 2
    assert lib.output_transition("AND2X1", "Y", 0.0125, 0.18) == pytest.approx(tr, rel=1e-9)


@needs_lib
@pytest.mark.parametrize("delays", [False, True])
def test_toggles_known_by_hand(lib, tmp_path, delays):
    net = parse_netlist(TINY, lib)
    (tmp_path / "tiny.v").write_text(TINY)
    a = [1, 1, 0, 1, 0, 0]
    b = [1, 0, 1, 1, 1, 1]
    # before the measured cycles (reset phase): a=0, b=1 -> n1=1, y=1, q=1
    # a: 0|1 1 0 1 0 0 -> 4 toggles; b: 1|1 0 1 1 1 1 -> 2; n1 = ~a -> 4
    # y = n1 & b: 1|0 0 1 0 1 1 -> 4; q follows y at each rising edge inside the same cycle -> 4
    vectors = Vectors({"a": a, "b": b}, drain={"a": 0, "b": 1}, drain_cycles=2, reset={"a": 0, "b": 1})
    sim = simulate(tmp_path / "tiny.v", net, tools.cell_models_for(LIB_PATH), vectors, period_ns=4.0, delays=delays,
                   workdir=tmp_path / "sim")
    got = {n: int(c.sum()) for n, c in sim.toggles.counts.items()}
    assert got == {"a": 4, "b": 2, "n1": 4, "y": 4, "q": 4}
    assert sim.outputs == {"y": 1, "q": 1}


def test_vcd_reader_vectors(tmp_path):
    vcd = tmp_path / "t.vcd"
    vcd.write_text("$timescale 1ps $end\n$scope module dut $end\n$var wire 3 ! v [2:0] $end\n"
                   "$var wire 1 \" s $end\n$upscope $end\n$enddefinitions $end\n"
                   "#0\nb000 !\n0\"\n#1000\nb101 !\n1\"\n#2500\nb10 !\nx\"\n#3000\n1\"\n#4100\nb11 !\n")
    tog = count_toggles(vcd, None, period_ps=1000, t0_ps=0, cycle_class=np.array([0, 1, 0, 1]), n_classes=2)
    # v: 000->101 (bits 2,0) in cycle 1; 101->010 (all 3) in cycle 2; change at 4100 is outside
    assert tog.counts["v[2]"].tolist() == [1, 1] and tog.counts["v[1]"].tolist() == [1, 0]
    assert tog.counts["v[0]"].tolist() == [1, 1]
    # s: 0->1 in cycle 1; 1->x and x->1 are not toggles
    assert tog.counts["s"].tolist() == [0, 1]
    assert tog.n_cycles.tolist() == [2, 2]


@needs_lib
def test_energy_by_hand(lib):
    net = parse_netlist(TINY, lib)
    ne = net_energies(net, lib, slew_ns=0.1)
    i = ne.names.index("y")
    c = 0.00882947 + 0.010                  # DFF D pin + 10 fF output-port load [pF]
    assert ne.cap_pf[i] == pytest.approx(c)
    assert ne.e_sw[i] == pytest.approx(0.5 * c * 1.8 ** 2)
    # AND2X1 internal_power tables (osu018_stdcells.lib), rows load 0.0125 / 0.025 pF,
    # columns transition 0.06 / 0.18 ns; bilinear interpolation at (c, 0.1 ns)
    def bil(v00, v01, v10, v11):
        fx = (c - 0.0125) / (0.025 - 0.0125)
        fy = (0.1 - 0.06) / (0.18 - 0.06)
        return (v00 * (1 - fx) * (1 - fy) + v01 * (1 - fx) * fy + v10 * fx * (1 - fy) + v11 * fx * fy)
    rise_a = bil(0.013339, 0.017698, 0.013729, 0.018863)
    fall_a = bil(0.053948, 0.063015, 0.054045, 0.062985)
    rise_b = bil(0.014079, 0.018327, 0.014302, 0.018522)
    fall_b = bil(0.065226, 0.072689, 0.065879, 0.073131)
    e_int = ((rise_a + fall_a) / 2 + (rise_b + fall_b) / 2) / 2
    assert ne.e_int[i] == pytest.approx(e_int, rel=1e-9)
    # D pin's own table (1-D in transition): rise 0.045424@0.06, 0.045977@0.18; fall 0.08841, 0.087952
    f = (0.1 - 0.06) / 0.12
    e_d = ((0.045424 + f * (0.045977 - 0.045424)) + (0.08841 + f * (0.087952 - 0.08841))) / 2
    assert ne.e_in[i] == pytest.approx(e_d, rel=1e-9)
    # clock: CLK pin rise/fall per cycle (tables at 0.06 / 0.24 ns) + C_clk V^2
    g = (0.1 - 0.06) / (0.24 - 0.06)
    clk_pin = (0.006865 + g * (0.006943 - 0.006865)) + (0.11034 + g * (0.129769 - 0.11034))
    clk = clock_energy_per_cycle(net, lib, slew_ns=0.1)
    assert clk["total_pj"] == pytest.approx(clk_pin + 0.0279235 * 1.8 ** 2, rel=1e-9)
    leak = leakage_nw(net, lib)
    assert leak == pytest.approx(lib.cells["INVX1"].leakage_nw + 0.0746794 + 0.160725)
    # energy per cycle from 4 toggles of y over 2 cycles
    from neurosim.hwmodels.vcd import Toggles
    tog = Toggles({"y": np.array([4])}, np.array([2]), 0)
    e = energy_per_cycle(tog, ne, clk, leak, period_ns=4.0)
    assert e.switching_pj == pytest.approx(2 * 0.5 * c * 1.8 ** 2)
    assert e.internal_pj == pytest.approx(2 * e_int)
    assert e.leakage_pj == pytest.approx(leak * 4.0 * 1e-6)
    assert e.total_pj == pytest.approx(2 * (0.5 * c * 3.24 + e_int + e_d) + clk["total_pj"] + leak * 4e-6)


@needs_lib
@needs_lib
def test_driver_slew_mode(lib):
    from neurosim.hwmodels.power import net_slews
    net = parse_netlist(TINY, lib)
    sl = net_slews(net, lib, slew_ns=0.1)
    # y is driven by AND2X1 into the D pin + 10 fF; b is a primary input driven by BUFX2 into u2.B
    assert sl["y"] == pytest.approx(lib.output_transition("AND2X1", "Y", 0.00882947 + 0.010, 0.1))
    assert sl["b"] == pytest.approx(lib.output_transition("BUFX2", "Y", 0.0125298, 0.1))
    assert sl["clk"] == 0.1
    ne = net_energies(net, lib, slew_ns=0.1, slew_mode="driver")
    i = ne.names.index("y")
    c = 0.00882947 + 0.010
    arcs = lib.cells["AND2X1"].pins["Y"].power
    want = sum(0.5 * sum(a.energy(c, sl["n1"] if a.related_pin == "A" else sl["b"])) for a in arcs) / 2
    assert ne.e_int[i] == pytest.approx(want, rel=1e-12)
    assert ne.e_in[i] == pytest.approx(lib.input_toggle_energy("DFFPOSX1", "D", sl["y"]), rel=1e-12)


def test_synthesis_and_timing_real_tools(tmp_path, lib):
    from neurosim.hwmodels.sta import run_sta
    from neurosim.hwmodels.synth import synthesize
    from neurosim.rtl.build import emit
    m = emit("spike", coding="bitwise", lanes=1, k=64, pipeline=2, out_dir=tmp_path, acc_w=24)
    (tmp_path / m["verilog"]).rename(tmp_path / "d.v")
    r = synthesize(tmp_path / "d.v", m["top"], LIB_PATH, cache_dir=tmp_path / "cache", booth=False,
                   delay_ps=2000)
    assert r.area_um2 > 1000 and r.area_um2 == pytest.approx(r.area_check_um2)
    assert r.cells["DFFPOSX1"] >= 24 and Path(r.netlist).is_file()
    again = synthesize(tmp_path / "d.v", m["top"], LIB_PATH, cache_dir=tmp_path / "cache", booth=False,
                       delay_ps=2000)
    assert again.cached and again.area_um2 == r.area_um2
    t4 = run_sta(r.netlist, m["top"], LIB_PATH, 4.0)
    t2 = run_sta(r.netlist, m["top"], LIB_PATH, 2.0)
    assert t4.slack_ns - t2.slack_ns == pytest.approx(2.0, abs=0.002)
    assert t4.fmax_mhz == pytest.approx(t2.fmax_mhz, rel=1e-3)
    assert t4.path and t4.path[-1]["pin"].endswith("/D")
    assert t4.arrival_ns == pytest.approx(t4.path[-1]["time_ns"], abs=0.002)


@needs_lib
def test_debian_yosys_option(tmp_path, lib):
    from neurosim.hwmodels.synth import synthesize
    from neurosim.rtl.build import emit
    m = emit("mac", lanes=1, k=16, pipeline=1, out_dir=tmp_path, acc_w=20)
    (tmp_path / m["verilog"]).rename(tmp_path / "d.v")
    r = synthesize(tmp_path / "d.v", m["top"], LIB_PATH, cache_dir=tmp_path / "c", flavour="debian",
                   booth=False, delay_ps=4000)
    assert r.settings["tool"] == "yosys (Debian)" and r.area_um2 == pytest.approx(r.area_check_um2)
    with pytest.raises(NeurosimError, match="booth"):
        synthesize(tmp_path / "d.v", m["top"], LIB_PATH, cache_dir=tmp_path / "c", flavour="debian", booth=True)


def test_missing_tool_names_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NeurosimError, match="opensta"):
        tools.find_tool("sta")
    with pytest.raises(NeurosimError, match="iverilog"):
        tools.find_tool("iverilog")


def test_missing_liberty_names_package(monkeypatch, tmp_path):
    monkeypatch.setattr(tools, "OSU018_DIRS", (str(tmp_path),))
    monkeypatch.setattr(tools.glob, "glob", lambda *a, **k: [])
    with pytest.raises(NeurosimError, match="qflow-tech-osu018"):
        tools.default_liberty()
    with pytest.raises(NeurosimError, match="qflow-tech-osu018"):
        Library.load(tmp_path / "nope.lib")


def test_tech_refuses_untabulated_node():
    from neurosim.hwmodels.tech import area_factor, energy_factor
    assert area_factor(45) == pytest.approx(1 / 19)
    assert 0 < energy_factor(7) < energy_factor(45) < 1
    with pytest.raises(NeurosimError, match="28"):
        energy_factor(28)


def test_stillmaker_baas_from_either_measured_node():
    """The 130 nm row of Stillmaker & Baas (Table 5 energy polynomial, area table) as a source:
    E(V) = a V^2 + b V + c evaluated at each node's supply, area by the table's 130 nm column."""
    from neurosim.hwmodels.tech import area_factor, energy_factor, scale_energy_area
    e130 = 7.171 * 1.8 ** 2 - 6.709 * 1.8 + 2.904
    e180 = 24.64 * 1.8 - 17.98
    e45 = 1.018 - 0.3107 + 0.1539
    assert energy_factor(45, 130, 1.8) == pytest.approx(e45 / e130, rel=1e-12)
    assert energy_factor(130, 180, 1.8) == pytest.approx(e130 / e180, rel=1e-12)
    assert area_factor(45, 130) == pytest.approx(1 / 6.4) and area_factor(130) == pytest.approx(1 / 2.9)
    with pytest.raises(NeurosimError, match="no area factor from 130 nm to 180 nm"):
        area_factor(180, 130)
    with pytest.raises(NeurosimError, match="source node of 90 nm"):
        energy_factor(45, 90)
    comp = {"250": {"area_mac_um2": 64.0, "area_spike_um2": 32.0,
                    "zero_delay": {"energy_per_mac_eq_pj": {"mac": 10.0}}}}
    sky = scale_energy_area(comp, [45, 180], "sky130hd", 1.8)
    assert sky["from_node_nm"] == 130 and "SkyWater" in sky["label"]
    n45 = sky["nodes"]["45"]["per_freq"]["250"]
    assert n45["area_mac_um2"] == pytest.approx(10.0) and n45["energy_per_mac_eq_pj"]["mac"] == pytest.approx(10 * e45 / e130)
    assert "refused" in sky["nodes"]["180"]
    assert "from_node_nm" not in scale_energy_area(comp, [45])
