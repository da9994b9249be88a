"""HF-style checkpoint directories: loading, validation and writing (numpy only, no torch).

A checkpoint directory holds
  - ``config.json``                      (``model_type``: ``sse_swa_moba`` | ``qwen3`` | ``qwen2`` | ``llama``),
  - ``model.safetensors``  or  ``model.safetensors.index.json`` + the shards it names,
  - ``tokenizer.json`` (optional; read with the ``tokenizers`` package).

Everything is validated up front against the schema of :mod:`neurosim.model.config` (names, shapes,
dtypes) and the file structure (:mod:`neurosim.model.safetensors_io`); NaN/inf values are detected
when a tensor is read. Every problem is raised as a one-line :class:`neurosim.NeurosimError` naming
the file, key or tensor.

Safetensors files are memory-mapped; :meth:`Checkpoint.tensor` reads one tensor at a time and widens
bf16/f16 to float32, so a 10 GB bf16 checkpoint never needs more than one float32 tensor of extra
memory. :func:`write_checkpoint` writes a directory through :class:`neurosim.outdir.OutputFolder`.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import shutil
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from neurosim import NeurosimError
from neurosim.model.config import ModelConfig, expected_tensors, model_config, optional_tensors
from neurosim.model.config_keys import suggest
from neurosim.model.safetensors_io import (
    DTYPE_SIZES,
    FLOAT_DTYPES,
    WRITE_DTYPES,
    TensorEntry,
    read_json,
    read_tensor_set,
    to_float32,
    write_tensor_set,
)
from neurosim.outdir import OutputFolder

__all__ = ["CONFIG_FILE", "TOKENIZER_FILE", "Checkpoint", "validate_entries", "load_tokenizer",
           "load_checkpoint", "write_checkpoint"]

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"

#: tensor names that HF checkpoints sometimes carry and that are derived, not learned
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


class Checkpoint:
    """A validated HF-style checkpoint directory (see module docstring).

    Attributes: ``path`` (Path), ``config`` (dict, config.json), ``model_type`` (str),
    ``model_config`` (:class:`ModelConfig`), ``names`` (list of every tensor name present),
    ``tokenizer`` (``tokenizers.Tokenizer`` or None), ``lm_head_name`` (the tensor to use as the
    output projection, :meth:`ModelConfig.head_name`: the embeddings when tied or when no
    ``lm_head.weight`` is stored, else ``lm_head.weight``).
    """

    def __init__(self, path: Path, config: dict, mc: ModelConfig, entries: dict[str, TensorEntry], tokenizer):
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

    def _entry(self, name: str) -> TensorEntry:
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
        np_dt, size = FLOAT_DTYPES[e.dtype]
        count = (e.end - e.start) // size
        return np.frombuffer(self._map(e.file), dtype=np_dt, count=count, offset=e.start).reshape(e.shape)

    def _release(self, e: TensorEntry) -> None:
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

    def _read_f32(self, name: str, e: TensorEntry) -> np.ndarray:
        """A stored little-endian float32 tensor read straight into a new array (one copy from the
        page cache, without faulting in a memory map page by page)."""
        out = np.empty(e.shape, dtype="<f4")
        view = memoryview(out.reshape(-1)).cast("B")  # type: ignore[arg-type]  # an ndarray is a buffer
        with open(e.file, "rb", buffering=0) as f:
            f.seek(e.start)
            done = 0
            while done < len(view):
                n = f.readinto(view[done:])
                if not n:
                    raise NeurosimError(f"tensor data of '{name}' ends early in {e.file.name}")
                done += n
        return out.astype(np.float32, copy=False)

    def tensor(self, name: str) -> np.ndarray:
        """A float32 copy of one tensor (bf16/f16/f64 converted); NaN/inf raise NeurosimError."""
        e = self._entry(name)
        if e.dtype == "F32" and e.end - e.start == 4 * math.prod(e.shape):
            out = self._read_f32(name, e)
            bad = 0 if np.isfinite(out).all() else 1
        else:
            data = self.raw(name)
            if e.dtype == "BF16" and data.size:  # one parallel pass: widen and count NaN/inf
                from neurosim.core.fast import bf16_to_float32

                out, bad = bf16_to_float32(data)
            else:
                out = to_float32(data, e.dtype)
                bad = 0 if np.isfinite(out).all() else 1
            del data
            self._release(e)
        if bad:
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
        """Number of stored parameters (elements over every tensor present, a tied lm_head included)."""
        return sum(math.prod(e.shape) for e in self._entries.values())




def _fmt_more(names: list[str]) -> str:
    return f"'{names[0]}'" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")


def validate_entries(mc: ModelConfig, entries: Mapping[str, TensorEntry]) -> None:
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
        if e.dtype not in FLOAT_DTYPES:
            raise NeurosimError(f"tensor '{name}' has dtype {e.dtype}; supported: "
                                f"{', '.join(FLOAT_DTYPES)}")


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
    config = read_json(path / CONFIG_FILE, "model configuration")
    mc = model_config(config)
    entries = read_tensor_set(path)
    validate_entries(mc, entries)
    tok = load_tokenizer(path, mc.vocab_size)
    return Checkpoint(path, config, mc, entries, tok)



# --------------------------------------------------------------------------------------------
# writing (streaming, atomic)
# --------------------------------------------------------------------------------------------

def check_disk_space(out: Path, need: int) -> None:
    """Refuse to start writing ``need`` bytes under ``out`` when its file system has less free."""
    where = out.absolute()
    while not where.exists():
        where = where.parent
    usage = shutil.disk_usage(where)
    if usage.total == 0:        # a pseudo file system (/proc, /sys): the write itself says what fails
        return
    free = usage.free
    if need > free:
        raise NeurosimError(f"{out}: not enough disk space: the checkpoint needs {need / 1e9:.2f} GB, "
                            f"{free / 1e9:.2f} GB free on {where}")


def write_checkpoint(out: str | os.PathLike, config: dict, specs: Mapping[str, tuple[int, ...]],
                     produce: Callable[[str], np.ndarray], *, dtype: str = "float32",
                     shard_bytes: int | None = None, tokenizer_json: str | None = None,
                     extra_files: Mapping[str, str] | None = None, progress: bool = False,
                     force: bool = False) -> Path:
    """Write an HF-style checkpoint directory atomically, one tensor at a time; returns ``out``.

    ``specs``: name -> shape in write order; ``produce(name)`` returns that tensor (any float
    dtype; it is converted to ``dtype`` = "float32" | "bfloat16" | "float16" and freed at once).
    ``shard_bytes``: if given, split into ``model-0000k-of-0000n.safetensors`` files of at most
    that many bytes (a bigger single tensor gets its own shard) plus ``model.safetensors.index.json``.
    ``extra_files``: file name -> text, written beside config.json.

    The folder rules of :class:`neurosim.outdir.OutputFolder` apply (built under a temporary sibling,
    swapped in at the end, the earlier folder restored if the swap fails, nothing left behind on an
    error): an existing checkpoint (it has ``config.json``) is replaced only with ``force``; a file
    or a non-empty folder that is not a checkpoint is always refused.
    """
    out = Path(out)
    if dtype not in WRITE_DTYPES:
        raise NeurosimError(f"unsupported output dtype '{dtype}' (use {', '.join(WRITE_DTYPES)})")
    st = WRITE_DTYPES[dtype]
    if (out / CONFIG_FILE).exists() and not force:
        raise NeurosimError(f"{out}: already exists (remove it first)")
    check_disk_space(out, sum(math.prod(s) for s in specs.values()) * DTYPE_SIZES[st])
    bar = None
    with OutputFolder(out, CONFIG_FILE, "checkpoint") as folder:
        tmp = folder.building
        try:
            with open(tmp / CONFIG_FILE, "w", encoding="utf-8") as f:
                json.dump(config, f, indent=2)
                f.write("\n")
            if tokenizer_json is not None:
                (tmp / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
            for fname, text in (extra_files or {}).items():
                (tmp / fname).write_text(text, encoding="utf-8")
            if progress:
                from tqdm import tqdm

                total = sum(math.prod(s) for s in specs.values()) * DTYPE_SIZES[st]
                bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"writing {out.name}",
                           disable=None)   # on a terminal only
            write_tensor_set(tmp, specs, produce, st, shard_bytes, bar)
        finally:
            if bar is not None:
                bar.close()
        if (out / CONFIG_FILE).exists() and not force:
            raise NeurosimError(f"{out}: already exists (written by another process?)")
        folder.commit()
    return out
