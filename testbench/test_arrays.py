"""RTL regression matrix: every design x coding x variant x pipeline depth offered, on Icarus.

Small test configurations (3 lanes, K = 24) keep the accumulator tight and the runs short; the
default 16-lane, K = 2560 builds are exercised by ``test_replay.py``.
"""

from __future__ import annotations

import pytest

from neurosim.rtl.params import PIPELINES
from testbench import harness, stimulus

LANES, K = 3, 24
N_TESTS = 6   # cocotb tests in testbench/tb_array.py (all but replay)

SPIKE_KINDS = [("binary", None), ("ternary", None), ("bitwise", "barrel"), ("bitwise", "horner"),
               ("bitwise_2c", "barrel"), ("bitwise_2c", "horner")]
CASES = [pytest.param(dict(design="mac", coding=None, variant=None, pipeline=p), id=f"mac-p{p}")
         for p in PIPELINES["mac"]]
CASES += [pytest.param(dict(design="spike", coding=c, variant=v, pipeline=p),
                       id=f"spike-{c}{'-' + v if v else ''}-p{p}")
          for c, v in SPIKE_KINDS for p in PIPELINES["spike"]]


@pytest.mark.parametrize("case", CASES)
def test_array(case):
    kw = dict(case)
    design = kw.pop("design")
    kw = dict(kw, lanes=LANES, k=K)
    if design == "spike" and kw["coding"] in ("binary", "ternary"):
        kw["t"] = 15          # unary codings: a shorter window keeps the event count small
    info = harness.build(design, **kw)
    seed = harness.seed()
    print(f"SEED={seed} ({info['top']}); reproduce with SEED={seed} make sim")
    vectors = stimulus.scenarios(info, seed)
    tests, failed = harness.run(info, vectors)
    assert tests == N_TESTS, f"{tests} cocotb tests ran, expected {N_TESTS}"
    assert failed == 0, f"{failed} of {tests} cocotb tests failed for {info['top']} (see log above)"
