"""Intervals over tiles: how much the gate-level energies depend on which tiles the stimulus took.

With trace tiles, each gate-level simulation also reports every tile's rows apart (``per_tile``:
events, active cycles and their mean energy [pJ per cycle]; :mod:`.measure`). The busy-cycle energy
(one event per cycle, :func:`neurosim.hwmodels.compare.busy_cycle_energy`) over a set of tiles is

``E_busy = E_idle + sum_t A_t (E_active,t - E_idle) / sum_t N_t``

(``A_t`` active cycles, ``N_t`` events of tile t; ``E_idle`` the whole stream's idle-cycle energy).
A percentile bootstrap resamples the tiles with replacement (the same tiles for the MAC and the
spiking array: paired), recomputes each figure, and reports the 2.5th and 97.5th percentiles.
Fewer than :data:`MIN_TILES` tiles give no interval.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_TILES", "N_BOOT", "tile_intervals"]

#: fewest tiles for which an interval is given
MIN_TILES = 8
#: bootstrap resamples (seeded)
N_BOOT = 2000


def _arrays(p: dict, n: int) -> dict[str, np.ndarray]:
    rows = p.get("per_tile") or []
    def get(key: str) -> np.ndarray:
        return np.array([float(r[key]) for r in rows] + [0.0] * (n - len(rows)))
    return {k: get(k) for k in ("events", "activations", "active_cycles", "active_pj")}


def _figures(w: np.ndarray, m: dict, s: dict, e_idle_mac: float, e_idle_spk: float, lanes: int,
             spa_model: float | None) -> dict[str, np.ndarray]:
    """Every figure for tile weights ``w`` [B, n] (a resample's multiplicities)."""
    def busy(a, idle):
        return idle + (w @ (a["active_cycles"] * (a["active_pj"] - idle))) / (w @ a["events"])

    def per_active_cycle(a):
        return (w @ (a["active_cycles"] * a["active_pj"])) / (w @ a["active_cycles"])

    e_mac, e_spk = busy(m, e_idle_mac), busy(s, e_idle_spk)
    spa = (w @ s["events"]) / (w @ m["activations"])
    out = {"mac_energy_per_event_pj": e_mac, "spike_energy_per_event_pj": e_spk,
           "mac_energy_per_active_cycle_pj": per_active_cycle(m),
           "spike_energy_per_active_cycle_pj": per_active_cycle(s),
           "spikes_per_activation": spa,
           "mac_energy_per_mac_eq_pj": e_mac / lanes,
           "power_reduction_equal_clock_busy_pct": 100.0 * (1.0 - e_spk / e_mac),
           "energy_reduction_equal_work_pct": 100.0 * (1.0 - e_spk * spa / e_mac)}
    if spa_model is not None:
        out["energy_reduction_equal_work_model_pct"] = 100.0 * (1.0 - e_spk * spa_model / e_mac)
    return out


def tile_intervals(pm: dict, ps: dict, lanes: int, spa_model: float | None = None, seed: int = 0) -> dict:
    """Point values and 95% percentile-bootstrap intervals over tiles of one simulation's figures.

    ``pm``, ``ps``: the MAC's and the spiking array's power entries (``active``, ``idle_clocked``,
    ``per_tile``) of the same stimulus; ``spa_model`` the model's MAC-weighted spikes per activation.
    Energies pJ, reductions %. Without per-tile figures, or with fewer than :data:`MIN_TILES` tiles:
    the point values only (with trace tiles) and the reason there is no interval."""
    n = len(pm.get("per_tile") or [])
    if not n or len(ps.get("per_tile") or []) != n:
        return {"tiles": n, "interval": None, "why": "no per-tile figures (synthetic stimulus)"}
    m, s = _arrays(pm, n), _arrays(ps, n)
    e_idle_mac = pm["idle_clocked"]["total_pj"] if pm["idle_clocked"]["cycles"] else pm["active"]["total_pj"]
    e_idle_spk = ps["idle_clocked"]["total_pj"] if ps["idle_clocked"]["cycles"] else ps["active"]["total_pj"]
    one = np.ones((1, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        point = {k: float(v[0]) for k, v in _figures(one, m, s, e_idle_mac, e_idle_spk, lanes, spa_model).items()}
        out = {"tiles": n, "point": point}
        if n < MIN_TILES:
            return dict(out, interval=None, why=f"fewer than {MIN_TILES} tiles")
        rng = np.random.default_rng(seed)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=N_BOOT).astype(float)
        boot = _figures(w, m, s, e_idle_mac, e_idle_spk, lanes, spa_model)
    out["interval"] = {k: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))]
                       for k, v in boot.items()}
    out["method"] = (f"percentile bootstrap over the {n} tiles ({N_BOOT} resamples, seed {seed}), paired: "
                     "the same tiles for both arrays; idle-cycle floor of the whole stream")
    return out
