"""The model: config and tensor schema, safetensors checkpoints, GGUF import, the checkpoint maker,
the SpB2.0 float layers and the float model stack.
"""
