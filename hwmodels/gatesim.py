"""Gate-level simulation of a mapped netlist in Icarus Verilog, with toggles counted per net.

:func:`simulate` writes a testbench that applies one input vector per clock cycle (changed
``drive_ns`` after the rising edge, as if launched by upstream flip-flops), resets the design first
(OSU flip-flops start as X), dumps a VCD of the top module's nets only over the measured cycles,
then drains the pipeline and prints the output ports for a bit-exact check. ``delays=True``
compiles with ``-gspecify`` so that the cell models' delays apply (glitches appear); otherwise the
simulation is zero-delay (one transition per net and cycle at most). Toggles are counted by
:func:`neurosim.hwmodels.vcd.count_toggles`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim import NeurosimError

from .netlist import MODULE_RE, Netlist
from .tools import find_tool, run_tool
from .vcd import Toggles, count_toggles

__all__ = ["SimResult", "scalarize_ports", "simulate"]


def scalarize_ports(text: str, ports: dict[str, tuple[str, int]]) -> str:
    """Simulation copy of a netlist where cells connect to scalar wires instead of bits of the
    vector ports (``acc[5]`` -> ``acc__5``, tied to the port bit by one ``assign``).

    Icarus re-evaluates every reader of a vector when any of its bits changes; with the
    accumulators' bits read back by every lane this made the simulation time grow with the square
    of the lane count. The logic is unchanged; the VCD still carries the port vectors, and the new
    scalar wires are not netlist nets, so nothing is counted twice."""
    vec = {n: w for n, (d, w) in ports.items() if w > 1 and re.fullmatch(r"[A-Za-z_]\w*", n)}
    if not vec:
        return text
    pat = re.compile(r"(?<![\w\\$.])(" + "|".join(map(re.escape, vec)) + r")\s*\[(\d+)\]")
    module = MODULE_RE.search(text)
    assert module is not None, "no module header in the netlist"
    head_end = text.index(";", module.end()) + 1
    head, body = text[:head_end], text[head_end:]
    end = body.rindex("endmodule")
    body, tail = body[:end], body[end:]
    body = pat.sub(lambda m: f"{m.group(1)}__{m.group(2)}", body)
    # the port declarations themselves ([msb:lsb]) contain ':' and are not touched
    extra = []
    for n, w in vec.items():
        d = ports[n][0]
        for i in range(w):
            extra.append(f"  wire {n}__{i};")
            extra.append(f"  assign {n}__{i} = {n}[{i}];" if d == "input" else f"  assign {n}[{i}] = {n}__{i};")
    return head + "\n" + "\n".join(extra) + "\n" + body + tail


@dataclass
class SimResult:
    """A gate-level run: toggles, the output ports after draining (unsigned), cycles measured, clock
    period [ns], delays used, VCD size [bytes]."""
    toggles: Toggles
    outputs: dict[str, int]           # output port -> final value (unsigned) after draining
    cycles: int
    period_ns: float
    delays: bool
    vcd_bytes: int


def simulate(netlist_path: str | Path, netlist: Netlist, cell_models: str | Path, *,
             stimulus: dict[str, Any], drain: dict[str, int], drain_cycles: int,
             period_ns: float, delays: bool, cycle_class: np.ndarray | None = None,
             n_classes: int = 1, reset_cycles: int = 4, drive_ns: float = 0.2,
             reset_inputs: dict[str, int] | None = None,
             workdir: str | Path | None = None, keep_vcd: bool = False) -> SimResult:
    """Run the gate-level netlist under ``stimulus`` (input port -> per-cycle values, all the same
    length) and count toggles per net over those cycles. ``reset_inputs`` are the input values
    during reset (e.g. ``valid=1`` with zero operands so that registers without reset load zeros);
    ``drain`` gives the input values held while the pipeline drains (not measured). Returns toggles
    and the final output values."""
    iverilog, vvp = find_tool("iverilog"), find_tool("vvp")
    ins = [(p, w) for p, (d, w) in netlist.ports.items() if d == "input" and p not in ("clk", "rst")]
    outs = [(p, w) for p, (d, w) in netlist.ports.items() if d == "output"]
    missing = [p for p, _ in ins if p not in stimulus]
    if missing:
        raise NeurosimError(f"stimulus lacks input ports {missing}")
    n = len(next(iter(stimulus.values())))
    if any(len(v) != n for v in stimulus.values()):
        raise NeurosimError("stimulus arrays differ in length")
    if cycle_class is not None and len(cycle_class) != n:
        raise NeurosimError("cycle_class must have one entry per stimulus cycle")
    total_w = sum(w for _, w in ins)
    # pack every cycle's inputs into one hex word (first port in the most significant bits)
    packed = [0] * n
    shift = total_w
    layout = []
    for p, w in ins:
        shift -= w
        layout.append((p, w, shift))
        mask = (1 << w) - 1
        for c, v in enumerate(stimulus[p]):
            packed[c] |= (int(v) & mask) << shift
    drain_word = 0
    for p, w, sh in layout:
        drain_word |= (int(drain.get(p, 0)) & ((1 << w) - 1)) << sh
    reset_word = 0
    for p, w, sh in layout:
        reset_word |= (int((reset_inputs or {}).get(p, 0)) & ((1 << w) - 1)) << sh
    nhex = (total_w + 3) // 4
    period_ps = int(round(period_ns * 1000))
    half_ps = period_ps // 2
    drive_ps = int(round(drive_ns * 1000))
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="neurosim-sim-")) if workdir is None else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        (work / "stim.hex").write_text("\n".join(f"{v:0{nhex}x}" for v in packed) + "\n")
        conns = [".clk(clk)", ".rst(rst)"] + [f".{p}(cur[{sh + w - 1}:{sh}])" for p, w, sh in layout]
        conns += [f".{p}({p})" for p, _ in outs]
        tb = [
            "`timescale 1ps/1ps",
            "module tb;",
            "reg clk = 1'b0; reg rst = 1'b1;",
            f"reg [{total_w - 1}:0] mem [0:{n - 1}];",
            f"reg [{total_w - 1}:0] cur = {total_w}'h{reset_word:x};",
        ]
        tb += [f"wire [{w - 1}:0] {p};" for p, w in outs]
        tb += [f"{netlist.top} dut ({', '.join(conns)});",
               f"always #{half_ps} clk = ~clk;",
               "integer c;",
               "initial begin",
               '  $readmemh("stim.hex", mem);',
               f"  repeat ({reset_cycles}) @(posedge clk);",
               f"  #{drive_ps - 1};",
               # the dump starts 1 ps before the first measured cycle, so that its initial values
               # are the settled reset-phase values and the first cycle's changes are toggles
               '  $dumpfile("act.vcd");',
               "  $dumpvars(1, tb.dut);",
               "  #1;",
               "  rst = 1'b0;",
               f"  for (c = 0; c < {n}; c = c + 1) begin",
               "    cur = mem[c];",
               "    @(posedge clk);",
               f"    #{drive_ps};",
               "  end",
               "  $dumpoff;",
               f"  cur = {total_w}'h{drain_word:x};",
               f"  repeat ({drain_cycles}) @(posedge clk);",
               f"  #{drive_ps};"]
        tb += [f'  $display("OUT {p} %h", {p});' for p, _ in outs]
        tb += ["  $finish;", "end", "endmodule", ""]
        (work / "tb.v").write_text("\n".join(tb))
        (work / "netlist.v").write_text(scalarize_ports(Path(netlist_path).read_text(), netlist.ports))
        cmd = [iverilog, "-o", "sim.vvp", "-s", "tb"]
        if delays:
            cmd += ["-gspecify", "-Ttyp"]
        cmd += ["tb.v", "netlist.v", str(Path(cell_models).resolve())]
        run_tool(cmd, cwd=work, what="iverilog (gate-level testbench)", timeout=300)
        res = run_tool([vvp, "-n", "sim.vvp"], cwd=work, what="vvp (gate-level simulation)", timeout=600)
        outputs = {}
        for line in res.stdout.splitlines():
            if line.startswith("OUT "):
                _, p, hx = line.split()
                if any(ch in hx.lower() for ch in "xz"):
                    raise NeurosimError(f"gate-level simulation: output {p} is X/Z ({hx})")
                outputs[p] = int(hx, 16)
        # the dump starts drive_ps after the reset_cycles-th rising edge
        t0 = (2 * reset_cycles - 1) * half_ps + drive_ps
        vcd = work / "act.vcd"
        tog = count_toggles(vcd, netlist, period_ps=period_ps, t0_ps=t0, cycle_class=cycle_class,
                            n_classes=n_classes)
        size = vcd.stat().st_size
        return SimResult(tog, outputs, n, period_ns, delays, size)
    finally:
        if own and not keep_vcd:
            shutil.rmtree(work, ignore_errors=True)
