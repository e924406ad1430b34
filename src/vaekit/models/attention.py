"""Scaled dot-product attention as the transformers here call it: PyTorch's, computed in fp32 when bf16 autocast
hands it bf16 inputs on a CPU.

PyTorch's CPU flash-attention kernel is slow in bf16, its backward above all: in a training step of the token
prior (batch 64, 98 positions, width 128, 4 heads; one thread of an AMX Xeon) the attention backward took
262 ms per block in bf16 against 41 ms in fp32, and the whole step 1.74 s under bf16 autocast against 1.33 s
in fp32. With the attention alone in fp32 the step took 0.87 s (the matrix products keep bf16's speed); a
TiTok step (K = 64, batch 64, 64 x 64 x 3) 0.64 s against 0.84 s in fp32 and 1.64 s in bf16 throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None, dropout_p: float = 0.0) -> Tensor:
    """softmax(q k^T / sqrt(d)) v over (B, H, S, d) inputs (``F.scaled_dot_product_attention``), in fp32 for
    bf16 inputs on a CPU; the output has the inputs' dtype."""
    if q.device.type == "cpu" and q.dtype == torch.bfloat16:
        with torch.autocast("cpu", enabled=False):
            out = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=attn_mask,
                                                 dropout_p=dropout_p)  # fmt: skip
        return out.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
