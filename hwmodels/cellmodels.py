"""Verilog simulation models of a liberty's cells, generated from the liberty itself.

For libraries that ship no Icarus-ready models (sky130 hd's own models need SkyWater's UDP
primitives and power pins), each cell becomes a small module: combinational outputs as a continuous
assignment of the pin's ``function``, flip-flops (``ff`` groups) as an ``always`` block on
``clocked_on`` with ``clear`` / ``preset`` asynchronous, and a ``specify`` block with one delay per
timing arc (rise, fall) read from the arc's ``cell_rise`` / ``cell_fall`` table at
:data:`DELAY_SLEW_NS` input transition and :data:`DELAY_LOAD_PF` load, so ``iverilog -gspecify``
shows glitches. Flip-flops start as X, as the OSU models do.
"""

from __future__ import annotations

import re

from neurosim import NeurosimError

from .liberty import Group, Library

#: the table point of the specify delays: input transition [ns] and output load [pF]
DELAY_SLEW_NS = 0.05
DELAY_LOAD_PF = 0.005

def verilog_expr(function: str) -> str:
    """A Liberty boolean ``function`` as a Verilog expression (``!`` not, ``&``/``*``/juxtaposition
    and, ``|``/``+`` or, ``^`` xor, constants 0/1; postfix ``'`` is not supported)."""
    toks = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[01]|[!&*|+^()]", function)
    if "".join(toks) != re.sub(r"\s+", "", function):
        raise NeurosimError(f"cannot read liberty function {function!r}")
    out: list[str] = []
    prev_operand = False
    for t in toks:
        if prev_operand and t not in "&*|+^)":      # juxtaposition = and
            out.append("&")
        out.append({"!": "~", "*": "&", "+": "|", "0": "1'b0", "1": "1'b1"}.get(t, t))
        prev_operand = t not in "!&*|+^("
    return " ".join(out)


def _delays(lib: Library, group: Group, related: str) -> tuple[float, float] | None:
    for tg in group.sub("timing"):
        if tg.attrs.get("related_pin") != related:
            continue
        rise, fall = tg.sub("cell_rise"), tg.sub("cell_fall")
        if not rise and not fall:
            continue
        r = lib._table(rise[0], lib.templates, lib.time_to_ns).lookup(DELAY_LOAD_PF, DELAY_SLEW_NS) if rise else None
        f = lib._table(fall[0], lib.templates, lib.time_to_ns).lookup(DELAY_LOAD_PF, DELAY_SLEW_NS) if fall else None
        r = f if r is None else r
        f = r if f is None else f
        assert r is not None and f is not None    # one of the two tables is there
        return max(r, 0.001), max(f, 0.001)
    return None


def cell_module(lib: Library, name: str) -> str:
    """The Verilog module of one cell."""
    cg = lib.cell_groups[name]
    cell = lib.cells[name]
    ins, outs = cell.inputs, cell.outputs
    lines = [f"module {name} ({', '.join(ins + outs)});"]
    lines += [f"  input {p};" for p in ins] + [f"  output {p};" for p in outs]
    ffs = cg.sub("ff")
    if cg.sub("latch") or cg.sub("statetable"):
        raise NeurosimError(f"no simulation model for {name}: latches are not modelled")
    for ff in ffs:
        q, qn = ff.args[0], ff.args[1] if len(ff.args) > 1 else None
        clk = str(ff.attrs["clocked_on"])
        edge = "negedge" if clk.strip().startswith("!") else "posedge"
        clk_net = clk.strip().lstrip("!").strip()
        lines.append(f"  reg {q};")
        sens = [f"{edge} {clk_net}"]
        body = []
        for attr, val in (("clear", "1'b0"), ("preset", "1'b1")):
            if attr in ff.attrs:
                lines.append(f"  wire {q}_{attr} = {verilog_expr(str(ff.attrs[attr]))};")
                sens.append(f"posedge {q}_{attr}")
                body.append(f"if ({q}_{attr}) {q} <= {val};")
        body.append(f"{q} <= {verilog_expr(str(ff.attrs['next_state']))};")
        lines.append(f"  always @({' or '.join(sens)}) " + " else ".join(body))
        if qn:
            lines.append(f"  wire {qn} = ~{q};")
    spec = []
    for o in outs:
        fn = cell.pins[o].function
        if not fn:
            raise NeurosimError(f"no simulation model for {name}: output {o} has no function")
        lines.append(f"  assign {o} = {verilog_expr(str(fn))};")
        pg = next(p for p in cg.sub("pin") if o in p.args)
        for i in ins:
            d = _delays(lib, pg, i)
            if d:
                spec.append(f"    ({i} *> {o}) = ({d[0]:.4f}, {d[1]:.4f});")
    if spec:
        lines += ["  specify"] + spec + ["  endspecify"]
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def library_models(lib: Library, cells=None) -> str:
    """Verilog models of ``cells`` (default: every cell with outputs and no latch) of the library."""
    names = cells if cells is not None else [
        n for n, c in lib.cells.items()
        if c.outputs and not lib.cell_groups[n].sub("latch") and not lib.cell_groups[n].sub("statetable")]
    return ("// simulation models generated from liberty " + lib.name + " by neurosim.hwmodels.cellmodels\n"
            "`timescale 1ns/10ps\n" + "".join(cell_module(lib, n) for n in names))
