"""Hardening: the same inputs and seed give byte-identical outputs, across processes.

Each pair runs in two processes with different ``PYTHONHASHSEED`` (set and dict-of-set orders are
the usual source of run-to-run differences) and into differently named folders. Already covered:
`neurosim run` twice in one process (tests/test_runner.py), hw.json content on a cached rerun
(tests/test_hw_flow.py). Added here: the whole trace across processes, the Verilog and manifest of
`neurosim rtl`, and hw.json bytes from two runs that each synthesize and simulate from scratch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from neurosim import NeurosimError
from neurosim.cli import main

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"


def py(code_or_args: list[str], hashseed: int, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
    r = subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr[-1500:]
    return r


def files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_trace_bytes_identical_across_processes(tmp_path):
    """summary.json, stats.npz and every tile are byte-identical; only timing.json differs."""
    ckpt = tmp_path / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(ckpt)]) == 0
    outs = []
    for i, hs in enumerate((0, 4242)):
        out = tmp_path / f"OUT{'AB'[i]}"
        py(["-m", "neurosim", "run", "--model", str(ckpt), "--prompt", PROMPT, "--tiles", "2", "--trace", str(out)], hs)
        outs.append(files(out))
    a, b = outs
    assert sorted(a) == sorted(b)
    assert {"summary.json", "stats.npz", "timing.json"} <= set(a) and any(k.startswith("tiles/") for k in a)
    differ = sorted(k for k in a if a[k] != b[k])
    assert differ in ([], ["timing.json"]), differ
    # the output location is not part of the summary
    assert b"OUTA" not in a["summary.json"] and b"OUTB" not in b["summary.json"]


RTL_CASES = [["--design", "mac", "--pipeline", "6"],
             ["--design", "spike", "--coding", "binary", "--pipeline", "4"],
             ["--design", "spike", "--coding", "ternary", "--pipeline", "2"],
             ["--design", "spike", "--coding", "bitwise", "--variant", "barrel", "--pipeline", "4"],
             ["--design", "spike", "--coding", "bitwise", "--variant", "horner", "--pipeline", "3"],
             ["--design", "spike", "--coding", "bitwise_2c", "--variant", "barrel", "--pipeline", "1"],
             ["--design", "spike", "--coding", "bitwise_2c", "--variant", "horner", "--pipeline", "4"]]


def test_rtl_verilog_and_manifest_byte_identical(tmp_path):
    """`neurosim rtl` for every kind of design, twice (two processes, two folders): identical .v files
    and manifest.json, which names the files relative to its folder."""
    script = ("import sys\nfrom neurosim.cli import main\nout = sys.argv[1]\n"
              f"for args in {RTL_CASES!r}:\n"
              "    assert main(['rtl', *args, '--lanes', '3', '--k', '40', '--out', out]) == 0\n")
    got = []
    for name, hs in (("RTLA", 1), ("RTLB", 987654)):
        py(["-c", script, str(tmp_path / name)], hs)
        got.append(files(tmp_path / name))
    a, b = got
    assert len([k for k in a if k.endswith(".v")]) == len(RTL_CASES)
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
    m = json.loads(a["manifest.json"])
    assert sorted(d["verilog"] for d in m["designs"]) == sorted(k for k in a if k.endswith(".v"))
    assert b"RTLA" not in a["manifest.json"]


try:
    from neurosim.hwmodels import tools
    tools.default_liberty()
    HAVE_LIB = True
except NeurosimError:
    HAVE_LIB = False


@pytest.mark.skipif(not HAVE_LIB, reason="qflow-tech-osu018 not installed")
def test_hw_json_bytes_identical_from_scratch(tmp_path):
    """Two full runs of the hw flow (generator arrays for K = 16, one lane: synthesis, STA and zero-delay and
    -gspecify gate-level simulation each time, the cache emptied in between; two processes): hw.json is written canonically and equals the other byte for
    byte except its 'run' member (durations, start time), also in run.json; hw.md is identical."""
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
