"""cocotb tests of one lane array (MAC or spiking unit). The vectors, with expected values from
:func:`neurosim.core.engine.int_linear`, come from :func:`testbench.stimulus.scenarios` (pytest side).

cocotb finds tests by their module-level names; :func:`_scenario_test` makes one per scenario.
"""

import cocotb

from testbench.driver import run_scenario, run_scenarios


def _scenario_test(name: str, doc: str, runner=run_scenario):
    """A cocotb test named ``name`` that drives scenario ``name`` with ``runner``."""

    async def test(dut):
        await runner(dut, name)

    test.__name__ = test.__qualname__ = name
    test.__doc__ = doc
    return cocotb.test()(test)


#: scenario name -> what its test checks (the docstring of the generated test)
SCENARIOS = {
    "random": "Seeded random dot products (K up to k), random bubbles and gaps, garbage on idle inputs.",
    "extremes": "K = k inputs at the range limits, weights -128/127: reaches acc_min/acc_max exactly.",
    "all_zero": "A non-zero dot product, then all-zero inputs (no events for the spiking unit): 0.",
    "clear_mid_stream": "A dot product abandoned half-way by a new clear (no last, no gap): only the new one counts.",
    "back_to_back": "Dot products separated by exactly the minimum gap, including K=1 (clear and last together).",
    "reset": "rst (held reset_cycles) in the middle of a dot product: acc reads 0, no done; then a normal one.",
    "random_seeds": "The random scenario for many seeds in one simulation (NEUROSIM_SEEDS=N, NEUROSIM_PROFILE=long).",
    "replay": "Real trace tiles (see testbench/test_replay.py).",
}

for _name, _doc in SCENARIOS.items():
    globals()[_name] = _scenario_test(_name, _doc, run_scenarios if _name == "random_seeds" else run_scenario)
del _name, _doc
