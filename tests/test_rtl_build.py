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
    (["--prove", "--design", "mac"], "--prove proves every default design"),
])
def test_cli_errors_exit_2(tmp_path, capsys, args, msg):
    rc, _, err = _cli([*args, "--out", str(tmp_path)], capsys)
    assert rc == 2
    assert msg in err and err.startswith("neurosim rtl: error:") and err.count("\n") == 1


@pytest.mark.parametrize("args, reason", [
    # the accumulator cannot hold every dot product of K inputs
    (["--design", "spike", "--k", "2560", "--acc-w", "26"], r"acc_w=26 is too small for k=2560.*needs 27 bits"),
    (["--design", "mac", "--k", "9728", "--acc-w", "28"], r"acc_w=28 is too small for k=9728.*needs 29 bits"),
    (["--design", "spike", "--coding", "bitwise", "--t", "8", "--k", "2560", "--acc-w", "27"],
     r"acc_w=27 is too small for k=2560.*needs 28 bits"),
    (["--design", "spike", "--coding", "ternary", "--k", "1", "--acc-w", "14"], r"acc_w=14 is too small for k=1.*needs 15 bits"),
    (["--design", "spike", "--lanes", "0"], r"lanes must be in \[1, 256\], got 0"),
    (["--design", "mac", "--lanes", "0", "--pipeline", "3"], r"lanes must be in \[1, 256\], got 0"),
    (["--defaults", "--lanes", "0"], r"lanes must be in \[1, 256\], got 0"),
    (["--design", "spike", "--k", "0"], r"k must be in"),
    (["--design", "spike", "--coding", "morse"], r"unknown coding 'morse'.*bitwise"),
    (["--design", "adder"], r"unknown design 'adder'"),
    (["--design", "spike", "--variant", "wallace"], r"unknown variant 'wallace'"),
])
def test_rtl_rejects_before_emitting(tmp_path, rejected, args, reason):
    out = tmp_path / "rtl"
    rejected(["rtl", *args, "--out", str(out)], reason, out)


def test_rtl_accepts_exactly_enough_accumulator_bits(tmp_path, capsys):
    """The bound is tight: the width the error asks for is accepted."""
    assert main(["rtl", "--design", "spike", "--k", "2560", "--acc-w", "27", "--out", str(tmp_path)]) == 0
    assert "ACC_W=27" in capsys.readouterr().out


def test_rtl_exit_status_of_the_process(tmp_path):
    """The installed entry point (python -m neurosim) really exits with status 2 and one line."""
    out = tmp_path / "rtl"
    r = subprocess.run([sys.executable, "-m", "neurosim", "rtl", "--design", "spike", "--k", "100",
                        "--acc-w", "12", "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [r.stderr.strip()] and "acc_w=12 is too small for k=100" in r.stderr
    assert not out.exists()


def test_rtl_out_is_a_file(tmp_path, rejected):
    f = tmp_path / "file"
    f.write_text("mine\n")
    rejected(["rtl", "--design", "mac", "--lanes", "2", "--k", "8", "--out", str(f)], r"exists and is not a folder")
    rejected(["rtl", "--design", "mac", "--lanes", "2", "--k", "8", "--out", str(f / "sub")],
             r"cannot write into .*sub")
    assert f.read_text() == "mine\n" and sorted(x.name for x in tmp_path.iterdir()) == ["file"]


RTL_CASES = [["--design", "mac", "--pipeline", "6"],
             ["--design", "spike", "--coding", "binary", "--pipeline", "4"],
             ["--design", "spike", "--coding", "ternary", "--pipeline", "2"],
             ["--design", "spike", "--coding", "bitwise", "--variant", "barrel", "--pipeline", "4"],
             ["--design", "spike", "--coding", "bitwise", "--variant", "horner", "--pipeline", "3"],
             ["--design", "spike", "--coding", "bitwise_2c", "--variant", "barrel", "--pipeline", "1"],
             ["--design", "spike", "--coding", "bitwise_2c", "--variant", "horner", "--pipeline", "4"]]


def test_rtl_verilog_and_manifest_byte_identical(tmp_path, py, files):
    """`neurosim rtl` for every kind of design, twice (two processes with different PYTHONHASHSEED,
    two folders): identical .v files and manifest.json, which names the files relative to its folder."""
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
