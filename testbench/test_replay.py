"""Replay real data bit-exactly on the default-size (16-lane) lane arrays.

Tiles (format: docs/CONTRACTS.md, read with :func:`neurosim.run.tiles.read_tile`) come from
``NEUROSIM_TILES=DIR`` (e.g. ``OUT/tiles`` written by ``neurosim run --trace OUT``). Without it, tiles
are made here from the embedded real SmolLM2-135M: the real input of layer 0's attention projections
(RMS-normalized embeddings of a real sentence) quantized by :mod:`neurosim.core.quant`, against the real
INT8 ``q_proj`` weights; absmax INT8 tiles in three codings and one with the unclamped adaptive
threshold (k = 8: counts burst beyond 127, so the bitwise window is 8 steps and the MAC cannot run it).

Each tile's coding and window T select the spiking design (``t = T``); tiles whose counts fit INT8
also run on the MAC. The tiles of one design are replayed back to back in one simulation.
``NEUROSIM_REPLAY_TILES`` (default 0: all) replays the first n tiles of ``NEUROSIM_TILES`` only (a
trace's tiles are named in their stratified sample order, so the first n spread over layers and kinds). ``NEUROSIM_REPLAY_ROWS`` (default 2) token rows and ``NEUROSIM_REPLAY_GROUPS``
(default 2) groups of 16 output channels are replayed per tile; 0 means all.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurosim.core.engine import int_linear
from neurosim.defaults import K as DEFAULT_K, LANES as DEFAULT_LANES
from neurosim.run.tiles import list_tiles, read_tile, write_tile
from testbench import harness, stimulus

GEN_DIR = harness.SIM_DIR / "tiles"
SENTENCE = "The capital of France is Paris. To be, or not to be, that is the question."


def make_real_tiles(out: Path) -> list[Path]:
    """Tiles from the embedded SmolLM2-135M (real weights, real activations of real tokens)."""
    from neurosim.model import default_model_dir, load_checkpoint
    from neurosim.core.quant import quantize_activations, quantize_weights

    ckpt = load_checkpoint(default_model_dir())
    ids = ckpt.tokenizer.encode(SENTENCE).ids[:8]
    emb = ckpt.tensor("model.embed_tokens.weight")[ids].astype(np.float32)
    eps = float(ckpt.config.get("rms_norm_eps", 1e-5))
    x = emb / np.sqrt(np.mean(emb * emb, axis=-1, keepdims=True) + eps)
    x = x * ckpt.tensor("model.layers.0.input_layernorm.weight")
    name = "model.layers.0.self_attn.q_proj.weight"
    wq = quantize_weights(ckpt.tensor(name))
    src = f"smollm2-135m/{name} (input: layer-0 attention input of real tokens)"
    absmax = quantize_activations(x, "absmax")
    adaptive = quantize_activations(x, "adaptive", k=8.0, clamp=None)
    paths = []
    for coding in ("bitwise", "bitwise_2c", "ternary"):
        paths.append(write_tile(out / f"smollm2_l0_q_proj_absmax_{coding}.npz", absmax.counts, wq.w_int,
                                coding, scale=absmax.scale, source=src + ", absmax INT8"))
    paths.append(write_tile(out / "smollm2_l0_q_proj_adaptive_bitwise.npz", adaptive.counts, wq.w_int,
                            "bitwise", scale=adaptive.scale, source=src + ", adaptive k=8 unclamped"))
    return paths


def tile_paths() -> list[Path]:
    env = os.environ.get("NEUROSIM_TILES")
    if env:
        paths = list_tiles(env)
        if not paths:
            raise RuntimeError(f"NEUROSIM_TILES={env} holds no .npz tiles")
        return paths[:_limit("NEUROSIM_REPLAY_TILES", 0)]
    return make_real_tiles(GEN_DIR)


def _limit(name: str, default: int) -> int:
    v = int(os.environ.get(name, default))
    return v if v > 0 else 1 << 30


def replay_jobs(entry: dict, tile: dict) -> tuple[list, list]:
    """(jobs, expected) of the first rows x channel groups of a tile; expected = int_linear (== tile's)."""
    counts, w_int = tile["counts"], tile["w_int"]
    M, K = counts.shape
    N = w_int.shape[0]
    lanes = entry["lanes"]
    rows = range(min(M, _limit("NEUROSIM_REPLAY_ROWS", 2)))
    groups = range(min((N + lanes - 1) // lanes, _limit("NEUROSIM_REPLAY_GROUPS", 2)))
    jobs, exp = [], []
    for g in groups:
        W = np.zeros((lanes, K), np.int8)
        ch = w_int[g * lanes:(g + 1) * lanes]
        W[: len(ch)] = ch
        for r in rows:
            if entry["design"] == "mac":
                cyc, x = stimulus.job(entry, counts[r], W)
            else:   # the tile's own spike train (from encode), not re-encoded here
                cyc = stimulus.spike_events(tile["spikes"][:, r, :], entry, W)
                x = int_linear(counts[r][None, :], W)[0]
            ref = tile["expected"][r, g * lanes:(g + 1) * lanes]
            assert np.array_equal(x[: len(ref)], ref), "int_linear disagrees with the tile's expected"
            jobs.append(cyc)
            exp.append(x)
    return jobs, exp


def replay_vectors(entry: dict, tiles: list[dict]) -> tuple[dict, int]:
    """One scenario replaying every tile's jobs back to back on one design; (vectors, dot products)."""
    jobs, exp = [], []
    for tile in tiles:
        j, e = replay_jobs(entry, tile)
        jobs += j
        exp += e
    sc = stimulus.scenario(entry, jobs, exp, [entry["gap"]] * len(jobs), garbage=False,
                           seed="(tile data, no randomness)")
    return {"replay": sc}, len(jobs)


def _designs_for(tile: dict) -> list[tuple[str, dict]]:
    coding, T = tile["coding"], tile["T"]
    K = tile["counts"].shape[1]
    k = max(DEFAULT_K, K)
    base = dict(lanes=DEFAULT_LANES, k=k)
    out = []
    if coding in ("bitwise", "bitwise_2c"):
        out += [("spike", dict(base, coding=coding, variant="barrel", t=T, pipeline=0)),
                ("spike", dict(base, coding=coding, variant="horner", t=T, pipeline=3))]
    else:
        out += [("spike", dict(base, coding=coding, variant=None, t=T, pipeline=1))]
    c = tile["counts"]
    if c.min(initial=0) >= -128 and c.max(initial=0) <= 127:
        out.append(("mac", dict(base, coding=None, variant=None, pipeline=4)))
    return out


def test_replay_tiles():
    """Every tile on every design it fits, the tiles of one design in one simulation."""
    paths = tile_paths()
    batches: dict[tuple, tuple[str, dict, list]] = {}
    macs = set()
    for path in paths:
        tile = read_tile(path)
        for design, kw in _designs_for(tile):
            if design == "mac":   # tiles of one slice in several codings share their counts: once on the MAC
                h = hash(tile["counts"].tobytes())
                if h in macs:
                    continue
                macs.add(h)
            batches.setdefault((design, repr(sorted(kw.items()))), (design, kw, []))[2].append((path, tile))
    replayed = set()
    for design, kw, items in batches.values():
        info = harness.build(design, **kw)
        vectors, n = replay_vectors(info, [t for _, t in items])
        print(f"replay {len(items)} tile(s) ({', '.join(p.name for p, _ in items)}) on {info['top']}: "
              f"{n} dot products, {len(vectors['replay']['cycles'])} cycles")
        tests, failed = harness.run(info, vectors, tag=f"replay_{info['top']}")
        assert (tests, failed) == (1, 0), f"replay of {len(items)} tile(s) on {info['top']}: {failed} failed"
        if design == "spike":
            replayed |= {p for p, _ in items}
    assert replayed == set(paths), "every tile must replay on at least one spiking design"


def test_generated_tiles_are_real_and_varied():
    """The stand-in tiles carry real data: non-trivial counts, bursts beyond INT8 in the adaptive one."""
    tiles = {p.stem: read_tile(p) for p in make_real_tiles(GEN_DIR)}
    ab = tiles["smollm2_l0_q_proj_absmax_bitwise"]
    assert ab["T"] == 7 and np.abs(ab["counts"]).max() == 127
    assert 0.05 < np.mean(ab["counts"] == 0) < 0.95
    ad = tiles["smollm2_l0_q_proj_adaptive_bitwise"]
    assert ad["T"] > 7, "unclamped adaptive counts should burst beyond 127"
