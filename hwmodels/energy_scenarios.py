"""The energy verdict over a grid of modelling scenarios (:mod:`.scenarios`), priced analytically.

For every scenario, every design's energy per token (:func:`.energy_grid.price`) and every spiking
design's reduction against each MAC baseline; summarised as ranges (min, median, max), the share of
scenarios in which spiking wins, the break-even spike rate at the default scenario and its range,
and a tornado: how far each axis alone moves the best spiking design's reduction from the default.

Reductions are ``100 (1 - spiking / baseline)`` percent: positive means spiking uses less energy.
"""

from __future__ import annotations

import statistics

from neurosim import NeurosimError

from . import energy_grid as eg
from . import memory as mem
from . import scenarios as sc
from . import tech
from .designs import compute_designs, design_systems

BASELINES = ("MAC dense", "MAC zero-skipping")


def mac_weighted_spikes(projections, coding: str) -> float:
    """Spike events per activation, each projection weighted by its MACs (events x N / acts x N)."""
    from .dataflow import _events_per_value
    ev = acts = 0.0
    for p in projections:
        T = p.window or _window(coding)
        ev += float((p.freq * _events_per_value(p, coding, T)).sum()) * p.out_features
        acts += p.activations * p.out_features
    return ev / acts if acts else 0.0


def _window(coding: str) -> int:
    from neurosim.core.coding import INT8_WINDOW
    return INT8_WINDOW[coding]


class Grid:
    """The designs of ``hw_doc`` priced over the projections, ready to evaluate scenarios."""

    def __init__(self, projections, hw_doc: dict, *, tokens: int, cache_dir="build/energy_cache"):
        self.projections, self.tokens = list(projections), int(tokens)
        if self.tokens < 1:
            raise NeurosimError("the energy grid needs at least one token")
        self.lanes = int(hw_doc.get("settings", {}).get("lanes", 16))
        self.source = tech.measured_supply(hw_doc)
        word_bits, self.words_per_row = mem.weight_port(self.lanes * 8)
        self.consts = eg.Constants(word_bits, cache_dir)
        self.clocks = sorted({float(r["freq_mhz"]) for r in hw_doc["results"].values()})
        negative = any(int(p.values[p.freq > 0].min(initial=0)) < 0 for p in self.projections)
        self.systems: dict = {}
        self.counts: dict = {}
        self.skipped: list = []
        for f in self.clocks:
            _, comp = compute_designs(hw_doc, f)
            keep = []
            for s in design_systems(comp):
                if s.get("coding") == "binary" and negative:
                    self.skipped.append(s["name"])
                    continue
                keep.append(s)
                if s["name"] not in self.counts:
                    self.counts[s["name"]] = eg.counts(self.projections, s, self.lanes)
            self.systems[_clock_key(f)] = keep
        self.skipped = sorted(set(self.skipped))
        self.spikes = {c: mac_weighted_spikes(self.projections, c)
                       for c in {s["coding"] for ss in self.systems.values() for s in ss if not s["baseline"]}}
        self._mem: dict = {}

    def clock_values(self) -> list[str]:
        return list(self.systems)

    def check(self, grid: dict) -> None:
        missing = [v for v in grid["clock"] if v not in self.systems]
        if missing:
            raise NeurosimError(f"clock {', '.join(missing)} MHz is not in hw.json (clocks: {', '.join(self.systems)}); "
                                "run `neurosim hw` at that clock or leave it out of --scenarios")

    def memory(self, s: dict) -> dict:
        key = (s["sram_cell"], s["bank_kb"], s["weights"], eg.prefill_block(s["dataflow"]))
        if key not in self._mem:
            self._mem[key] = eg.memory_constants(s, self.consts, self.projections, self.lanes)
        return self._mem[key]

    def evaluate(self, s: dict) -> dict:
        """One scenario: per design pJ per token (spiking ones per baseline) and the reductions."""
        systems = self.systems[s["clock"]]
        mem_c = self.memory(s)
        period = 1000.0 / float(s["clock"])
        mac = next(x for x in systems if x["design"] == "mac")
        out: dict = {"baselines": {}, "spiking": {}}
        base_r = {}
        for b in (x for x in systems if x["baseline"]):
            r = eg.price(self.counts[b["name"]], b, s, mem_c,
                         factor=eg.compute_factor(s, b, mac, self.lanes, self.source),
                         period_ns=period, words_per_row=self.words_per_row)
            base_r[b["name"]] = r
            out["baselines"][b["name"]] = r["total_pj"] / self.tokens
        for d in (x for x in systems if not x["baseline"]):
            c, f = self.counts[d["name"]], eg.compute_factor(s, d, mac, self.lanes, self.source)
            same = None
            row = {}
            for bname, br in base_r.items():
                if s["throughput"] == "equal-time" and c.busy > br["busy_cycles"]:
                    widen = c.busy / br["busy_cycles"]
                    r = eg.price(c, d, s, mem_c, factor=f, period_ns=period, words_per_row=self.words_per_row,
                                 mem_time_ns=c.busy * period / widen, widen=widen)
                else:
                    same = same or eg.price(c, d, s, mem_c, factor=f, period_ns=period,
                                            words_per_row=self.words_per_row)
                    r = same
                s_meas = self.spikes[d["coding"]]
                ev, fix = r["event_part_pj"], r["total_pj"] - r["event_part_pj"]
                be = s_meas * (br["total_pj"] - fix) / ev if ev > 0 else None
                row[bname] = {"pj_per_token": r["total_pj"] / self.tokens,
                              "reduction_pct": 100.0 * (1.0 - r["total_pj"] / br["total_pj"]),
                              "break_even": None if be is None else max(be, 0.0)}
            out["spiking"][d["name"]] = row
        out["best"] = {}
        for bname in base_r:
            name = max(out["spiking"], key=lambda n: out["spiking"][n][bname]["reduction_pct"])
            out["best"][bname] = dict(out["spiking"][name][bname], design=name)
        return out


def _clock_key(f: float) -> str:
    return f"{f:g}"


def _stats(xs: list[float]) -> dict:
    """min, 10th percentile, median, 90th percentile, max."""
    q = statistics.quantiles(xs, n=10, method="inclusive") if len(xs) > 1 else [xs[0]] * 9
    return {"min": min(xs), "p10": q[0], "median": statistics.median(xs), "p90": q[-1], "max": max(xs)}


def summarize(grid_obj: Grid, grid: dict) -> tuple[dict, list[dict]]:
    """The scenario section of energy.json and one row per scenario (for scenarios.csv)."""
    grid = dict(grid)
    if set(grid["clock"]) == set(sc.axis("clock").values):     # "all": the named clocks hw.json has
        grid["clock"] = [v for v in grid["clock"] if v in grid_obj.systems] or grid_obj.clock_values()[-1:]
    grid_obj.check(grid)
    default = dict(sc.DEFAULT)
    if default["clock"] not in grid_obj.systems:
        default["clock"] = grid_obj.clock_values()[-1]
    results, rows = [], []
    _prefetch_memory(grid_obj, sc.scenarios(grid))
    for s in sc.scenarios(grid):
        r = grid_obj.evaluate(s)
        results.append((s, r))
        row = dict(s)
        for b, v in r["baselines"].items():
            row[f"{b} uJ"] = v * 1e-6
        for b, v in r["best"].items():
            row[f"best vs {b} %"] = v["reduction_pct"]
            row[f"best design vs {b}"] = v["design"]
        rows.append(row)
    d = grid_obj.evaluate(default)
    designs: dict = {}
    energy_range: dict = {}
    for name in d["spiking"]:
        pj = [x["pj_per_token"] for _, r in results if name in r["spiking"] for x in r["spiking"][name].values()]
        energy_range[name] = _stats([x * 1e-6 for x in pj])
        designs[name] = {}
        for b in BASELINES:
            if b not in d["baselines"]:
                continue
            xs = [r["spiking"][name][b]["reduction_pct"] for _, r in results if name in r["spiking"]]
            designs[name][b] = dict(_stats(xs), default=d["spiking"][name][b]["reduction_pct"],
                                    wins_share=sum(x > 0 for x in xs) / len(xs))
    best = {}
    for b in d["baselines"]:
        xs = [r["best"][b]["reduction_pct"] for _, r in results]
        bes = [r["best"][b]["break_even"] for _, r in results if r["best"][b]["break_even"] is not None]
        dd = d["best"][b]
        best[b] = dict(_stats(xs), default=dd["reduction_pct"], default_design=dd["design"],
                       wins_share=sum(x > 0 for x in xs) / len(xs),
                       break_even_default=dd["break_even"],
                       break_even_range=[min(bes), max(bes)] if bes else None,
                       spikes_measured=grid_obj.spikes[_coding_of(grid_obj, dd["design"])],
                       baseline_uj_per_token=_stats([r["baselines"][b] * 1e-6 for _, r in results]),
                       design_counts=_count_designs(results, b))
    tornado = {}
    for b in d["baselines"]:
        bars = []
        for ax, variants in sc.one_axis_variants(grid).items():
            vals = {}
            for v in variants:
                if ax == "clock" and v["clock"] not in grid_obj.systems:
                    continue
                v = dict(v, clock=v["clock"] if ax == "clock" else default["clock"])
                vals[v[ax]] = grid_obj.evaluate(v)["best"][b]["reduction_pct"]
            if vals:
                lo, hi = min(vals.values()), max(vals.values())
                bars.append({"axis": ax, "default": default[ax], "values": vals,
                             "low": min(lo, d["best"][b]["reduction_pct"]),
                             "high": max(hi, d["best"][b]["reduction_pct"])})
        bars.sort(key=lambda x: x["high"] - x["low"], reverse=True)
        tornado[b] = bars
    section = {"axes": sc.describe(), "grid": grid, "count": len(results), "default": default,
               "fixed": {"memory_node_nm": eg.NODE_NM, "buffer_kb": eg.BUFFER_KB,
                         "compute_measured_at": {"node_nm": grid_obj.source[0], "vdd_v": grid_obj.source[1]},
                         "dram_pj_per_bit": mem.DRAM_PJ_PER_BIT["low"],
                         "memory_model": "CACTI 7 (weights, buffers, local weight buffer)"},
               "spikes_per_activation_mac_weighted": grid_obj.spikes,
               "default_pj_per_token": {"baselines": d["baselines"],
                                        "spiking": {n: v[BASELINES[0]]["pj_per_token"] if BASELINES[0] in v
                                                    else next(iter(v.values()))["pj_per_token"]
                                                    for n, v in d["spiking"].items()}},
               "designs": designs, "uj_per_token_range": energy_range, "best": best, "tornado": tornado, "skipped_designs": grid_obj.skipped}
    return section, rows


def _prefetch_memory(grid_obj: Grid, scens) -> None:
    """Compute every distinct SRAM bank of the grid (CACTI, a few seconds each) on all cores at once."""
    import os
    from concurrent.futures import ThreadPoolExecutor
    g, keys = grid_obj, set()
    for s in scens:
        cell, kb = s["sram_cell"], int(s["bank_kb"])
        wkb = kb if s["weights"] == "sram" else eg.staging_bank_kb(g.projections, g.lanes, kb)
        keys |= {(wkb, cell, None), (eg.BUFFER_KB, cell, eg.BUFFER_WORD_BITS)}
        if eg.prefill_block(s["dataflow"]):
            keys.add((eg.local_buffer_kb(g.projections, g.lanes), cell, None))
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda k: g.consts.bank(*k), sorted(keys, key=str)))


def _count_designs(results, b: str) -> dict:
    out: dict[str, int] = {}
    for _, r in results:
        out[r["best"][b]["design"]] = out.get(r["best"][b]["design"], 0) + 1
    return out


def _coding_of(g: Grid, name: str) -> str:
    for ss in g.systems.values():
        for s in ss:
            if s["name"] == name:
                return s["coding"]
    raise KeyError(name)


__all__ = ["BASELINES", "Grid", "summarize", "mac_weighted_spikes"]
