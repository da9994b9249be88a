"""Reset protocol on X-initialized registers: the emitted Verilog with its register initializers
stripped (every register starts at X, as OSU flip-flops do at power-up), ``rst`` held exactly the
manifest's ``reset_cycles``, the accumulators must read 0 in the first cycle after it (the driver's read raises on X)
and the seeded random scenario must then be bit-exact. Covers the registers without reset (term,
partial products, pair sums, product, delayed slices, carries, accumulators)."""

from __future__ import annotations

import pytest

from neurosim.rtl.params import PIPELINES
from testbench import harness, stimulus

LANES, K = 3, 24
KINDS = [("mac", None, None), ("spike", "binary", None), ("spike", "ternary", None),
         ("spike", "bitwise", "barrel"), ("spike", "bitwise", "horner"),
         ("spike", "bitwise_2c", "barrel"), ("spike", "bitwise_2c", "horner")]
CASES = [pytest.param(design, coding, variant, p,
                      id=f"{design}{'-' + coding if coding else ''}{'-' + variant if variant else ''}-p{p}")
         for design, coding, variant in KINDS for p in PIPELINES[design]
         if design == "mac" or coding == "bitwise" or p in (0, max(PIPELINES[design]))]


def test_strip_initializers():
    text = ("  reg [6:0] acc0_seg0 = 7'h00;\n  reg \\$auto$verilog_backend.cc:2355:dump_module$1  = 0;\n"
            "  reg valid_s1 = 1'h0;\n  wire [3:0] x;\n")
    out = harness.strip_initializers(text)
    assert "reg [6:0] acc0_seg0;" in out and "reg valid_s1;" in out
    assert "dump_module$1  = 0;" in out and "wire [3:0] x;" in out


@pytest.mark.parametrize("design,coding,variant,pipeline", CASES)
def test_x_initialized_registers(design, coding, variant, pipeline):
    kw = dict(coding=coding, variant=variant, pipeline=pipeline, lanes=LANES, k=K)
    if coding in ("binary", "ternary"):
        kw["t"] = 15
    info = harness.build(design, xinit=True, **kw)
    text = (harness.SIM_DIR / (info["top"] + "_x") / info["verilog"]).read_text()
    assert " = " not in "".join(ln for ln in text.splitlines() if ln.lstrip().startswith("reg ")
                                and "$auto$" not in ln)
    seed = harness.seed()
    print(f"SEED={seed} ({info['top']}, X-initialized, rst {info['reset_cycles']} cycles)")
    sc = stimulus.random_scenario(info, seed)
    sc["acc_checks"] = {**sc.get("acc_checks", {}), "0": [0] * LANES}    # right after the reset
    vectors = {"random": sc}
    tests, failed = harness.run(info, vectors, tag="xinit")
    assert tests == 1
    assert failed == 0, f"{info['top']} with X-initialized registers failed (see log above)"
