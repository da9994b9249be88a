"""Modelling choices of the system energy model as scenario axes, and grids over them.

Each :class:`Axis` names one choice the energy per token depends on, with its default (the
configuration of ``neurosim energy`` without ``--scenarios``), the values it can take, what each
value means and where it comes from. A grid is the Cartesian product of a set of values per axis
(every other axis at its default); :func:`parse_grid` reads the command line's form.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from neurosim import NeurosimError

#: the most scenarios one grid may hold
MAX_SCENARIOS = 100_000


@dataclass(frozen=True)
class Axis:
    """One modelling choice: its name, default, values (with their meanings) and source."""

    name: str
    default: str
    values: dict[str, str]          # value -> what it means
    source: str
    why_default: str
    pattern: str = ""               # further values of the form (e.g. "prefill-B, B >= 2"), see _parametric

    def check(self, value: str) -> str:
        if value not in self.values and not _parametric(self.name, value):
            more = f" or {self.pattern}" if self.pattern else ""
            raise NeurosimError(f"scenario axis {self.name} has no value {value!r}; valid: {', '.join(self.values)}{more}")
        return value


def _parametric(axis_name: str, value: str) -> bool:
    """Values beyond the named ones: any power-of-two bank 1-8192 KiB, prefill block, DRAM batch,
    compute factor multiple, or clock (checked against hw.json later)."""
    import re
    m = {"bank_kb": r"(\d+)", "dataflow": r"prefill-(\d+)", "weights": r"dram-b(\d+)",
         "compute": r"poly-x(\d+(?:\.\d+)?)", "clock": r"(\d+(?:\.\d+)?)"}.get(axis_name)
    hit = re.fullmatch(m, value) if m else None
    if hit is None:
        return False
    x = float(hit.group(1))
    if axis_name == "bank_kb":
        return 1 <= x <= 8192 and int(x) & (int(x) - 1) == 0
    return x >= (2 if axis_name == "dataflow" else 1) if axis_name in ("dataflow", "weights") else x > 0


AXES: tuple[Axis, ...] = (
    Axis("sram_cell", "lstp",
         {"lstp": "low-standby-power cells and periphery (ITRS LSTP)",
          "lop": "low-operating-power cells and periphery (ITRS LOP)",
          "hp": "high-performance cells and periphery (ITRS HP)"},
         "CACTI 7 device types (ITRS roadmap) at 45 nm",
         "a weight store powered for a whole token is built from low-leakage cells"),
    Axis("compute", "poly",
         {"poly": "measured 0.18 um energies scaled to 45 nm by the Stillmaker & Baas polynomial",
          "poly-x0.5": "the polynomial's factor halved",
          "poly-x2": "the polynomial's factor doubled",
          "horowitz-mac": "one factor for every design, so the MAC's energy per lane-cycle equals "
                          "Horowitz's 8-bit multiply + 32-bit add at 45 nm (0.2 + 0.1 pJ)",
          "horowitz-ops": "per operation: a MAC lane-cycle = 8-bit multiply + 32-bit add (0.3 pJ), "
                          "a spiking lane-event = 32-bit add (0.1 pJ), Horowitz 45 nm"},
         "Stillmaker & Baas, Integration 58 (2017); Horowitz, ISSCC 2014 (45 nm, 0.9 V)",
         "the only scaling fitted over nodes; it keeps the measured ratio of the arrays", "poly-xF (F > 0)"),
    Axis("clock", "500",
         {"500": "500 MHz (the paper's clock), each design as `neurosim hw` configured it there",
          "250": "250 MHz, each design as `neurosim hw` configured it there"},
         "neurosim hw (gate-level simulation at each clock)",
         "the paper's clock", "any clock of hw.json in MHz"),
    Axis("dataflow", "decode",
         {"decode": "one token at a time: every weight row read from its SRAM bank per token",
          "prefill-16": "weight-stationary over blocks of 16 tokens: a group's weight rows fetched "
                        "once per block into a local buffer that is read on every use",
          "prefill-256": "as prefill-16 with blocks of 256 tokens"},
         "operating points of an LLM accelerator (decode vs prefill)",
         "decode is the memory-bound case the claims are usually made for", "prefill-B (B >= 2)"),
    Axis("bank_kb", "64",
         {"16": "16 KiB weight SRAM banks", "64": "64 KiB weight SRAM banks", "256": "256 KiB weight SRAM banks"},
         "CACTI 7 at 45 nm",
         "a common macro size", "a power of two from 1 to 8192"),
    Axis("weights", "sram",
         {"sram": "every weight resident in on-chip SRAM",
          "dram-b1": "weights streamed from DRAM for every token (one staging bank on chip)",
          "dram-b16": "weights streamed from DRAM once per batch of 16 tokens"},
         "DRAM 1.3 nJ per 64-bit access (Horowitz, ISSCC 2014)",
         "a 135M-parameter model fits on chip", "dram-bN (N >= 1)"),
    Axis("throughput", "equal-lanes",
         {"equal-lanes": "both arrays have the same lanes; the one with more busy cycles runs longer "
                         "and its memory leaks longer",
          "equal-time": "the spiking array widened until it finishes a token in the baseline's time "
                        "(same compute energy and array leakage; memory leaks for the baseline's time; "
                        "spike lists read once per wider group)"},
         "design choice",
         "the arrays as synthesized"),
    Axis("mac_width", "linear",
         {"linear": "a MAC for activations wider than 8 bits costs (bits / 8) x the INT8 MAC's energy "
                    "(ESTIMATE: array multiplier linear in one operand's width)",
          "unscaled": "a wider MAC costs the INT8 MAC's energy (lower bound)"},
         "rule of thumb (ESTIMATE); matters only for windows longer than the coding's INT8 window",
         "the multiplier's partial products grow with the operand width"),
)
BY_NAME = {a.name: a for a in AXES}
DEFAULT = {a.name: a.default for a in AXES}


def axis(name: str) -> Axis:
    """The axis called ``name`` (a one-line error naming the valid ones otherwise)."""
    if name not in BY_NAME:
        raise NeurosimError(f"unknown scenario axis {name!r}; valid: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def parse_grid(spec: str) -> dict[str, list[str]]:
    """Values per axis of a grid: ``all`` (every value of every axis), ``default`` (one scenario),
    or ``AXIS=V1,V2 [AXIS=...]`` (``AXIS=all`` for every value; unnamed axes at their default)."""
    spec = (spec or "").strip()
    if spec in ("", "default"):
        return {a.name: [a.default] for a in AXES}
    if spec == "all":
        return {a.name: list(a.values) for a in AXES}
    grid = {a.name: [a.default] for a in AXES}
    for part in spec.replace(";", " ").split():
        if "=" not in part:
            raise NeurosimError(f"--scenarios: {part!r} is not AXIS=VALUES; use all, default or AXIS=V1,V2 "
                                f"(axes: {', '.join(BY_NAME)})")
        name, vals = part.split("=", 1)
        ax = axis(name)
        values = list(ax.values) if vals == "all" else [ax.check(v) for v in vals.split(",") if v]
        if not values:
            raise NeurosimError(f"--scenarios: axis {name} needs at least one value; valid: {', '.join(ax.values)}")
        grid[name] = list(dict.fromkeys(values))
    return grid


def grid_size(grid: dict[str, list[str]]) -> int:
    """How many scenarios the grid holds."""
    return math.prod(len(v) for v in grid.values())


def check_size(grid: dict[str, list[str]]) -> int:
    """The number of scenarios of ``grid``; refuses more than :data:`MAX_SCENARIOS`."""
    n = grid_size(grid)
    if n > MAX_SCENARIOS:
        raise NeurosimError(f"the scenario grid holds {n:,} scenarios; at most {MAX_SCENARIOS:,} are allowed")
    return n


def scenarios(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every scenario of ``grid`` (a dict axis -> value each); refuses more than :data:`MAX_SCENARIOS`."""
    check_size(grid)
    names = [a.name for a in AXES]
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n_] for n_ in names))]


def one_axis_variants(grid: dict[str, list[str]]) -> dict[str, list[dict[str, str]]]:
    """For the tornado: per axis, the scenarios that change that axis alone from the default."""
    out = {}
    for a in AXES:
        vals = [v for v in grid[a.name] if v != a.default]
        if vals:
            out[a.name] = [dict(DEFAULT, **{a.name: v}) for v in vals]
    return out


def describe() -> list[dict]:
    """The axes as JSON-ready data (for energy.json and the docs)."""
    return [{"name": a.name, "default": a.default, "values": a.values, "source": a.source,
             "why_default": a.why_default} for a in AXES]


__all__ = ["Axis", "AXES", "DEFAULT", "MAX_SCENARIOS", "axis", "parse_grid", "grid_size", "check_size", "scenarios",
           "one_axis_variants", "describe"]
