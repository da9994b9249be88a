"""Every accuracy setting of a ``neurosim eval`` run priced over the energy scenarios.

``eval.json`` records, per setting and projection kind, the exact histogram of the integer counts
the spike coder received, with the kind's shape, window and activation width
(``settings[i].energy_counts``). Each kind becomes one :class:`.dataflow.Projection` (its rows summed
over layers and windows, ``copies`` = the layers holding its weights), priced per token of the
evaluated text with :class:`.energy_scenarios.Grid`. A kind whose window is longer than the coding's
INT8 window is compared with a MAC whose activations are as wide (the ``mac_width`` axis' rule;
ESTIMATE); the spiking array keeps its measured energy per event (ESTIMATE: its shifter and
accumulator are not resized). A kind whose counts exceed its recorded window (an unclamped adaptive
scale) is priced in the window its data needs, with a MAC as wide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.run.evalstats import interval_shown

from .dataflow import Projection
from .energy_scenarios import BASELINES, Grid, summarize

NO_COUNTS = "has no energy counts: re-run `neurosim eval` (this version records them)"


def read_eval(path) -> dict:
    """``eval.json`` of an eval folder (or the file), refused without the energy counts."""
    from neurosim.run.trace import read_json
    p = Path(path)
    f = p / "eval.json" if p.is_dir() else p
    doc = read_json(f, "give the folder written by `neurosim eval --out DIR`")
    if not isinstance(doc, dict) or not isinstance(doc.get("settings"), list) or not doc["settings"]:
        raise NeurosimError(f"{f} is not an eval.json of `neurosim eval`")
    if any("energy_counts" not in s for s in doc["settings"]):
        raise NeurosimError(f"{f} {NO_COUNTS}")
    return doc


def projections_of(setting: dict) -> tuple[list[Projection], int]:
    """The projections (one per kind) of one eval setting and the tokens they cover."""
    from neurosim.core.coding import activation_bits, required_steps
    ec = setting["energy_counts"]
    out = []
    for kind, k in sorted(ec["kinds"].items()):
        values, freq = np.asarray(k["values"], dtype=np.int64), np.asarray(k["freq"], dtype=np.int64)
        T, bits = int(k["window"]), int(k["activation_bits"])
        used = values[freq > 0]
        need = required_steps(used, k.get("coding", "bitwise")) if used.size else T
        if need > T:        # an unclamped scale: the window (and the MAC operand) the data needs
            T, bits = need, activation_bits(k.get("coding", "bitwise"), need)
        out.append(Projection(kind, int(k["in_features"]), int(k["out_features"]), int(k["rows"]), values, freq,
                              kind=kind, window=T, act_bits=max(bits, int(k["activation_bits"])),
                              copies=int(k["projections"])))
    if not out:
        raise NeurosimError(f"setting {setting.get('label')!r}: energy counts hold no projection kind")
    return out, int(ec["tokens"])


def price_settings(eval_doc: dict, hw_doc: dict, grid: dict, cache_dir="build/energy_cache") -> list[dict]:
    """Per eval setting: its accuracy and its energy per token (default scenario and range)."""
    out = []
    for s in eval_doc["settings"]:
        projs, tokens = projections_of(s)
        g = Grid(projs, hw_doc, tokens=tokens, cache_dir=cache_dir)
        section, _ = summarize(g, grid)
        dflt = section["default_pj_per_token"]
        designs = {name: {"default_uj": pj * 1e-6, **{f"{k}_uj": v for k, v in section["uj_per_token_range"][name].items()},
                          "vs": section["designs"].get(name, {})}
                   for name, pj in dflt["spiking"].items()}
        base = {b: {"default_uj": dflt["baselines"][b] * 1e-6,
                    **{f"{k}_uj": v for k, v in section["best"][b]["baseline_uj_per_token"].items()}}
                for b in BASELINES if b in dflt["baselines"]}
        windows = {k: int(v["window"]) for k, v in s["energy_counts"]["kinds"].items()}
        shown = interval_shown(int(eval_doc.get("config", {}).get("windows") or 0))
        out.append({"label": s["label"], "ppl_change": s.get("ppl_change"),
                    "ppl_change_ci": s.get("ppl_change_ci") if shown else None, "interval_shown": shown,
                    "windows": windows, "max_activation_bits": max(int(v["activation_bits"]) for v in
                                                                    s["energy_counts"]["kinds"].values()),
                    "spikes_per_activation_mac_weighted": section["spikes_per_activation_mac_weighted"],
                    "designs": designs, "baselines": base, "best": section["best"], "scenarios": section["count"]})
    return out


__all__ = ["NO_COUNTS", "read_eval", "projections_of", "price_settings"]
