"""Hardening: interrupted `neurosim hw` and interrupted report/hw writes leave nothing that looks complete.

`neurosim run` (SIGINT, SIGTERM) is covered by tests/test_interrupt.py; trace writes by
tests/test_trace.py. Here: `neurosim hw` killed while its first progress bar runs (smallest
configuration the CLI offers: 1 lane, 1 row of 4 inputs, one clock, generator designs for K = 16, no glitch
simulation, no technology scaling), then rerun; and the final rename steps of the report and hw
writers interrupted (KeyboardInterrupt, which is what SIGINT and SIGTERM raise in neurosim).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from neurosim import NeurosimError
from neurosim.cli import main

ROOT = Path(__file__).resolve().parent.parent

try:
    from neurosim.hwmodels import tools
    tools.default_liberty()
    HAVE_LIB = True
except NeurosimError:
    HAVE_LIB = False
needs_lib = pytest.mark.skipif(not HAVE_LIB, reason="qflow-tech-osu018 not installed")


def hw_cmd(out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "neurosim", "hw", "--out", str(out), "--cache", str(cache),
            "--lanes", "1", "--rows", "1", "--inputs", "4", "--freq", "250", "--k", "16",
            "--no-glitches", "--tech"]


def looks_complete(d: Path) -> list[Path]:
    """Every hw.json / hw.md / run.json outside the synthesis cache."""
    return [p for p in d.rglob("*") if p.name in ("hw.json", "hw.md", "run.json") and "cache" not in p.parts]


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # a background shell job starts with SIGINT ignored


@needs_lib
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_hw_leaves_no_output_and_rerun_succeeds(tmp_path, sig):
    out, cache = tmp_path / "hw", tmp_path / "cache"
    cmd = hw_cmd(out, cache)
    # own process group: SIGINT goes to the whole group like Ctrl-C in a terminal (the running
    # Yosys/OpenSTA children get it too); SIGTERM only to neurosim, like `kill PID`
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
                         start_new_session=True, preexec_fn=_default_sigint)
    seen = ""
    try:
        # mid-way: the candidates' progress bar has counted at least one synthesized configuration
        while "candidates (1 lane):" not in seen or "| 1/" not in seen.rsplit("candidates", 1)[-1]:
            ch = p.stderr.read(1)
            assert ch, f"hw ended before its first progress step: {seen[-500:]}"
            seen += ch
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


# -- the last step of the writers, interrupted --------------------------------------------------

@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    d = tmp_path_factory.mktemp("trace")
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(d / "tiny")]) == 0
    assert main(["run", "--model", str(d / "tiny"), "--max-tokens", "16", "--tiles", "1",
                 "--trace", str(d / "trace")]) == 0
    return d / "trace"


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
    the two puts the earlier report back and leaves no temporary folder (fixed in reports/build.py)."""
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


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "replacing"])
def test_hw_write_outputs_interrupted_leaves_nothing(tmp_path, monkeypatch, existing):
    """hw.json/hw.md/run.json are written into a temporary folder that is renamed into place: an
    interrupt while writing leaves neither a partial HWOUT nor the temporary folder, and an earlier
    HWOUT stays as it was."""
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
