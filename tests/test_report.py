"""neurosim report: every section and figure, numbers equal to the JSON, clear errors, atomic output.

The trace comes from the tiny SpB2.0 checkpoint (MoBA, full and SSE+SWA layers). The hardware
results are a small hand-made hw.json whose comparison is built by hwmodels' own ``compare`` and
``assumptions`` (so it has the real schema) from hand-picked areas and energies: the real
``neurosim hw`` takes minutes.
"""

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.reports.claims import NO_HW, PAPER, resolve
from neurosim.run.trace import read_summary

#: one section per question, in this order, after the verdict
HEADINGS = (
    "Sparsity: how many spike slots stay empty?",
    "Accuracy: what does spiking cost against the float model?",
    "Area and power: is the spiking array smaller and cooler than an INT8 MAC array?",
    "Energy: does the spiking design use less energy per token?",
)
#: headings inside the sparsity section's details
SUBHEADINGS = ("Integer spike counts", "Firing rate per time step", "Spike raster of one real tile")
TRACE_FIGURES = ("sparsity_per_layer", "count_histograms", "firing_rate", "spike_raster", "work_per_layer")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trace(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("trace") / "trace"
    assert main(["run", "--model", str(tiny), "--max-tokens", "48", "--trace", str(out)]) == 0
    return out


def _power(total_active, idle, idle_gated):
    # no idle cycles in the measured stream: a busy cycle costs exactly the active-cycle energy
    return {"active": {"total_pj": total_active, "cycles": 100}, "idle_clocked": {"total_pj": idle, "cycles": 0},
            "idle_clock_gated": {"total_pj": idle_gated, "cycles": 0}}


@pytest.fixture(scope="module")
def hw(tmp_path_factory):
    """A hw.json in hwmodels' schema: its comparison computed by hwmodels.flow.compare."""
    from neurosim.paper import HW_CLAIMS as HW_PAPER
    from neurosim.hwmodels.flow import assumptions, compare
    from neurosim.hwmodels.tech import scale_energy_area

    lanes, T, spa = 16, 7, 1.5
    results = {}
    for f, (a_mac, a_spk, e_mac, e_spk, met) in {250.0: (100000.0, 40000.0, 20.0, 9.0, True),
                                               500.0: (120000.0, 45000.0, 21.0, 10.0, False)}.items():
        fk = f"{f:g}"
        results[f"mac@{fk}"] = {"design": "mac", "freq_mhz": f, "top": f"mac_top_{fk}", "area_um2": a_mac,
                                "meets_timing": True, "stream": {"events": 100}, "pipeline": 3, "slack_ns": 0.1,
                                "power": {"zero_delay": _power(e_mac, 2.0, 0.5), "gspecify": _power(e_mac * 1.2, 2.2, 0.6)}}
        spk_power = {"zero_delay": _power(e_spk, 1.0, 0.2)}
        spk_power["gspecify"] = _power(e_spk * 1.3, 1.1, 0.3) if met else {"skipped": "timing not met"}
        results[f"spike@{fk}"] = {"design": "spike", "freq_mhz": f, "top": f"spike_top_{fk}", "area_um2": a_spk,
                                  "meets_timing": met, "stream": {"events": 100}, "power": spk_power,
                                  "pipeline": 2, "slack_ns": 0.2 if met else -0.1}
    settings = {"freqs_mhz": [250.0, 500.0], "lanes": lanes, "coding": "bitwise", "T": T, "k_max": 2560,
                "library": "osu018_stdcells", "voltage_v": 1.8, "yosys": "yowasp", "booth_for_mac": True,
                "stimulus": "hand-made test stimulus"}
    doc = {"schema": "neurosim.hw/1", "settings": settings, "measured_spikes_per_activation": spa,
           "results": results, "comparison": compare(results, [250.0, 500.0], spa, T, lanes),
           "paper": HW_PAPER, "assumptions": assumptions(settings, spa)}
    doc["technology_scaling"] = scale_energy_area(doc["comparison"], [45, 7])
    # `neurosim hw --tech all`: a second library (areas and energies scaled by hand) side by side
    from neurosim.hwmodels.flow import library_summary
    sky_results = json.loads(json.dumps(results))
    for r in sky_results.values():
        r["area_um2"] *= 0.2 if r["design"] == "mac" else 0.25
    sky = {"settings": dict(settings, tech="sky130hd", library="sky130_fd_sc_hd__tt_025C_1v80"),
           "results": sky_results, "comparison": compare(sky_results, [250.0, 500.0], spa, T, lanes)}
    doc["libraries"] = {"osu018": library_summary(doc), "sky130hd": library_summary(sky)}
    out = tmp_path_factory.mktemp("hw") / "hwout"
    out.mkdir()
    (out / "hw.json").write_text(json.dumps(doc, indent=1))
    return out


class _Balance(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def assert_well_formed(html: str):
    p = _Balance()
    p.feed(html)
    p.close()
    assert not p.errors and not p.stack


def report(args, capsys=None):
    rc = main(["report", "--quiet", *map(str, args)])
    return rc, (capsys.readouterr() if capsys is not None else None)


def md_table(md: str, header: str) -> list[list[str]]:
    """The rows of every Markdown table whose header row starts with ``| header |``
    (``header`` may name several columns: ``"clock | simulation"``)."""
    lines = md.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.startswith(f"| {header} |"):
            continue
        for row in lines[i + 2:]:
            if not row.startswith("|"):
                break
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]])
    assert rows, f"no table headed {header!r}"
    return rows


@pytest.fixture(scope="module")
def built(trace, hw, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "with_hw"
    assert main(["report", "--quiet", "--trace", str(trace), "--hw", str(hw), "--out", str(out)]) == 0
    return out


def test_report_without_hw_has_every_section_and_figure(trace, tmp_path, capsys):
    out = tmp_path / "rep"
    rc, cap = report(["--trace", trace, "--out", out], capsys)
    assert rc == 0, cap.err
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    at = [md.index(f"\n## {h}\n") for h in HEADINGS]
    assert at == sorted(at) and all(f"<h2>{h}</h2>" in html for h in HEADINGS)
    assert all(f"### {h}" in md and f"<h3>{h}</h3>" in html for h in SUBHEADINGS)
    # the verdict first, in words and then in figures: right after the title, before any section
    assert md.split("\n")[2].startswith("In short: against the paper")
    assert md.split("\n")[4] == "```text" and md.split("\n")[5].startswith("VERDICT")
    assert html.index('<pre class="verdict">') < html.index("<h2>")
    # each section opens with its one-line answer; the details are collapsible
    assert html.count('<p class="answer">') == len(HEADINGS)
    assert html.count("<details>") == html.count("</details>") >= len(HEADINGS)
    assert "<summary>Provenance</summary>" in html
    # the model by its name (the checkpoint folder), not only its layout
    assert "tiny (sse_swa_moba)" in md.split("\n")[0]
    for name in TRACE_FIGURES:
        png = out / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f"(figures/{name}.png)" in md
    assert not (out / "figures" / "area_power.png").exists()
    # self-contained: every figure embedded, no reference to a file
    assert html.count('src="data:image/png;base64,') == len(TRACE_FIGURES)
    assert "figures/" not in html
    assert_well_formed(html)
    assert NO_HW in md and NO_HW in html
    # stdout: the verdict in words and in figures (the page's first blocks), then the paths of the full
    # claims table and the HTML report last
    lines = cap.out.strip().splitlines()
    short = md.split("\n")[2]
    verdict = md.split("```text\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert " ".join(lines[:lines.index("")]) == short and lines[0].startswith("In short:")
    at = lines.index("") + 1
    assert lines[at:at + len(verdict)] == verdict and lines[at].startswith("VERDICT")
    assert "64.31%" in cap.out and NO_HW in cap.out
    assert cap.out.split()[-3:] == ["HTML", "report:", str((out / "report.html").resolve())]
    # nothing else is left beside the report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_report_with_hw_has_hardware_sections(built, hw):
    md = (built / "report.md").read_text()
    html = (built / "report.html").read_text()
    assert (built / "figures" / "area_power.png").read_bytes()[:8] == PNG_MAGIC
    assert html.count('src="data:image/png;base64,') == len(TRACE_FIGURES) + 1
    assert NO_HW not in md
    assert_well_formed(html)
    assert "<em>alt.</em>" in html and "*alt.*" not in html
    # the hand-made stimulus is no tile of this trace: the report says so
    assert "the hardware stimulus is not a tile of this trace" in md and "but synthetic" in md
    doc = json.loads((hw / "hw.json").read_text())
    # per clock: designs, timing, areas and reductions in the hardware table
    hwrows = {r[0]: r for r in md_table(md, "clock | MAC top")}
    assert set(hwrows) == {"250 MHz", "500 MHz"}
    for fk in ("250", "500"):
        c = doc["comparison"][fk]
        r = hwrows[f"{fk} MHz"]
        assert r[1] == c["mac"] and r[2] == c["spike"]
        assert r[3] == ("yes" if c["both_meet_timing"] else "**NO**")
        assert r[4] == f"{c['area_mac_um2']:,.0f}" and r[5] == f"{c['area_spike_um2']:,.0f}"
        assert r[6] == f"{c['area_reduction_pct']:.2f}%"
    # 500 MHz: the spike array misses timing -> gspecify skipped -> zero-delay figures are used
    assert hwrows["500 MHz"][7] == "zero_delay" and hwrows["250 MHz"][7] == "gspecify"
    assert hwrows["250 MHz"][10] == f"{doc['comparison']['250']['gspecify']['power_reduction_equal_clock_busy_pct']:.2f}%"
    # both libraries side by side, from hw.json's libraries
    libs = {(r[0], r[1]): r for r in md_table(md, "clock | library")}
    assert set(libs) == {(f"{fk} MHz", f"{t} ({n} nm)") for fk in ("250", "500")
                         for t, n in (("osu018", 180), ("sky130hd", 130))}
    for (clock, lib), r in libs.items():
        side = doc["libraries"][lib.split()[0]]["per_freq"][clock.split()[0]]
        assert r[4] == f"{side['mac']['area_um2']:,.0f}" and r[11] == f"{side['area_reduction_pct']:.2f}%"
    # the assumptions table is hw.json's
    for a in doc["assumptions"]:
        assert a["here"].replace("|", "\\|") in md


def test_claims_equal_the_json(built, trace, hw):
    md = (built / "report.md").read_text()
    meta = json.loads((built / "report.json").read_text())
    files = {"summary.json": read_summary(trace), "hw.json": json.loads((hw / "hw.json").read_text())}
    claims = meta["claims"]
    rows = md_table(md, "claim")
    assert len(rows) == len(claims)
    fmt = {"frac_pct": lambda v: f"{100 * v:.2f}%", "pct": lambda v: f"{v:.2f}%",
           "signed_frac_pct": lambda v: f"{100 * v:+.2f}%"}
    checked = set()
    for c, row in zip(claims, rows):
        assert row[0] == c["claim"] and row[2] == c["measured"]
        if c["source"] is None:
            continue
        value = resolve(files[c["file"]], c["source"])
        assert value == c["value"]
        assert row[2] == fmt[c["fmt"]](value)
        assert row[4] == f"`{c['file']}:{c['source']}`"
        checked.add(c["source"])
    s = files["summary.json"]
    # the paper's numbers and the headline measurements are all there, with their sources
    for p in PAPER.values():
        assert any(row[1].startswith(f"{p}") or row[1].startswith(f"{p:.2f}") for row in rows)
    assert {"/totals/sparsity_fixed", "/totals/sparsity_data", "/totals/sparsity_window3",
            "/accuracy/ppl_change", "/comparison/500/area_reduction_pct",
            "/comparison/500/zero_delay/power_reduction_equal_clock_busy_pct",
            "/comparison/250/gspecify/power_reduction_equal_clock_busy_pct",
            "/libraries/sky130hd/per_freq/500/area_reduction_pct",
            "/libraries/sky130hd/per_freq/250/power_reduction_equal_clock_busy_pct"} <= checked
    assert rows[0][2] == f"{100 * s['totals']['sparsity_fixed']:.2f}%"


def test_layer_tables_equal_the_json(built, trace):
    """Per-layer rows re-derived here by hand from the per-projection records of summary.json."""
    md = (built / "report.md").read_text()
    s = read_summary(trace)
    rows = md_table(md, "layer | projections of")
    expect = []
    for L in s["layers"]:
        for mlp in (False, True):
            P = [p for p in L["projections"] if (".mlp." in p["name"]) == mlp]
            n = sum(p["activations"] for p in P)
            fixed = 1 - sum(p["spikes"] for p in P) / sum(p["T_fixed"] * p["activations"] for p in P)
            data = 1 - sum(p["spikes_data"] for p in P) / sum(p["T_data"] * p["activations"] for p in P)
            w3 = 1 - sum(p["spikes_data"] for p in P) / sum(-(-p["T_data"] // 3) * 3 * p["activations"] for p in P)
            expect.append([str(L["layer"]), str(len(P)), f"{100 * fixed:.2f}%", f"{100 * data:.2f}%",
                           f"{100 * w3:.2f}%", f"{sum(p['spikes'] for p in P) / n:.3f}",
                           f"{sum(p['clamped'] for p in P):,}"])
    got = [[r[0], r[2], r[3], r[4], r[5], r[6], r[8]] for r in rows]
    assert got == expect
    kinds = {r[1] for r in rows}
    assert {"MoBA block", "full attention block", "SSE+SWA block", "MLP"} <= kinds
    # the totals table: each definition equals summary.json's totals
    t = s["totals"]
    tot = {r[0]: r[1] for r in md_table(md, "all projections")}
    assert tot[f"fixed hardware window (T={t['T_fixed']})"] == f"{100 * t['sparsity_fixed']:.2f}%"
    assert tot["per-tensor data-derived window"] == f"{100 * t['sparsity_data']:.2f}%"
    assert tot["3-step windows (SpB1.0 method)"] == f"{100 * t['sparsity_window3']:.2f}%"
    assert tot["accumulates"] == f"{t['accumulates']:,}" and tot["dense macs"] == f"{t['dense_macs']:,}"
    # firing rate per bit plane: sum of spikes_per_step over all projections / activations
    fr = md_table(md, "step (bit weight)")
    per_step = np.sum([p["spikes_per_step"] for L in s["layers"] for p in L["projections"]], axis=0)
    assert [r[0] for r in fr] == ["64", "32", "16", "8", "4", "2", "1"]
    assert [r[1] for r in fr] == [f"{100 * v / t['activations']:.2f}%" for v in per_step]


def test_equal_work_rows_at_the_trace_rate(built, trace, hw):
    """The claims table's equal-work rows use the whole trace's MAC-weighted spike rate, by hand."""
    meta = json.loads((built / "report.json").read_text())
    claims = {c["claim"]: c for c in meta["claims"]}
    rate = read_summary(trace)["totals"]["accumulates_per_dense_mac"]
    # 250 MHz gspecify: MAC 24 pJ, spike 11.7 pJ per busy cycle; 500 MHz zero-delay: 21 and 10 pJ
    for fk, e_mac, e_spk, a_mac, a_spk in (("250", 24.0, 11.7, 100000.0, 40000.0),
                                           ("500", 21.0, 10.0, 120000.0, 45000.0)):
        c = claims[f"energy reduction per MAC-equivalent @ {fk} MHz, alt."]
        assert c["value"] == pytest.approx(100 * (1 - e_spk * rate / e_mac))
        assert c["measured"] == f"{c['value']:.2f}%" and f"{rate:.3f} spikes per activation" in c["definition"]
        a = claims[f"area x cycles per activation @ {fk} MHz, alt."]
        assert a["value"] == pytest.approx(100 * (1 - a_spk * rate / a_mac))
        assert "summary.json:/totals/accumulates_per_dense_mac" in a["definition"]


def test_stimulus_from_the_trace_and_intervals_over_tiles(trace, hw, tmp_path):
    """A stimulus from this trace's tiles: no 'not a tile of this trace' note; the sample's spike rate
    and zero share beside the model's, and the energies over tiles with their intervals."""
    from neurosim.hwmodels.flow import compare
    doc = json.loads((hw / "hw.json").read_text())
    doc["settings"]["stimulus"] = f"trace tiles under {trace / 'tiles'}: 9 tiles, 9 rows of 8 inputs"
    rate = read_summary(trace)["totals"]["accumulates_per_dense_mac"]
    doc["stimulus_stats"] = {"sample": {"spikes_per_activation": 1.25, "zero_share": 0.125, "tiles": 9},
                             "model": {"spikes_per_activation": rate, "zero_share": 0.0625}}
    rng = np.random.default_rng(0)
    for key, r in doc["results"].items():
        for p in r["power"].values():
            if "active" in p:
                p["per_tile"] = [{"events": int(e), "activations": 8, "active_cycles": int(e) + 2,
                                  "active_pj": p["active"]["total_pj"] * float(f)}
                                 for e, f in zip(rng.integers(6, 12, 9), rng.uniform(0.9, 1.1, 9))]
    doc["comparison"] = compare(doc["results"], [250.0, 500.0], 1.25, 7, 16, spa_model=rate)
    hw2 = tmp_path / "hw"
    hw2.mkdir()
    (hw2 / "hw.json").write_text(json.dumps(doc))
    out = tmp_path / "rep"
    assert main(["report", "--quiet", "--trace", str(trace), "--hw", str(hw2), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "not a tile of this trace" not in md and "synthetic" not in md
    stim = {r[0]: r for r in md_table(md, "data")}
    assert stim["stimulus sample (streamed rows)"][1:] == ["1.250", "12.50%"]
    assert stim["whole model (trace summary, MAC-weighted)"][1:] == [f"{rate:.3f}", "6.25%"]
    rows = {r[0]: r for r in md_table(md, "clock | sim | tiles")}
    x = doc["comparison"]["250"]["gspecify"]["over_tiles"]
    lo, hi = x["interval"]["spike_energy_per_event_pj"]
    assert rows["250 MHz"][2] == "9"
    assert rows["250 MHz"][4] == f"{x['point']['spike_energy_per_event_pj']:.2f} [{lo:.2f}, {hi:.2f}]"
    # another trace's tiles: the note comes back, without 'synthetic'
    doc["settings"]["stimulus"] = "trace tiles under /elsewhere/tiles: 9 tiles"
    (hw2 / "hw.json").write_text(json.dumps(doc))
    assert main(["report", "--quiet", "--trace", str(trace), "--hw", str(hw2), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "not a tile of this trace" in md and "but synthetic" not in md


def test_energy_per_token_by_hand(built, trace, hw):
    md = (built / "report.md").read_text()
    t = read_summary(trace)["totals"]
    tokens = read_summary(trace)["tokens"]
    doc = json.loads((hw / "hw.json").read_text())
    rows = {r[0]: r for r in md_table(md, "clock | simulation")}
    for fk, label in (("250", "gspecify"), ("500", "zero_delay")):
        e = doc["comparison"][fk][label]
        # 250 MHz gspecify: MAC 20*1.2 = 24 pJ per busy cycle of 16 lanes; spike 9*1.3 = 11.7 pJ
        pj_mac = {"250": 24.0, "500": 21.0}[fk] / 16
        pj_acc = {"250": 11.7, "500": 10.0}[fk] / 16
        assert e["energy_per_mac_eq_pj"]["mac"] == pytest.approx(pj_mac)
        r = rows[f"{fk} MHz"]
        assert r[1] == label
        assert float(r[2]) == pytest.approx(pj_mac, abs=1e-4) and float(r[3]) == pytest.approx(pj_acc, abs=1e-4)
        e_mac = t["dense_macs"] / tokens * pj_mac * 1e-6
        e_spk = t["accumulates"] / tokens * pj_acc * 1e-6
        assert r[4] == f"{e_mac:,.3f}" and r[5] == f"{e_spk:,.3f}"
        assert r[6] == f"{100 * (1 - e_spk / e_mac):.2f}%"
        if fk == "250":   # the energy figure's clock: the fastest one both designs meet
            scaled = {r[0]: r for r in md_table(md, "node | energy factor")}
            assert set(scaled) == {"45 nm", "7 nm"}
            for node in ("45", "7"):
                f = doc["technology_scaling"]["nodes"][node]["energy_factor"]
                assert scaled[f"{node} nm"][2:] == [f"{e_mac * f:,.3f}", f"{e_spk * f:,.3f}"]


def _assert_clean_failure(rc, cap, out, *words):
    assert rc == 2
    err = cap.err.strip()
    assert err.startswith("neurosim report: error:") and len(err.splitlines()) == 1
    for w in words:
        assert w in err
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _copy(trace, tmp_path) -> Path:
    dst = tmp_path / "trace"
    shutil.copytree(trace, dst)
    return dst


def test_older_schema_is_a_clear_error(trace, tmp_path, capsys):
    t = _copy(trace, tmp_path)
    s = json.loads((t / "summary.json").read_text())
    s["schema_version"] = 0
    (t / "summary.json").write_text(json.dumps(s))
    out = tmp_path / "rep"
    rc, cap = report(["--trace", t, "--out", out], capsys)
    _assert_clean_failure(rc, cap, out, "schema version 0")


@pytest.mark.parametrize("remove", ["summary.json", "stats.npz", "tile", "trace"])
def test_missing_file_is_a_clear_error(trace, tmp_path, capsys, remove):
    t = _copy(trace, tmp_path)
    if remove == "tile":
        victim = sorted((t / "tiles").iterdir())[0]
        victim.unlink()
        word = victim.name
    elif remove == "trace":
        shutil.rmtree(t)
        word = "not found"
    else:
        (t / remove).unlink()
        word = remove
    out = tmp_path / "rep"
    rc, cap = report(["--trace", t, "--out", out], capsys)
    _assert_clean_failure(rc, cap, out, word)


@pytest.mark.parametrize("problem", ["missing", "schema", "json"])
def test_bad_hw_is_a_clear_error(trace, hw, tmp_path, capsys, problem):
    h = tmp_path / "hw"
    h.mkdir()
    if problem == "schema":
        doc = json.loads((hw / "hw.json").read_text())
        doc["schema"] = "neurosim.hw/0"
        (h / "hw.json").write_text(json.dumps(doc))
    elif problem == "json":
        (h / "hw.json").write_text("{not json")
    out = tmp_path / "rep"
    rc, cap = report(["--trace", trace, "--hw", h, "--out", out], capsys)
    _assert_clean_failure(rc, cap, out, {"missing": "not found", "schema": "neurosim.hw/0",
                                         "json": "not valid JSON"}[problem])


def test_fp_trace_is_a_clear_error(tiny, tmp_path, capsys):
    t = tmp_path / "fp"
    assert main(["run", "--model", str(tiny), "--mode", "fp", "--max-tokens", "8", "--trace", str(t)]) == 0
    capsys.readouterr()
    out = tmp_path / "rep"
    rc, cap = report(["--trace", t, "--out", out], capsys)
    _assert_clean_failure(rc, cap, out, "no spike statistics")


def test_failure_while_drawing_leaves_nothing(trace, tmp_path, capsys, monkeypatch):
    from neurosim.reports import figures

    out = tmp_path / "rep"
    assert report(["--trace", trace, "--out", out])[0] == 0
    before = (out / "report.md").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(figures, "raster", boom)
    with pytest.raises(RuntimeError):
        report(["--trace", trace, "--out", out])
    # the earlier report is untouched and no temporary folder is left
    assert (out / "report.md").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_refuses_to_replace_a_foreign_folder(trace, tmp_path, capsys):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    rc, cap = report(["--trace", trace, "--out", out], capsys)
    assert rc == 2 and "not a report (no report.md)" in cap.err
    assert (out / "notes.txt").read_text() == "keep me"


def test_adaptive_unclamped_trace(tiny, tmp_path, capsys):
    """No fixed window (counts beyond 127): data-T sparsity leads the claims, trains of different
    length are aligned by bit weight, and the report still builds."""
    t = tmp_path / "adaptive"
    assert main(["run", "--model", str(tiny), "--scale", "adaptive", "--clamp", "none", "--k", "40",
                 "--max-tokens", "32", "--trace", str(t)]) == 0
    s = read_summary(t)
    out = tmp_path / "rep"
    rc, cap = report(["--trace", t, "--out", out], capsys)
    assert rc == 0, cap.err
    meta = json.loads((out / "report.json").read_text())
    first = meta["claims"][0]
    assert s["totals"]["sparsity_fixed"] is None       # k=40: counts beyond 127, no 7-step window
    assert first["source"] == "/totals/sparsity_data"
    assert first["measured"] == f"{100 * resolve(s, first['source']):.2f}%"
    assert len(meta["figures"]) == len(TRACE_FIGURES)


def test_tile_choice(trace, tmp_path, capsys):
    tiles = read_summary(trace)["tiles"]
    assert len(tiles) >= 2
    out = tmp_path / "rep"
    rc, cap = report(["--trace", trace, "--out", out, "--tile", tiles[1].removesuffix(".npz")], capsys)
    assert rc == 0, cap.err
    assert json.loads((out / "report.json").read_text())["tile"] == tiles[1]
    assert f"Tile `{tiles[1]}`" in (out / "report.md").read_text()
    out2 = tmp_path / "rep2"
    rc, cap = report(["--trace", trace, "--out", out2, "--tile", "no_such_tile"], capsys)
    _assert_clean_failure(rc, cap, out2, "no_such_tile", tiles[0])


# -- the last step of the writer, interrupted ---------------------------------------------------------

def _interrupt_nth_replace(monkeypatch, n: int):
    """os.replace raises KeyboardInterrupt on its n-th call (1-based) and works otherwise."""
    real = os.replace
    calls = []

    def fake(src, dst, *a, **k):
        calls.append((str(src), str(dst)))
        if len(calls) == n:
            raise KeyboardInterrupt("test: signal between the renames")
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, "replace", fake)
    return calls


def test_report_interrupted_between_renames_keeps_the_earlier_report(trace, tmp_path, monkeypatch, capsys):
    """The report writer moves the earlier report aside, then the new one in: an interrupt between
    the two (KeyboardInterrupt, which is what SIGINT and SIGTERM raise in neurosim) puts the earlier
    report back and leaves no temporary folder (fixed in reports/build.py)."""
    from neurosim.reports.build import build_report
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("earlier report\n")          # what check_replaceable accepts as a report
    calls = _interrupt_nth_replace(monkeypatch, 2)               # 1: earlier aside, 2: new one in
    with pytest.raises(KeyboardInterrupt):
        build_report(trace, out, progress=False)
    monkeypatch.undo()
    assert Path(calls[0][0]) == out and Path(calls[1][1]) == out   # the 3rd call puts it back
    assert sorted(x.name for x in out.iterdir()) == ["report.md"]
    assert (out / "report.md").read_text() == "earlier report\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["rep"], list(tmp_path.iterdir())


def test_claims_text_wraps_long_cells_and_keeps_columns_aligned():
    from neurosim.reports.claims import Claim, claims_text

    def row(claim, measured):
        return Claim(claim=claim, paper="0.69%", measured=measured, value=None, file=None, source=None,
                     fmt="pct", definition="how it is defined", note="")

    long = "accuracy loss (INT8-Spiking vs BF16), alt. (the trace's one passage) " + "x" * 30
    lines = claims_text([row("spike sparsity", "75.82%"), row(long, "+25.21%")]).splitlines()
    col = lines[0].index("paper")
    assert all(len(ln) <= col or ln[col - 2:col] == "  " for ln in lines)  # nothing spills into column 2
    assert all(ln.index("0.69%") == col for ln in lines if "0.69%" in ln)
    assert sum("0.69%" in ln for ln in lines) == 2 and len(lines) > 4  # the long claim took two lines
    assert " ".join(ln[:col].strip() for ln in lines[3:]) == long


def test_report_in_headless_chromium(built):
    """Debian's Chromium loads report.html at 1,280 px: no script error, no image that fails to load,
    nothing wider than the window (wide tables scroll inside their box), the verdict above the fold."""
    from neurosim.reports.browser import page_facts, screenshot

    facts = page_facts(built / "report.html", width=1280, height=800)
    assert facts["errors"] == []
    assert facts["inner_width"] == 1280
    assert facts["images"] == len(TRACE_FIGURES) + 1 and facts["broken_images"] == 0
    assert facts["scroll_width"] <= facts["inner_width"]
    assert facts["verdict_bottom"] is not None and 0 < facts["verdict_bottom"] <= facts["inner_height"]
    # the same page at a narrow width: still no horizontal overflow of the page itself
    assert page_facts(built / "report.html", width=800, height=600)["scroll_width"] <= 800
    png = screenshot(built / "report.html", built.parent / "shot.png", 1280, 800)
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_report_html_wide_tables_scroll_inside_their_box():
    """Every table of the HTML page sits in a box that scrolls sideways, whatever its width."""
    from neurosim.reports.document import Document, to_html, to_markdown

    doc = Document("t")
    doc.pre(["Verdict: x"])
    doc.h(1, "Question")
    doc.answer("The answer.")
    doc.details("More")
    doc.table([f"column {i}" for i in range(30)], [[f"{i * 1000:,}" for i in range(30)]])
    doc.end_details()
    html = to_html(doc, Path("."))
    assert html.count('<div class="scroll"><table>') == 1 and "</table></div>" in html
    assert '<pre class="verdict">Verdict: x</pre>' in html and '<p class="answer">The answer.</p>' in html
    assert "<details><summary>More</summary>" in html and "</details>" in html
    assert_well_formed(html)
    md = to_markdown(doc)
    assert "```text\nVerdict: x\n```" in md and "**The answer.**" in md and "<details><summary>More</summary>" in md
