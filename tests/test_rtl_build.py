"""neurosim.rtl.build / neurosim rtl: emitted Verilog, manifest content, CLI, Verilator lint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from neurosim.cli import main
from neurosim.rtl.build import default_configs, emit, load_manifest
from neurosim.rtl.params import PIPELINES

ROOT = Path(__file__).resolve().parent.parent
WAIVERS = ROOT / "testbench" / "verilator_waivers.vlt"

KINDS = [("mac", None, None), ("spike", "binary", None), ("spike", "ternary", None),
         ("spike", "bitwise", "barrel"), ("spike", "bitwise", "horner"),
         ("spike", "bitwise_2c", "barrel"), ("spike", "bitwise_2c", "horner")]


def verilog_ports(text: str, top: str) -> dict[str, tuple[str, int]]:
    """{name: (dir, width)} from the emitted module's declarations."""
    assert re.search(rf"^module {re.escape(top)}\(", text, re.M), f"no module {top}"
    ports = {}
    for d, rng, name in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?([A-Za-z_]\w*)\s*;", text, re.M):
        ports[name] = ("in" if d == "input" else "out", int(rng) + 1 if rng else 1)
    return ports


@pytest.mark.parametrize("design,coding,variant", KINDS)
@pytest.mark.parametrize("pipeline", [0, 3])
def test_manifest_matches_verilog(tmp_path, design, coding, variant, pipeline):
    lanes, k = 4, 100
    e = emit(design, coding=coding, variant=variant, lanes=lanes, k=k, pipeline=pipeline, out_dir=tmp_path)
    text = (tmp_path / e["verilog"]).read_text()
    assert e["verilog"] == f"{e['top']}.v"
    assert (e["design"], e["coding"], e["lanes"], e["k"], e["pipeline"]) == (design, coding, lanes, k, pipeline)
    assert e["variant"] == (variant or ("barrel" if coding in ("bitwise", "bitwise_2c") else None))
    assert e["latency"] == pipeline + 1
    assert e["gap"] == e["segments"] - 1
    ports = {p["name"]: p for p in e["ports"]}
    assert verilog_ports(text, e["top"]) == {n: (p["dir"], p["width"]) for n, p in ports.items()}
    assert ports["w"]["width"] == 8 * lanes and ports["w"]["signed"] and ports["w"]["elem_width"] == 8
    assert ports["acc"]["width"] == e["acc_w"] * lanes and ports["acc"]["signed"]
    assert ports["acc"]["elems"] == lanes and ports["acc"]["dir"] == "out"
    assert ports["done"]["dir"] == "out" and ports["clk"]["dir"] == "in" and ports["rst"]["dir"] == "in"
    expected_inputs = {"clk", "rst", "valid", "clear", "last", "w"}
    if design == "mac":
        expected_inputs |= {"a"}
        assert ports["a"]["signed"] and ports["a"]["width"] == 8
    else:
        if coding in ("ternary", "bitwise"):
            expected_inputs |= {"neg"}
        if e["variant"] == "barrel":
            expected_inputs |= {"sh"}
            assert ports["sh"]["width"] == max(1, (e["t"] - 1).bit_length())
        if e["variant"] == "horner":
            expected_inputs |= {"step"}
    assert {n for n, p in ports.items() if p["dir"] == "in"} == expected_inputs
    assert all(p["doc"] for p in e["ports"])


@pytest.mark.parametrize("design,coding,variant", KINDS)
def test_accumulator_register_is_enabled_only_by_activity(tmp_path, design, coding, variant):
    """Event-driven structure: the accumulator register holds (next = acc) unless an enable is high.
    (Functionally, holding is checked in simulation: garbage on idle inputs never reaches acc.)"""
    e = emit(design, coding=coding, variant=variant, lanes=1, k=16, pipeline=0, out_dir=tmp_path)
    text = (tmp_path / e["verilog"]).read_text()
    m = re.search(r"always @\(posedge clk\)\s*\n\s*acc <= (\\\$\d+)\s*;", text)
    assert m, "the accumulator must be a plain clocked register"
    nxt = re.escape(m.group(1))
    hold = re.search(rf"{nxt}\s+= acc;\s*\n\s*if \(([^)]*)\) begin\s*\n\s*{nxt}\s+= ", text)
    assert hold, "the accumulator's next value must be `acc` unless its enable is high"


def _cli(args, capsys):
    rc = main(["rtl", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_design_and_manifest_merge(tmp_path, capsys):
    rc, out, _ = _cli(["--design", "spike", "--coding", "bitwise", "--variant", "horner", "--lanes", "2",
                       "--k", "64", "--pipeline", "2", "--out", str(tmp_path)], capsys)
    assert rc == 0 and "spike_bitwise_horner_l2_k64_t7_p2.v" in out
    rc, out, _ = _cli(["--design", "mac", "--lanes", "2", "--k", "64", "--pipeline", "4", "--out",
                       str(tmp_path)], capsys)
    assert rc == 0
    tops = [d["top"] for d in load_manifest(tmp_path)["designs"]]
    assert tops == ["spike_bitwise_horner_l2_k64_t7_p2", "mac_l2_k64_p4"]


@pytest.mark.parametrize("args,msg", [
    (["--design", "spike", "--k", "100", "--acc-w", "12"], "acc_w=12 is too small for k=100"),
    (["--design", "spike", "--coding", "ternary", "--variant", "barrel"], "has no variant"),
    (["--design", "mac", "--pipeline", "9"], "pipeline must be in"),
    ([], "give --design"),
    (["--defaults", "--design", "mac"], "either --defaults or --design"),
])
def test_cli_errors_exit_2(tmp_path, capsys, args, msg):
    rc, _, err = _cli([*args, "--out", str(tmp_path)], capsys)
    assert rc == 2
    assert msg in err and err.startswith("neurosim rtl: error:") and err.count("\n") == 1


def test_make_rtl_command_line(tmp_path):
    """`make rtl` runs `python -m neurosim rtl --defaults --out DIR` (here with small arrays)."""
    r = subprocess.run([sys.executable, "-m", "neurosim", "rtl", "--defaults", "--lanes", "2", "--k", "32",
                        "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    m = load_manifest(tmp_path)
    assert m == json.loads((tmp_path / "manifest.json").read_text()) and m["version"] == 1
    n_expected = len(PIPELINES["mac"]) + 6 * len(PIPELINES["spike"])
    assert len(m["designs"]) == len(default_configs()) == n_expected
    tops = [d["top"] for d in m["designs"]]
    assert len(set(tops)) == len(tops)
    for d in m["designs"]:
        assert (tmp_path / d["verilog"]).is_file()
        assert d["lanes"] == 2 and d["k"] == 32
    assert f"{n_expected} design(s)" in r.stdout


def test_verilator_lint_clean_with_documented_waivers(tmp_path):
    """`verilator --lint-only -Wall` passes on every kind of design at the shallowest and deepest
    pipeline, with only the waivers of testbench/verilator_waivers.vlt (explained in docs/rtl.md)."""
    verilator = shutil.which("verilator")
    assert verilator, "verilator is not installed (Debian package `verilator`)"
    for design, coding, variant in KINDS:
        for p in (0, max(PIPELINES[design])):
            e = emit(design, coding=coding, variant=variant, lanes=3, k=200, pipeline=p, out_dir=tmp_path)
            r = subprocess.run([verilator, "--lint-only", "-Wall", str(WAIVERS), str(tmp_path / e["verilog"])],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0 and "%Warning" not in r.stderr and "%Error" not in r.stderr, (
                f"{e['top']}:\n{r.stderr[:3000]}")


def test_waivers_are_needed():
    """Without the waiver file Verilator does warn (so the waivers are not stale)."""
    verilator = shutil.which("verilator")
    assert verilator, "verilator is not installed (Debian package `verilator`)"
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        e = emit("mac", lanes=2, k=64, pipeline=4, out_dir=d)
        r = subprocess.run([verilator, "--lint-only", "-Wall", str(Path(d) / e["verilog"])],
                           capture_output=True, text=True, timeout=120)
    assert "%Warning-WIDTH" in r.stderr and "%Warning-UNUSEDSIGNAL" in r.stderr
