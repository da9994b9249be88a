"""Hardware tiles: small real slices of a projection that RTL testbenches replay bit-exactly.

One tile is one ``.npz`` file (plain numpy, readable without neurosim); keys are documented in
docs/formats.md ("Trace"). The expected accumulator values come from :func:`neurosim.core.engine.int_linear`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.outdir import file_mode
from neurosim.core.coding import check_coding, encode, resolve_steps
from neurosim.core.engine import int_linear
from neurosim.defaults import TILE_TOKENS

__all__ = ["TILE_KEYS", "choose_tiles", "tile_rows", "write_tile", "read_tile", "list_tiles"]

TILE_KEYS = ("counts", "spikes", "w_int", "scale", "expected", "coding", "T", "source")


def choose_tiles(model, names, n: int, seed: int = 0) -> dict[str, str]:
    """Up to ``n`` projections to write as tiles: a seeded sample stratified over layers and projection
    kinds (``self_attn.q_proj``, ``mlp.down_proj``, ...).

    Layers are visited in a seeded random order, and each layer's kind is the next one of a seeded
    rotation of the kinds, so that the first ``n_layers`` tiles take every layer once and spread the
    kinds evenly (every kind appears once ``n >= max(n_layers, n_kinds)``); further tiles add a second
    kind per layer, and so on. A kind a layer lacks is replaced by the next one it has. Every prefix of
    the order is itself stratified (the hardware stimulus reads the tiles in this order).

    names: the selected projection weight names in the model's call order. Returns weight name ->
    tile file stem (``tile00_L7_self_attn_q_proj``), numbered in the sampled order.
    """
    if n == 0:
        return {}
    names = list(names)
    cells: dict[int, list[str]] = {}          # layer -> its kinds, in call order
    for i in range(model.n_layers):
        prefix = model.layer_prefix(i)
        mine = [nm[len(prefix):].removesuffix(".weight") for nm in names if nm.startswith(prefix)]
        if mine:
            cells[i] = mine
    kinds = list(dict.fromkeys(k for ks in cells.values() for k in ks))
    if not kinds:
        return {}
    rng = np.random.default_rng(seed)
    layers = [list(cells)[j] for j in rng.permutation(len(cells))]
    rotation = [kinds[j] for j in rng.permutation(len(kinds))]
    picked: list[str] = []
    taken: dict[int, set] = {i: set() for i in layers}
    for r in range(len(kinds)):
        for pos, i in enumerate(layers):
            free = [rotation[(pos + r + d) % len(rotation)] for d in range(len(rotation))]
            kind = next((k for k in free if k in cells[i] and k not in taken[i]), None)
            if kind is None:
                continue
            taken[i].add(kind)
            picked.append(f"{model.layer_prefix(i)}{kind}.weight")
            if len(picked) == n:
                break
        if len(picked) == n:
            break
    width = max(2, len(str(len(picked) - 1)))          # names sort in the sampled order
    return {nm: f"tile{j:0{width}d}_" + nm.replace("model.layers.", "L").replace(".weight", "").replace(".", "_")
            for j, nm in enumerate(picked)}


def tile_rows(tokens: int) -> slice:
    """The token rows a tile takes from a projection input of ``tokens`` rows: ``TILE_TOKENS``
    consecutive rows from the middle of the sequence (fewer when the input is shorter)."""
    r0 = max(0, tokens // 2 - TILE_TOKENS // 2)
    return slice(r0, min(tokens, r0 + TILE_TOKENS))


def write_tile(path, counts, w_int, coding: str, T: int | None = None, scale=None, source: str = "") -> Path:
    """Write one tile atomically; returns its path. ``counts`` [M, K] int, ``w_int`` [N, K] int8."""
    check_coding(coding)
    counts = np.asarray(counts)
    w_int = np.asarray(w_int)
    if counts.ndim != 2 or w_int.ndim != 2 or counts.shape[1] != w_int.shape[1]:
        raise NeurosimError(f"tile needs counts [M, K] and w_int [N, K], got {counts.shape} and {w_int.shape}")
    T = resolve_steps(counts, coding, T)
    if scale is None:
        scale = np.ones((counts.shape[0], 1), np.float32)
    arrays = {
        "counts": counts.astype(np.int32),
        "spikes": encode(counts, coding, T),
        "w_int": w_int.astype(np.int8),
        "scale": np.asarray(scale, np.float32).reshape(counts.shape[0], 1),
        "expected": int_linear(counts, w_int.astype(np.int8)),
        "coding": np.array(coding),
        "T": np.array(T, np.int64),
        "source": np.array(source),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tile-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, file_mode())   # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_tile(path) -> dict:
    """Read and validate one tile: every key present, shapes consistent, expected == int_linear."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise NeurosimError(f"cannot read tile {path}: {exc}") from None
    missing = [k for k in TILE_KEYS if k not in data]
    if missing:
        raise NeurosimError(f"tile {path} lacks key(s): {', '.join(missing)}")
    tile = {k: data[k] for k in TILE_KEYS}
    tile["coding"] = str(tile["coding"])
    tile["source"] = str(tile["source"])
    tile["T"] = int(tile["T"])
    M, K = tile["counts"].shape
    N = tile["w_int"].shape[0]
    if tile["spikes"].shape != (tile["T"], M, K) or tile["w_int"].shape != (N, K) or tile["expected"].shape != (M, N):
        raise NeurosimError(f"tile {path} has inconsistent shapes")
    if not np.array_equal(int_linear(tile["counts"], tile["w_int"]), tile["expected"]):
        raise NeurosimError(f"tile {path}: expected values disagree with the golden int_linear")
    return tile


def list_tiles(directory) -> list[Path]:
    """The tile files of a directory (e.g. ``OUT/tiles``), sorted by name."""
    d = Path(directory)
    if not d.is_dir():
        raise NeurosimError(f"tile directory {d} does not exist")
    return sorted(p for p in d.glob("*.npz") if not p.name.startswith("."))
