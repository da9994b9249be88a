"""The paper's figures, with their sources: the one place every report and comparison reads them.

SpikingBrain 2.0 (arXiv 2604.22575); SpikingBrain 1.0 (7B) reference values from its technical
report. Percentages are reductions or rates in percent.
"""

from __future__ import annotations

#: SpikingBrain 2.0's INT8-Spiking claims (percent).
PAPER = {
    "sparsity_pct": 64.31,
    "accuracy_loss_pct": 0.69,
    "area_reduction_pct": 70.6,
    "power_reduction_500mhz_pct": 46.5,
    "power_reduction_other_pct": 48.1,
}
PAPER_SOURCE = "SpikingBrain 2.0 (arXiv 2604.22575)"

#: SpikingBrain 1.0 (7B) reference values: bitwise sign-magnitude coding, 3-step windows.
SPB1 = {"sparsity_pct": 69.15, "spikes_per_activation": 1.13, "silent_channel_pct": 18.4}
SPB1_SOURCE = "SpikingBrain 1.0 technical report (7B model)"

#: The hardware claims as `neurosim hw` records them in hw.json (`paper`).
HW_CLAIMS = {k: PAPER[k] for k in ("area_reduction_pct", "power_reduction_500mhz_pct",
                                    "power_reduction_other_pct")} | {"source": PAPER_SOURCE}

__all__ = ["PAPER", "PAPER_SOURCE", "SPB1", "SPB1_SOURCE", "HW_CLAIMS"]
