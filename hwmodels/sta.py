"""Static timing with OpenSTA (Debian ``opensta``, binary ``sta``) on a mapped netlist.

Constraints (same for every design): one clock on port ``clk``, input and output delays 0 against
it, inputs driven by the library's driver cell and outputs loaded as in synthesis and power
(:mod:`neurosim.hwmodels.environment`), ideal clock network (no clock tree: the netlists are not
placed). The worst path's slack comes from ``report_checks -path_delay max``;
``fmax = 1 / (period - slack)``.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from neurosim import NeurosimError

from .environment import OUTPUT_LOAD_PF, driver as driver_of
from .tools import find_tool, run_tool

STA_OUTPUT_LOAD_PF = OUTPUT_LOAD_PF   # the same load ABC was told about (.environment)


@dataclass
class TimingResult:
    """One OpenSTA run: period, worst slack, TNS, arrival [ns]; met; fmax [MHz]; the critical path."""
    period_ns: float
    slack_ns: float             # worst setup slack (negative: violated)
    tns_ns: float
    met: bool
    fmax_mhz: float
    startpoint: str
    endpoint: str
    arrival_ns: float
    path: list[dict] = field(default_factory=list)   # [{delay, time, pin, cell}]
    report_power_w: dict | None = None                # OpenSTA's report_power (cross-check only)

    def to_dict(self) -> dict:
        return asdict(self)


_SLACK_RE = re.compile(r"^\s*(-?[0-9.]+)\s+slack \((MET|VIOLATED)\)", re.M)
_ARR_RE = re.compile(r"^\s*(-?[0-9.]+)\s+data arrival time", re.M)
_START_RE = re.compile(r"^Startpoint:\s*(\S+)", re.M)
_END_RE = re.compile(r"^Endpoint:\s*(\S+)", re.M)
_TNS_RE = re.compile(r"^tns\s+(-?[0-9.]+)", re.M)
_STEP_RE = re.compile(r"^\s*(-?[0-9.]+)\s+(-?[0-9.]+)\s+[v^]\s+(\S+)(?:\s+\((\w+)\))?\s*$", re.M)
_POWER_RE = re.compile(r"^Total\s+([0-9.eE+-]+)\s+([0-9.eE+-]+)\s+([0-9.eE+-]+)\s+([0-9.eE+-]+)", re.M)


def parse_report(text: str, period_ns: float) -> TimingResult:
    """Parse OpenSTA's report_checks / report_tns / report_power output."""
    sm = _SLACK_RE.search(text)
    if not sm:
        raise NeurosimError("OpenSTA report has no slack line (no constrained path?)")
    slack = float(sm.group(1))
    arr = _ARR_RE.search(text)
    st = _START_RE.search(text)
    en = _END_RE.search(text)
    tns = _TNS_RE.search(text)
    # the data path: lines between the first 'input external delay'/'clock' and 'data arrival time'
    block = text[: arr.start()] if arr else ""
    steps = []
    for m in _STEP_RE.finditer(block):
        steps.append({"delay_ns": float(m.group(1)), "time_ns": float(m.group(2)), "pin": m.group(3),
                      "cell": m.group(4)})
    pw = _POWER_RE.search(text)
    power = None
    if pw:
        power = {"internal_w": float(pw.group(1)), "switching_w": float(pw.group(2)),
                 "leakage_w": float(pw.group(3)), "total_w": float(pw.group(4))}
    crit = period_ns - slack
    return TimingResult(period_ns=period_ns, slack_ns=slack, tns_ns=float(tns.group(1)) if tns else 0.0,
                        met=sm.group(2) == "MET", fmax_mhz=1000.0 / crit if crit > 0 else float("inf"),
                        startpoint=st.group(1) if st else "", endpoint=en.group(1) if en else "",
                        arrival_ns=float(arr.group(1)) if arr else float("nan"), path=steps,
                        report_power_w=power)


def run_sta(netlist: str | Path, top: str, liberty: str | Path, period_ns: float, *,
            activity: float | None = None) -> TimingResult:
    """Time ``top`` at ``period_ns``; with ``activity`` also run OpenSTA's vectorless report_power
    (``set_power_activity -global -activity``, toggles per clock) as a cross-check."""
    from .liberty import Library
    sta = find_tool("sta")
    driver = driver_of(Library.load(liberty))[0]
    netlist, liberty = Path(netlist).resolve(), Path(liberty).resolve()
    tcl = [f"read_liberty {{{liberty}}}", f"read_verilog {{{netlist}}}", f"link_design {top}",
           f"create_clock -name clk -period {period_ns} [get_ports clk]",
           "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]",
           "set_output_delay 0 -clock clk [all_outputs]",
           f"set_driving_cell -lib_cell {driver} [delete_from_list [all_inputs] [get_ports clk]]",
           f"set_load {STA_OUTPUT_LOAD_PF} [all_outputs]",
           "report_checks -path_delay max -digits 3", "report_tns"]
    if activity is not None:
        tcl += [f"set_power_activity -global -activity {activity}", "report_power"]
    with tempfile.TemporaryDirectory(prefix="neurosim-sta-") as d:
        script = Path(d) / "sta.tcl"
        script.write_text("\n".join(tcl) + "\nexit\n")
        res = run_tool([sta, "-no_init", "-exit", str(script)], cwd=Path(d), what=f"OpenSTA on {top}",
                       timeout=300)
    text = res.stdout + res.stderr
    if re.search(r"^Error:", text, re.M):
        err = [ln for ln in text.splitlines() if ln.startswith("Error")][:3]
        raise NeurosimError(f"OpenSTA on {top}: " + " | ".join(err))
    return parse_report(text, period_ns)
