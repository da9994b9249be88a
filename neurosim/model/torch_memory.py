"""How much GPU memory a torch pass (:class:`~neurosim.model.torch_network.TorchModel`) needs, checked
before any work: a length that cannot fit is a one-line error, not an out-of-memory halfway through.

The estimate (bytes) = the weights on the device (every tensor in the model dtype; in int8/spike mode
also each projection's int8 codes and the int8 operand of the tensor-core product, 2 bytes a weight)
+ tokens x the activations a token keeps alive at the busiest point of a pass
(:func:`floats_per_token`) + both passes' logits while they are kept whole (up to
``LOGIT_ELEMENTS`` values each) + the bounded work areas (an MLP row block, an attention score
block, an SSE segment, the logits of one row block) + ``RESERVE`` (the CUDA context and allocator
slack).
It is a model of the code's live tensors, checked against measured peaks in docs/results/longctx.md
(on a GPU) and docs/results/torch_peak.md (live tensor bytes on PyTorch's CPU device, a scaled-down
layout at lengths far beyond its work areas).
"""

from __future__ import annotations

from neurosim import NeurosimError
from neurosim.model.config import count_parameters

__all__ = ["RESERVE", "floats_per_token", "activation_bytes", "estimate_bytes", "check_fits"]

#: bytes set aside for the CUDA context, cuBLAS workspaces and the caching allocator's slack
RESERVE = 3 << 30
GIB = 1 << 30


def floats_per_token(mc, tokens: int = 0) -> int:
    """Model-dtype values a token keeps on the device at the busiest point of a pass of ``tokens``
    tokens (integer and boolean tensors counted in 4-byte values):

    * always: the residual stream, its norm (alive through the layer's attention branch) and the
      float pass's last hidden state (3 x hidden); the MoBA counts of the layers already run
      (selected blocks and visited keys, int32, per query head: 2 x heads per MoBA layer);
    * plus the largest of a layer's busy phases: its projections (the branch inputs made so far and
      the product in flight: its int32 accumulator, float64 dequantization and float32 result, about
      5 values per output); SSE (q1, k1, q2, k2, v, the shared and the per-partition outputs, the
      partition sum's gathered rows, 2; the decays and betas, 4 x heads; the routing, about 3 per
      writer and 6 per partition); softmax attention (q, k, v and the output; MoBA's float64 key
      copy for the block means, 2 x the key width, and its selection, one byte per query head and
      block of the ``tokens``).

    Measured against live tensor bytes on PyTorch's CPU device in docs/results/torch_peak.md."""
    h = mc.hidden_size
    kv_width = mc.num_kv_heads * mc.head_dim
    attn = 2 * mc.num_heads * mc.head_dim + 2 * kv_width
    n_moba = mc.layer_kinds.count("moba")
    if n_moba:
        blocks = -(-max(tokens, 1) // mc.moba_chunk_size)
        attn += 2 * kv_width + -(-mc.num_heads * blocks // 4)
    sse = 0
    if "sse_swa" in mc.layer_kinds:
        width = mc.sse_num_heads * mc.sse_head_dim
        sse = ((5 + 1 + mc.num_writer + 2) * width + 4 * mc.sse_num_heads + 3 * mc.num_writer
               + 6 * mc.num_sparse_partition)
    widest_out = max(mc.num_heads * mc.head_dim, mc.sse_num_heads * mc.sse_head_dim, h)
    branch = max(attn, (5 * mc.sse_num_heads * mc.sse_head_dim) if sse else 0)
    return 3 * h + 2 * mc.num_heads * n_moba + max(attn, sse, branch + 5 * widest_out)


def _work_bytes(mc, dtype_bytes: int) -> int:
    """The bounded work areas of a pass (independent of the length)."""
    from neurosim.model import torch_layers as TL
    from neurosim.model.torch_network import MLP_ROWS
    from neurosim.run.torch_fidelity import LOGIT_ROWS

    mlp = MLP_ROWS * mc.intermediate_size * 9 * dtype_bytes       # gate, up, product, quantizer, dequant
    scores = TL.SCORE_ELEMENTS * 4 * dtype_bytes                   # scores, masked, softmax, mask
    sse = 0
    if "sse_swa" in mc.layer_kinds:
        streams = (mc.num_sparse_partition + 1) * mc.sse_num_heads
        # per packed position of a stream: about 16 head-dim rows (the packed inputs, the solve's two
        # operands, the output) and 5 chunk rows (the chunk's C x C decays, k k^T, A and q k^T, one in flight)
        sse = streams * TL.SSE_SEGMENT * (mc.sse_head_dim * 16 + TL.DELTA_CHUNK * 5) * dtype_bytes
    logits = LOGIT_ROWS * mc.vocab_size * 8 * 6                    # float64 log-softmax blocks
    return max(mlp, scores, sse) + logits


def activation_bytes(mc, tokens: int, dtype_bytes: int = 4) -> int:
    """The estimate's activation part (bytes): the per-token term, the whole logits, the work areas."""
    from neurosim.model.torch_network import LOGIT_ELEMENTS

    logits = 2 * tokens * mc.vocab_size * dtype_bytes if tokens * mc.vocab_size <= LOGIT_ELEMENTS else 0
    return tokens * floats_per_token(mc, tokens) * dtype_bytes + logits + _work_bytes(mc, dtype_bytes)


def estimate_bytes(mc, tokens: int, dtype_bytes: int = 4, quantized: bool = True) -> int:
    """Estimated peak device bytes of a pass of ``tokens`` tokens (module docstring)."""
    params = count_parameters(mc)
    weights = params * dtype_bytes
    if quantized:
        weights += 2 * (params - mc.vocab_size * mc.hidden_size)
    return weights + activation_bytes(mc, tokens, dtype_bytes) + RESERVE


def check_fits(mc, tokens: int, dtype_bytes: int, quantized: bool, device_bytes: int, device_name: str) -> int:
    """The estimate, or a one-line :class:`NeurosimError` when it exceeds ``device_bytes``."""
    need = estimate_bytes(mc, tokens, dtype_bytes, quantized)
    if need > device_bytes:
        raise NeurosimError(f"{tokens} tokens need about {need / GIB:.1f} GiB of GPU memory (estimate), "
                            f"more than the {device_bytes / GIB:.1f} GiB of the {device_name}; "
                            "run fewer tokens (--max-tokens)")
    return need
