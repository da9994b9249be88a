"""Switching activity: gate-level simulation of a mapped netlist in Icarus, toggles counted per net.

* :func:`parse_netlist` reads the flat mapped netlist Yosys writes (instances of liberty cells,
  bit-level ``assign`` aliases) into nets with their driver and load pins.
* :func:`simulate` writes a testbench that applies one input vector per clock cycle (changed
  ``drive_ns`` after the rising edge, as if launched by upstream flip-flops), resets the design
  first (OSU flip-flops start as X), dumps a VCD of the top module's nets only over the measured
  cycles, then drains the pipeline and prints the accumulators for a bit-exact check.
  ``delays=True`` compiles with ``-gspecify`` so the cell models' delays apply (glitches appear);
  otherwise the simulation is zero-delay (one transition per net and cycle at most).
* :func:`count_toggles` is a small VCD reader: 0<->1 transitions per bit (X/Z transitions are not
  toggles), binned by the class of the clock cycle in which they happen.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurosim import NeurosimError

from .liberty import Library
from .tools import find_tool, run_tool

# ------------------------------------------------------------------------------------------------
# netlist


def canon(expr: str) -> str:
    """Canonical bit name: ``\\lane[0].x [3]`` -> ``lane[0].x[3]``; ``acc [5]`` -> ``acc[5]``."""
    e = expr.strip()
    if e.startswith("\\"):
        # escaped identifier ends at whitespace; an optional bit select follows
        parts = e[1:].split(None, 1)
        name = parts[0]
        rest = parts[1].strip() if len(parts) > 1 else ""
        return name + rest.replace(" ", "")
    return e.replace(" ", "")


_CONST_RE = re.compile(r"^\d+'[bhd][0-9a-fA-FxXzZ]+$")


@dataclass
class Net:
    name: str
    driver: tuple[str, str, str] | None = None           # (instance, cell, pin)
    loads: list[tuple[str, str, str]] = field(default_factory=list)
    is_input: bool = False
    is_output: bool = False
    const: bool = False


@dataclass
class Netlist:
    top: str
    ports: dict[str, tuple[str, int]]                    # name -> (dir, width)
    nets: dict[str, Net]                                 # canonical representative -> Net
    alias: dict[str, str]                                # any bit name -> representative
    instances: dict[str, str]                            # instance -> cell
    clock_pins: list[tuple[str, str]]                    # (instance, cell) whose clock pin is on clk


class _UF:
    def __init__(self):
        self.p: dict[str, str] = {}

    def find(self, x: str) -> str:
        p = self.p
        p.setdefault(x, x)
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # prefer port names and plain names as representatives
            if ra.startswith("_") and not rb.startswith("_"):
                ra, rb = rb, ra
            self.p[rb] = ra


_MOD_RE = re.compile(r"^\s*module\s+(\S+)\s*\(", re.M)
_PORT_RE = re.compile(r"^\s*(input|output)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?([^;\s]+)\s*$")
_INST_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s+(\\\S+|[A-Za-z_][\w$]*)\s*\((.*?)\);", re.M | re.S)
_CONN_RE = re.compile(r"\.(\w+)\s*\(\s*(.*?)\s*\)\s*(?:,|$)", re.S)
_ASSIGN_RE = re.compile(r"^\s*assign\s+(.+?)\s*=\s*(.+?)\s*;", re.M)


def parse_netlist(text: str, lib: Library, clock: str = "clk") -> Netlist:
    """Connectivity of a flat netlist of ``lib`` cells (Yosys ``write_verilog -noattr -noexpr``)."""
    m = _MOD_RE.search(text)
    if not m:
        raise NeurosimError("netlist: no module")
    top = m.group(1)
    ports: dict[str, tuple[str, int]] = {}
    body = text[m.end():]
    body = body[body.index(";") + 1:]          # after the module header's port list
    for stmt in body.split(";"):
        pm = _PORT_RE.match(stmt)
        if not pm:
            continue
        width = abs(int(pm.group(2)) - int(pm.group(3))) + 1 if pm.group(2) else 1
        ports[canon(pm.group(4))] = (pm.group(1), width)
    uf = _UF()
    consts: set[str] = set()
    for am in _ASSIGN_RE.finditer(text):
        lhs, rhs = am.group(1), am.group(2)
        if "{" in lhs or "{" in rhs:
            raise NeurosimError("netlist: concatenation in assign (run Yosys 'splitnets' first)")
        if _CONST_RE.match(rhs.strip()):
            consts.add(uf.find(canon(lhs)))
            continue
        uf.union(canon(lhs), canon(rhs))
    instances: dict[str, str] = {}
    conns: list[tuple[str, str, str, str]] = []          # (inst, cell, pin, bit)
    for im in _INST_RE.finditer(text):
        cell, inst = im.group(1), im.group(2)
        if cell in ("module", "assign", "input", "output", "wire", "reg"):
            continue
        if cell not in lib.cells:
            raise NeurosimError(f"netlist: instance {inst} of {cell}, which is not in liberty {lib.name}")
        instances[inst] = cell
        for cm in _CONN_RE.finditer(im.group(3)):
            pin, expr = cm.group(1), cm.group(2)
            if not expr or _CONST_RE.match(expr):
                continue
            conns.append((inst, cell, pin, canon(expr)))
    nets: dict[str, Net] = {}

    def net(bit: str) -> Net:
        r = uf.find(bit)
        if r not in nets:
            nets[r] = Net(r)
        return nets[r]
    for name, (d, w) in ports.items():
        bits = [name] if w == 1 else [f"{name}[{i}]" for i in range(w)]
        for b in bits:
            n = net(b)
            if d == "input":
                n.is_input = True
            else:
                n.is_output = True
    for c in consts:
        net(c).const = True
    clock_pins = []
    for inst, cell, pin, bit in conns:
        n = net(bit)
        p = lib.cells[cell].pins.get(pin)
        if p is None:
            raise NeurosimError(f"netlist: {cell} has no pin {pin}")
        if p.direction == "output":
            n.driver = (inst, cell, pin)
        else:
            n.loads.append((inst, cell, pin))
            if p.clock and n.name == clock:
                clock_pins.append((inst, cell))
    alias = {b: uf.find(b) for b in uf.p}
    return Netlist(top, ports, nets, alias, instances, clock_pins)


# ------------------------------------------------------------------------------------------------
# VCD


@dataclass
class Toggles:
    counts: dict[str, np.ndarray]     # representative net -> toggles per cycle class
    n_cycles: np.ndarray              # cycles per class
    unknown_vars: int                 # VCD bits not found in the netlist (ignored)


_VAR_RE = re.compile(r"\$var\s+\S+\s+(\d+)\s+(\S+)\s+(.+?)\s*\$end")


def count_toggles(vcd_path: str | Path, netlist: Netlist | None, *, period_ps: int, t0_ps: int,
                  cycle_class: np.ndarray | None = None, n_classes: int = 1,
                  exclude: tuple[str, ...] = ("clk", "rst")) -> Toggles:
    """Count 0<->1 transitions per net bit in a VCD, binned by cycle class.

    Cycle ``c`` spans ``[t0 + c*period, t0 + (c+1)*period)`` (ps); its class is
    ``cycle_class[c]`` (default 0). Transitions outside the cycles are ignored. X/Z values reset a
    bit's history (a transition from or to X is not a toggle)."""
    text = Path(vcd_path).read_text()
    head, sep, body = text.partition("$enddefinitions")
    if not sep:
        raise NeurosimError(f"{vcd_path}: not a VCD file (no $enddefinitions)")
    ts = re.search(r"\$timescale\s+(\d+)\s*(\w+)\s+\$end", head)
    scale = {"s": 10**12, "ms": 10**9, "us": 10**6, "ns": 1000, "ps": 1, "fs": 1e-3}
    tmul = int(ts.group(1)) * scale[ts.group(2)] if ts else 1
    # id -> list of bit names (MSB first for vectors)
    ids: dict[str, list[str | None]] = {}
    unknown = 0
    for vm in _VAR_RE.finditer(head):
        width, ident, ref = int(vm.group(1)), vm.group(2), vm.group(3)
        ref = ref.strip()
        mm = re.match(r"^(.*?)\s*\[(\d+):(\d+)\]$", ref)
        if width > 1 and mm:
            base, msb, lsb = canon(mm.group(1)), int(mm.group(2)), int(mm.group(3))
            step = -1 if msb >= lsb else 1
            names = [f"{base}[{i}]" for i in range(msb, lsb + step, step)]
        else:
            names = [canon(ref)]
        resolved: list[str | None] = []
        for nm in names:
            if nm in exclude:
                resolved.append(None)
                continue
            if netlist is not None:
                r = netlist.alias.get(nm)
                if r is None and nm in netlist.nets:
                    r = nm
                if r is None:
                    unknown += 1
                resolved.append(r)
            else:
                resolved.append(nm)
        prev = ids.get(ident)
        ids[ident] = resolved if prev is None else prev
    n_cyc = len(cycle_class) if cycle_class is not None else None
    cls = np.asarray(cycle_class, dtype=np.int64).tolist() if cycle_class is not None else None
    # dense indices: every known bit name gets a column of a per-class counter list
    col: dict[str, int] = {}
    scalar: dict[str, int] = {}          # scalar id -> column (-1: ignored)
    vector: dict[str, list[int]] = {}    # vector id -> columns, MSB first (-1: ignored)
    for ident, names in ids.items():
        cols = []
        for nm in names:
            if nm is None:
                cols.append(-1)
            else:
                cols.append(col.setdefault(nm, len(col)))
        if len(cols) == 1:
            scalar[ident] = cols[0]
        else:
            vector[ident] = cols
    cnt = [[0] * len(col) for _ in range(n_classes)]
    last: dict[str, str] = {}            # per id: last value string
    cur = None                           # the counter row of the current cycle's class, or None
    for line in body.split("\n"):
        if not line:
            continue
        c0 = line[0]
        if c0 == "#":
            rel = int(line[1:]) * tmul - t0_ps
            if rel < 0:
                cur = None
            elif n_cyc is None:
                cur = cnt[0]
            else:
                cyc = int(rel // period_ps)
                cur = cnt[cls[cyc]] if cyc < n_cyc else None
            continue
        if c0 == "0" or c0 == "1":
            ident = line[1:]
            j = scalar.get(ident)
            if j is None:
                if ident in vector:       # a 1-character vector value written as scalar
                    val = c0
                else:
                    continue
            else:
                old = last.get(ident)
                last[ident] = c0
                if cur is not None and j >= 0 and old is not None and old != c0 and old in "01":
                    cur[j] += 1
                continue
        elif c0 in "xXzZ":
            ident = line[1:]
            if ident in scalar:
                last[ident] = c0
                continue
            val = c0
        elif c0 == "b" or c0 == "B":
            val, ident = line[1:].split()
        else:
            continue
        cols = vector.get(ident)
        if cols is None:
            j = scalar.get(ident)
            if j is None:
                continue
            old = last.get(ident)
            last[ident] = val[-1]
            if cur is not None and j >= 0 and old is not None and old != val[-1] and old in "01" and val[-1] in "01":
                cur[j] += 1
            continue
        old = last.get(ident)
        last[ident] = val
        if cur is None or old is None:
            continue
        w = len(cols)
        if len(val) < w:   # VCD left-extends with 0 (or x/z when the value starts with them)
            val = (val[0] if val[0] in "xXzZ" else "0") * (w - len(val)) + val
        if len(old) < w:
            old = (old[0] if old[0] in "xXzZ" else "0") * (w - len(old)) + old
        if old == val:
            continue
        for i in range(w):
            a, b = old[i], val[i]
            if a != b and cols[i] >= 0 and a in "01" and b in "01":
                cur[cols[i]] += 1
    counts: dict[str, np.ndarray] = {}
    arr = np.array(cnt, dtype=np.int64).reshape(n_classes, len(col))
    for nm, j in col.items():
        if arr[:, j].any():
            counts[nm] = arr[:, j].copy()
    if cls is not None:
        ncls = np.bincount(cls, minlength=n_classes)
    else:
        ncls = np.zeros(n_classes, dtype=np.int64)
    return Toggles(counts, ncls, unknown)


# ------------------------------------------------------------------------------------------------
# simulation


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
    head_end = text.index(";", _MOD_RE.search(text).end()) + 1
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
    toggles: Toggles
    outputs: dict[str, int]           # output port -> final value (unsigned) after draining
    cycles: int
    period_ns: float
    delays: bool
    vcd_bytes: int


def simulate(netlist_path: str | Path, netlist: Netlist, cell_models: str | Path, *,
             stimulus: dict[str, np.ndarray], drain: dict[str, int], drain_cycles: int,
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
    work = Path(tempfile.mkdtemp(prefix="neurosim-sim-")) if own else Path(workdir)
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
