"""The shipped SkyWater sky130_fd_sc_hd liberty: provenance, values equal to SkyWater's JSON, the
converter script, the cell models generated from it, and bad library input."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

from neurosim import NeurosimError
from neurosim.hwmodels.liberty import Library
from neurosim.hwmodels.tools import SKY130HD_LIBERTY

ROOT = Path(__file__).resolve().parent.parent
FOLDER = SKY130HD_LIBERTY.parent
MANIFEST = json.loads((FOLDER / "cells.json").read_text())


def _script():
    spec = importlib.util.spec_from_file_location("sky130_liberty", ROOT / "scripts" / "sky130_liberty.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def sky():
    return Library.load(SKY130HD_LIBERTY)


def test_shipped_liberty_is_small_licensed_and_names_its_commit():
    assert SKY130HD_LIBERTY.stat().st_size < 1_000_000
    assert "Apache License" in (FOLDER / "LICENSE").read_text()
    source = (FOLDER / "SOURCE").read_text()
    commit = re.search(r"^commit: ([0-9a-f]{40})$", source, re.M).group(1)
    assert MANIFEST["commit"] == commit
    assert "google/skywater-pdk-libs-sky130_fd_sc_hd" in source


def test_every_shipped_cell_has_the_area_and_leakage_of_its_json(sky):
    """Each cell of the shipped liberty, as our reader sees it, has exactly the area [um^2] and
    cell_leakage_power [nW] of the SkyWater JSON it was built from (values and blob ids recorded from
    the JSON in cells.json), and the liberty holds exactly the cells the script selects."""
    cells = MANIFEST["cells"]
    assert set(sky.cells) == set(cells) == set(_script().cell_names())
    assert MANIFEST["units"] == {"area": "um^2", "cell_leakage_power": "nW"}
    for name, ref in cells.items():
        assert re.fullmatch(r"[0-9a-f]{40}", ref["git_blob"])
        assert sky.cells[name].area == ref["area"], name
        assert sky.cells[name].leakage_nw == ref["cell_leakage_power"], name


def test_shipped_liberty_has_the_classes_synthesis_needs(sky):
    assert sky.missing_cell_classes() == []
    assert sky.voltage == 1.8
    assert sky.driver_cell() == ("sky130_fd_sc_hd__buf_1", "X")
    flops = {n for n, c in sky.cells.items() if c.is_flip_flop}
    assert {"sky130_fd_sc_hd__dfxtp_1", "sky130_fd_sc_hd__dfrtp_1", "sky130_fd_sc_hd__dfstp_1"} <= flops
    for base in ("inv", "buf", "nand2", "nor4", "a21oi", "o21ai", "xor2", "xnor2", "mux2", "ha", "fa", "conb"):
        assert f"sky130_fd_sc_hd__{base}_1" in sky.cells, base


def test_the_script_converts_json_exactly(tmp_path):
    """The converter on a small checkout: header, one cell with a when-qualified leakage and a 2-D
    internal-power table; the Liberty read back has the JSON's numbers bit for bit."""
    mod = _script()
    (tmp_path / "timing").mkdir()
    (tmp_path / "cells" / "inv").mkdir(parents=True)
    header = {"capacitive_load_unit": None, "comp_attribute,capacitive_load_unit": [1.0, "pf"],
              "leakage_power_unit": "1nW", "time_unit": "1ns", "voltage_unit": "1V", "nom_voltage": 1.8,
              "define": [{"attribute_name": "sim_opt", "attribute_type": "string", "group_name": "timing"}],
              "power_lut_template,power_outputs_1": {"index_1": [1, 2], "index_2": [1, 2],
                                                     "variable_1": "input_transition_time",
                                                     "variable_2": "total_output_net_capacitance"},
              "operating_conditions,tt_025C_1v80": {"voltage": 1.8, "temperature": 25.0},
              "default_operating_conditions": "tt_025C_1v80"}
    del header["capacitive_load_unit"]
    (tmp_path / "timing" / "sky130_fd_sc_hd__common.lib.json").write_text(json.dumps(header))
    (tmp_path / "timing" / "sky130_fd_sc_hd__tt_025C_1v80.lib.json").write_text("{}")
    cell = {"area": 3.7536, "cell_leakage_power": 0.005326682,
            "leakage_power": [{"value": 0.0021, "when": "A"}, {"value": 0.0085, "when": "!A"}],
            "pin,A": {"direction": "input", "capacitance": 0.0023, "clock": "false"},
            "pin,Y": {"direction": "output", "function": "(!A)",
                      "internal_power": [{"related_pin": "A", "sim_opt": "x",
                                          "rise_power,power_outputs_1": {"index_1": [0.01, 1.5],
                                                                         "index_2": [0.0005, 0.16],
                                                                         "values": [[0.0037314, 0.27], [0.1, 0.3]]},
                                          "fall_power,power_outputs_1": {"index_1": [0.01, 1.5],
                                                                         "index_2": [0.0005, 0.16],
                                                                         "values": [[0.002193, -0.26], [0.0, -0.2]]}}]}}
    (tmp_path / "cells" / "inv" / "sky130_fd_sc_hd__inv_1__tt_025C_1v80.lib.json").write_text(json.dumps(cell))
    mod.CELLS = {"inv": (1,)}
    text, values = mod.build(tmp_path)
    assert "sim_opt" not in text and "define" not in text
    assert text.index("operating_conditions (") < text.index("default_operating_conditions")
    assert values["sky130_fd_sc_hd__inv_1"]["area"] == 3.7536
    f = tmp_path / "x.lib"
    f.write_text(text)
    lib = Library.load(f)
    c = lib.cells["sky130_fd_sc_hd__inv_1"]
    assert (c.area, c.leakage_nw, c.pins["A"].capacitance) == (3.7536, 0.005326682, 0.0023)
    arc = c.pins["Y"].power[0]
    assert arc.related_pin == "A"
    assert arc.rise.values.tolist() == [[0.0037314, 0.27], [0.1, 0.3]]
    assert arc.fall.values.tolist() == [[0.002193, -0.26], [0.0, -0.2]]


def test_generated_models_follow_the_liberty_functions(sky, tmp_path):
    """The cell models generated from the liberty compute each function: a full adder, a mux, an
    and-or-invert and a flip-flop with asynchronous reset, exhaustively in Icarus."""
    from neurosim.hwmodels.cellmodels import library_models, verilog_expr
    from neurosim.hwmodels.tools import find_tool
    assert verilog_expr("(A1&A2) | (!B1)") == "( A1 & A2 ) | ( ~ B1 )"
    assert verilog_expr("A B+C") == "A & B | C"
    cells = ["sky130_fd_sc_hd__fa_1", "sky130_fd_sc_hd__mux2_1", "sky130_fd_sc_hd__a21oi_1",
             "sky130_fd_sc_hd__dfrtp_1", "sky130_fd_sc_hd__conb_1"]
    tb = """
module tb;
  reg [3:0] v; reg clk, d, rb; wire cout, sum, x, y, q, hi, lo; integer i, bad;
  sky130_fd_sc_hd__fa_1 fa(.A(v[0]), .B(v[1]), .CIN(v[2]), .COUT(cout), .SUM(sum));
  sky130_fd_sc_hd__mux2_1 mx(.A0(v[0]), .A1(v[1]), .S(v[2]), .X(x));
  sky130_fd_sc_hd__a21oi_1 ao(.A1(v[0]), .A2(v[1]), .B1(v[2]), .Y(y));
  sky130_fd_sc_hd__dfrtp_1 ff(.CLK(clk), .D(d), .RESET_B(rb), .Q(q));
  sky130_fd_sc_hd__conb_1 tie(.HI(hi), .LO(lo));
  initial begin
    bad = 0;
    for (i = 0; i < 8; i = i + 1) begin
      v = i; #5;
      if ({cout, sum} != v[0] + v[1] + v[2]) bad = bad + 1;
      if (x != (v[2] ? v[1] : v[0])) bad = bad + 1;
      if (y != !((v[0] & v[1]) | v[2])) bad = bad + 1;
    end
    if (hi !== 1'b1 || lo !== 1'b0) bad = bad + 1;
    clk = 0; d = 1; rb = 1; #5; clk = 1; #5; if (q !== 1'b1) bad = bad + 1;
    rb = 0; #5; if (q !== 1'b0) bad = bad + 1;
    rb = 1; d = 1; clk = 0; #5; clk = 1; #5; if (q !== 1'b1) bad = bad + 1;
    $display("BAD=%0d", bad); $finish;
  end
endmodule
"""
    (tmp_path / "cells.v").write_text(library_models(sky, cells))
    (tmp_path / "tb.v").write_text(tb)
    for flags in ([], ["-gspecify"]):
        subprocess.run([find_tool("iverilog"), *flags, "-o", "sim", "tb.v", "cells.v"], cwd=tmp_path, check=True)
        out = subprocess.run([find_tool("vvp"), "sim"], cwd=tmp_path, capture_output=True, text=True, check=True)
        assert "BAD=0" in out.stdout, (flags, out.stdout)


def test_corrupt_or_missing_liberty_is_one_clear_error(tmp_path):
    bad = tmp_path / "cells.lib.gz"
    bad.write_bytes(gzip.compress(b"library (x) { cell (a) { area : 1; ")[:-9])
    with pytest.raises(NeurosimError, match=r"cells\.lib\.gz.*corrupt"):
        Library.load(bad)
    text = tmp_path / "t.lib"
    text.write_text("library (x) { cell (a) { area : 1; ")
    with pytest.raises(NeurosimError, match=r"t\.lib.*unbalanced"):
        Library.load(text)
    with pytest.raises(NeurosimError, match="not found"):
        Library.load(tmp_path / "none.lib")


def test_one_environment_for_both_libraries():
    """Synthesis, timing and power share one environment: the output load, and the library's
    smallest buffer as the input driver (BUFX2 in OSU 0.18 um, buf_1 in sky130 hd)."""
    from neurosim.hwmodels import environment as env
    from neurosim.hwmodels import power, sta, synth
    from neurosim.hwmodels.liberty import Library
    from neurosim.hwmodels.tools import SKY130HD_LIBERTY, default_liberty
    assert power.OUTPUT_PORT_LOAD_PF == sta.STA_OUTPUT_LOAD_PF == env.OUTPUT_LOAD_PF
    assert synth.ABC_LOAD == env.ABC_LOAD_FF == round(env.OUTPUT_LOAD_PF * 1000)
    assert env.driver(Library.load(SKY130HD_LIBERTY)) == ("sky130_fd_sc_hd__buf_1", "X")
    assert env.driver(Library.load(default_liberty()))[0] == "BUFX2"


def test_flip_flop_deck(tmp_path):
    """The direct clock-to-Q deck: clock and D ramps whose 20-80 % takes the table's transition,
    the table's load, the flip-flop's special_nfet_01v8 model, delays at 50 % of 1.8 V, and the
    three edges' supply windows apart (no toggle, Q rise, Q fall)."""
    import re as _re
    from benchmarks.crosscheck import DFF_PERIOD_NS, SLEW_NS, dff_deck
    deck = dff_deck("dfxtp_1", tmp_path, 0.009, SLEW_NS)
    ramp = float(_re.search(r"PULSE\(0 1\.8 1n (\S+)n", deck)[1])
    assert ramp * 0.6 == pytest.approx(SLEW_NS, rel=1e-5)
    assert "special_nfet_01v8__mismatch.corner.spice" in deck and "sky130_fd_sc_hd__dfxtp_1.spice" in deck
    assert "cl q 0 0.009p" in deck and f" {DFF_PERIOD_NS:g}n)" in deck
    assert deck.count("VAL=0.9") == 4
    windows = [tuple(map(float, m)) for m in _re.findall(r"FROM=(\S+)n TO=(\S+)n", deck)]
    edges = [1 + i * DFF_PERIOD_NS for i in range(3)]
    assert len(windows) == 3 and all(a < e < b < e + DFF_PERIOD_NS / 2 for (a, b), e in zip(windows, edges))
