"""The unit comparison on both cell libraries, and the time of `neurosim hw --tech all`:
``docs/results/libraries.json`` and ``libraries.md`` rendered from it.

    python -m benchmarks.libraries [--hw build/hw_libraries] [--out docs/results] [--render-only]

Runs ``neurosim hw --tech all --out HW`` at the default configuration (16 lanes, K = 2560, 250 and
500 MHz, synthetic stimulus, every pipeline depth searched per library) unless ``HW/hw.json`` already
exists, and records its run time from hw.json's ``run`` member (target: under 10 minutes on 2 cores;
with the load average and the number of Yosys runs: a warm synthesis cache makes a rerun faster than
a first run), then keeps per library and clock
the MAC's and the spiking array's chosen configuration, area, slack, energy per busy cycle and per
MAC-equivalent, the reductions, and the ratios of the 130 nm figures to the 180 nm ones next to
ideal constant-voltage scaling (area x (130/180)^2, energy x 130/180).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from neurosim.results import write_result

TARGET_S = 600
COMMAND = "neurosim hw --tech all --out build/hw_libraries"


def measure(hw: Path) -> dict:
    """Run (or reuse) ``neurosim hw --tech all`` into ``hw``; the result document."""
    if not (hw / "hw.json").is_file():
        subprocess.run([sys.executable, "-m", "neurosim", "hw", "--tech", "all", "--cache",
                        str(hw.parent / "hw_cache_libraries"), "--out", str(hw), "--quiet"], check=True)
    doc = json.loads((hw / "hw.json").read_text())
    run = doc["run"]
    per = run.get("per_library") or {      # documents of before per_library: each library's own run
        t: {k: (doc["run"] if i == 0 else json.loads((hw / t / "hw.json").read_text())["run"])[k]
            for k in ("syntheses_run", "load_avg_after")} | {"total_s": run["per_library_s"][t]}
        for i, t in enumerate(doc["libraries"])}
    libs = doc["libraries"]
    return {"renderer": "benchmarks.libraries:render", "command": COMMAND,
            "settings": {k: doc["settings"][k] for k in ("lanes", "k_max", "freqs_mhz", "stimulus", "yosys")},
            "spikes_per_activation": doc["measured_spikes_per_activation"], "paper": doc["paper"],
            "libraries": libs, "scaling_check": scaling_check(libs),
            "run": {"total_s": run["total_s"], "per_library": per, "cpus": run["cpus"], "target_s": TARGET_S}}


def scaling_check(libs: dict) -> dict:
    """Measured 130 nm / 180 nm ratios of area and energy per MAC-equivalent per design and clock,
    next to ideal constant-voltage scaling (both libraries run at 1.8 V)."""
    a, b = libs["osu018"], libs["sky130hd"]
    ratio = b["node_nm"] / a["node_nm"]
    out = {"ideal_area_ratio": ratio ** 2, "ideal_energy_ratio": ratio, "per_freq": {}}
    for fk in a["per_freq"]:
        if fk not in b["per_freq"]:
            continue
        out["per_freq"][fk] = {
            d: {"area_ratio": b["per_freq"][fk][d]["area_um2"] / a["per_freq"][fk][d]["area_um2"],
                "energy_per_mac_eq_ratio": b["per_freq"][fk][d]["energy_per_mac_eq_pj"]
                / a["per_freq"][fk][d]["energy_per_mac_eq_pj"]}
            for d in ("mac", "spike")}
    return out


def verdict(doc: dict) -> str:
    """One sentence: do the paper's unit-level claims hold better or worse at 130 nm than at 180 nm?
    Judged at the fastest clock where both designs meet timing on both libraries (larger reductions
    = better support); clocks where they do not are named."""
    libs = doc["libraries"]
    a_all, b_all = libs["osu018"]["per_freq"], libs["sky130hd"]["per_freq"]
    freqs = sorted(set(a_all) & set(b_all), key=float)
    met = [fk for fk in freqs if a_all[fk]["both_meet_timing"] and b_all[fk]["both_meet_timing"]]
    fk = met[-1] if met else freqs[-1]
    a, b = a_all[fk], b_all[fk]
    p = doc["paper"]
    larger = [b[k] > a[k] for k in ("area_reduction_pct", "power_reduction_equal_clock_busy_pct")]
    word = ("better" if all(larger) else "worse" if not any(larger) else
            "better for area but worse for power" if larger[0] else "worse for area but better for power")
    missed = [f"{f} MHz on {t}" for f in freqs for t, side in (("osu018", a_all), ("sky130hd", b_all))
              if not side[f]["both_meet_timing"]]
    return (f"The paper's unit-level claims ({p['area_reduction_pct']}% less area, "
            f"{p['power_reduction_500mhz_pct']}% less power) hold {word} on SkyWater's 130 nm library than on "
            f"OSU 0.18 um at {fk} MHz{'' if met else ' (timing not met there)'} (larger reductions = better "
            f"support): area {b['area_reduction_pct']:.1f}% less (180 nm: {a['area_reduction_pct']:.1f}%), "
            f"power at equal clock, both busy, {b['power_reduction_equal_clock_busy_pct']:.1f}% less "
            f"(180 nm: {a['power_reduction_equal_clock_busy_pct']:.1f}%)"
            + (f"; timing is not met by both designs at {', '.join(missed)}." if missed else "."))


def render(doc: dict) -> str:
    """libraries.md from libraries.json."""
    from neurosim.hwmodels.report import library_table
    s = doc["settings"]
    sc = doc["scaling_check"]
    L = [verdict(doc), "",
         f"`{doc['command']}`: {s['lanes']} lanes, K <= {s['k_max']}, {s['yosys']} Yosys; stimulus: {s['stimulus']} "
         f"({doc['spikes_per_activation']:.3f} spikes per activation in the streamed slice). Each design at its "
         "cheapest pipeline depth meeting each clock on each library; energies from the delay-annotated "
         "simulation (zero-delay where marked); reductions positive = spiking smaller.", ""]
    L += library_table(doc["libraries"])
    L += ["", f"Measured 130 nm / 180 nm ratios (ideal constant-voltage scaling: area "
              f"{sc['ideal_area_ratio']:.3f}, energy {sc['ideal_energy_ratio']:.3f}):", "",
          "| MHz | design | area ratio | energy per MAC-eq ratio |", "|---|---|---|---|"]
    for fk, row in sc["per_freq"].items():
        for d, r in row.items():
            L.append(f"| {fk} | {d} | {r['area_ratio']:.3f} | {r['energy_per_mac_eq_ratio']:.3f} |")
    run = doc["run"]
    parts = "; ".join(f"{t} {r['total_s'] / 60:.1f} min{_profile(r)}, {r['syntheses_run']} Yosys runs, load average "
                      f"{r['load_avg_after']} after it" for t, r in run["per_library"].items())
    L += ["", f"Run time of `{doc['command']}` on {run['cpus']} CPUs: {run['total_s'] / 60:.1f} min ({parts}); "
              f"target: under {run['target_s'] // 60} min on 2 cores (a load average above the core count "
              "stretches it)."]
    return "\n".join(L) + "\n"


def _profile(r: dict) -> str:
    """Where one library's time went (documents that record it): stages, and tool time summed over
    the workers."""
    if "tool_s" not in r:
        return ""
    d, t = r["durations_s"], r["tool_s"]
    return (f" (search {d['search'] / 60:.1f} min, power {d['power'] / 60:.1f} min; tool time over the workers: "
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in t.items()) + ")")


def render_answer(doc: dict) -> str:
    """libraries_answer.md (the README's one sentence) from libraries.json."""
    return verdict(doc) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", type=Path, default=Path("build/hw_libraries"))
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    ap.add_argument("--render-only", action="store_true", help="re-render libraries.md from libraries.json")
    a = ap.parse_args(argv)
    if a.render_only:
        doc = json.loads((a.out / "libraries.json").read_text())
    else:
        doc = measure(a.hw)
    for p in write_result("libraries", doc, a.out):
        print(f"wrote {p}")
    for p in write_result("libraries_answer", dict(doc, renderer="benchmarks.libraries:render_answer"), a.out):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
