"""The model: config and tensor schema, safetensors checkpoints, GGUF import, the checkpoint maker,
the SpB2.0 float layers and the float model stack.

Callers import the public names from here (``from neurosim.model import Model, load_checkpoint``).
They are resolved on first use (PEP 562), so importing one of them does not load the others
(the float model pulls in numba, the GGUF import the ``gguf`` package).
"""

from __future__ import annotations

import importlib

#: public name -> the submodule that defines it
_HOME = {
    # config.py: the model description (one owner of config normalisation and the tensor schema)
    "ModelConfig": "config", "model_config": "config", "expected_tensors": "config",
    "optional_tensors": "config", "count_parameters": "config", "layer_tensors": "config",
    "LAYER_KINDS": "config", "SUPPORTED_MODEL_TYPES": "config", "PROJECTION_ROLES": "config",
    # checkpoint.py: checkpoint directories
    "Checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "write_checkpoint": "checkpoint",
    "load_tokenizer": "checkpoint",
    # default_model.py: the embedded SmolLM2 GGUF as a cached checkpoint directory
    "default_model_dir": "default_model", "default_cache_dir": "default_model",
    "smollm2_gguf_path": "default_model",
    # safetensors_io.py: safetensors files and HF tensor sets
    "read_safetensors_header": "safetensors_io", "read_tensor_set": "safetensors_io",
    "write_tensor_set": "safetensors_io",
    # gguf_import.py / maker.py
    "convert_gguf": "gguf_import", "make_checkpoint": "maker", "preset_config": "maker",
    # network.py: the float model
    "Model": "network", "token_nll": "network", "perplexity": "network", "log_softmax": "network",
    "default_linear": "network",
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    """Import a public name from its submodule on first use."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'neurosim.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"neurosim.model.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
