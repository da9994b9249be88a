"""Safetensors files and HF tensor sets, read and written with numpy alone (no torch).

Format: 8-byte little-endian header length, a JSON header (name -> dtype, shape, data_offsets;
optional ``__metadata__``), then the raw little-endian data. A tensor set is either one
``model.safetensors`` or shards named ``model-0000k-of-0000n.safetensors`` plus
``model.safetensors.index.json`` (``{"metadata": {"total_size": bytes}, "weight_map": {name: shard}}``).

Reading checks every header against the file (sizes, offsets, dtypes) and returns
:class:`TensorEntry` records (absolute byte ranges) for memory-mapping; writing streams one tensor at
a time, converted in row chunks of about 64 MB. Every problem is a one-line
:class:`neurosim.NeurosimError` naming the file and tensor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from neurosim import NeurosimError

__all__ = [
    "SINGLE_FILE", "INDEX_FILE", "FLOAT_DTYPES", "DTYPE_SIZES", "WRITE_DTYPES", "TensorEntry",
    "read_json", "read_safetensors_header", "read_tensor_set", "to_float32", "plan_shards",
    "write_safetensors_file", "write_tensor_set",
]

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"

#: safetensors dtype -> (numpy dtype of the stored bytes, bytes per element). bf16 is stored as uint16.
FLOAT_DTYPES: dict[str, tuple[np.dtype, int]] = {
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),
    "F64": (np.dtype("<f8"), 8),
}
#: every dtype name of the safetensors format, with its element size in bytes (to check any entry).
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
}
#: the dtypes a tensor set can be written in: numpy-style name -> safetensors name
WRITE_DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies: its file, safetensors dtype name, shape and absolute byte range."""

    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int   # absolute byte offset in file
    end: int


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def read_json(path: Path, what: str):
    """A JSON file's content; a missing, unreadable or invalid file is a one-line error
    (``what`` says what the file is for)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NeurosimError(f"{path.parent}: no {path.name} ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NeurosimError(f"{path.name}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NeurosimError(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def read_safetensors_header(path: Path) -> tuple[dict[str, TensorEntry], dict]:
    """Parse and check one safetensors file's header; returns (entries, __metadata__).

    Checks: file long enough, header length within the file, header is a JSON object, every entry
    has a dtype, shape and data_offsets that lie inside the file and match shape x dtype size.
    """
    path = Path(path)
    fn = path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise NeurosimError(f"{fn}: file is {size} bytes, too short for a safetensors header")
            n = int.from_bytes(head, "little")
            if 8 + n > size:
                raise NeurosimError(f"{fn}: header length {n} exceeds the file size {size} bytes "
                                    "(truncated or not a safetensors file)")
            raw = f.read(n)
    except OSError as exc:
        raise NeurosimError(f"{fn}: cannot read ({exc.strerror})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NeurosimError(f"{fn}: header is not valid JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(header, dict):
        raise NeurosimError(f"{fn}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    data_size = size - base
    entries: dict[str, TensorEntry] = {}
    for name, e in header.items():
        if not (isinstance(e, dict) and isinstance(e.get("dtype"), str)
                and isinstance(e.get("shape"), list) and isinstance(e.get("data_offsets"), list)
                and len(e["data_offsets"]) == 2
                and all(isinstance(x, int) and x >= 0 for x in e["shape"] + e["data_offsets"])):
            raise NeurosimError(f"{fn}: malformed header entry for tensor '{name}'")
        dt = e["dtype"]
        if dt not in DTYPE_SIZES:
            raise NeurosimError(f"{fn}: tensor '{name}' has unknown dtype '{dt}'")
        b, en = e["data_offsets"]
        if en > data_size:
            raise NeurosimError(f"{fn}: tensor '{name}' data offsets [{b}, {en}] lie beyond the end of "
                                f"the file (data section is {data_size} bytes; truncated?)")
        need = math.prod(e["shape"]) * DTYPE_SIZES[dt]
        if en - b != need:
            raise NeurosimError(f"{fn}: tensor '{name}' data offsets span {en - b} bytes but shape "
                                f"{tuple(e['shape'])} x {dt} needs {need}")
        entries[name] = TensorEntry(path, dt, tuple(e["shape"]), base + b, base + en)
    return entries, meta


def read_tensor_set(path: Path) -> dict[str, TensorEntry]:
    """The entries of every tensor in folder ``path``: the shards of ``model.safetensors.index.json``
    (each shard checked against the index) or else ``model.safetensors``."""
    index = path / INDEX_FILE
    single = path / SINGLE_FILE
    if index.exists():
        idx = read_json(index, "sharded index")
        wm = idx.get("weight_map") if isinstance(idx, dict) else None
        if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
            raise NeurosimError(f"{INDEX_FILE}: missing or malformed 'weight_map'")
        entries: dict[str, TensorEntry] = {}
        shards = sorted(set(wm.values()))
        for shard in shards:
            if Path(shard).name != shard or not (path / shard).is_file():
                raise NeurosimError(f"{INDEX_FILE}: shard file '{shard}' not found")
        for shard in shards:
            ents, _ = read_safetensors_header(path / shard)
            for name, e in ents.items():
                if wm.get(name) != shard:
                    raise NeurosimError(f"{shard}: tensor '{name}' is not mapped to this shard in {INDEX_FILE}")
                entries[name] = e
        for name, shard in wm.items():
            if name not in entries:
                raise NeurosimError(f"{INDEX_FILE}: tensor '{name}' is mapped to '{shard}' but that file lacks it")
        return entries
    if single.exists():
        return read_safetensors_header(single)[0]
    raise NeurosimError(f"{path}: no {SINGLE_FILE} or {INDEX_FILE}")


def to_float32(data: np.ndarray, dtype: str) -> np.ndarray:
    """A float32 copy of stored data of safetensors dtype ``dtype`` (bf16 bit patterns widened
    exactly by a 16-bit shift; the only full-size allocation is the result)."""
    if dtype == "BF16":
        bits = data.astype(np.uint32)
        bits <<= 16                            # bf16 is the top half of a float32: exact
        return bits.view(np.float32)
    return np.array(data, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# writing (streaming)
# --------------------------------------------------------------------------------------------

def _write_array(f, arr: np.ndarray, st_dtype: str, chunk_bytes: int = 1 << 26) -> None:
    """Write ``arr`` converted to ``st_dtype`` (little-endian), in row chunks of about 64 MB so
    no full-size converted copy is made."""
    a = np.asarray(arr)
    if st_dtype == "BF16":
        import ml_dtypes  # round-to-nearest-even

        conv = lambda x: x.astype(np.float32, copy=False).astype(ml_dtypes.bfloat16).view("<u2")  # noqa: E731
    else:
        np_dt = {"F32": "<f4", "F16": "<f2"}[st_dtype]
        conv = lambda x: x.astype(np_dt, copy=False)  # noqa: E731
    if a.ndim == 0 or a.size == 0:
        f.write(np.ascontiguousarray(conv(a.reshape(-1))).data)
        return
    flat = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
    rows = max(1, chunk_bytes // max(1, flat.shape[1] * 4))
    for r in range(0, flat.shape[0], rows):
        f.write(np.ascontiguousarray(conv(flat[r:r + rows])).data)


def plan_shards(specs: Mapping[str, tuple[int, ...]], itemsize: int, shard_bytes: int | None) -> list[list[str]]:
    """Split the names of ``specs`` (name -> shape, in write order) into shards of at most
    ``shard_bytes`` bytes (a bigger single tensor gets its own shard); None: one shard."""
    if not shard_bytes:
        return [list(specs)]
    shards: list = []
    cur: list = []
    size = 0
    for name, shape in specs.items():
        nb = math.prod(shape) * itemsize
        if cur and size + nb > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(name)
        size += nb
    if cur:
        shards.append(cur)
    return shards


def write_safetensors_file(path: Path, names: list[str], specs: Mapping[str, tuple[int, ...]], st_dtype: str,
                           produce: Callable[[str], np.ndarray], progress=None) -> int:
    """Write the tensors ``names`` (shapes from ``specs``, values from ``produce(name)``) into one
    safetensors file of dtype ``st_dtype``; returns the data size in bytes. ``progress``: a
    tqdm-like object whose ``update(bytes)`` is called after each tensor."""
    itemsize = DTYPE_SIZES[st_dtype]
    header, off = {}, 0
    for name in names:
        nb = math.prod(specs[name]) * itemsize
        header[name] = {"dtype": st_dtype, "shape": list(specs[name]), "data_offsets": [off, off + nb]}
        off += nb
    header = {"__metadata__": {"format": "pt"}, **header}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-(8 + len(raw)) % 8)   # data starts 8-byte aligned, as safetensors writes it
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for name in names:
            arr = produce(name)
            if tuple(arr.shape) != tuple(specs[name]):
                raise NeurosimError(f"tensor '{name}': produced shape {arr.shape}, expected {specs[name]}")
            _write_array(f, arr, st_dtype)
            del arr
            if progress is not None:
                progress.update(math.prod(specs[name]) * itemsize)
    return off


def write_tensor_set(folder: Path, specs: Mapping[str, tuple[int, ...]], produce: Callable[[str], np.ndarray],
                     st_dtype: str, shard_bytes: int | None = None, progress=None) -> None:
    """Write every tensor of ``specs`` into ``folder``: ``model.safetensors``, or with
    ``shard_bytes`` shards of at most that many bytes plus ``model.safetensors.index.json``."""
    itemsize = DTYPE_SIZES[st_dtype]
    shards = plan_shards(specs, itemsize, shard_bytes)
    if not shard_bytes:
        write_safetensors_file(folder / SINGLE_FILE, shards[0], specs, st_dtype, produce, progress)
        return
    n = len(shards)
    wm = {}
    for k, names in enumerate(shards, 1):
        fname = f"model-{k:05d}-of-{n:05d}.safetensors"
        write_safetensors_file(folder / fname, names, specs, st_dtype, produce, progress)
        wm.update({name: fname for name in names})
    total = sum(math.prod(s) for s in specs.values()) * itemsize
    index = {"metadata": {"total_size": total}, "weight_map": wm}
    (folder / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
