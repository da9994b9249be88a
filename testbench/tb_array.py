"""cocotb tests of one lane array (MAC or spiking unit). The vectors, with expected values from
:func:`neurosim.core.engine.int_linear`, come from :func:`testbench.stimulus.scenarios` (pytest side)."""

import cocotb

from testbench.driver import run_scenario, run_scenarios


@cocotb.test()
async def random(dut):
    """Seeded random dot products (K up to k), random bubbles and gaps, garbage on idle inputs."""
    await run_scenario(dut, "random")


@cocotb.test()
async def extremes(dut):
    """K = k inputs at the range limits, weights -128/127: reaches acc_min/acc_max exactly."""
    await run_scenario(dut, "extremes")


@cocotb.test()
async def all_zero(dut):
    """A non-zero dot product, then all-zero inputs (no events for the spiking unit): 0."""
    await run_scenario(dut, "all_zero")


@cocotb.test()
async def clear_mid_stream(dut):
    """A dot product abandoned half-way by a new clear (no last, no gap): only the new one counts."""
    await run_scenario(dut, "clear_mid_stream")


@cocotb.test()
async def back_to_back(dut):
    """Dot products separated by exactly the minimum gap, including K=1 (clear and last together)."""
    await run_scenario(dut, "back_to_back")


@cocotb.test()
async def reset(dut):
    """rst (held reset_cycles) in the middle of a dot product: acc reads 0, no done; then a normal one."""
    await run_scenario(dut, "reset")


@cocotb.test()
async def random_seeds(dut):
    """The random scenario for many seeds in one simulation (NEUROSIM_SEEDS=N, NEUROSIM_PROFILE=long)."""
    await run_scenarios(dut, "random_seeds")


@cocotb.test()
async def replay(dut):
    """Real trace tiles (see testbench/test_replay.py)."""
    await run_scenario(dut, "replay")
