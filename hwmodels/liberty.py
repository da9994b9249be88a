"""A small Liberty (.lib) reader: cells, areas, pin capacitances, internal-power tables, leakage.

Only what the power and area models need is interpreted; the file is parsed as a generic tree of
groups ``name (args) { ... }``, simple attributes ``name : value ;`` and complex attributes
``name (args) ;``. Units are taken from the library header (``capacitive_load_unit``,
``leakage_power_unit``, ``voltage``) and converted to: area um^2 (as written), capacitance pF,
energy pJ, leakage nW.

Internal-power tables: for an output pin, energy per output transition (``rise_power`` when the
output rises, ``fall_power`` when it falls) indexed by the output load (pF) and the related input's
transition time (ns). For an input pin (e.g. a flip-flop's CLK or D) a 1-D table of energy per input
transition indexed by the input transition time. Lookups interpolate bilinearly and clamp to the
table's range (no extrapolation).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from neurosim import NeurosimError

_TOKEN_RE = re.compile(
    r'\s+|/\*.*?\*/|//[^\n]*|\\\n|"(?:[^"\\]|\\.)*"|[(){};:,]|[^\s(){};:,"]+', re.S)


@dataclass
class Group:
    """A Liberty group (``kind(args) { attrs; complex attrs; subgroups }``)."""
    kind: str
    args: list[str]
    attrs: dict[str, str] = field(default_factory=dict)
    complex: dict[str, list[list[str]]] = field(default_factory=dict)
    groups: list["Group"] = field(default_factory=list)

    def sub(self, kind: str) -> list["Group"]:
        """The subgroups of one kind."""
        return [g for g in self.groups if g.kind == kind]


def _tokens(text: str):
    for m in _TOKEN_RE.finditer(text):
        t = m.group(0)
        if t[0].isspace() or t.startswith("/*") or t.startswith("//") or t == "\\\n":
            continue
        yield t


def parse_liberty(text: str) -> Group:
    """Parse Liberty text into a tree of :class:`Group`."""
    toks = list(_tokens(text))
    pos = 0
    root = Group("root", [])
    stack = [root]
    n = len(toks)
    while pos < n:
        t = toks[pos]
        if t == "}":
            stack.pop()
            pos += 1
            if pos < n and toks[pos] == ";":
                pos += 1
            continue
        if t == ";":
            pos += 1
            continue
        name = t
        nxt = toks[pos + 1] if pos + 1 < n else ""
        if nxt == ":":
            # simple attribute: name : value ;
            j = pos + 2
            vals: list[str] = []
            while j < n and toks[j] not in (";", "}") and not (toks[j + 1:j + 2] == [":"] and vals):
                vals.append(toks[j])
                j += 1
            stack[-1].attrs[name] = _unquote(" ".join(vals))
            pos = j + 1 if j < n and toks[j] == ";" else j
            continue
        if nxt == "(":
            j = pos + 2
            args: list[str] = []
            while toks[j] != ")":
                if toks[j] != ",":
                    args.append(_unquote(toks[j]))
                j += 1
            j += 1
            if j < n and toks[j] == "{":
                g = Group(name, args)
                stack[-1].groups.append(g)
                stack.append(g)
                pos = j + 1
            else:
                stack[-1].complex.setdefault(name, []).append(args)
                pos = j + 1 if j < n and toks[j] == ";" else j
            continue
        raise NeurosimError(f"liberty: cannot parse near token {pos}: {' '.join(toks[pos:pos + 6])!r}")
    if len(stack) != 1:
        raise NeurosimError("liberty: unbalanced braces")
    return root


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def _floats(s: str) -> list[float]:
    return [float(x) for x in s.replace("\\", " ").replace(",", " ").split()]


@dataclass
class Table:
    """Energy table: ``values[i, j]`` at ``index_1[i]``, ``index_2[j]`` (1-D tables: index_2 empty)."""
    var1: str
    index_1: np.ndarray
    var2: str | None
    index_2: np.ndarray
    values: np.ndarray

    def lookup(self, load_pf: float = 0.0, slew_ns: float = 0.0) -> float:
        """Interpolate at (output load, input transition); 1-D tables use the transition only."""
        def coord(var, x_load, x_slew):
            return x_load if "capacitance" in var else x_slew
        if self.var2 is None:
            return _interp1(self.index_1, self.values.ravel(), coord(self.var1, load_pf, slew_ns))
        x1 = coord(self.var1, load_pf, slew_ns)
        x2 = coord(self.var2, load_pf, slew_ns)
        row = np.array([_interp1(self.index_2, self.values[i], x2) for i in range(len(self.index_1))])
        return _interp1(self.index_1, row, x1)


def _interp1(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    return float(np.interp(x, xs, ys))  # clamps outside the table


@dataclass
class PowerArc:
    """An internal-power (or transition) arc: rise and fall tables, related to one input pin."""
    related_pin: str | None
    rise: Table | None
    fall: Table | None

    def energy(self, load_pf: float, slew_ns: float) -> tuple[float, float]:
        """(rise energy, fall energy) in the library's energy unit."""
        r = self.rise.lookup(load_pf, slew_ns) if self.rise else 0.0
        f = self.fall.lookup(load_pf, slew_ns) if self.fall else 0.0
        return r, f


@dataclass
class Pin:
    """A cell pin: direction, input capacitance [pF], power arcs [pJ], output transition tables [ns]."""
    name: str
    direction: str
    capacitance: float          # pF
    function: str | None = None
    clock: bool = False
    power: list[PowerArc] = field(default_factory=list)
    transitions: list[PowerArc] = field(default_factory=list)   # output slew tables [ns] per arc


@dataclass
class Cell:
    """A liberty cell: area [um^2], leakage [nW], pins."""
    name: str
    area: float                 # um^2 (library area unit)
    leakage_nw: float
    pins: dict[str, Pin]
    is_sequential: bool
    is_flip_flop: bool = False  # has an ff group (a latch is sequential but not a flip-flop)

    @property
    def outputs(self) -> list[str]:
        """Names of the output pins."""
        return [p for p, v in self.pins.items() if v.direction == "output"]

    @property
    def inputs(self) -> list[str]:
        """Names of the input pins."""
        return [p for p, v in self.pins.items() if v.direction == "input"]


_UNIT_SCALE = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0}


def _unit(s: str, base: str) -> float:
    """'1nW' with base 'W' -> 1e-9."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([fpnum]?)" + base + r"\s*", s, re.I)
    if not m:
        raise NeurosimError(f"liberty: cannot read unit {s!r}")
    return float(m.group(1)) * _UNIT_SCALE[m.group(2).lower()]


class Library:
    """Cells of one liberty file, in pF / pJ / nW / um^2 / ns."""

    def __init__(self, root: Group, path: Path | None = None, digest: str = ""):
        libs = root.sub("library")
        if not libs:
            raise NeurosimError(f"{path}: no library group: not a liberty file")
        lib = libs[0]
        self.path = path
        self.name = lib.args[0] if lib.args else "?"
        self.digest = digest
        self.voltage = float(lib.attrs.get("nom_voltage", 0) or 0)
        for oc in lib.sub("operating_conditions"):
            if "voltage" in oc.attrs and not self.voltage:
                self.voltage = float(oc.attrs["voltage"])
        if not self.voltage:
            raise NeurosimError(f"{path}: no nom_voltage")
        cap = lib.complex.get("capacitive_load_unit", [["1", "pf"]])[0]
        cap_scale = {"ff": 1e-3, "pf": 1.0, "nf": 1e3}
        if cap[1].lower() not in cap_scale:
            raise NeurosimError(f"{path}: unknown capacitive_load_unit {cap}")
        self.cap_to_pf = float(cap[0]) * cap_scale[cap[1].lower()]
        self.leak_to_nw = _unit(str(lib.attrs.get("leakage_power_unit", "1nW")), "W") / 1e-9
        self.time_to_ns = _unit(str(lib.attrs.get("time_unit", "1ns")), "s") / 1e-9
        # internal energy unit = capacitance unit x voltage^2 (Liberty convention) -> pJ
        self.energy_to_pj = self.cap_to_pf
        templates = {g.args[0]: g for g in lib.groups
                     if g.kind in ("power_lut_template", "lu_table_template") and g.args}
        self.templates = templates
        self.cells: dict[str, Cell] = {}
        self.cell_groups: dict[str, Group] = {}     # the parsed groups (simulation models, flip-flops)
        for cg in lib.sub("cell"):
            self.cells[cg.args[0]] = self._cell(cg, templates)
            self.cell_groups[cg.args[0]] = cg

    def _table(self, g: Group, templates, scale: float | None = None) -> Table:
        tmpl = templates.get(g.args[0]) if g.args else None
        var1 = str(tmpl.attrs.get("variable_1", "")) if tmpl else ""
        var2 = tmpl.attrs.get("variable_2") if tmpl else None
        i1 = g.complex.get("index_1") or (tmpl.complex.get("index_1") if tmpl else None)
        i2 = g.complex.get("index_2") or (tmpl.complex.get("index_2") if tmpl else None)
        idx1 = np.array(_floats(" ".join(i1[0]))) if i1 else np.zeros(1)
        idx2 = np.array(_floats(" ".join(i2[0]))) if (i2 and var2) else np.zeros(0)
        vals = np.array([_floats(v) for v in g.complex["values"][0]], dtype=float)
        # unit conversion of the indices: capacitance -> pF, transition -> ns
        def conv(var, idx):
            if "capacitance" in var:
                return idx * self.cap_to_pf
            return idx * self.time_to_ns
        idx1 = conv(var1, idx1)
        if var2:
            idx2 = conv(str(var2), idx2)
            vals = vals.reshape(len(idx1), len(idx2))
        else:
            vals = vals.reshape(-1)
        return Table(var1, idx1, str(var2) if var2 else None, idx2,
                     vals * (self.energy_to_pj if scale is None else scale))

    def _cell(self, cg: Group, templates) -> Cell:
        pins: dict[str, Pin] = {}
        for pg in cg.sub("pin"):
            arcs = []
            for ip in pg.sub("internal_power"):
                rise = ip.sub("rise_power")
                fall = ip.sub("fall_power")
                arcs.append(PowerArc(ip.attrs.get("related_pin"),
                                     self._table(rise[0], templates) if rise else None,
                                     self._table(fall[0], templates) if fall else None))
            trans = []
            for tg in pg.sub("timing"):
                rt, ft = tg.sub("rise_transition"), tg.sub("fall_transition")
                if rt or ft:
                    trans.append(PowerArc(tg.attrs.get("related_pin"),
                                          self._table(rt[0], templates, self.time_to_ns) if rt else None,
                                          self._table(ft[0], templates, self.time_to_ns) if ft else None))
            for name in pg.args:
                pins[name] = Pin(name=name, direction=str(pg.attrs.get("direction", "")),
                                 capacitance=float(pg.attrs.get("capacitance", 0) or 0) * self.cap_to_pf,
                                 function=pg.attrs.get("function"),
                                 clock=str(pg.attrs.get("clock", "false")) == "true", power=arcs,
                                 transitions=trans)
        seq = bool(cg.sub("ff") or cg.sub("latch"))
        return Cell(name=cg.args[0], area=float(cg.attrs.get("area", 0) or 0),
                    leakage_nw=float(cg.attrs.get("cell_leakage_power", 0) or 0) * self.leak_to_nw,
                    pins=pins, is_sequential=seq, is_flip_flop=bool(cg.sub("ff")))

    def _is_function(self, c: Cell, negated: bool) -> bool:
        if len(c.inputs) != 1 or len(c.outputs) != 1 or c.is_sequential:
            return False
        f = re.sub(r"[\s()]", "", str(c.pins[c.outputs[0]].function or ""))
        a = c.inputs[0]
        return f in ((f"!{a}", f"{a}'") if negated else (a,))

    def driver_cell(self) -> tuple[str, str]:
        """(cell, output pin) assumed to drive the designs' primary inputs in synthesis, timing and
        power: the library's smallest-area buffer (function = its input), ties broken by name.
        Raises :class:`neurosim.NeurosimError` if the library has no buffer."""
        bufs = sorted((c.area, n) for n, c in self.cells.items() if self._is_function(c, negated=False))
        if not bufs:
            raise NeurosimError(f"liberty {self.path} has no buffer (a cell with function A) to drive the inputs")
        name = bufs[0][1]
        return name, self.cells[name].outputs[0]

    def missing_cell_classes(self, named: tuple[str, ...] = ()) -> list[str]:
        """The cell classes the synthesis/timing/power flow needs that this library lacks: a flip-flop
        (Yosys dfflibmap), an inverter (ABC's mapping), a buffer (the input driver of ABC's
        constraints, OpenSTA and the power model: :meth:`driver_cell`) and each cell in ``named``."""
        missing = []
        if not any(c.is_flip_flop for c in self.cells.values()):
            missing.append("a flip-flop (a cell with an ff group, e.g. DFFPOSX1)")
        if not any(self._is_function(c, negated=True) for c in self.cells.values()):
            missing.append("an inverter (function !A, e.g. INVX1)")
        if not any(self._is_function(c, negated=False) for c in self.cells.values()):
            missing.append("a buffer (function A, e.g. BUFX2) to drive the inputs")
        missing += [f"cell {n}" for n in named if n not in self.cells]
        return missing

    @classmethod
    def load(cls, path: str | Path) -> "Library":
        """The library of a liberty file (parsed once per path and process)."""
        return _load_cached(str(Path(path).resolve()))

    # -- energies used by the power model -------------------------------------------------------
    def output_toggle_energy(self, cell: str, pin: str, load_pf: float, slew_ns: float) -> float:
        """Internal energy (pJ) per output transition of ``cell.pin``: the mean of rise and fall
        energies, averaged over the related input pins' arcs (which input caused the change is not
        known from toggle counts)."""
        arcs = [a for a in self.cells[cell].pins[pin].power]
        if not arcs:
            return 0.0
        tot = 0.0
        for a in arcs:
            r, f = a.energy(load_pf, slew_ns)
            tot += 0.5 * (r + f)
        return tot / len(arcs)

    def output_transition(self, cell: str, pin: str, load_pf: float, slew_ns: float) -> float:
        """Output transition time (ns) of ``cell.pin`` at a load: the mean of rise and fall
        transitions over its timing arcs, each read at input transition ``slew_ns``."""
        arcs = self.cells[cell].pins[pin].transitions
        if not arcs:
            return slew_ns
        return sum(0.5 * sum(a.energy(load_pf, slew_ns)) for a in arcs) / len(arcs)

    def output_toggle_energy_arcs(self, cell: str, pin: str, load_pf: float, slews: dict[str, float],
                                  default_slew_ns: float) -> float:
        """As :meth:`output_toggle_energy`, each arc read at the transition of its own related
        input pin (``slews``: pin -> ns; missing pins use ``default_slew_ns``)."""
        arcs = self.cells[cell].pins[pin].power
        if not arcs:
            return 0.0
        tot = 0.0
        for a in arcs:
            r, f = a.energy(load_pf, slews.get(a.related_pin or "", default_slew_ns))
            tot += 0.5 * (r + f)
        return tot / len(arcs)

    def input_toggle_energy(self, cell: str, pin: str, slew_ns: float) -> float:
        """Internal energy (pJ) per transition of an input pin with its own power table (flip-flop
        CLK and D pins in OSU): mean of its rise and fall entries (0 for pins without tables)."""
        arcs = self.cells[cell].pins[pin].power
        if not arcs:
            return 0.0
        return sum(0.5 * sum(a.energy(0.0, slew_ns)) for a in arcs) / len(arcs)


@lru_cache(maxsize=8)
def _load_cached(path: str) -> Library:
    p = Path(path)
    if not p.is_file():
        raise NeurosimError(f"liberty file not found: {p} (OSU 0.18 um: Debian package 'qflow-tech-osu018')")
    try:
        text = (gzip.decompress(p.read_bytes()).decode(errors="replace") if p.suffix == ".gz"
                else p.read_text(errors="replace"))
        return Library(parse_liberty(text), p, hashlib.sha256(text.encode()).hexdigest())
    except NeurosimError as exc:
        raise NeurosimError(f"liberty file {p}: {exc}") from None
    except (OSError, EOFError, IndexError, ValueError) as exc:
        raise NeurosimError(f"liberty file {p} is corrupt: {type(exc).__name__}: {exc}") from None
