"""A small VCD reader: 0<->1 transitions per net bit, binned by the class of the clock cycle.

:func:`count_toggles` maps the VCD's variables onto a :class:`~neurosim.hwmodels.netlist.Netlist`'s
nets (aliases merged); X/Z values are not toggles (a transition from or to X/Z is not counted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurosim import NeurosimError

from .netlist import Netlist, canon

__all__ = ["Toggles", "count_toggles"]


@dataclass
class Toggles:
    """Toggles per net and cycle class, cycles per class, and VCD bits not in the netlist."""
    counts: dict[str, np.ndarray]     # representative net -> toggles per cycle class
    n_cycles: np.ndarray              # cycles per class
    unknown_vars: int                 # VCD bits not found in the netlist (ignored)


_VAR_RE = re.compile(r"\$var\s+\S+\s+(\d+)\s+(\S+)\s+(.+?)\s*\$end")


_TIMESCALE_RE = re.compile(r"\$timescale\s+(\d+)\s*(\w+)\s+\$end")
_RANGE_RE = re.compile(r"^(.*?)\s*\[(\d+):(\d+)\]$")
_UNIT_PS = {"s": 10**12, "ms": 10**9, "us": 10**6, "ns": 1000, "ps": 1, "fs": 1e-3}


def _bit_names(width: int, ref: str) -> list[str]:
    """The bit names of one ``$var`` (MSB first for a vector ``name [msb:lsb]``)."""
    mm = _RANGE_RE.match(ref.strip())
    if width > 1 and mm:
        base, msb, lsb = canon(mm.group(1)), int(mm.group(2)), int(mm.group(3))
        step = -1 if msb >= lsb else 1
        return [f"{base}[{i}]" for i in range(msb, lsb + step, step)]
    return [canon(ref.strip())]


def _variables(head: str, netlist: Netlist | None, exclude: tuple[str, ...]) -> tuple[dict[str, list], int]:
    """VCD id -> the net of every bit (None: excluded or not in the netlist), and the unknown bits."""
    ids: dict[str, list[str | None]] = {}
    unknown = 0
    for vm in _VAR_RE.finditer(head):
        resolved: list[str | None] = []
        for nm in _bit_names(int(vm.group(1)), vm.group(3)):
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
        ids.setdefault(vm.group(2), resolved)
    return ids, unknown


def _columns(ids: dict[str, list]) -> tuple[dict[str, int], dict[str, int], dict[str, list[int]]]:
    """A counter column per net; scalar id -> column and vector id -> columns, MSB first (-1: ignored)."""
    col: dict[str, int] = {}
    scalar: dict[str, int] = {}
    vector: dict[str, list[int]] = {}
    for ident, names in ids.items():
        cols = [-1 if nm is None else col.setdefault(nm, len(col)) for nm in names]
        if len(cols) == 1:
            scalar[ident] = cols[0]
        else:
            vector[ident] = cols
    return col, scalar, vector


def _count(body: str, scalar: dict[str, int], vector: dict[str, list[int]], cnt: list[list[int]], tmul: float,
           window: tuple[int, int], cls: list[int] | None) -> None:
    """Add every 0<->1 transition of the value-change section ``body`` to ``cnt[class][column]``;
    ``window`` is (t0, period) [ps], ``cls`` the class of every cycle (None: one class, no end)."""
    t0_ps, period_ps = window
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
            elif cls is None:
                cur = cnt[0]
            else:
                cyc = int(rel // period_ps)
                cur = cnt[cls[cyc]] if cyc < len(cls) else None
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
        cols = vector.get(ident, [])
        if not cols:                    # not a vector (vectors have two or more bits)
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
        _count_vector(old, val, cols, cur)


def _count_vector(old: str, val: str, cols: list[int], cur: list[int]) -> None:
    """Count the 0<->1 bit flips between two values of one vector (VCD left-extends short values
    with 0, or with x/z when they start with it)."""
    w = len(cols)
    if len(val) < w:
        val = (val[0] if val[0] in "xXzZ" else "0") * (w - len(val)) + val
    if len(old) < w:
        old = (old[0] if old[0] in "xXzZ" else "0") * (w - len(old)) + old
    if old == val:
        return
    for i in range(w):
        a, b = old[i], val[i]
        if a != b and cols[i] >= 0 and a in "01" and b in "01":
            cur[cols[i]] += 1


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
    ts = _TIMESCALE_RE.search(head)
    tmul = int(ts.group(1)) * _UNIT_PS[ts.group(2)] if ts else 1
    ids, unknown = _variables(head, netlist, exclude)
    col, scalar, vector = _columns(ids)
    cls = np.asarray(cycle_class, dtype=np.int64).tolist() if cycle_class is not None else None
    cnt = [[0] * len(col) for _ in range(n_classes)]
    _count(body, scalar, vector, cnt, tmul, (t0_ps, period_ps), cls)
    arr = np.array(cnt, dtype=np.int64).reshape(n_classes, len(col))
    counts = {nm: arr[:, j].copy() for nm, j in col.items() if arr[:, j].any()}
    ncls = np.bincount(cls, minlength=n_classes) if cls is not None else np.zeros(n_classes, dtype=np.int64)
    return Toggles(counts, ncls, unknown)
