"""The designs a hw.json prices: its document read and checked, its lane arrays at one clock
(energy per busy cycle, pJ) and the design x dataflow systems the energy model compares."""

from __future__ import annotations

from pathlib import Path

from neurosim import NeurosimError
from neurosim.formats import HW_SCHEMA

from . import tech


def read_hw(hw, tech_name: str | None = None) -> dict:
    """hw.json of a `neurosim hw` folder (or the file), checked for its schema; ``tech_name`` picks
    that cell library's document (``HW/<tech>/hw.json`` of a ``--tech all`` folder) and refuses a
    document measured on another library."""
    from neurosim.run.trace import read_json
    p = Path(hw)
    f = p / "hw.json" if p.is_dir() else p
    if tech_name is not None:
        tech.check_library(tech_name)
        if (f.parent / tech_name / "hw.json").is_file():
            f = f.parent / tech_name / "hw.json"
    doc = read_json(f, "give the folder written by `neurosim hw --out HWOUT`")
    if not isinstance(doc, dict) or doc.get("schema") != HW_SCHEMA or not isinstance(doc.get("results"), dict):
        raise NeurosimError(f"{f} is not a {HW_SCHEMA} document (re-run `neurosim hw`)")
    own = doc.get("settings", {}).get("tech", tech.DEFAULT_LIBRARY)
    if tech_name is not None and own != tech_name:
        raise NeurosimError(f"{f} was measured on {own}, not {tech_name} (run `neurosim hw --tech {tech_name}` "
                            f"or --tech all)")
    return doc


def compute_designs(doc: dict, freq: float | None) -> tuple[float, list[dict]]:
    """The lane arrays of hw.json at one clock: energy per busy cycle [pJ] (dynamic, leakage apart)."""
    from .compare import busy_cycle_energy
    s = doc.get("settings", {})
    freqs = sorted({float(r["freq_mhz"]) for r in doc["results"].values()})
    if not freqs:
        raise NeurosimError("hw.json has no results")
    f = max(freqs) if freq is None else float(freq)
    if f not in freqs:
        raise NeurosimError(f"--freq {f:g} MHz not in hw.json (clocks: {', '.join(f'{x:g}' for x in freqs)})")
    kinds = s.get("kinds") or {}     # `neurosim hw --coding ...`: the kind of every result row
    out = []
    for key, r in sorted(doc["results"].items()):
        if float(r["freq_mhz"]) != f:
            continue
        kd = kinds.get(r["design"]) or {"design": "mac" if r["design"] == "mac" else "spike",
                                         "coding": s.get("coding", "bitwise"), "variant": s.get("variant", "barrel")}
        label = next((lb for lb in ("gspecify", "zero_delay") if "active" in r.get("power", {}).get(lb, {})), None)
        if label is None:
            continue
        e_busy = busy_cycle_energy(r["power"][label], r["stream"]["events"])
        period = 1000.0 / f
        leak_mw = float(r.get("leakage_nw", 0.0)) * 1e-6
        cfg = doc.get("configs", {}).get(f"{r['top']}@D{r['abc_delay_target_ps']}", {})
        d = {"key": key, "design": kd["design"], "top": r["top"], "pipeline": r.get("pipeline"),
             "meets_timing": bool(r.get("meets_timing")), "simulation": label,
             "busy_pj": e_busy, "dynamic_pj": e_busy - leak_mw * period, "leakage_mw": leak_mw,
             "acc_w": int(cfg.get("acc_w", 27)), "area_um2": r.get("area_um2")}
        if kd["design"] != "mac":
            d["coding"] = kd["coding"]
            d["variant"] = kd.get("variant") or "unary"
        out.append(d)
    if not any(d["design"] == "mac" for d in out) or not any(d["design"] != "mac" for d in out):
        raise NeurosimError(f"hw.json needs a simulated MAC and a spiking array at {f:g} MHz")
    return f, out


def design_systems(compute: list[dict]) -> list[dict]:
    """Design x dataflow combinations: dense and zero-skipping MAC; per spiking array its dataflows."""
    out = []
    for c in compute:
        if c["design"] == "mac":
            out += [dict(c, name="MAC dense", dataflow="mac_dense", baseline=True),
                    dict(c, name="MAC zero-skipping", dataflow="mac_zero_skip", baseline=True)]
        else:
            tag = c["coding"] if c["variant"] == "unary" else f"{c['coding']} {c['variant']}"
            if c["variant"] == "horner":
                out.append(dict(c, name=f"spike {tag}", dataflow="spike_horner", baseline=False))
            else:
                out += [dict(c, name=f"spike {tag}, row held", dataflow="spike_barrel_held", baseline=False),
                        dict(c, name=f"spike {tag}, row per event", dataflow="spike_barrel_per_event",
                             baseline=False)]
    return out
