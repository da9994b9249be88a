"""Hardware models: synthesis (Yosys), timing (OpenSTA), gate-level activity (Icarus) and power from
the liberty, for the RTL generator's lane arrays; the staged flow of `neurosim hw`. See
docs/hwmodels.md.

Public face (names load lazily)::

    from neurosim.hwmodels import run_flow, search, measure_power, compare, default_liberty
"""

from neurosim.face import lazy_face

__all__, __getattr__, __dir__ = lazy_face(__name__, {
    "flow": ("run_flow", "run_libraries", "library_summary", "assemble", "assumptions", "write_outputs"),
    "search": ("DesignKind", "DEFAULT_KINDS", "Tools", "Candidate", "FullArray", "Choice", "SearchResult",
               "search"),
    "measure": ("PowerResult", "measure_power"),
    "compare": ("Comparison", "EnergyComparison", "busy_cycle_energy", "compare", "compare_pair",
                "reduction_pct"),
    "stimulus": ("Source", "Stream", "synthetic_source", "tile_source", "build_stream"),
    "synth": ("SynthResult", "synthesize"),
    "sta": ("TimingResult", "run_sta"),
    "netlist": ("Netlist", "parse_netlist"),
    "vcd": ("Toggles", "count_toggles"),
    "gatesim": ("SimResult", "Vectors", "simulate"),
    "liberty": ("Library",),
    "power": ("EnergyBreakdown", "energy_per_cycle", "net_energies", "clock_energy_per_cycle", "leakage_nw"),
    "tech": ("scale_energy_area", "energy_factor", "area_factor", "LIBRARIES", "measured_node"),
    "tools": ("default_liberty", "liberty_for", "cell_models_for", "find_tool"),
    "cellmodels": ("library_models",),
    "energy": ("energy_report",),
})
