"""Stage 1 of the hardware flow: per design kind and clock, the cheapest pipeline depth that meets it.

:func:`search` runs two steps:

1. **Candidates at one lane.** Every pipeline depth of the RTL generator (:func:`neurosim.rtl.emit`,
   the designs the cocotb regression verifies) is synthesized at one lane with the fastest clock's
   period as ABC delay target and timed at every clock (:class:`Candidate`).
2. **Choice at full size.** Per kind and clock, the smallest-area candidate that meets timing at one
   lane is synthesized at the full lane count with the clock's own period as ABC delay target and
   timed again (:class:`FullArray`); when the array misses (the buffering of the broadcast inputs
   grows with the lanes), tighter ABC targets (:data:`ABC_TARGET_STEPS` x the period) are tried
   before the next candidate. If nothing meets, the fastest candidate is kept and the
   :class:`Choice` says ``meets_timing=False``.

Synthesis is cached on disk (:func:`neurosim.hwmodels.synth.synthesize`); a full-size array and its
timing per clock are computed once per search (:attr:`SearchResult.arrays`). The step-2 searches of
the (kind, clock) pairs run ``workers`` at a time and do not depend on one another, so the result
is the same for any number of workers.
Units: area um^2, time ns, frequency MHz, ABC delay targets ps.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .design_kinds import DEFAULT_KINDS, MAC, SPIKE, SPIKE_KINDS, DesignKind, kinds_for, pipeline_word, pipelines_for
from .liberty import Library
from .sta import TimingResult, run_sta
from .synth import SynthResult, synthesize

__all__ = ["ABC_TARGET_STEPS", "FAMILY", "STA_CROSSCHECK_ACTIVITY", "DesignKind", "MAC", "SPIKE",
           "DEFAULT_KINDS", "SPIKE_KINDS", "kinds_for", "pipeline_word", "pipelines_for", "Tools", "Candidate", "FullArray", "Choice", "SearchResult", "freq_key",
           "search"]

#: bump when the timing constraints or the report parsing change (the STA cache's key)
STA_CACHE_VERSION = 1
#: ABC delay targets tried for the full array, as fractions of the clock period
ABC_TARGET_STEPS = (1.0, 0.9, 0.8)
#: toggles per net per cycle of OpenSTA's vectorless report_power (a cross-check figure)
STA_CROSSCHECK_ACTIVITY = 0.1
#: where the designs come from (hw.json's ``family``): the cocotb-verified RTL generator
FAMILY = "generator"


def freq_key(freq_mhz: float) -> str:
    """The key of a clock in hw.json: ``250.0 -> "250"``."""
    return f"{freq_mhz:g}"


@dataclass
class Tools:
    """What every synthesis and timing run of one flow shares: the cell library, the Yosys flavour
    (``yowasp`` adds ``synth -booth`` for the MAC: the baseline gets the best multiplier the tool
    has), the cache folder and the number of tool processes run at a time. ``synthesized`` counts
    the Yosys runs it made (synthesis cache misses)."""

    liberty: Path
    lib: Library
    flavour: str
    cache_dir: Path
    workers: int = 2
    progress: bool = True
    synthesized: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _emit_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    #: seconds spent per tool ("yosys", "opensta", "simulation"), summed over the workers
    seconds: dict = field(default_factory=dict)

    @contextmanager
    def clock(self, tool: str):
        """Add the time of the ``with`` block to :attr:`seconds` [tool]."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[tool] = self.seconds.get(tool, 0.0) + time.perf_counter() - t0

    def sta(self, netlist, top: str, period_ns: float, activity: float | None = None) -> TimingResult:
        """:func:`~neurosim.hwmodels.sta.run_sta` with this library, timed; cached on disk under
        ``cache_dir/sta`` by the netlist's content, the library and the constraints."""
        import hashlib
        import json
        import os
        from .environment import OUTPUT_LOAD_PF
        h = hashlib.sha256()
        for part in (STA_CACHE_VERSION, Path(netlist).read_bytes(), self.lib.digest, top, repr(float(period_ns)),
                     repr(activity), repr(OUTPUT_LOAD_PF), self.lib.driver_cell()[0]):
            h.update((part if isinstance(part, bytes) else str(part).encode()) + b"\0")
        hit = self.cache_dir / "sta" / f"{h.hexdigest()[:24]}.json"
        if hit.is_file():
            return TimingResult(**json.loads(hit.read_text()))
        with self.clock("opensta"):
            r = run_sta(netlist, top, self.liberty, period_ns, activity=activity)
        hit.parent.mkdir(parents=True, exist_ok=True)
        tmp = hit.with_name(f".{hit.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(r.to_dict()))
        os.replace(tmp, hit)
        return r

    @property
    def rtl_dir(self) -> Path:
        """Where the emitted Verilog goes (``cache_dir/rtl``)."""
        return self.cache_dir / "rtl"

    def booth(self, kind: DesignKind) -> bool:
        """Whether the kind is synthesized with ``synth -booth`` (the MAC, with a current Yosys)."""
        return kind.design == "mac" and self.flavour == "yowasp"

    def emit(self, kind: DesignKind, pipeline: int, lanes: int, k: int) -> dict:
        """Verilog of one configuration under ``rtl_dir``; its manifest entry with the file's path."""
        from neurosim.rtl.build import emit
        out_dir = self.rtl_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        with self._emit_lock:        # one elaboration at a time (the searches run in threads)
            m = emit(kind.design, lanes=lanes, k=k, pipeline=pipeline, out_dir=out_dir, **kind.emit_kw())
        m["verilog"] = str(out_dir / Path(m["verilog"]).name)
        m["family"] = FAMILY
        return m

    def synthesize(self, kind: DesignKind, entry: dict, delay_ps: int) -> SynthResult:
        """Synthesize an emitted design for an ABC delay target [ps] (cached)."""
        with self.clock("yosys"):
            r = synthesize(entry["verilog"], entry["top"], self.liberty, cache_dir=self.cache_dir / "synth",
                           flavour=self.flavour, booth=self.booth(kind), delay_ps=delay_ps, lib=self.lib)
        if not r.cached:
            with self._lock:
                self.synthesized += 1
        return r

    def map(self, fn, items) -> list:
        """``fn`` over ``items``, ``workers`` at a time (the tools are external processes)."""
        with ThreadPoolExecutor(max_workers=max(1, int(self.workers))) as pool:
            return list(pool.map(fn, items))

    def bar(self, total: int, desc: str, unit: str):
        """A progress bar (silent without ``progress``)."""
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, disable=None if self.progress else True, unit=unit)


@dataclass
class Candidate:
    """One pipeline depth of one kind at one lane: area [um^2] and timing per clock."""

    kind: DesignKind
    pipeline: int
    top: str
    latency: int                          # cycles
    area_um2: float
    cells: int
    timing: dict[str, TimingResult]       # clock key -> timing at that clock

    def meets(self, fk: str) -> bool:
        """Whether the candidate meets the clock ``fk`` at one lane."""
        return self.timing[fk].met

    def to_dict(self) -> dict:
        return {"family": FAMILY, "design": self.kind.name, "pipeline": self.pipeline, "top": self.top,
                "latency": self.latency, "area_um2": self.area_um2, "cells": self.cells,
                "timing": {fk: {"slack_ns": s.slack_ns, "met": s.met, "fmax_mhz": s.fmax_mhz}
                           for fk, s in self.timing.items()}}


@dataclass
class FullArray:
    """A candidate synthesized at the full lane count for one ABC delay target [ps], timed at the
    clocks it was tried at (with OpenSTA's vectorless power as a cross-check)."""

    kind: DesignKind
    pipeline: int
    abc_delay_target_ps: int
    entry: dict                                              # the design's manifest entry
    synth: SynthResult
    timing: dict[str, TimingResult] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """hw.json's ``configs`` key: ``<top>@D<ps>``."""
        return f"{self.entry['top']}@D{self.abc_delay_target_ps}"

    def to_dict(self) -> dict:
        import hashlib
        m, r = self.entry, self.synth
        return {
            "family": FAMILY, "design": self.kind.name, "pipeline": self.pipeline,
            "abc_delay_target_ps": self.abc_delay_target_ps, "lanes": m["lanes"], "acc_w": m["acc_w"],
            "latency": m["latency"], "area_um2": r.area_um2, "seq_area_um2": r.seq_area_um2,
            "area_check_um2": r.area_check_um2, "cells": r.cells, "n_cells": r.n_cells,
            "netlist": r.netlist, "synth_settings": r.settings, "synth_key": r.key,
            "verilog_sha256": hashlib.sha256(Path(m["verilog"]).read_bytes()).hexdigest(),
            "timing": {fk: {**s.to_dict(), "path": s.path} for fk, s in self.timing.items()},
        }


@dataclass
class Choice:
    """The configuration chosen for one kind at one clock [MHz]."""

    kind: DesignKind
    freq_mhz: float
    array: FullArray
    meets_timing: bool
    tried_at_full_size: list[dict]        # [{top, abc_delay_target_ps, slack_ns}] in search order

    @property
    def key(self) -> str:
        """hw.json's ``results`` key: ``<kind>@<MHz>``."""
        return f"{self.kind.name}@{freq_key(self.freq_mhz)}"

    @property
    def timing(self) -> TimingResult:
        """The chosen array's timing at this clock."""
        return self.array.timing[freq_key(self.freq_mhz)]

    def to_dict(self) -> dict:
        """The choice's members of hw.json's result row (power is added by the power stage)."""
        st = self.timing
        return {"design": self.kind.name, "freq_mhz": self.freq_mhz, "family": FAMILY,
                "pipeline": self.array.pipeline, "abc_delay_target_ps": self.array.abc_delay_target_ps,
                "meets_timing": self.meets_timing, "tried_at_full_size": self.tried_at_full_size,
                "top": self.array.entry["top"], "area_um2": self.array.synth.area_um2,
                "slack_ns": st.slack_ns, "fmax_mhz": st.fmax_mhz,
                "critical_path": f"{st.startpoint} -> {st.endpoint}",
                "opensta_report_power_w": st.report_power_w}


@dataclass
class SearchResult:
    """Everything the search synthesized: candidates at one lane, full-size arrays, the choices."""

    candidates: list[Candidate]
    arrays: dict[tuple, FullArray]        # (kind name, pipeline, ABC target ps) -> array
    choices: dict[str, Choice]            # "<kind>@<MHz>" -> choice, kinds outer, clocks inner
    delay_ps: int                         # ABC delay target of the candidates [ps]


def _candidates(kinds, periods: dict[float, float], k: int, tools: Tools, delay_ps: int,
                pipelines: dict | None) -> list[Candidate]:
    from neurosim.rtl.params import PIPELINES
    todo = []
    for kind in kinds:
        depths = sorted(PIPELINES[kind.design])
        if pipelines and kind.name in pipelines:
            depths = [p for p in depths if p in pipelines[kind.name]]
        todo += [(kind, p, tools.emit(kind, p, 1, k)) for p in depths]
    bar = tools.bar(len(todo), "hw: synth+STA candidates (1 lane)", "cfg")

    def one(item) -> Candidate:
        kind, p, m = item
        r = tools.synthesize(kind, m, delay_ps)
        timing = {freq_key(f): tools.sta(r.netlist, m["top"], periods[f]) for f in periods}
        bar.update(1)
        return Candidate(kind, p, m["top"], m["latency"], r.area_um2, r.n_cells, timing)
    try:
        return tools.map(one, todo)
    finally:
        bar.close()


class _Arrays:
    """The full-size arrays of one search and their timings, shared by the per-(kind, clock)
    searches that run ``workers`` at a time: each array is synthesized and each (array, clock)
    timed once (a lock per key); :meth:`ordered` gives them in the order one search after another
    would have made them, so the document does not depend on the threads' timing."""

    def __init__(self, tools: Tools, lanes: int, k: int, periods: dict[float, float]):
        self.tools, self.lanes, self.k, self.periods = tools, lanes, k, periods
        self.arrays: dict[tuple, FullArray] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    def _key_lock(self, key: tuple) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def full(self, kind: DesignKind, p: int, dps: int, log: list) -> FullArray:
        """The array of ``kind`` at pipeline ``p`` synthesized for ABC target ``dps`` [ps]."""
        key = (kind.name, p, dps)
        log.append((key, None))
        with self._key_lock(key):
            if key not in self.arrays:
                m = self.tools.emit(kind, p, self.lanes, self.k)
                self.arrays[key] = FullArray(kind, p, dps, m, self.tools.synthesize(kind, m, dps))
        return self.arrays[key]

    def timed(self, fa: FullArray, f: float, log: list) -> TimingResult:
        """``fa`` timed at clock ``f`` [MHz] (with OpenSTA's vectorless power cross-check)."""
        fk = freq_key(f)
        key = (fa.kind.name, fa.pipeline, fa.abc_delay_target_ps)
        log.append((key, fk))
        with self._key_lock(key + (fk,)):
            if fk not in fa.timing:
                fa.timing[fk] = self.tools.sta(fa.synth.netlist, fa.entry["top"], self.periods[f],
                                               activity=STA_CROSSCHECK_ACTIVITY)
        return fa.timing[fk]

    def ordered(self, logs: list[list]) -> dict[tuple, FullArray]:
        """The arrays, and each array's timings, in the order of ``logs`` (one per search, in turn)."""
        out: dict[tuple, FullArray] = {}
        timings: dict[tuple, dict] = {}
        for key, fk in (e for log in logs for e in log):
            out.setdefault(key, self.arrays[key])
            if fk is not None:
                timings.setdefault(key, {}).setdefault(fk, self.arrays[key].timing[fk])
        for key, fa in out.items():
            fa.timing = timings.get(key, {})
        return out


def _choose(kind: DesignKind, f: float, candidates: list[Candidate], arrays: _Arrays) -> tuple[Choice, list]:
    """The cheapest full-size array of ``kind`` meeting clock ``f`` [MHz]: candidates meeting it at
    one lane by area, each at the ABC targets :data:`ABC_TARGET_STEPS` x the period; if none meets,
    the fastest candidate at its best target. Returns the choice and the log of arrays it used."""
    fk = freq_key(f)
    log: list = []
    targets = [int(round(arrays.periods[f] * 1000 * x)) for x in ABC_TARGET_STEPS]
    pick, tried = None, []
    for c in _cheapest_meeting(candidates, kind, f):
        for dps in targets:
            fa = arrays.full(kind, c.pipeline, dps, log)
            st = arrays.timed(fa, f, log)
            tried.append({"top": fa.entry["top"], "abc_delay_target_ps": dps, "slack_ns": st.slack_ns})
            if st.met:
                pick = fa
                break
        if pick is not None:
            break
    met = pick is not None
    if not met:       # nothing meets: the fastest candidate at its best ABC target
        fastest = max((c for c in candidates if c.kind == kind), key=lambda c: c.timing[fk].fmax_mhz)
        best: tuple[int, float] | None = None
        for dps in targets:
            st = arrays.timed(arrays.full(kind, fastest.pipeline, dps, log), f, log)
            if best is None or st.slack_ns > best[1]:
                best = (dps, st.slack_ns)
        assert best is not None, "no ABC target to try"
        pick = arrays.full(kind, fastest.pipeline, best[0], log)
    assert pick is not None
    return Choice(kind, f, pick, met, tried), log


def _cheapest_meeting(candidates: list[Candidate], kind: DesignKind, f: float) -> list[Candidate]:
    mine = [c for c in candidates if c.kind == kind and c.meets(freq_key(f))]
    return sorted(mine, key=lambda c: c.area_um2)


def search(kinds, freqs, *, lanes: int, k: int, tools: Tools, pipelines: dict | None = None) -> SearchResult:
    """Stage 1: candidates at one lane, then the cheapest full-size array meeting each clock.

    ``freqs`` are clocks in MHz (ascending); ``k`` is the arrays' maximum dot-product length;
    ``pipelines`` ({kind name: [depths]}) restricts the searched depths (tests, quick runs). The
    per-(kind, clock) searches run ``tools.workers`` at a time; the result does not depend on it."""
    periods = {f: round(1000.0 / f, 4) for f in freqs}
    delay_ps = int(round(min(periods.values()) * 1000))
    candidates = _candidates(kinds, periods, k, tools, delay_ps, pipelines)
    arrays = _Arrays(tools, lanes, k, periods)
    sel = [(kind, f) for kind in kinds for f in freqs]
    bar = tools.bar(len(sel), f"hw: synth+STA chosen ({lanes} lanes)", "cfg")

    def one(item) -> tuple[Choice, list]:
        kind, f = item
        out = _choose(kind, f, candidates, arrays)
        bar.update(1)
        return out
    try:
        done = tools.map(one, sel)
    finally:
        bar.close()
    choices = {ch.key: ch for ch, _ in done}
    return SearchResult(candidates, arrays.ordered([log for _, log in done]), choices, delay_ps)
