"""Stimulus for the lane arrays: dot products turned into per-cycle port values (plain Python/numpy).

The sequencer in front of the hardware (which input is broadcast in which cycle), the packing of
the port values and the expected values are :mod:`neurosim.rtl.protocol`'s; this module makes the
regression's data (random counts and weights with a realistic shape, bubbles, gaps, garbage on
idle inputs) and its named scenarios.

A cycle is a dict of input port values: ``valid, clear, last`` (0/1), ``a`` (MAC activation),
``neg``/``sh``/``step`` (spike event fields, by design) and ``w`` (list of per-lane weights).
"""

from __future__ import annotations

import numpy as np

from neurosim.rtl import params, protocol
from neurosim.rtl.protocol import idle_cycle as idle


def count_range(entry: dict) -> tuple[int, int]:
    """Per-input value range of the unit (from the manifest's parameters)."""
    return params.count_range(entry["design"], entry["coding"], entry["t"])


def spike_events(spikes: np.ndarray, entry: dict, W: np.ndarray, rng=None) -> list[dict]:
    """Framed cycles of one dot product from a spike train ``spikes`` [T, K] on the design ``entry``
    (:func:`neurosim.rtl.protocol.spike_events`; ``rng`` may shuffle the events)."""
    return protocol.frame(protocol.spike_events(spikes, entry["coding"], entry["variant"], W, rng))


def job(entry: dict, counts: np.ndarray, W: np.ndarray, rng=None) -> tuple[list[dict], np.ndarray]:
    """(cycles, expected accumulators [lanes]) of one dot product ``W @ counts``
    (:func:`neurosim.rtl.protocol.dot_product`)."""
    return protocol.dot_product(entry, counts, W, rng)


def insert_bubbles(cycles: list[dict], rng, p: float) -> list[dict]:
    """Insert idle cycles (valid low) inside a job with probability ``p`` per cycle. Horner step
    strobes stay on the first cycle of their step, so order is kept."""
    out = []
    for j, c in enumerate(cycles):
        if j > 0 and rng.random() < p:
            out.append(idle())
        out.append(c)
    return out


def random_counts(entry: dict, K: int, rng) -> np.ndarray:
    """Counts with a realistic shape: many zeros and small values, a few at the range limits."""
    lo, hi = count_range(entry)
    mag = max(abs(lo), hi)
    kind = rng.integers(3)
    if kind == 0:
        c = rng.integers(lo, hi + 1, size=K)
    else:
        c = np.rint(rng.laplace(0.0, max(1.0, mag / 16), size=K))
        c[rng.random(K) < 0.3] = 0
        if K > 2:
            c[rng.integers(K)] = lo
            c[rng.integers(K)] = hi
    return np.clip(c, lo, hi).astype(np.int64)


def random_weights(lanes: int, K: int, rng) -> np.ndarray:
    """INT8 weights [lanes, K]: uniform over [-128, 127], or half the time N(0, 20) rounded and clipped."""
    W = rng.integers(-128, 128, size=(lanes, K))
    if rng.random() < 0.5:                          # sometimes realistic small weights
        W = np.clip(np.rint(rng.normal(0, 20, size=(lanes, K))), -128, 127)
    return W.astype(np.int8)


def schedule(jobs: list[list[dict]], gaps: list[int]) -> tuple[list[dict], list[int]]:
    """Concatenate jobs with ``gaps[j]`` idle cycles after job j; return (cycles, index of each last)."""
    cycles, lasts = [], []
    for cyc, gap in zip(jobs, gaps):
        cycles.extend(cyc)
        lasts.append(len(cycles) - 1)
        cycles.extend(idle() for _ in range(gap))
    return cycles, lasts


# -- scenarios: named sets of dot products, serialized for the cocotb side -------------------------

def _garbage(entry: dict, cycles: list[dict], rng) -> list[dict]:
    """Random values on the data inputs of idle cycles (valid low): they must have no effect."""
    ports = {p["name"]: p for p in entry["ports"]}
    out = []
    for c in cycles:
        if not c.get("valid"):
            c = dict(c)
            for name in protocol.OPERANDS:
                if name in ports:
                    width = ports[name]["width"]
                    v = int(rng.integers(0, 1 << width))       # a random bit pattern ...
                    if ports[name]["signed"] and v >> (width - 1):
                        v -= 1 << width                         # ... as the signed port's value
                    c[name] = v
            c["w"] = rng.integers(-128, 128, size=entry["lanes"]).tolist()
        out.append(c)
    return out


def scenario(entry: dict, jobs, expected, gaps, rng=None, garbage=True, acc_checks=None, **info) -> dict:
    """Serializable scenario: packed cycles, index of every ``last``, expected lanes per dot product,
    and optional ``acc_checks`` {cycle index: lanes} of accumulator values sampled in that cycle."""
    cycles, lasts = schedule(jobs, gaps)
    if garbage and rng is not None:
        cycles = _garbage(entry, cycles, rng)
    return {"cycles": protocol.pack_cycles(entry, cycles), "lasts": lasts,
            "expected": [[int(x) for x in e] for e in expected],
            "acc_checks": {str(k): v for k, v in (acc_checks or {}).items()}, **info}


def _rng_for(entry: dict, seed: int, name: str):
    """The generator of one scenario: a function of the seed, the design and the scenario's name."""
    import zlib
    return np.random.default_rng((seed ^ zlib.crc32(f"{entry['top']}/{name}".encode())) & 0xFFFFFFFF)


def random_scenario(entry: dict, seed: int, n_random: int = 8) -> dict:
    """Seeded random dot products (K in [1, k]), random bubbles and gaps, garbage on idle inputs.
    The same scenario as ``scenarios(entry, seed)["random"]``: a failure of the multi-seed
    regression is reproduced with ``SEED=<seed>``."""
    lanes, Kmax, gap = entry["lanes"], entry["k"], entry["gap"]
    rng = _rng_for(entry, seed, "random")
    jobs, exp, gaps = [], [], []
    for _ in range(n_random):
        K = int(rng.integers(1, Kmax + 1))
        cyc, x = job(entry, random_counts(entry, K, rng), random_weights(lanes, K, rng), rng=rng)
        jobs.append(insert_bubbles(cyc, rng, 0.1))
        exp.append(x)
        gaps.append(gap + int(rng.integers(0, 3)))
    return dict(scenario(entry, jobs, exp, gaps, rng), seed=seed)


def scenarios(entry: dict, seed: int, n_random: int = 8) -> dict:
    """The regression's scenarios for one design (expected values from int_linear)."""
    sc = {}
    lanes, Kmax, gap = entry["lanes"], entry["k"], entry["gap"]
    lo, hi = count_range(entry)

    def rng_for(name):
        return _rng_for(entry, seed, name)

    # seeded random dot products, random bubbles and gaps, garbage on idle inputs
    sc["random"] = random_scenario(entry, seed, n_random)

    # K = k at the range limits, weights -128/127 per lane: reaches acc_min and acc_max exactly
    if lanes < 2:
        raise ValueError("the boundary scenario needs at least 2 lanes")
    W = np.array([[-128 if i % 2 == 0 else 127] * Kmax for i in range(lanes)], np.int8)
    jobs, exp = [], []
    for c in (hi, lo):
        cyc, x = job(entry, np.full(Kmax, c), W)
        jobs.append(cyc)
        exp.append(x)
    allx = np.concatenate(exp)
    if allx.max() != entry["acc_max"] or allx.min() != entry["acc_min"]:
        raise AssertionError(f"boundary scenario misses the bounds: {allx.min()}..{allx.max()} vs "
                             f"{entry['acc_min']}..{entry['acc_max']}")
    sc["extremes"] = scenario(entry, jobs, exp, [gap] * 2, rng_for("extremes"))

    # a non-zero dot product, then an all-zero one (no events at all for the spiking unit)
    rng = rng_for("zero")
    W = random_weights(lanes, Kmax, rng)
    c1 = random_counts(entry, Kmax, rng)
    c1[0] = hi
    j1, x1 = job(entry, c1, W)
    j2, x2 = job(entry, np.zeros(Kmax, np.int64), W)
    if np.any(x2) or (entry["design"] == "spike" and any(c.get("valid") for c in j2)):
        raise AssertionError("an all-zero input must give no events and 0")
    sc["all_zero"] = scenario(entry, [j1, j2], [x1, x2], [gap] * 2, rng)

    # a dot product abandoned half-way by a new clear (no last, no gap)
    rng = rng_for("clear")
    ca = random_counts(entry, Kmax, rng)
    ca[ca == 0] = hi
    cyc_a, _ = job(entry, ca, random_weights(lanes, Kmax, rng))
    partial = [dict(c, last=0) for c in cyc_a[: max(1, len(cyc_a) // 2)]]
    cyc_b, xb = job(entry, random_counts(entry, Kmax, rng), random_weights(lanes, Kmax, rng))
    sc["clear_mid_stream"] = scenario(entry, [partial + cyc_b], [xb], [gap], rng)

    # back-to-back with exactly the minimum gap, including K = 1 (clear and last in one cycle)
    rng = rng_for("b2b")
    jobs, exp = [], []
    for K in (1, 2, Kmax, 1, 3):
        counts = random_counts(entry, K, rng)
        if not counts.any():
            counts[0] = hi
        cyc, x = job(entry, counts, random_weights(lanes, K, rng))
        jobs.append(cyc)
        exp.append(x)
    sc["back_to_back"] = scenario(entry, jobs, exp, [gap] * len(jobs), rng)

    # rst in the middle of a dot product (held reset_cycles): accumulators read 0, no done; then a
    # dot product runs normally
    rng = rng_for("reset")
    ca = random_counts(entry, Kmax, rng)
    ca[ca == 0] = hi
    cyc_a, _ = job(entry, ca, random_weights(lanes, Kmax, rng))
    partial = [dict(c, last=0) for c in cyc_a[: max(1, len(cyc_a) // 2)]]
    n_rst = entry.get("reset_cycles", 2)
    resets = [dict(idle(), rst=1) for _ in range(n_rst)]
    cyc_b, xb = job(entry, random_counts(entry, Kmax, rng), random_weights(lanes, Kmax, rng))
    first = partial + resets + [idle()]
    checks = {len(partial) + n_rst: [0] * lanes}      # sampled in the idle cycle after the reset
    sc["reset"] = scenario(entry, [first + cyc_b], [xb], [gap], rng, acc_checks=checks)
    for v in sc.values():
        v["seed"] = seed
    return sc
