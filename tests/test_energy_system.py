"""Energy per token on a hand-made trace and hw.json: components, reductions, break-even, CLI."""

import json

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.formatdoc import problems
from neurosim.formats import ENERGY_SCHEMA, Energy
from neurosim.hwmodels import energy as en
from neurosim.hwmodels.energy_output import render_markdown
from neurosim.hwmodels import memory as mem
from neurosim.hwmodels import tech

E_MAC, E_SPK = 100.0, 40.0          # pJ per busy cycle of the whole array (no leakage)


def write_trace(path, counts, n=16):
    counts = np.asarray(counts, dtype=np.int64)
    v, f = np.unique(counts, return_counts=True)
    name = "model.layers.0.mlp.up_proj.weight"
    path.mkdir()
    summary = {"schema_version": 1, "tokens": counts.shape[0], "model": {"path": "hand"},
               "layers": [{"layer": 0, "kind": "attention", "projections": [
                   {"name": name, "kind": "mlp", "in_features": counts.shape[1], "out_features": n,
                    "tokens": counts.shape[0]}]}]}
    (path / "summary.json").write_text(json.dumps(summary))
    np.savez(path / "stats.npz", **{f"{name}/values": v, f"{name}/freq": f})
    return path


def write_hw(path, leak_nw=0.0, lanes=16, tech_name=None):
    def res(design, e):
        return {"design": design, "freq_mhz": 500.0, "top": f"{design}_top", "abc_delay_target_ps": 2000,
                "meets_timing": True, "pipeline": 1, "area_um2": 1.0, "leakage_nw": leak_nw,
                "stream": {"events": 10},
                "power": {"zero_delay": {"active": {"cycles": 10, "total_pj": e + leak_nw * 2e-6},
                                         "idle_clocked": {"cycles": 0, "total_pj": 0.0}}}}
    doc = {"schema": "neurosim.hw/1", "settings": {"lanes": lanes, "coding": "bitwise", "variant": "barrel",
                                                   "voltage_v": 1.8},
           "results": {"mac@500": res("mac", E_MAC), "spike@500": res("spike", E_SPK)},
           "configs": {"mac_top@D2000": {"acc_w": 27}, "spike_top@D2000": {"acc_w": 27}}}
    if tech_name:
        doc["settings"]["tech"] = tech_name
    path.mkdir()
    (path / "hw.json").write_text(json.dumps(doc))
    return path


def by_name(doc):
    return {d["name"]: d for d in doc["designs"]}


def test_components_and_break_even_at_the_measured_node(tmp_path):
    # one token, K = 4: 7 = 0b111 (3 events, one channel)
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0]])
    hw = write_hw(tmp_path / "hw")
    doc = en.energy_report(trace, hw, node=180, sram_kb=8, buffer_kb=8)
    d = by_name(doc)
    e_row = mem.sram_cited(8, 128, 180)["read_pj"]
    dense, zs = d["MAC dense"]["per_token"], d["MAC zero-skipping"]["per_token"]
    held, per_ev = d["spike bitwise barrel, row held"]["per_token"], d["spike bitwise barrel, row per event"]["per_token"]
    assert dense["components_pj"]["compute"] == pytest.approx(4 * E_MAC)
    assert dense["components_pj"]["weight_sram"] == pytest.approx(4 * e_row)
    assert zs["components_pj"]["compute"] == pytest.approx(1 * E_MAC)
    assert held["components_pj"]["compute"] == pytest.approx(3 * E_SPK)
    assert held["components_pj"]["weight_sram"] == pytest.approx(1 * e_row)
    assert per_ev["components_pj"]["weight_sram"] == pytest.approx(3 * e_row)
    assert held["components_pj"]["leakage"] == 0.0 and held["components_pj"]["weight_dram"] == 0.0
    spk = d["spike bitwise barrel, row held"]
    assert spk["spikes_per_activation"] == pytest.approx(0.75)
    # unit-only break-even against the dense MAC: E_mac / E_spk spikes per activation
    assert spk["break_even"]["MAC dense"]["unit_only"] == pytest.approx(E_MAC / E_SPK)
    # memory-included: s* = s (E_B - E_fix) / E_ev, checked by evaluating the energy at s*
    be = spk["break_even"]["MAC zero-skipping"]["memory_included"]
    fix = held["components_pj"]["weight_sram"] + held["components_pj"]["outputs"]
    ev = held["total_pj"] - fix
    assert fix + ev * be / 0.75 == pytest.approx(zs["total_pj"])
    v = spk["vs"]["MAC zero-skipping"]
    assert v["spiking_loses"] == (held["total_pj"] > zs["total_pj"])
    assert v["memory_included_reduction_pct"] == pytest.approx(100 * (1 - held["total_pj"] / zs["total_pj"]))
    assert "spiking LOSES" in render_markdown(doc) or "spiking wins" in render_markdown(doc)


def test_dram_batch_and_leakage(tmp_path):
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0], [0, 0, 0, 0]])
    hw = write_hw(tmp_path / "hw", leak_nw=1000.0)      # 1 uW
    one = by_name(en.energy_report(trace, hw, node=180, weights="dram", batch=1, sram_kb=8))
    two = by_name(en.energy_report(trace, hw, node=180, weights="dram", batch=2, sram_kb=8))
    bits = 4 * 16 * 8                                     # all weights, per batch
    dram1 = one["MAC dense"]["per_token"]["components_pj"]["weight_dram"]
    per_bit = mem.dram()["pj_per_bit"]
    w = mem.sram_cited(8, 128, 180)["write_pj"]
    assert dram1 == pytest.approx(bits * per_bit + 4 * w)  # 2 tokens, 2 batches / 2 tokens
    assert two["MAC dense"]["per_token"]["components_pj"]["weight_dram"] == pytest.approx(dram1 / 2)
    # DRAM is the same for every design
    assert one["spike bitwise barrel, row held"]["per_token"]["components_pj"]["weight_dram"] == pytest.approx(dram1)
    # array leakage: 1 uW over 4 cycles of 2 ns per token = 8 fJ ... per token: 4 cycles x 2 ns / token
    leak = one["MAC dense"]["per_token"]["components_pj"]["leakage"]
    assert leak == pytest.approx(4 * 2.0 * 1e-3)          # mW x ns = pJ; cited SRAM has no leakage


def test_scaled_node_uses_cacti_and_the_tech_factor(tmp_path):
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0]])
    hw = write_hw(tmp_path / "hw")
    doc = en.energy_report(trace, hw, node=45, sram_kb=64, cache_dir=tmp_path / "c")
    assert doc["constants"]["weight_sram"]["model"] == "CACTI"
    assert doc["constants"]["compute"]["label"].startswith("ESTIMATE")
    dense = by_name(doc)["MAC dense"]["per_token"]["components_pj"]
    assert dense["compute"] == pytest.approx(4 * E_MAC * tech.energy_factor(45))


@pytest.mark.parametrize("node", [130, 180, 45])
def test_compute_energies_from_the_130nm_library(tmp_path, node):
    """A sky130 hd document's compute energies are measured at 130 nm, 1.8 V: unscaled at 130 nm,
    scaled from 130 nm (not from 180 nm) to any other node."""
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0]])
    hw = write_hw(tmp_path / "hw", tech_name="sky130hd")
    doc = en.energy_report(trace, hw, node=node, sram_kb=64, sram_model="cited")
    c = doc["constants"]["compute"]
    want = 1.0 if node == 130 else tech.energy_factor(node, 130, 1.8)
    assert c["node_nm"] == 130 and c["factor"] == pytest.approx(want)
    assert node == 130 or want != pytest.approx(tech.energy_factor(node, 180, 1.8) if node != 180 else 1.0)
    assert ("SkyWater" in c["label"]) and (c["label"].startswith("ESTIMATE") == (node != 130))
    dense = by_name(doc)["MAC dense"]["per_token"]["components_pj"]
    assert dense["compute"] == pytest.approx(4 * E_MAC * want)


def test_tech_picks_a_library_of_a_tech_all_folder(tmp_path, rejected):
    """``--tech sky130hd`` reads ``HW/sky130hd/hw.json`` of a ``--tech all`` folder; a document of
    another library, or a folder without the library, is refused in one line."""
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0]])
    hw = write_hw(tmp_path / "hw")
    write_hw(hw / "sky130hd", tech_name="sky130hd")
    assert en.read_hw(hw, "sky130hd")["settings"]["tech"] == "sky130hd"
    assert "tech" not in en.read_hw(hw, "osu018")["settings"]
    doc = en.energy_report(trace, hw, node=180, tech_name="sky130hd")
    assert doc["constants"]["compute"]["node_nm"] == 130
    only = write_hw(tmp_path / "osu_only")
    rejected(["energy", "--trace", str(trace), "--hw", str(only), "--tech", "sky130hd", "--scenarios", "none",
              "--out", str(tmp_path / "e")], r"measured on osu018, not sky130hd", tmp_path / "e")
    rejected(["energy", "--trace", str(trace), "--hw", str(only), "--tech", "tsmc7", "--scenarios", "none"],
             r"--tech: invalid choice: 'tsmc7'")


@pytest.mark.parametrize("lanes, port, per_row", [(1, 32, 1), (3, 32, 1), (16, 128, 1), (64, 512, 1), (80, 512, 2)])
def test_weight_rows_through_the_narrowest_port_holding_them(tmp_path, lanes, port, per_row):
    """A 1-lane hw point (8-bit weight rows, below CACTI's 32-bit minimum port) is priced through a
    32-bit port, each access charged in full; rows over 512 bits take several accesses."""
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0]], n=lanes)
    hw = write_hw(tmp_path / "hw", lanes=lanes)
    doc = en.energy_report(trace, hw, node=45, sram_kb=64, cache_dir=tmp_path / "c")
    s = doc["settings"]
    assert (s["weight_row_bits"], s["word_bits"], s["accesses_per_row"]) == (lanes * 8, port, per_row)
    w = doc["constants"]["weight_sram"]
    assert w["word_bits"] == port and w["accesses_per_row"] == per_row
    read = mem.sram_cacti(64, port, 45, cache_dir=tmp_path / "c")["read_pj"]
    d = by_name(doc)
    assert d["MAC dense"]["per_token"]["components_pj"]["weight_sram"] == pytest.approx(4 * per_row * read)
    assert d["spike bitwise barrel, row held"]["per_token"]["components_pj"]["weight_sram"] == pytest.approx(per_row * read)
    assert any(f"{port}-bit SRAM port" in a for a in doc["assumptions"])
    md = render_markdown(doc)
    assert f"per {port}-bit word" in md and ((f"per {lanes * 8}-bit weight row" in md) == (lanes * 8 != port))


def test_bad_settings_are_one_line_errors(tmp_path):
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0]])
    hw = write_hw(tmp_path / "hw")
    with pytest.raises(NeurosimError, match="--node must be one of 45, 32, 180"):
        en.energy_report(trace, hw, node=65)
    with pytest.raises(NeurosimError, match="--freq 250 MHz not in hw.json"):
        en.energy_report(trace, hw, node=180, freq=250)
    with pytest.raises(NeurosimError, match="--batch must be >= 1"):
        en.energy_report(trace, hw, node=180, weights="dram", batch=0)
    with pytest.raises(NeurosimError, match="power of two from 1 to 8192 KiB; got 100"):
        en.energy_report(trace, hw, node=45, sram_kb=100, cache_dir=tmp_path / "c")


def test_cli_writes_energy_folder(tmp_path, capsys):
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0]])
    hw = write_hw(tmp_path / "hw")
    out = tmp_path / "e"
    assert main(["energy", "--trace", str(trace), "--hw", str(hw), "--node", "180", "--sram-kb", "8",
                 "--out", str(out)]) == 0
    doc = json.loads((out / "energy.json").read_text())
    assert doc["schema"] == ENERGY_SCHEMA and (out / "energy.md").read_text().startswith("# Energy per token")
    assert problems(doc, Energy) == []      # the written file matches its one description
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x").write_text("keep")
    assert main(["energy", "--trace", str(trace), "--hw", str(hw), "--node", "180", "--sram-kb", "8",
                 "--out", str(tmp_path / "foreign")]) == 2
    assert (tmp_path / "foreign" / "x").read_text() == "keep"
    assert "error" in capsys.readouterr().err


def test_every_kind_of_hw_coding_all(tmp_path):
    """hw.json of `neurosim hw --coding all`: each kind priced with its own dataflow; binary refused."""
    trace = write_trace(tmp_path / "t", [[7, -1, 0, 0]])
    hw = write_hw(tmp_path / "hw")
    doc = json.loads((hw / "hw.json").read_text())
    base = doc["results"]["spike@500"]
    kinds = {"mac": {"design": "mac", "coding": None, "variant": None},
             "spike": {"design": "spike", "coding": "bitwise", "variant": "barrel"}}
    for name, coding, variant in (("spike_bitwise_horner", "bitwise", "horner"), ("spike_ternary", "ternary", None),
                                  ("spike_binary", "binary", None)):
        doc["results"][f"{name}@500"] = dict(base, design=name, top=f"{name}_top")
        kinds[name] = {"design": "spike", "coding": coding, "variant": variant}
    doc["settings"]["kinds"] = kinds
    (hw / "hw.json").write_text(json.dumps(doc))
    out = en.energy_report(trace, hw, node=180, sram_kb=8)
    d = by_name(out)
    # Horner: one row per event (3 + 1 events); ternary, row held: 2 channels, 7 + 1 events
    assert d["spike bitwise horner"]["per_token"]["weight_row_reads"] == 4
    assert d["spike ternary, row held"]["per_token"]["weight_row_reads"] == 2
    assert d["spike ternary, row held"]["per_token"]["busy_cycles"] == 8
    assert [s["name"] for s in out["skipped_designs"]] == ["spike binary, row held", "spike binary, row per event"]
    assert "Not priced: spike binary" in render_markdown(out)


def test_results_table_is_rendered_from_its_json():
    """docs/results/energy.md is `python -m benchmarks.energy`'s rendering of energy.json, and the
    measured-results page quotes it verbatim."""
    from pathlib import Path

    from benchmarks.energy import render
    root = Path(__file__).resolve().parent.parent
    doc = json.loads((root / "docs/results/energy.json").read_text())
    md = (root / "docs/results/energy.md").read_text()
    assert render(doc) == md
    page = (root / "docs/measured-results.md").read_text()
    assert f"<!-- results: energy.md -->\n{md}<!-- /results -->" in page


def test_a_settings_object_equals_the_same_keywords(tmp_path):
    trace = write_trace(tmp_path / "t", [[7, 0, 0, 0]])
    hw = write_hw(tmp_path / "hw")
    a = en.energy_report(trace, hw, en.EnergySettings(node=180, sram_kb=8, weights="dram", batch=2))
    b = en.energy_report(trace, hw, en.EnergySettings(node=180), sram_kb=8, weights="dram", batch=2)
    assert a == b and a["settings"]["sram_kb"] == 8 and a["settings"]["batch"] == 2
    with pytest.raises(TypeError):
        en.energy_report(trace, hw, sram=8)        # not a field of EnergySettings
