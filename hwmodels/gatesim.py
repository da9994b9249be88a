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

__all__ = ["SimResult", "Vectors", "scalarize_ports", "simulate"]


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


@dataclass(frozen=True)
class Vectors:
    """What the testbench applies to the input ports: one value per measured cycle, the values held
    during reset and while the pipeline drains, and the class of every measured cycle."""
    inputs: dict[str, Any]                      # input port -> values per cycle (all the same length)
    drain: dict[str, int]                       # held while draining (not measured)
    drain_cycles: int
    reset: dict[str, int] | None = None         # held during reset (e.g. valid=1 with zero operands)
    reset_cycles: int = 4
    cycle_class: np.ndarray | None = None       # class of every measured cycle (default: all 0)
    n_classes: int = 1

    def check(self, ports: list[tuple[str, int]]) -> int:
        """The number of measured cycles; a NeurosimError if a port lacks values or lengths differ."""
        missing = [p for p, _ in ports if p not in self.inputs]
        if missing:
            raise NeurosimError(f"stimulus lacks input ports {missing}")
        n = len(next(iter(self.inputs.values())))
        if any(len(v) != n for v in self.inputs.values()):
            raise NeurosimError("stimulus arrays differ in length")
        if self.cycle_class is not None and len(self.cycle_class) != n:
            raise NeurosimError("cycle_class must have one entry per stimulus cycle")
        return n


@dataclass(frozen=True)
class _Packed:
    """The input ports packed into one word per cycle (first port in the most significant bits)."""
    layout: list[tuple[str, int, int]]          # (port, width, shift)
    width: int
    cycles: list[int]
    drain: int
    reset: int


def _pack(ports: list[tuple[str, int]], v: Vectors, n: int) -> _Packed:
    total_w = sum(w for _, w in ports)
    packed = [0] * n
    shift = total_w
    layout = []
    for p, w in ports:
        shift -= w
        layout.append((p, w, shift))
        mask = (1 << w) - 1
        for c, x in enumerate(v.inputs[p]):
            packed[c] |= (int(x) & mask) << shift

    def word(values: dict[str, int]) -> int:
        out = 0
        for p, w, sh in layout:
            out |= (int(values.get(p, 0)) & ((1 << w) - 1)) << sh
        return out
    return _Packed(layout, total_w, packed, word(v.drain), word(v.reset or {}))


def _testbench(top: str, pk: _Packed, outs: list[tuple[str, int]], v: Vectors, half_ps: int, drive_ps: int) -> str:
    """The Verilog testbench: reset, dump the measured cycles, drain, print the outputs."""
    n, total_w = len(pk.cycles), pk.width
    conns = [".clk(clk)", ".rst(rst)"] + [f".{p}(cur[{sh + w - 1}:{sh}])" for p, w, sh in pk.layout]
    conns += [f".{p}({p})" for p, _ in outs]
    tb = [
        "`timescale 1ps/1ps",
        "module tb;",
        "reg clk = 1'b0; reg rst = 1'b1;",
        f"reg [{total_w - 1}:0] mem [0:{n - 1}];",
        f"reg [{total_w - 1}:0] cur = {total_w}'h{pk.reset:x};",
    ]
    tb += [f"wire [{w - 1}:0] {p};" for p, w in outs]
    tb += [f"{top} dut ({', '.join(conns)});",
           f"always #{half_ps} clk = ~clk;",
           "integer c;",
           "initial begin",
           '  $readmemh("stim.hex", mem);',
           f"  repeat ({v.reset_cycles}) @(posedge clk);",
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
           f"  cur = {total_w}'h{pk.drain:x};",
           f"  repeat ({v.drain_cycles}) @(posedge clk);",
           f"  #{drive_ps};"]
    tb += [f'  $display("OUT {p} %h", {p});' for p, _ in outs]
    tb += ["  $finish;", "end", "endmodule", ""]
    return "\n".join(tb)


def _outputs(stdout: str) -> dict[str, int]:
    """The output ports the testbench printed (unsigned); X/Z is an error."""
    outputs = {}
    for line in stdout.splitlines():
        if line.startswith("OUT "):
            _, p, hx = line.split()
            if any(ch in hx.lower() for ch in "xz"):
                raise NeurosimError(f"gate-level simulation: output {p} is X/Z ({hx})")
            outputs[p] = int(hx, 16)
    return outputs


def simulate(netlist_path: str | Path, netlist: Netlist, cell_models: str | Path, vectors: Vectors, *,
             period_ns: float, delays: bool, drive_ns: float = 0.2,
             workdir: str | Path | None = None, keep_vcd: bool = False) -> SimResult:
    """Run the gate-level netlist under ``vectors`` (inputs changed ``drive_ns`` after each rising
    edge of a ``period_ns`` clock) and count toggles per net over the measured cycles. Returns
    toggles and the final output values."""
    iverilog, vvp = find_tool("iverilog"), find_tool("vvp")
    ins = [(p, w) for p, (d, w) in netlist.ports.items() if d == "input" and p not in ("clk", "rst")]
    outs = [(p, w) for p, (d, w) in netlist.ports.items() if d == "output"]
    n = vectors.check(ins)
    pk = _pack(ins, vectors, n)
    nhex = (pk.width + 3) // 4
    period_ps = int(round(period_ns * 1000))
    half_ps = period_ps // 2
    drive_ps = int(round(drive_ns * 1000))
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="neurosim-sim-")) if workdir is None else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        (work / "stim.hex").write_text("\n".join(f"{x:0{nhex}x}" for x in pk.cycles) + "\n")
        (work / "tb.v").write_text(_testbench(netlist.top, pk, outs, vectors, half_ps, drive_ps))
        (work / "netlist.v").write_text(scalarize_ports(Path(netlist_path).read_text(), netlist.ports))
        cmd = [iverilog, "-o", "sim.vvp", "-s", "tb"]
        if delays:
            cmd += ["-gspecify", "-Ttyp"]
        cmd += ["tb.v", "netlist.v", str(Path(cell_models).resolve())]
        run_tool(cmd, cwd=work, what="iverilog (gate-level testbench)", timeout=300)
        res = run_tool([vvp, "-n", "sim.vvp"], cwd=work, what="vvp (gate-level simulation)", timeout=600)
        outputs = _outputs(res.stdout)
        # the dump starts drive_ps after the reset_cycles-th rising edge
        t0 = (2 * vectors.reset_cycles - 1) * half_ps + drive_ps
        vcd = work / "act.vcd"
        tog = count_toggles(vcd, netlist, period_ps=period_ps, t0_ps=t0, cycle_class=vectors.cycle_class,
                            n_classes=vectors.n_classes)
        size = vcd.stat().st_size
        return SimResult(tog, outputs, n, period_ns, delays, size)
    finally:
        if own and not keep_vcd:
            shutil.rmtree(work, ignore_errors=True)
