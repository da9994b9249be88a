"""The energy verdict over modelling scenarios: axes, the grid's default equal to `neurosim energy`'s
table, per-kind (eval) pricing equal to per-projection pricing, figures, and refusals."""

import csv
import json

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.hwmodels import dataflow as df
from neurosim.hwmodels import scenarios as sc
from neurosim.formatdoc import problems
from neurosim.formats import Energy
from neurosim.hwmodels.energy import read_hw, energy_report
from neurosim.hwmodels.energy_eval import price_settings, projections_of
from neurosim.hwmodels.energy_scenarios import Grid, summarize




def _power(e):
    return {"active": {"total_pj": e, "cycles": 100}, "idle_clocked": {"total_pj": 1.0, "cycles": 0},
            "idle_clock_gated": {"total_pj": 0.5, "cycles": 0}}


@pytest.fixture(scope="module")
def hw(tmp_path_factory):
    """hw.json with a MAC and a bitwise spiking array at 250 and 500 MHz (hand-made energies)."""
    results = {}
    for f, scale in ((500.0, 1.0), (250.0, 0.8)):
        results[f"mac@{f:g}"] = {"design": "mac", "freq_mhz": f, "top": "mac_top", "abc_delay_target_ps": 2000,
                                 "area_um2": 1e5, "meets_timing": True, "stream": {"events": 100},
                                 "leakage_nw": 500.0, "power": {"zero_delay": _power(400.0 * scale)}}
        results[f"spike@{f:g}"] = {"design": "spike", "freq_mhz": f, "top": "spike_top", "abc_delay_target_ps": 2000,
                                   "area_um2": 5e4, "meets_timing": True, "stream": {"events": 100},
                                   "leakage_nw": 250.0, "power": {"zero_delay": _power(200.0 * scale)}}
    from neurosim.hwmodels.flow import assumptions, compare
    settings = {"freqs_mhz": [250.0, 500.0], "lanes": 16, "coding": "bitwise", "variant": "barrel", "T": 7,
                "k_max": 2560, "library": "osu018_stdcells", "voltage_v": 1.8, "yosys": "yowasp",
                "booth_for_mac": True, "stimulus": "hand-made"}
    doc = {"schema": "neurosim.hw/1", "results": results, "configs": {}, "settings": settings,
           "measured_spikes_per_activation": 1.5, "comparison": compare(results, [250.0, 500.0], 1.5, 7, 16),
           "assumptions": assumptions(settings, 1.5)}
    out = tmp_path_factory.mktemp("hw") / "hwout"
    out.mkdir()
    (out / "hw.json").write_text(json.dumps(doc))
    return out


def _setting_from_trace(trace, label="absmax", ppl=0.02):
    """An eval setting whose energy counts are the trace's projections summed per kind and shape."""
    kinds: dict = {}
    for p in df.projections_from_trace(trace):
        k = kinds.setdefault(f"{p.kind} {p.in_features}x{p.out_features}", {
            "in_features": p.in_features, "out_features": p.out_features, "projections": 0, "rows": 0,
            "window": 7, "coding": "bitwise", "activation_bits": 8, "hist": {}})
        k["projections"] += 1
        k["rows"] += p.tokens
        for v, f in zip(p.values.tolist(), p.freq.tolist()):
            k["hist"][v] = k["hist"].get(v, 0) + f
    for k in kinds.values():
        h = k.pop("hist")
        k["values"], k["freq"] = sorted(h), [h[v] for v in sorted(h)]
    return {"label": label, "ppl_change": ppl, "ppl_change_ci": [ppl / 2, ppl * 1.5], "windows": 8,
            "energy_counts": {"tokens": 16, "kinds": kinds}}


def test_axes_parse_and_refuse():
    g = sc.parse_grid("all")
    assert sc.grid_size(g) >= 100 and all(a.default in g[a.name] for a in sc.AXES)
    assert sc.grid_size(sc.parse_grid("default")) == 1
    g = sc.parse_grid("sram_cell=lop,hp dataflow=prefill-64 bank_kb=1024")
    assert g["sram_cell"] == ["lop", "hp"] and g["dataflow"] == ["prefill-64"] and g["bank_kb"] == ["1024"]
    with pytest.raises(Exception, match="unknown scenario axis 'color'; valid: sram_cell"):
        sc.parse_grid("color=red")
    with pytest.raises(Exception, match="sram_cell has no value 'ulp'; valid: lstp, lop, hp"):
        sc.parse_grid("sram_cell=ulp")
    with pytest.raises(Exception, match="bank_kb has no value '48'"):
        sc.parse_grid("bank_kb=48")
    big = sc.parse_grid("dataflow=" + ",".join(f"prefill-{b}" for b in range(2, 60)) + " weights="
                        + ",".join(f"dram-b{n}" for n in range(1, 60)) + " sram_cell=all compute=all")
    assert sc.check_size(big) == 58 * 59 * 3 * 5
    with pytest.raises(Exception, match="holds 307,980 scenarios; at most 100,000 are allowed"):
        sc.check_size(dict(big, clock=["500", "250", "125"], bank_kb=["16", "64"]))


def test_default_scenario_equals_energy_table(trace, hw):
    doc = energy_report(trace, hw, scenarios="default")
    s = doc["scenarios"]
    assert s["count"] == 1
    table = {d["name"]: d["per_token"]["total_pj"] for d in doc["designs"]}
    for b, v in s["default_pj_per_token"]["baselines"].items():
        assert v == pytest.approx(table[b], rel=1e-12)
    for n, v in s["default_pj_per_token"]["spiking"].items():
        assert v == pytest.approx(table[n], rel=1e-12)
        red = 100 * (1 - table[n] / table["MAC zero-skipping"])
        assert s["designs"][n]["MAC zero-skipping"]["default"] == pytest.approx(red, rel=1e-9)


def test_each_axis_moves_the_energy_the_right_way(trace, hw):
    projs = df.projections_from_trace(trace)
    g = Grid(projs, read_hw(hw), tokens=16)
    base = g.evaluate(dict(sc.DEFAULT))
    name = next(iter(base["spiking"]))

    def spk(**kw):
        return g.evaluate(dict(sc.DEFAULT, **kw))["spiking"][name]["MAC dense"]["pj_per_token"]
    d = base["spiking"][name]["MAC dense"]["pj_per_token"]
    assert spk(sram_cell="hp") > d                          # leakier cells cost more
    assert spk(compute="poly-x2") > d > spk(compute="poly-x0.5")
    assert spk(dataflow="prefill-16") != d
    assert spk(weights="dram-b1") > spk(weights="dram-b16")
    assert spk(clock="250") != d
    # equal-time: the spiking design's memory leaks for the baseline's (shorter) time only
    assert spk(throughput="equal-time", sram_cell="hp") < spk(sram_cell="hp")


def test_eval_kinds_price_like_the_projections(trace, hw):
    """The trace's projections summed per kind (as eval records them) give the same energy per token."""
    projs = df.projections_from_trace(trace)
    setting = _setting_from_trace(trace)
    grid = sc.parse_grid("sram_cell=all dataflow=decode,prefill-16 weights=sram,dram-b16")
    priced = price_settings({"settings": [setting]}, read_hw(hw), grid)[0]
    whole, _ = summarize(Grid(projs, read_hw(hw), tokens=16), grid)
    per_kind, _ = summarize(Grid(projections_of(setting)[0], read_hw(hw), tokens=16), grid)
    for b, v in whole["default_pj_per_token"]["baselines"].items():
        assert per_kind["default_pj_per_token"]["baselines"][b] == pytest.approx(v, rel=1e-9)
        assert priced["baselines"][b]["default_uj"] == pytest.approx(v * 1e-6, rel=1e-9)
    for b, v in whole["best"].items():
        for key in ("min", "max", "wins_share"):
            assert per_kind["best"][b][key] == pytest.approx(v[key], rel=1e-9, abs=1e-12)


def test_joint_table_judges_accuracy_only_with_enough_windows(trace, hw):
    """Under eight eval windows the joint table shows no interval and judges no setting."""
    from neurosim.hwmodels.eval_report import joint_answer, render_settings

    setting = dict(_setting_from_trace(trace), ppl_change=0.002, ppl_change_ci=[-0.004, 0.008])
    grid = sc.parse_grid("sram_cell=all")
    few = price_settings({"config": {"windows": 2}, "settings": [setting]}, read_hw(hw), grid)
    many = price_settings({"config": {"windows": 8}, "settings": [setting]}, read_hw(hw), grid)
    assert few[0]["ppl_change_ci"] is None and "+0.20% (too few windows)" in render_settings(few)
    assert "not judged" in joint_answer(few) and "meet" not in joint_answer(few).split(":")[0]
    assert many[0]["ppl_change_ci"] == [-0.004, 0.008] and "[-0.40, +0.80]" in render_settings(many)
    assert "not judged" not in joint_answer(many)


def test_wider_window_prices_a_wider_mac(trace, hw):
    projs = [df.Projection("x", 8, 32, 4, np.array([-300, 0, 5]), np.array([10, 12, 10]), window=11, act_bits=12)]
    g = Grid(projs, read_hw(hw), tokens=4)
    lin = g.evaluate(dict(sc.DEFAULT))["baselines"]["MAC dense"]
    flat = g.evaluate(dict(sc.DEFAULT, mac_width="unscaled"))["baselines"]["MAC dense"]
    assert lin > flat


def test_cli_scenarios_all_writes_summary_csv_and_tornado(trace, hw, tmp_path, capsys):
    out = tmp_path / "energy"
    assert main(["energy", "--trace", str(trace), "--hw", str(hw), "--out", str(out)]) == 0
    console = capsys.readouterr().out
    assert "modelling scenarios" in console and max(len(x) for x in console.splitlines()) <= 80
    doc = json.loads((out / "energy.json").read_text())
    n = doc["scenarios"]["count"]
    assert n == sc.grid_size(sc.parse_grid("all")) >= 100
    rows = list(csv.DictReader((out / "scenarios.csv").open()))
    assert len(rows) == n
    shares = doc["scenarios"]["best"]["MAC zero-skipping"]
    wins = sum(float(r["best vs MAC zero-skipping %"]) > 0 for r in rows) / n
    assert shares["wins_share"] == pytest.approx(wins)
    assert shares["min"] <= shares["default"] <= shares["max"]
    axes = [t["axis"] for t in doc["scenarios"]["tornado"]["MAC zero-skipping"]]
    assert "sram_cell" in axes and "compute" in axes
    assert (out / "tornado.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "energy.md").read_text()
    assert "## Energy over" in md and "One axis at a time" in md


def test_cli_refusals(trace, hw, tmp_path, rejected):
    out = tmp_path / "e"
    rejected(["energy", "--trace", str(trace), "--hw", str(hw), "--scenarios", "speed=fast", "--out", str(out)],
             r"unknown scenario axis 'speed'; valid: sram_cell, compute", out)
    rejected(["energy", "--trace", str(trace), "--hw", str(hw), "--scenarios", "clock=100", "--out", str(out)],
             r"clock 100 MHz is not in hw.json", out)
    big = "dataflow=" + ",".join(f"prefill-{b}" for b in range(2, 200)) + " weights=" + \
          ",".join(f"dram-b{n}" for n in range(1, 200)) + " compute=all"
    rejected(["energy", "--trace", str(trace), "--hw", str(hw), "--scenarios", big, "--out", str(out)],
             r"holds 197,010 scenarios; at most 100,000", out)
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "eval.json").write_text(json.dumps({"settings": [{"label": "absmax"}]}))
    rejected(["energy", "--eval", str(ev), "--hw", str(hw), "--out", str(out)],
             r"has no energy counts: re-run `neurosim eval`", out)


def test_yan_break_even_is_the_equal_energy_rate(trace, hw):
    """At the reported break-even the unary T=5 array and the 3-bit dense MAC cost the same."""
    from neurosim.hwmodels import energy_grid as eg
    from neurosim.hwmodels.literature import yan_break_even
    projs = df.projections_from_trace(trace)
    g = Grid(projs, read_hw(hw), tokens=16)
    y = yan_break_even(projs, g)
    assert y["T"] == 5 and y["qnn_bits"] == 3 and y["published_rate"] == 0.057
    s = y["break_even_spikes_per_activation"]
    assert s > 0 and y["break_even_rate"] == pytest.approx(s / 5)
    # price a histogram with exactly s* spikes per activation where s* is an integer multiple: scale
    # the event part linearly and compare with the MAC directly
    sysd = g.systems["500"]
    mac = next(x for x in sysd if x["design"] == "mac")
    ones = [df.Projection(p.name, p.in_features, p.out_features, p.tokens, np.array([1]),
                          np.array([p.tokens * p.in_features]), window=5, act_bits=3) for p in projs]
    twos = [df.Projection(p.name, p.in_features, p.out_features, p.tokens, np.array([2]),
                          np.array([p.tokens * p.in_features]), window=5, act_bits=3) for p in projs]
    unary = dict(next(x for x in sysd if not x["baseline"]), coding="binary", variant="unary",
                 dataflow="spike_barrel_per_event")
    scen = dict(sc.DEFAULT)
    mem_c = eg.memory_constants(scen, g.consts, ones, g.lanes)
    kw = {"period_ns": 2.0, "words_per_row": g.words_per_row}
    e1, e2 = (eg.price(eg.counts(x, unary, g.lanes), unary, scen, mem_c,
                       factor=eg.compute_factor(scen, unary, mac, g.lanes), **kw)["total_pj"] for x in (ones, twos))
    em = eg.price(eg.counts(ones, dict(mac, dataflow="mac_dense", baseline=True), g.lanes), mac, scen, mem_c,
                  factor=eg.compute_factor(scen, mac, mac, g.lanes), **kw)["total_pj"]
    slope = e2 - e1                                  # energy per extra spike per activation
    assert e1 + (s - 1) * slope == pytest.approx(em, rel=1e-9)


def test_eval_settings_priced_in_energy_and_report(trace, hw, tmp_path, capsys):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "eval.json").write_text(json.dumps({"settings": [_setting_from_trace(trace), _setting_from_trace(
        trace, "smooth", 0.005)]}))
    e = tmp_path / "energy"
    assert main(["energy", "--trace", str(trace), "--hw", str(hw), "--eval", str(ev),
                 "--scenarios", "sram_cell=all", "--out", str(e)]) == 0
    doc = json.loads((e / "energy.json").read_text())
    assert problems(doc, Energy) == []      # with scenarios and eval settings
    assert [s["label"] for s in doc["eval_settings"]] == ["absmax", "smooth"]
    assert " ".join(doc["eval_answer"].split()) in " ".join(capsys.readouterr().out.split())
    assert (e / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Every accuracy setting priced" in (e / "energy.md").read_text()
    out = tmp_path / "rep"
    assert main(["report", "--quiet", "--trace", str(trace), "--hw", str(hw), "--energy", str(e),
                 "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Every accuracy setting priced" in md and "(figures/accuracy_energy.png)" in md
    assert "(figures/energy_tornado.png)" in md and "modelling scenarios" in md
    # designs priced at the default scenario: their memory-included reductions are shown once, by the
    # scenario table (best design) and the claims table (every design), not again in the break-even table
    from neurosim.reports.scenario_section import priced_at_default
    assert priced_at_default(doc)
    assert "| spiking design | against | reduction, unit only | break-even s (memory) |" in md
    assert "reduction, memory incl." not in md
    claims = json.loads((out / "report.json").read_text())["claims"]
    for d in (d for d in doc["designs"] if "vs" in d):
        for b, v in d["vs"].items():
            c = next(c for c in claims if c["claim"].endswith(f"{d['name']} vs {b}"))
            assert c["value"] == v["memory_included_reduction_pct"] and f"| {c['measured']} |" in md


def test_report_prices_the_eval_settings_itself(trace, hw, tmp_path):
    """`neurosim report --eval E --energy D`: settings priced over D's grid when D priced none."""
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "eval.json").write_text(json.dumps({"schema_version": 1, "settings": [_setting_from_trace(trace)]}))
    e = tmp_path / "energy"
    assert main(["energy", "--trace", str(trace), "--hw", str(hw), "--scenarios", "sram_cell=all",
                 "--out", str(e)]) == 0
    from neurosim.reports.build import _price_eval_settings
    energy = json.loads((e / "energy.json").read_text())
    priced = _price_eval_settings(energy, json.loads((ev / "eval.json").read_text()),
                                  json.loads((hw / "hw.json").read_text()))
    assert [s["label"] for s in priced["eval_settings"]] == ["absmax"]
    assert priced["eval_settings"][0]["scenarios"] == energy["scenarios"]["count"] == 3


def test_a_qwen2_eval_is_priced_with_its_own_shapes(hw, tmp_path, capsys):
    """A qwen2 eval (GQA: k/v narrower than q; MLP wider than hidden; a rotated setting beside absmax)
    is priced per kind with the model's own K x N and layer count."""
    from neurosim.model.maker import make_checkpoint, preset_config

    cfg = dict(preset_config("qwen2", "tiny"), hidden_size=96, num_attention_heads=6, head_dim=16)
    ck = make_checkpoint(tmp_path / "q2", config=cfg)
    text = tmp_path / "t.txt"
    text.write_text("def forward(x, weight, bias):\n    return x @ weight.T + bias\n" * 20)
    spec = tmp_path / "s.yaml"
    spec.write_text("settings:\n  - {label: absmax}\n  - {label: rot, rotate: hadamard}\n")
    ev, e = tmp_path / "ev", tmp_path / "energy"
    assert main(["eval", "--model", str(ck), "--text-file", str(text), "--windows", "2", "--window-tokens", "16",
                 "--settings", str(spec), "--bootstrap", "100", "--quiet", "--out", str(ev)]) == 0
    layers, kv = cfg["num_hidden_layers"], cfg["num_key_value_heads"] * 16
    shapes = {"q_proj": (96, 96), "k_proj": (96, kv), "v_proj": (96, kv), "o_proj": (96, 96),
              "gate_proj": (96, 128), "up_proj": (96, 128), "down_proj": (128, 96)}
    doc = json.loads((ev / "eval.json").read_text())
    for s in doc["settings"]:
        projs, tokens = projections_of(s)
        assert {p.name: (p.in_features, p.out_features) for p in projs} == shapes
        assert {p.copies for p in projs} == {layers} and {p.tokens for p in projs} == {layers * tokens}
    assert main(["energy", "--eval", str(ev), "--hw", str(hw), "--scenarios", "sram_cell=all", "--out", str(e)]) == 0
    priced = {s["label"]: s for s in json.loads((e / "energy.json").read_text())["eval_settings"]}
    a, r = (priced[k]["baselines"]["MAC dense"]["default_uj"] for k in ("absmax", "rot"))
    assert a > 0 and r > 0 and priced["absmax"]["designs"] != priced["rot"]["designs"]
