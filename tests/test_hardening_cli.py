"""Hardening: impossible settings of `neurosim rtl`, `neurosim hw` and `neurosim run` are rejected
before any work starts, as one line `neurosim <command>: error: <reason>` with exit status 2, and
no output folder (nor, for hw, a synthesis cache) is created.

Already covered elsewhere: run's window/clamp/binary/max_tokens combinations and YAML keys
(tests/test_runner.py), rtl's elaboration parameters (tests/test_rtl_params.py) and a few rtl CLI
errors (tests/test_rtl_build.py), broken checkpoints (tests/test_checkpoint.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from neurosim import NeurosimError
from neurosim.cli import main

ROOT = Path(__file__).resolve().parent.parent


def rejected(capsys, argv: list[str], reason: str, *absent: Path) -> str:
    """Run the CLI in-process; assert exit status 2, one error line naming ``reason`` (a regex),
    nothing on stdout and none of ``absent`` created. Returns the error line."""
    try:
        rc = main(argv)
    except SystemExit as exc:          # argparse's own errors
        rc = exc.code
    cap = capsys.readouterr()
    command = argv[0]
    assert rc == 2, (rc, cap.err)
    assert cap.out == "", cap.out
    lines = cap.err.splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{cap.err}"
    assert lines[0].startswith(f"neurosim {command}: error: "), lines[0]
    assert re.search(reason, lines[0]), (reason, lines[0])
    for p in absent:
        assert not p.exists(), f"{p} was created by a rejected command"
    return lines[0]


# -- neurosim rtl ----------------------------------------------------------------------------------

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
def test_rtl_rejects_before_emitting(tmp_path, capsys, args, reason):
    out = tmp_path / "rtl"
    rejected(capsys, ["rtl", *args, "--out", str(out)], reason, out)


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


# -- neurosim hw -----------------------------------------------------------------------------------

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
])
def test_hw_rejects_before_any_work(tmp_path, capsys, args, reason):
    argv, out, cache = _hw(tmp_path, *args)
    rejected(capsys, argv, reason, out, cache)


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
    ({"BUFX2"}, r"BUFX2"),
], ids=["no-flip-flop", "no-inverter", "no-BUFX2"])
def test_hw_rejects_a_liberty_without_needed_cells(tmp_path, capsys, drop, reason):
    """A liberty that lacks a cell class the flow needs is refused up front, naming the class,
    before any synthesis (no cache folder), not by a failing Yosys/OpenSTA run later."""
    lib = strip_cells(OSU, tmp_path / "lib" / "cells.lib", drop)
    argv, out, cache = _hw(tmp_path, "--liberty", str(lib), "--lanes", "1", "--rows", "1", "--inputs", "4",
                           "--freq", "250", "--k", "16", "--no-glitches", "--tech")
    rejected(capsys, argv, reason, out, cache)


# -- neurosim run ----------------------------------------------------------------------------------

def test_run_unknown_coding_in_yaml(tmp_path, capsys):
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("coding: morse\n")
    out = tmp_path / "trace"
    rejected(capsys, ["run", "--config", str(cfg), "--trace", str(out)], r"unknown coding 'morse'.*bitwise", out)


def test_run_unknown_coding_flag(tmp_path, capsys):
    out = tmp_path / "trace"
    rejected(capsys, ["run", "--coding", "morse", "--trace", str(out)], r"invalid choice: 'morse'", out)


def test_hw_and_rtl_unknown_coding_agree_with_run(tmp_path, capsys):
    """Every command knows the same coding names: rtl accepts all four; hw's stimulus is bitwise (the
    other codings' arrays are driven by it re-encoded: --coding all)."""
    from neurosim.core.coding import CODINGS
    from neurosim.rtl.params import CODINGS as RTL_CODINGS
    assert tuple(RTL_CODINGS) == tuple(CODINGS)
    with pytest.raises(NeurosimError, match="the stimulus coding is bitwise"):
        from neurosim.hwmodels.flow import run_flow
        run_flow(tmp_path / "hw", coding="binary", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "hw").exists() and not (tmp_path / "cache").exists()


# -- output locations that must not be written over ---------------------------------------------

def test_rtl_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("mine\n")
    rejected(capsys, ["rtl", "--design", "mac", "--lanes", "2", "--k", "8", "--out", str(f)], r"exists and is not a folder")
    rejected(capsys, ["rtl", "--design", "mac", "--lanes", "2", "--k", "8", "--out", str(f / "sub")],
             r"cannot write into .*sub")
    assert f.read_text() == "mine\n" and sorted(x.name for x in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("kind", ["file", "foreign-folder"])
def test_hw_refuses_to_replace_what_is_not_a_hw_output(tmp_path, capsys, kind):
    """HWOUT is replaced as a whole, so a file or a folder of other things given as --out is refused
    up front (it used to be moved aside and deleted after a successful run)."""
    argv, out, cache = _hw(tmp_path, "--lanes", "1", "--rows", "1", "--inputs", "4", "--freq", "250",
                           "--k", "16", "--no-glitches", "--tech")
    if kind == "file":
        out.write_text("mine\n")
        rejected(capsys, argv, r"exists and is not a directory", cache)
        assert out.read_text() == "mine\n"
    else:
        out.mkdir()
        (out / "notes.txt").write_text("keep me\n")
        rejected(capsys, argv, r"is a non-empty folder that is not a hw \(no hw.json\)", cache)
        assert sorted(x.name for x in out.iterdir()) == ["notes.txt"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["hw"]


def test_run_refuses_to_replace_a_foreign_folder(tmp_path, capsys):
    ckpt = tmp_path / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(ckpt)]) == 0
    capsys.readouterr()
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    try:
        rejected(capsys, ["run", "--model", str(ckpt), "--prompt", "hello there", "--trace", str(out)],
                 r"not a trace")
    finally:
        assert (out / "notes.txt").is_file(), "neurosim run --trace deleted an unrelated folder's contents"
