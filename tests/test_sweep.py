"""neurosim sweep: a small real sweep on a 2-process LocalCluster (run points and one hardware point at
one lane), resume, a worker killed mid-sweep, Ctrl-C then rerun, bad specs, the Pareto report.

Run points use the tiny SpB2.0 checkpoint (the spec's ``checkpoints``) and 16 tokens; the two hw
points (Yosys + OpenSTA + Icarus at one lane, Debian Yosys, one pipeline depth per design, then
``neurosim energy``) differ only in their run's quantizer, so they share one synthesis.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from neurosim.cli import main
from neurosim.sweep import pareto_mask, read_table
from neurosim.sweep.point import wilson

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TINY = {"tiny": {"arch": "sse_swa_moba", "preset": "tiny", "seed": 0}}


def write_spec(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_points_spec(path: Path, codings, max_tokens=16, extra=None) -> Path:
    """A run-only study: one point per coding (plus explicit ``extra`` points)."""
    study = {"run": {"model": "tiny", "max_tokens": max_tokens}, "grid": {"run.coding": list(codings)}}
    if extra:
        study["points"] = extra
    return write_spec(path, {"checkpoints": TINY, "studies": {"quant": study}})


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # a background shell job starts with SIGINT ignored


def sweep(*args):
    return subprocess.Popen([sys.executable, "-m", "neurosim", "sweep", *map(str, args), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            preexec_fn=_default_sigint)


def rows_when(out: Path, at_least: int, proc, timeout=240) -> list[dict]:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (out / "results.parquet").is_file():
            rows = read_table(out)
            if len(rows) >= at_least:
                return rows
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the sweep made no progress")


def assert_consistent(out: Path) -> list[dict]:
    """The table is readable, has each point at most once, and its CSV twin has the same rows."""
    rows = read_table(out)
    hashes = [r["hash"] for r in rows]
    assert len(hashes) == len(set(hashes))
    spec_hashes = {p["hash"] for p in json.loads((out / "sweep.json").read_text())["points"]}
    assert set(hashes) <= spec_hashes
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(rows)
    return rows


# ---- the small real sweep (shared by the resume and report tests) ----------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    spec = write_spec(d / "spec.yaml", {
        "checkpoints": TINY,
        "studies": {
            "quant": {"run": {"model": "tiny", "max_tokens": 16},
                      "grid": {"run.coding": ["bitwise", "ternary"]},
                      # a file that is not there: an error row (a bad setting would be refused up front)
                      "points": [{"run.coding": "bitwise", "run.window": 8, "run.text_file": "missing.txt"}]},
            "hw": {"run": {"model": "tiny", "max_tokens": 16, "window": 7},
                   "hw": {"lanes": 1, "freq": [250], "no_glitches": True, "scale_nodes": [], "yosys": "debian",
                          "pipeline": ["mac=2", "spike=1"]},
                   "energy": {"node": 45},
                   "grid": {"run.scale": ["absmax"]},
                   "points": [{"run.scale": "adaptive", "run.k": 8, "run.clamp": 127}]},
        }})
    out = d / "out"
    t0 = time.time()
    rc = main(["sweep", str(spec), "--out", str(out), "--workers", "2", "--quiet"])
    return {"spec": spec, "out": out, "rc": rc, "seconds": time.time() - t0}


def test_small_real_sweep_table_equals_the_outputs(small):
    assert small["rc"] == 0
    out = small["out"]
    rows = assert_consistent(out)
    assert len(rows) == 5
    by = {(r["study"], r["run.coding"] or "bitwise", r.get("run.window")): r for r in rows}
    err = by[("quant", "bitwise", 8)]
    assert err["status"] == "error" and "missing.txt" in err["error"] and "\n" not in err["error"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 4
    assert len({r["worker"] for r in ok}) >= 1 and all(r["code_version"] for r in ok)
    for r in ok:
        s = json.loads((out / "points" / r["hash"] / "run" / "summary.json").read_text())
        assert s["settings"]["coding"] == (r["run.coding"] or "bitwise")
        assert r["sparsity_fixed"] == s["totals"]["sparsity_fixed"]
        assert r["spikes_per_activation"] == s["totals"]["spikes_per_activation"]
        assert r["events"] == s["totals"]["events"]
        assert r["top1_agreement"] == s["accuracy"]["top1_agreement"]
        lo, hi = wilson(r["top1_agreement"], s["accuracy"]["positions"])
        assert r["top1_ci95_low"] == lo <= r["top1_agreement"] <= hi == r["top1_ci95_high"]
    hw_row = next(r for r in ok if r["study"] == "hw")
    hw = json.loads((out / "points" / hw_row["hash"] / "hw" / "hw.json").read_text())
    c = hw["comparison"]["250"]
    assert hw["settings"]["lanes"] == 1 and "trace tile" in hw["settings"]["stimulus"]
    assert hw_row["area_spike_um2"] == hw_row["area_spike_um2@250"] == c["area_spike_um2"]
    assert hw_row["slack_spike_ns"] == hw["results"]["spike@250"]["slack_ns"]
    assert hw_row["energy_per_mac_eq_spike_pj"] == c["zero_delay"]["energy_per_mac_eq_pj"]["spike_event_driven"]
    assert hw_row["power_sim"] == "zero_delay"
    assert hw_row["pipeline_mac"] == 2 and hw_row["pipeline_spike"] == 1      # hw.pipeline
    # one synthesis for both hw points: the sweep filled the cache before either ran (cold cache)
    hw_rows = [r for r in ok if r["study"] == "hw"]
    assert len(hw_rows) == 2 and [r["hw_syntheses_run"] for r in hw_rows] == [0, 0]
    assert len(list((out / "hw_cache" / "synth").glob("*/result.json"))) >= 2     # MAC P=2, spike P=1
    # 1-lane hw + energy: 8-bit weight rows through a 32-bit SRAM port, energy per token in the table
    e = json.loads((out / "points" / hw_row["hash"] / "energy" / "energy.json").read_text())
    assert (e["settings"]["weight_row_bits"], e["settings"]["word_bits"], e["settings"]["lanes"]) == (8, 32, 1)
    names = {d["name"]: d["per_token"]["total_pj"] for d in e["designs"]}
    for r in hw_rows:
        assert r["energy_per_token_mac_dense_pj"] > 0 and r["energy_per_token_spike_pj"] > 0
    assert hw_row["energy_per_token_mac_dense_pj"] == names["MAC dense"]
    assert hw_row["energy_per_token_spike_bitwise_barrel_row_held_pj"] == names["spike bitwise barrel, row held"]
    # Parquet and CSV hold the same figures
    import csv
    with open(out / "results.csv") as fh:
        csv_rows = {r["hash"]: r for r in csv.DictReader(fh)}
    assert float(csv_rows[hw_row["hash"]]["area_spike_um2"]) == hw_row["area_spike_um2"]


def test_rerun_computes_nothing_and_keeps_rows(small, capsys):
    before = {r["hash"]: r for r in read_table(small["out"])}
    assert main(["sweep", str(small["spec"]), "--out", str(small["out"]), "--workers", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "5 points, 4 already done, 1 to compute" in err   # only the error row is tried again
    after = {r["hash"]: r for r in read_table(small["out"])}
    assert after.keys() == before.keys()
    for h, r in before.items():
        if r["status"] == "ok":
            assert after[h] == r


def test_pareto_report(small, tmp_path):
    rep = tmp_path / "rep"
    assert main(["report", "--sweep", str(small["out"]), "--out", str(rep), "--quiet"]) == 0
    md = (rep / "sweep.md").read_text()
    assert "Pareto" in md and "64.31%" in md
    meta = json.loads((rep / "sweep.json").read_text())
    for f in meta["figures"]:
        assert (rep / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert meta["points"] == 5 and meta["ok"] == 4


def test_pareto_mask():
    # minimise x, maximise y: (1, 1) and (2, 3) are optimal, (2, 1) is dominated, None never is
    assert pareto_mask([1, 2, 2, None], [1, 3, 1, 5], minimize_y=False) == [True, True, False, False]


# ---- fault tolerance -----------------------------------------------------------------------------
def test_killed_worker_is_replaced_and_every_point_is_in_the_table_once(tmp_path):
    spec = run_points_spec(tmp_path / "spec.yaml", ["bitwise", "ternary", "bitwise_2c"], max_tokens=40,
                           extra=[{"run.scale": "adaptive", "run.k": k, "run.clamp": "none"} for k in (3, 8)])
    out = tmp_path / "out"
    proc = sweep(spec, "--out", out, "--workers", "2")
    rows_when(out, 1, proc)
    workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
               if "spawn_main" in " ".join(c.cmdline())]
    assert len(workers) >= 2
    victim = workers[0]
    victim.kill()                                   # SIGKILL: no clean-up, mid-point
    o, e = proc.communicate(timeout=300)
    assert proc.returncode == 0, e
    assert not victim.is_running()
    rows = assert_consistent(out)
    assert len(rows) == 5 and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert "5 points (5 computed, 0 reused, 0 errors)" in o


def test_scratch_of_a_dead_worker_is_removed_and_a_live_ones_kept(tmp_path):
    from neurosim.sweep.point import SCRATCH_PREFIX, remove_stale_scratch

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()                                    # exited and reaped: its pid names no process
    dead = tmp_path / f"{SCRATCH_PREFIX}0123abcd-p{child.pid}-x1y2z3_a"
    live = tmp_path / f"{SCRATCH_PREFIX}0123abcd-p{os.getpid()}-q9w8e7_r"
    other = tmp_path / "neurosim-sweep-notes"
    for d in (dead, live, other):
        (d / "trace").mkdir(parents=True)
    assert remove_stale_scratch(str(tmp_path)) == 1
    assert not dead.exists() and live.is_dir() and other.is_dir()


def test_interrupt_then_rerun_computes_only_the_missing_points(tmp_path):
    spec = run_points_spec(tmp_path / "spec.yaml", ["bitwise", "ternary", "bitwise_2c"], max_tokens=24,
                           extra=[{"run.scale": "adaptive", "run.k": k, "run.clamp": "none"} for k in (2, 3, 4)])
    out = tmp_path / "out"
    proc = sweep(spec, "--out", out, "--workers", "1")
    rows_when(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    o, e = proc.communicate(timeout=120)
    assert proc.returncode == 130, e
    first = {r["hash"]: r for r in assert_consistent(out)}
    assert 1 <= len(first) < 6 and all(r["status"] == "ok" for r in first.values())
    proc = sweep(spec, "--out", out, "--workers", "2")
    o, e = proc.communicate(timeout=300)
    assert proc.returncode == 0, e
    assert f"6 points, {len(first)} already done, {6 - len(first)} to compute" in e
    rows = {r["hash"]: r for r in assert_consistent(out)}
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows.values())
    for h, r in first.items():                       # not recomputed: same worker, time, figures
        assert {k: rows[h].get(k) for k in r} == r
        assert all(rows[h][k] is None for k in rows[h].keys() - r.keys())   # columns of later points


# ---- bad specs: one line, exit 2, nothing written -----------------------------------------------
BAD = {
    "unknown key": ({"run": {"model": "tiny"}, "grid": {"run.codng": ["bitwise"]}}, "did you mean 'run.coding'"),
    "unknown top key": ({"run": {"model": "tiny"}, "grd": {"run.coding": ["bitwise"]}}, "did you mean 'grid'"),
    "empty grid": ({"run": {"model": "tiny"}, "grid": {"run.coding": []}}, "empty"),
    "no points": ({"run": {"model": "tiny"}, "grid": {}}, "empty"),
    "out of range": ({"hw": {"lanes": 0}, "grid": {"hw.freq": [[250]]}}, "--lanes must be 1..256"),
    "bad choice": ({"grid": {"run.coding": ["morse"]}}, "invalid choice"),
}


def _assert_clean_failure(rc, capsys, out):
    cap = capsys.readouterr()
    assert rc == 2
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurosim sweep: error:"), cap.err
    assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("case", list(BAD))
def test_bad_spec_is_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    doc, words = BAD[case]
    spec = write_spec(tmp_path / "spec.yaml", {"checkpoints": TINY, **doc})
    out = tmp_path / "out"
    line = _assert_clean_failure(main(["sweep", str(spec), "--out", str(out)]), capsys, out)
    assert words in line


def test_unreachable_scheduler_is_one_line_exit_2_nothing_written(tmp_path, capsys):
    spec = run_points_spec(tmp_path / "spec.yaml", ["bitwise"])
    out = tmp_path / "out"
    line = _assert_clean_failure(main(["sweep", str(spec), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]),
                                 capsys, out)
    assert "cannot reach the Dask scheduler" in line


def test_results_table_is_rendered_from_its_json():
    """docs/results/sweep.md is `python -m benchmarks.sweep`'s rendering of sweep.json, and the
    measured-results page quotes it verbatim."""
    from benchmarks.sweep import render
    root = Path(__file__).resolve().parent.parent
    doc = json.loads((root / "docs/results/sweep.json").read_text())
    md = (root / "docs/results/sweep.md").read_text()
    assert render(doc) == md
    assert f"<!-- results: sweep.md -->\n{md}<!-- /results -->" in (root / "docs/measured-results.md").read_text()


# ---- a point's values are checked by its command's own validator ------------------------------
#: (stage, settings the command rejects, the same settings moved inside the command's range)
COMMAND_BOUNDS = [
    ("run", {"window": 0}, {"window": 7}),
    ("run", {"max_tokens": 0}, {"max_tokens": 1}),
    ("eval", {"bootstrap": 99}, {"bootstrap": 100}),
    ("eval", {"window_tokens": 1}, {"window_tokens": 2}),
    ("hw", {"lanes": 257}, {"lanes": 256}),
    ("hw", {"inputs": 4097, "k": 4096}, {"inputs": 4096, "k": 4096}),
    ("hw", {"seed": -1}, {"seed": 0}),
    ("energy", {"batch": 0}, {"batch": 1}),
]


def _flags(settings: dict) -> list[str]:
    return [w for k, v in settings.items() for w in (f"--{k.replace('_', '-')}", str(v))]


@pytest.mark.parametrize("stage,bad,good", COMMAND_BOUNDS, ids=[f"{c[0]}-{next(iter(c[1]))}" for c in COMMAND_BOUNDS])
def test_sweep_ranges_are_the_commands(stage, bad, good, tmp_path, capsys):
    """The sweep rejects a point exactly when its command rejects the same flags, with the
    command's own message, and accepts the point one step inside the command's range."""
    from neurosim import NeurosimError
    from neurosim.sweep import load_spec
    needs = {"hw": ["--out", str(tmp_path / "hw")], "eval": ["--out", str(tmp_path / "hw")],
             "energy": ["--hw", str(tmp_path / "hw")]}.get(stage, [])
    assert main([stage, *_flags(bad), *needs]) == 2
    message = capsys.readouterr().err.strip().split(": error: ", 1)[1]
    with pytest.raises(NeurosimError) as exc:
        load_spec(write_spec(tmp_path / "bad.yaml", {stage: bad, "points": [{}]}))
    assert str(exc.value).endswith(message)
    assert len(load_spec(write_spec(tmp_path / "good.yaml", {stage: good, "points": [{}]})).points) == 1
    assert not (tmp_path / "hw").exists()
