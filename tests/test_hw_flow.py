"""neurosim.hwmodels.flow / `neurosim hw`: end to end on a tiny configuration, trace-tile stimulus,
netlist scalarization; impossible settings rejected up front, byte-identical reruns, interrupts."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.formatdoc import problems
from neurosim.formats import Hw
from neurosim.hwmodels import tools

try:
    LIB = tools.default_liberty()
except NeurosimError:
    LIB = None
needs_lib = pytest.mark.skipif(LIB is None, reason="qflow-tech-osu018 not installed")
ROOT = Path(__file__).resolve().parent.parent


@needs_lib
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
    assert "opensta" in doc["run"]["tool_s"] and "opensta" not in doc2["run"]["tool_s"]   # timing cached too
    a = json.loads((tmp_path / "hw" / "hw.json").read_text())
    a.pop("run"), doc.pop("run"), doc2.pop("run")
    assert doc == doc2 == a
    assert problems(a, Hw) == []    # the written hw.json matches its one description (neurosim.formats)


@needs_lib
def test_parallel_searches_give_the_serial_document(tmp_path):
    """The per-(kind, clock) searches run ``workers`` at a time: one worker and three give the same
    hw.json, member order included (two clocks, two depths per kind: the searches share arrays)."""
    from neurosim.hwmodels.flow import run_flow
    kw = dict(freqs=(250.0, 500.0), lanes=1, k=16, rows=1, k_inputs=4, glitches=False, write=False,
              progress=False, pipelines={"mac": [1, 2], "spike": [1, 2]}, tech_nodes=())
    # each run from an empty cache, so that both synthesize and time everything
    docs = [run_flow(tmp_path / "hw", workers=w, cache_dir=tmp_path / f"cache{w}", **kw) for w in (1, 3)]
    for d in docs:      # where the time went: each tool's seconds, summed over the workers
        assert set(d.pop("run")["tool_s"]) == {"yosys", "opensta", "simulation"}
    texts = [json.dumps(d).replace(f"cache{w}", "CACHE") for d, w in zip(docs, (1, 3))]   # netlist paths
    assert texts[0] == texts[1]
    assert len(docs[0]["configs"]) >= 4


def test_tile_source_round_robin(tmp_path):
    from neurosim.core.coding import encode
    from neurosim.hwmodels.stimulus import build_stream, tile_source
    from neurosim.rtl.build import emit
    from neurosim.run.tiles import read_tile, write_tile
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
    # rows round-robin over the tiles in name order, 8 consecutive inputs at a seeded offset of the row
    assert src.row_tile.tolist() == [0, 1, 0] and src.tiles == ["t0.npz", "t1.npz"]
    tiles = [read_tile(d / f"t{j}.npz") for j in range(2)]
    for r, (j, i) in enumerate([(0, 0), (1, 0), (0, 1)]):
        row = tiles[j]["counts"][i]
        assert any(np.array_equal(src.counts[r], row[k0:k0 + 8]) for k0 in range(3))
    assert np.array_equal(tile_source(tmp_path / "trace", rows=3, k=8, lanes=3, coding="bitwise").counts, src.counts)
    # each cycle belongs to its row's tile; activations per tile
    assert len(st.cycle_group) == len(st.cycle_class) and set(st.cycle_group.tolist()) == {0, 1}
    assert st.group_activations == [16, 8]
    stats = src.stats()
    assert stats["spikes_per_activation"] == pytest.approx(np.count_nonzero(src.spikes) / 24)
    assert stats["zero_share"] == pytest.approx(np.mean(src.counts == 0)) and stats["tiles"] == 2
    allc = np.concatenate([t["counts"].ravel() for t in tiles])
    assert stats["whole_tiles"]["zero_share"] == pytest.approx(np.mean(allc == 0))
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


# -- impossible settings: one error line, exit 2, no output folder and no synthesis cache -----------

def _hw(tmp_path, *args) -> tuple[list[str], Path, Path]:
    out, cache = tmp_path / "hw", tmp_path / "cache"
    return ["hw", "--out", str(out), "--cache", str(cache), "--quiet", *args], out, cache


@pytest.mark.parametrize("args, reason", [
    (["--lanes", "0"], r"--lanes must be 1\.\.256"),
    (["--lanes", "-4"], r"--lanes must be 1\.\.256"),
    (["--coding", "morse"], r"--coding: unknown morse; choose all or from bitwise"),
    (["--coding", "bitwise:barrel"], r"--coding: unknown bitwise:barrel"),
    (["--freq", "0"], r"--freq needs positive MHz"),
    (["--freq", "-250"], r"--freq needs positive MHz"),
    (["--freq", "250", "0"], r"--freq needs positive MHz"),
    (["--rows", "0"], r"--rows and --inputs must be >= 1"),
    (["--inputs", "2561"], r"--inputs must be 1\.\.2560.*K=2560"),
    (["--liberty", "/nonexistent/cells.lib"], r"liberty file not found"),
    (["--pipeline", "spike=9"], r"--pipeline: spike has pipeline depths 0\.\.4, got 9"),
    (["--pipeline", "7"], r"--pipeline: mac has pipeline depths 0\.\.6, got 7"),
    (["--pipeline", "horner=1"], r"--pipeline horner=1: no kind 'horner' in this run; choose from mac, spike"),
    (["--pipeline", "spike=one"], r"argument --pipeline: invalid pipeline_word value: 'spike=one'"),
])
def test_hw_rejects_before_any_work(tmp_path, rejected, args, reason):
    argv, out, cache = _hw(tmp_path, *args)
    rejected(argv, reason, out, cache)


# A copy of the OSU 0.18 um liberty (and its Verilog cell models) without some cells.
OSU = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")


def strip_cells(src: Path, dst: Path, drop: set[str]) -> Path:
    text = src.read_text()
    for name in drop:
        m = re.search(r"\n\s*cell\s*\(\s*%s\s*\)\s*\{" % re.escape(name), text)
        assert m, name
        j, depth = m.end(), 1
        while depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        text = text[:m.start()] + text[j:]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text)
    shutil.copyfile(src.with_suffix(".v"), dst.with_suffix(".v"))     # the flow needs the cell models
    return dst


@pytest.mark.skipif(not OSU.is_file(), reason="qflow-tech-osu018 not installed")
@pytest.mark.parametrize("drop, reason", [
    ({"DFFPOSX1", "DFFNEGX1", "DFFSR", "LATCH"}, r"flip-flop"),
    ({"INVX1", "INVX2", "INVX4", "INVX8"}, r"inverter"),
    ({"BUFX2", "BUFX4", "CLKBUF1", "CLKBUF2", "CLKBUF3"}, r"a buffer"),
], ids=["no-flip-flop", "no-inverter", "no-buffer"])
def test_hw_rejects_a_liberty_without_needed_cells(tmp_path, rejected, drop, reason):
    """A liberty that lacks a cell class the flow needs is refused up front, naming the class,
    before any synthesis (no cache folder), not by a failing Yosys/OpenSTA run later."""
    lib = strip_cells(OSU, tmp_path / "lib" / "cells.lib", drop)
    argv, out, cache = _hw(tmp_path, "--liberty", str(lib), "--lanes", "1", "--rows", "1", "--inputs", "4",
                           "--freq", "250", "--k", "16", "--no-glitches", "--scale-nodes")
    rejected(argv, reason, out, cache)


def test_hw_and_rtl_unknown_coding_agree_with_run(tmp_path):
    """Every command knows the same coding names: rtl accepts all four; hw's stimulus is bitwise (the
    other codings' arrays are driven by it re-encoded: --coding all)."""
    from neurosim.core.coding import CODINGS
    from neurosim.rtl.params import CODINGS as RTL_CODINGS
    assert tuple(RTL_CODINGS) == tuple(CODINGS)
    with pytest.raises(NeurosimError, match="the stimulus coding is bitwise"):
        from neurosim.hwmodels.flow import run_flow
        run_flow(tmp_path / "hw", coding="binary", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "hw").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("kind", ["file", "foreign-folder"])
def test_hw_refuses_to_replace_what_is_not_a_hw_output(tmp_path, rejected, kind):
    """HWOUT is replaced as a whole, so a file or a folder of other things given as --out is refused
    up front (it used to be moved aside and deleted after a successful run)."""
    argv, out, cache = _hw(tmp_path, "--lanes", "1", "--rows", "1", "--inputs", "4", "--freq", "250",
                           "--k", "16", "--no-glitches", "--scale-nodes")
    if kind == "file":
        out.write_text("mine\n")
        rejected(argv, r"exists and is not a directory", cache)
        assert out.read_text() == "mine\n"
    else:
        out.mkdir()
        (out / "notes.txt").write_text("keep me\n")
        rejected(argv, r"is a non-empty folder that is not a hw \(no hw.json\)", cache)
        assert sorted(x.name for x in out.iterdir()) == ["notes.txt"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["hw"]


# -- determinism: hw.json bytes from two runs from scratch ------------------------------------------

@needs_lib
def test_hw_json_bytes_identical_from_scratch(tmp_path, py):
    """Two full runs of the hw flow (generator arrays for K = 16, one lane: synthesis, STA and zero-delay and
    -gspecify gate-level simulation each time, the cache emptied in between; two processes with different
    PYTHONHASHSEED): hw.json is written canonically and equals the other byte for byte except its 'run'
    member (durations, start time), also in run.json; hw.md is identical."""
    cache = tmp_path / "cache"
    script = ("import sys\nfrom neurosim.hwmodels.flow import run_flow\n"
              "run_flow(sys.argv[1], freqs=(250.0,), lanes=1, k=16, rows=2, k_inputs=12, glitches=True,"
              f" cache_dir={str(cache)!r}, progress=False, pipelines={{'mac': [1], 'spike': [1]}},"
              " tech_nodes=(45,), seed=3)\n")
    texts, docs, mds = [], [], []
    for name, hs in (("hw_a", 5), ("hw_b", 77)):
        shutil.rmtree(cache, ignore_errors=True)        # everything is computed again
        py(["-c", script, str(tmp_path / name)], hs, timeout=600)
        text = (tmp_path / name / "hw.json").read_text()
        doc = json.loads(text)
        # canonical serialization: the bytes are a function of the content
        assert text == json.dumps(doc, indent=1, sort_keys=True) + "\n"
        assert json.loads((tmp_path / name / "run.json").read_text()) == doc["run"]
        texts.append(text)
        docs.append(doc)
        mds.append((tmp_path / name / "hw.md").read_bytes())
    a, b = docs
    assert set(a["run"]) >= {"durations_s", "total_s", "started_unix"}
    assert {k for k in set(a) | set(b) if a.get(k) != b.get(k)} <= {"run"}
    # with equal 'run' members the files would be equal byte for byte
    b_as_a = json.dumps(dict(b, run=a["run"]), indent=1, sort_keys=True) + "\n"
    assert b_as_a == texts[0]
    assert mds[0] == mds[1]
    # the comparison is not vacuous: both designs were synthesized, timed and simulated bit-exactly
    for r in a["results"].values():
        assert r["area_um2"] > 0 and r["power"]["zero_delay"]["bit_exact"] and r["power"]["gspecify"]["bit_exact"]
    assert a["settings"]["seed"] == 3 and len(a["candidates_1lane"]) == 2


# -- interrupted: `neurosim hw` killed mid-way, and its final write --------------------------------

def hw_cmd(out: Path, cache: Path) -> list[str]:
    """The smallest configuration the CLI offers: 1 lane, 1 row of 4 inputs, one clock, generator
    designs for K = 16, no glitch simulation, no technology scaling."""
    return [sys.executable, "-m", "neurosim", "hw", "--out", str(out), "--cache", str(cache),
            "--lanes", "1", "--rows", "1", "--inputs", "4", "--freq", "250", "--k", "16",
            "--no-glitches", "--scale-nodes"]


def looks_complete(d: Path) -> list[Path]:
    """Every hw.json / hw.md / run.json outside the synthesis cache."""
    return [p for p in d.rglob("*") if p.name in ("hw.json", "hw.md", "run.json") and "cache" not in p.parts]


@needs_lib
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_hw_leaves_no_output_and_rerun_succeeds(tmp_path, sig, default_sigint):
    """Killed after its first synthesis, then rerun: nothing that looks complete is left."""
    out, cache = tmp_path / "hw", tmp_path / "cache"
    cmd = hw_cmd(out, cache)
    # own process group: SIGINT goes to the whole group like Ctrl-C in a terminal (the running
    # Yosys/OpenSTA children get it too); SIGTERM only to neurosim, like `kill PID`
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
                         start_new_session=True, preexec_fn=default_sigint)
    seen = ""
    try:
        # mid-way: at least one configuration is synthesized (progress bars are for terminals only)
        t0 = time.monotonic()
        while not list(cache.glob("synth/*/result.json")):
            assert p.poll() is None, f"hw ended before its first synthesis: {p.stderr.read()[-500:]}"
            assert time.monotonic() - t0 < 600, "no synthesis finished within 600 s"
            time.sleep(0.05)
        if sig == signal.SIGINT:
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
        rest = p.communicate(timeout=120)[1]
    finally:
        if p.poll() is None:          # the test failed mid-way: end the group this test started
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 130, (seen + rest)[-800:]
    assert "neurosim hw: interrupted" in rest
    assert not out.exists()
    assert looks_complete(tmp_path) == []
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cache"], list(tmp_path.iterdir())
    # no half-written synthesis result in the cache: every cached entry has its result.json
    for d in (cache / "synth").iterdir():
        assert not d.name.startswith("."), f"temporary synthesis folder left behind: {d}"
        assert (d / "result.json").is_file() and (d / "netlist.v").is_file(), d
    if sig == signal.SIGTERM:
        return      # the rerun is checked once (after SIGINT): it costs the remaining syntheses
    # a rerun (same cache) succeeds and writes a complete folder
    r = subprocess.run(cmd + ["--quiet"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-800:]
    doc = json.loads((out / "hw.json").read_text())
    assert set(doc["results"]) == {"mac@250", "spike@250"}
    assert sorted(x.name for x in out.iterdir()) == ["hw.json", "hw.md", "run.json"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cache", "hw"]


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "replacing"])
def test_hw_write_outputs_interrupted_leaves_nothing(tmp_path, monkeypatch, existing):
    """hw.json/hw.md/run.json are written into a temporary folder that is renamed into place: an
    interrupt (KeyboardInterrupt, which is what SIGINT and SIGTERM raise in neurosim) while writing
    leaves neither a partial HWOUT nor the temporary folder, and an earlier HWOUT stays as it was."""
    from neurosim.hwmodels import flow, report
    out = tmp_path / "hw"
    if existing:
        out.mkdir()
        (out / "hw.json").write_text("{}\n")

    def boom(doc):
        raise KeyboardInterrupt("test: signal while writing hw.md")
    monkeypatch.setattr(report, "render_markdown", boom)
    with pytest.raises(KeyboardInterrupt):
        flow.write_outputs(out, {"schema": "neurosim.hw/1", "run": {}}, {})
    left = sorted(x.name for x in tmp_path.iterdir())
    if existing:
        assert (out / "hw.json").read_text() == "{}\n" and sorted(x.name for x in out.iterdir()) == ["hw.json"]
        assert left == ["hw"], left
    else:
        assert left == [], left


def _tile_power(rows, idle_pj=2.0, idle_cycles=10):
    """A power entry with per-tile figures: rows of (events, activations, active cycles, active pJ)."""
    per = [{"events": e, "activations": a, "active_cycles": c, "active_pj": pj, "idle_cycles": 1, "idle_pj": idle_pj}
           for e, a, c, pj in rows]
    cyc = sum(r["active_cycles"] for r in per)
    act = sum(r["active_cycles"] * r["active_pj"] for r in per) / cyc
    return {"active": {"cycles": cyc, "total_pj": act}, "idle_clocked": {"cycles": idle_cycles, "total_pj": idle_pj},
            "idle_clock_gated": {"cycles": idle_cycles, "total_pj": 0.5}, "per_tile": per}


def test_tile_intervals_by_hand():
    from neurosim.hwmodels.compare import busy_cycle_energy
    from neurosim.hwmodels.intervals import MIN_TILES, tile_intervals
    rng = np.random.default_rng(3)
    n = 12
    mac = [(16, 16, 20, float(x)) for x in rng.uniform(30, 40, n)]
    spk = [(int(e), 16, int(e) + 3, float(x)) for e, x in zip(rng.integers(10, 40, n), rng.uniform(8, 12, n))]
    pm, ps = _tile_power(mac), _tile_power(spk, idle_pj=1.0)
    x = tile_intervals(pm, ps, lanes=16, spa_model=1.7)
    em = busy_cycle_energy(pm, sum(r[0] for r in mac))
    es = busy_cycle_energy(ps, sum(r[0] for r in spk))
    spa = sum(r[0] for r in spk) / sum(r[1] for r in spk)
    p = x["point"]
    assert x["tiles"] == n and p["mac_energy_per_event_pj"] == pytest.approx(em)
    assert p["spike_energy_per_event_pj"] == pytest.approx(es) and p["spikes_per_activation"] == pytest.approx(spa)
    assert p["power_reduction_equal_clock_busy_pct"] == pytest.approx(100 * (1 - es / em))
    assert p["energy_reduction_equal_work_pct"] == pytest.approx(100 * (1 - es * spa / em))
    assert p["energy_reduction_equal_work_model_pct"] == pytest.approx(100 * (1 - es * 1.7 / em))
    assert p["mac_energy_per_active_cycle_pj"] == pytest.approx(pm["active"]["total_pj"])
    for k, (lo, hi) in x["interval"].items():
        assert lo <= p[k] <= hi, k
    assert x["interval"]["spike_energy_per_event_pj"][1] > x["interval"]["spike_energy_per_event_pj"][0]
    assert tile_intervals(pm, ps, 16, 1.7) == x                     # seeded
    # identical tiles: nothing to resample, a zero-width interval
    same = tile_intervals(_tile_power([mac[0]] * n), _tile_power([spk[0]] * n, 1.0), 16)
    assert all(lo == pytest.approx(hi) for lo, hi in same["interval"].values())
    # too few tiles, or no per-tile figures: no interval, and why
    few = tile_intervals(_tile_power(mac[:MIN_TILES - 1]), _tile_power(spk[:MIN_TILES - 1], 1.0), 16)
    assert few["interval"] is None and "fewer than 8 tiles" in few["why"] and "point" in few
    pm.pop("per_tile")
    assert tile_intervals(pm, ps, 16)["interval"] is None


def test_equal_work_at_the_model_rate():
    from neurosim.hwmodels.compare import compare
    # no idle cycles: a busy cycle costs the active energy; MAC 32 pJ, spike 12 pJ, 16 lanes
    p = lambda e: {"active": {"total_pj": e, "cycles": 10}, "idle_clocked": {"total_pj": 1.0, "cycles": 0},
                   "idle_clock_gated": {"total_pj": 0.1, "cycles": 0}}
    res = {"mac@250": {"top": "m", "area_um2": 1000.0, "meets_timing": True, "stream": {"events": 10},
                       "power": {"zero_delay": p(32.0)}},
           "spike@250": {"top": "s", "area_um2": 500.0, "meets_timing": True, "stream": {"events": 10},
                         "power": {"zero_delay": p(12.0)}}}
    c = compare(res, [250.0], spa=1.4, T=7, lanes=16, spa_model=1.7)["250"]
    w = c["zero_delay"]["equal_work_model"]
    assert w == {"spikes_per_activation": 1.7, "mac_pj": 2.0, "spike_pj": pytest.approx(12 * 1.7 / 16),
                 "reduction_pct": pytest.approx(100 * (1 - 12 * 1.7 / 32))}
    assert c["zero_delay"]["energy_reduction_equal_work_pct"] == pytest.approx(100 * (1 - 12 * 1.4 / 32))
    a = c["area_cycles_per_activation_um2"]
    assert a["model"]["reduction_pct"] == pytest.approx(100 * (1 - 500 * 1.7 / 1000))
    assert a["stimulus"]["spike_um2"] == pytest.approx(700.0) and a["model"]["mac_um2"] == 1000.0
    # without the model's rate (synthetic stimulus) the model figures are absent, not guessed
    c0 = compare(res, [250.0], spa=1.4, T=7, lanes=16)["250"]
    assert "equal_work_model" not in c0["zero_delay"] and "model" not in c0["area_cycles_per_activation_um2"]


@needs_lib
def test_flow_with_trace_tiles_gives_intervals_and_the_model_rate(tmp_path, capsys):
    """Trace tiles of a stand-in trace (9 tiles, a summary with the model's rate): the per-tile
    gate-level figures add up to the whole stream's, the intervals hold the point values, the
    sample's statistics sit beside the model's, and the unit-figures result renders from them."""
    from neurosim.hwmodels.flow import run_flow
    from neurosim.hwmodels.report import render_result, unit_figures
    from neurosim.run.tiles import write_tile
    from neurosim.run.trace import SCHEMA_VERSION
    rng = np.random.default_rng(5)
    trace = tmp_path / "trace"
    (trace / "tiles").mkdir(parents=True)
    for j in range(9):
        counts = (rng.integers(-40, 41, size=(1, 14)) * (rng.random((1, 14)) < 0.7)).astype(np.int32)
        write_tile(trace / "tiles" / f"tile{j:02d}_L{j}_x.npz", counts,
                   rng.integers(-128, 128, size=(2, 14)).astype(np.int8), "bitwise", T=7, source=f"t{j}")
    (trace / "summary.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "totals": {
        "accumulates_per_dense_mac": 1.9, "zero_fraction": 0.25}}))
    doc = run_flow(tmp_path / "hw", freqs=(250.0,), lanes=1, k=16, rows=9, k_inputs=12, glitches=False,
                   cache_dir=tmp_path / "cache", progress=False, pipelines={"mac": [1], "spike": [1]},
                   tech_nodes=(), trace=trace)
    assert problems(doc, Hw) == []  # with trace tiles (over_tiles, the model's rate)
    st = doc["stimulus_stats"]
    assert st["model"]["spikes_per_activation"] == 1.9 and st["model"]["zero_share"] == 0.25
    assert st["sample"]["tiles"] == 9 and st["sample"]["rows"] == 9 and st["sample"]["activations"] == 9 * 12
    for key in ("mac@250", "spike@250"):
        p = doc["results"][key]["power"]["zero_delay"]
        per = p["per_tile"]
        assert len(per) == 9 and sum(t["events"] for t in per) == doc["results"][key]["stream"]["events"]
        cyc = sum(t["active_cycles"] for t in per)
        assert cyc == p["active"]["cycles"]
        assert sum(t["active_cycles"] * t["active_pj"] for t in per) / cyc == pytest.approx(p["active"]["total_pj"])
    c = doc["comparison"]["250"]["zero_delay"]
    x = c["over_tiles"]
    assert x["tiles"] == 9 and x["point"]["mac_energy_per_event_pj"] == pytest.approx(c["energy_per_cycle_pj"]["mac_busy"])
    assert x["point"]["spike_energy_per_event_pj"] == pytest.approx(c["energy_per_cycle_pj"]["spike_busy"])
    assert x["point"]["spikes_per_activation"] == pytest.approx(doc["measured_spikes_per_activation"])
    assert x["point"]["energy_reduction_equal_work_model_pct"] == pytest.approx(c["equal_work_model"]["reduction_pct"])
    for k, (lo, hi) in x["interval"].items():
        assert lo <= x["point"][k] <= hi, k
    assert c["equal_work_model"]["reduction_pct"] == pytest.approx(
        100 * (1 - c["energy_per_cycle_pj"]["spike_busy"] * 1.9 / c["energy_per_cycle_pj"]["mac_busy"]))
    md = (tmp_path / "hw" / "hw.md").read_text()
    assert "| whole model (trace summary, MAC-weighted) | 1.900 | 25.0% |" in md and "9 tiles" in md
    res = unit_figures(doc, "neurosim hw --trace T")
    text = render_result(json.loads(json.dumps(res)))
    assert "neurosim hw --trace T" in text and f"{c['equal_work_model']['reduction_pct']:.1f}%" in text
    assert "| 250 MHz |" in text and "9 tiles" in text


def test_results_hw_refuses_a_folder_without_hw_json(tmp_path, capsys):
    from neurosim.results import RESULTS_DIR, main
    before = sorted(p.name for p in RESULTS_DIR.iterdir())
    assert main(["hw", str(tmp_path), "hw_test_none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no hw.json" in err and "neurosim hw --out" in err
    assert sorted(p.name for p in RESULTS_DIR.iterdir()) == before
