"""`neurosim hw --tech`: the flow on OSU 0.18 um and SkyWater sky130 hd, side by side; bad input."""

from __future__ import annotations

import json

import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.hwmodels import tools
from neurosim.hwmodels.tech import LIBRARIES, measured_node

try:
    tools.default_liberty()
    HAVE_OSU = True
except NeurosimError:
    HAVE_OSU = False
needs_osu = pytest.mark.skipif(not HAVE_OSU, reason="qflow-tech-osu018 not installed")


def _argv(tmp_path, *extra):
    return ["hw", "--out", str(tmp_path / "hw"), "--cache", str(tmp_path / "cache"), "--lanes", "1",
            "--rows", "1", "--inputs", "6", "--freq", "250", "--k", "16", "--scale-nodes", "--quiet",
            "--pipeline", "mac=2", "spike=2", *extra]


@needs_osu
def test_tech_all_measures_both_libraries_side_by_side(tmp_path, capsys):
    """One tiny run on both libraries: every sky130 netlist is mapped onto sky130 hd cells only and
    simulated bit-exactly (zero-delay and with the generated models' delays), hw.json's
    ``libraries`` holds both columns and equals each library's own document."""
    assert main(_argv(tmp_path, "--tech", "all")) == 0
    printed = capsys.readouterr().out
    assert "osu018 (180 nm)" in printed and "sky130hd (130 nm)" in printed
    out = tmp_path / "hw"
    doc = json.loads((out / "hw.json").read_text())
    sky = json.loads((out / "sky130hd" / "hw.json").read_text())
    assert "tech" not in doc["settings"] and sky["settings"]["tech"] == "sky130hd"
    assert measured_node(doc) == 180 and measured_node(sky) == 130
    assert set(doc["libraries"]) == set(LIBRARIES)
    for tech, d in (("osu018", doc), ("sky130hd", sky)):
        side = doc["libraries"][tech]["per_freq"]["250"]
        for design in ("mac", "spike"):
            r = d["results"][f"{design}@250"]
            assert side[design]["area_um2"] == r["area_um2"] > 0
            assert side[design]["slack_ns"] == r["slack_ns"]
            for sim in ("zero_delay", "gspecify"):
                assert r["power"][sim]["bit_exact"]
        assert side["area_reduction_pct"] == d["comparison"]["250"]["area_reduction_pct"]
    for cfg in sky["configs"].values():
        assert cfg["cells"] and all(c.startswith("sky130_fd_sc_hd__") for c in cfg["cells"]), cfg["cells"]
        assert sum(cfg["cells"].values()) == cfg["n_cells"]
        assert cfg["area_check_um2"] == pytest.approx(cfg["area_um2"], rel=1e-9)
    assert sky["settings"]["library"] == "sky130_fd_sc_hd__tt_025C_1v80"
    assert "SkyWater" in sky["assumptions"][0]["here"]
    md = (out / "hw.md").read_text()
    assert "Cell libraries side by side" in md and "sky130hd (130 nm)" in md


@pytest.mark.parametrize("argv, reason", [
    (["--tech", "tsmc7"], r"unknown --tech 'tsmc7'"),
    (["--tech", "all", "--liberty", "x.lib"], r"--liberty .* not all"),
], ids=["unknown-tech", "liberty-with-all"])
def test_hw_rejects_bad_tech(tmp_path, rejected, argv, reason):
    rejected(_argv(tmp_path, *argv), reason, tmp_path / "hw", tmp_path / "cache")


def test_hw_rejects_a_corrupt_liberty(tmp_path, rejected):
    bad = tmp_path / "bad.lib"
    bad.write_text("library (x) { cell (a) { area : 1;\n")
    rejected(_argv(tmp_path, "--tech", "sky130hd", "--liberty", str(bad)), r"bad\.lib.*unbalanced",
             tmp_path / "hw", tmp_path / "cache")


def test_netlist_cell_missing_from_the_library_is_named(tmp_path):
    """A netlist that instantiates a cell the library lacks: one error naming the cell."""
    from neurosim.hwmodels.liberty import Library
    from neurosim.hwmodels.netlist import parse_netlist
    lib = Library.load(tools.SKY130HD_LIBERTY)
    text = ("module top (a, y);\n input a;\n output y;\n"
            " sky130_fd_sc_hd__inv_1 u1 (.A(a), .Y(y));\n NAND2X1 u2 (.A(a), .B(a), .Y(y));\nendmodule\n")
    with pytest.raises(NeurosimError, match="NAND2X1"):
        parse_netlist(text, lib)


def test_measured_node_of_a_document():
    assert measured_node({"settings": {}}) == 180
    assert measured_node({"settings": {"tech": "sky130hd"}}) == 130
    with pytest.raises(NeurosimError, match="unknown --tech"):
        measured_node({"tech": "x"})


def test_node_scaling_result_is_the_libraries_result_scaled():
    """docs/results/node_scaling.json is the committed libraries result scaled to 45 nm from each
    library's own node (regenerated with it); each estimate is the measured figure x its factor."""
    from benchmarks.node_scaling import check
    from neurosim.hwmodels.tech import area_factor, energy_factor
    from neurosim.results import RESULTS_DIR
    libs = json.loads((RESULTS_DIR / "libraries.json").read_text())["libraries"]
    doc = json.loads((RESULTS_DIR / "node_scaling.json").read_text())
    assert doc["check"] == json.loads(json.dumps(check(libs)))
    rows = doc["check"]["rows"]
    assert {(r["freq_mhz"], r["design"]) for r in rows} == {(f, d) for f in libs["osu018"]["per_freq"]
                                                           for d in ("mac", "spike")}
    for r in rows:
        for t, node in (("osu018", 180), ("sky130hd", 130)):
            m = libs[t]["per_freq"][r["freq_mhz"]][r["design"]]
            assert r["energy_at_target_pj"][t] == pytest.approx(m["energy_per_mac_eq_pj"] * energy_factor(45, node, 1.8))
            assert r["area_at_target_um2"][t] == pytest.approx(m["area_um2"] * area_factor(45, node))
        e = r["energy_at_target_pj"]
        assert r["energy_difference_pct"] == pytest.approx(100 * (e["osu018"] / e["sky130hd"] - 1))
