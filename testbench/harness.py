"""pytest side of the RTL regression: emit a design once, build it once with Icarus, run cocotb tests.

Everything goes under ``build/sim/<top>/`` (gitignored). Environment variables:

* ``SEED``   seed of the random stimulus (default 20261123); printed by every test.
* ``WAVES=1`` record waveforms (Icarus FST, ``build/sim/<top>/<top>.fst``; open with GTKWave).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from cocotb_tools.runner import get_results, get_runner

from neurosim.rtl.build import emit

ROOT = Path(__file__).resolve().parent.parent
SIM_DIR = ROOT / "build" / "sim"

_built: dict[str, dict] = {}
DEFAULT_SEED = 20261123


def require_icarus() -> None:
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise RuntimeError("Icarus Verilog (iverilog, vvp) is not installed: run `make setup`")


def build(design: str, **kw) -> dict:
    """Emit and compile one configuration (once per session); return its manifest entry + paths."""
    require_icarus()
    key = json.dumps([design, sorted(kw.items())])
    if key in _built:
        return _built[key]
    tmp = SIM_DIR / "_emit"
    entry = emit(design, out_dir=tmp, **kw)
    d = SIM_DIR / entry["top"]
    d.mkdir(parents=True, exist_ok=True)
    src = d / entry["verilog"]
    new = (tmp / entry["verilog"]).read_text()
    if not src.exists() or src.read_text() != new:     # keep the mtime when unchanged (no rebuild)
        src.write_text(new)
    entry_path = d / "entry.json"
    entry_path.write_text(json.dumps(entry, indent=1))
    waves = os.environ.get("WAVES", "0") not in ("", "0")
    runner = get_runner("icarus")
    sim_dir = d / ("icarus_waves" if waves else "icarus")      # a waves build has the dump module
    runner.build(sources=[src], hdl_toplevel=entry["top"], build_dir=sim_dir,
                 timescale=("1ns", "1ps"), waves=waves)
    info = dict(entry, _dir=str(d), _sim_dir=str(sim_dir), _entry=str(entry_path), _runner=runner,
                _waves=waves)
    _built[key] = info
    return info


def seed() -> int:
    """The regression seed: ``SEED`` from the environment, default 20261123."""
    return int(os.environ.get("SEED", DEFAULT_SEED))


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
