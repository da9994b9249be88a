"""neurosim report's energy section: tables, figures and claims rows equal to energy.json."""

import json

import pytest

from neurosim.cli import main
from neurosim.reports.claims import resolve
from neurosim.reports.energy_section import NO_ENERGY

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGS = ("energy_stacked", "energy_per_layer", "break_even")




@pytest.fixture(scope="module")
def hw(tmp_path_factory):
    from neurosim.hwmodels.flow import assumptions, compare

    def power(e):
        return {"active": {"total_pj": e, "cycles": 100}, "idle_clocked": {"total_pj": 1.0, "cycles": 0},
                "idle_clock_gated": {"total_pj": 0.5, "cycles": 0}}
    results = {
        "mac@500": {"design": "mac", "freq_mhz": 500.0, "top": "mac_top", "abc_delay_target_ps": 2000,
                    "area_um2": 100000.0, "meets_timing": True, "stream": {"events": 100}, "leakage_nw": 500.0,
                    "power": {"zero_delay": power(400.0)}},
        "spike@500": {"design": "spike", "freq_mhz": 500.0, "top": "spike_top", "abc_delay_target_ps": 2000,
                      "area_um2": 50000.0, "meets_timing": True, "stream": {"events": 100}, "leakage_nw": 250.0,
                      "power": {"zero_delay": power(200.0)}}}
    settings = {"freqs_mhz": [500.0], "lanes": 16, "coding": "bitwise", "variant": "barrel", "T": 7,
                "k_max": 2560, "library": "osu018_stdcells", "voltage_v": 1.8, "yosys": "yowasp",
                "booth_for_mac": True, "stimulus": "hand-made"}
    doc = {"schema": "neurosim.hw/1", "settings": settings, "measured_spikes_per_activation": 1.5,
           "results": results, "comparison": compare(results, [500.0], 1.5, 7, 16),
           "assumptions": assumptions(settings, 1.5), "configs": {}}
    out = tmp_path_factory.mktemp("hw") / "hwout"
    out.mkdir()
    (out / "hw.json").write_text(json.dumps(doc))
    return out


def test_energy_section_claims_and_figures(trace, hw, tmp_path, capsys):
    e = tmp_path / "energy"
    assert main(["energy", "--trace", str(trace), "--hw", str(hw), "--node", "180", "--sram-kb", "8",
                 "--out", str(e)]) == 0
    edoc = json.loads((e / "energy.json").read_text())
    out = tmp_path / "rep"
    assert main(["report", "--quiet", "--trace", str(trace), "--hw", str(hw), "--energy", str(e),
                 "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "## Energy: does the spiking design use less energy per token?" in md
    assert "**Memory included, the best spiking design saves" in md      # the section's one-line answer
    for name in FIGS:
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        assert f"(figures/{name}.png)" in md
    claims = json.loads((out / "report.json").read_text())["claims"]
    rows = [c for c in claims if c["file"] == "energy.json"]
    spiking = [d for d in edoc["designs"] if "vs" in d]
    assert len(rows) == sum(len(d["vs"]) for d in spiking) == 4     # barrel held / per event x 2 baselines
    for c in rows:
        v = resolve(edoc, c["source"])
        assert c["value"] == v and c["measured"] == f"{v:.2f}%" + (" (spiking loses)" if v < 0 else "")
        assert ("spiking LOSES" in c["note"]) == (v < 0)
    # designs priced at other settings than the scenarios' default (180 nm, 8 KiB): their own reductions stay
    assert "| spiking design | against | reduction, memory incl. |" in md
    # the paper-comparable rows are still there
    assert any(c["claim"].startswith("area reduction vs INT8 MAC") for c in claims)
    # the console ends with the verdict block (at most 12 lines of 80 columns), the report opens with it
    console = capsys.readouterr().out
    verdict = json.loads((out / "report.json").read_text())["verdict"]
    assert "\n".join(verdict) in console and 4 <= len(verdict) <= 12 and max(map(len, verdict)) <= 80
    assert md.index("```text\nVERDICT") < md.index("\n## ")


def test_without_energy_the_section_says_so(trace, hw, tmp_path):
    out = tmp_path / "rep"
    assert main(["report", "--quiet", "--trace", str(trace), "--hw", str(hw), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert NO_ENERGY in md
    assert not any(c["file"] == "energy.json" for c in json.loads((out / "report.json").read_text())["claims"])
    assert main(["report", "--quiet", "--trace", str(trace), "--energy", "compute", "--out", str(tmp_path / "r2")]) == 2
    assert not (tmp_path / "r2").exists()
