"""Connectivity of a flat mapped netlist (Yosys ``write_verilog -noattr -noexpr`` of liberty cells).

:func:`parse_netlist` reads the instances of liberty cells and the bit-level ``assign`` aliases into
nets, each with its driver pin and its load pins; aliases are merged (one representative name per
electrical net), constant nets are marked, and the flip-flops whose clock pin is on ``clk`` listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from neurosim import NeurosimError

from .liberty import Library

__all__ = ["Net", "Netlist", "canon", "parse_netlist", "MODULE_RE"]


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
    """One electrical net: its driver pin (instance, cell, pin), load pins, port and constant flags."""
    name: str
    driver: tuple[str, str, str] | None = None           # (instance, cell, pin)
    loads: list[tuple[str, str, str]] = field(default_factory=list)
    is_input: bool = False
    is_output: bool = False
    const: bool = False


@dataclass
class Netlist:
    """A flat mapped netlist: ports (name -> (direction, width)), nets by representative name, bit
    aliases, instances, clocked cells."""
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


MODULE_RE = re.compile(r"^\s*module\s+(\S+)\s*\(", re.M)
_PORT_RE = re.compile(r"^\s*(input|output)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?([^;\s]+)\s*$")
_INST_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s+(\\\S+|[A-Za-z_][\w$]*)\s*\((.*?)\);", re.M | re.S)
_CONN_RE = re.compile(r"\.(\w+)\s*\(\s*(.*?)\s*\)\s*(?:,|$)", re.S)
_ASSIGN_RE = re.compile(r"^\s*assign\s+(.+?)\s*=\s*(.+?)\s*;", re.M)


def parse_netlist(text: str, lib: Library, clock: str = "clk") -> Netlist:
    """Connectivity of a flat netlist of ``lib`` cells (Yosys ``write_verilog -noattr -noexpr``)."""
    m = MODULE_RE.search(text)
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
