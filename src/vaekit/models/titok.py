"""TiTok, a 1-D image tokenizer (Yu et al. 2024, "An Image is Worth 32 Tokens for Reconstruction and Generation",
arXiv 2406.07550; reference code bytedance/1d-tokenizer, modeling/titok.py):

    encoder  (H/p)(W/p) patch embeddings + their positions, then K learnable latent tokens + theirs, through a
             ViT; only the K latent outputs are kept, normed, and projected to the token dimension D
    quantizer  VQ with l2-normalised codes (the paper's), or FSQ
    decoder  the K quantised tokens (projected to the width, + their positions) and (H/p)(W/p) copies of one
             learned mask token (+ the patch positions), through a ViT; the mask tokens' outputs become the
             patches' pixels

Differences from the paper, by necessity or by choice (docs/tokenizers.md says them too): training is single
stage on the run's likelihood (the paper's first stage distils a pretrained MaskGIT-VQGAN's codes, which cannot
be had offline); the decoder ends in a linear layer per patch (as MAE) where the paper's stage 2 adds a conv
pixel decoder; no class token (the paper's carries no label either).

``nested_dropout`` (FlexTok, arXiv 2502.13967; One-D-Piece, arXiv 2501.10064): each training image keeps a
prefix of length L ~ U{1..K} of its tokens and the rest become a learned "absent" vector, so the tokens are
ordered and any prefix decodes.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import TiTokConfig
from .attention import attention
from .tokenizer import Tokenizer, TokenizerOutput


class SelfAttention(nn.Module):
    """Multi-head self-attention over (B, S, width), batch first, with the parameters of PyTorch's
    ``nn.MultiheadAttention`` (names, layout and initialisation): q, k and v from one stacked projection."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))  # q, k, v stacked
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)  # after out_proj's draws, as PyTorch's order
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, s, w = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, S, 3 width)
        q, k, v = qkv.view(b, s, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, S, w/H) each
        out = attention(q, k, v)  # (B, H, S, w/H)
        return self.out_proj(out.transpose(1, 2).reshape(b, s, w))


class Block(nn.Module):
    """x + attention(LN1(x)), then x + Linear(GELU(Linear(LN2(x)))): what ``nn.TransformerEncoderLayer`` computes
    with ``norm_first``, batch first and no dropout, under the same parameter names (runs saved with it load),
    written out because its batch-first path transposes to sequence-first and back: on a CPU this block's
    forward and backward took 240 ms against 294 ms (batch 64, 128 positions, width 64, one thread of an AMX
    Xeon), the same numbers out."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.self_attn = SelfAttention(width, heads)
        self.linear1, self.linear2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.norm1(x))
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class ViT(nn.Module):
    """Pre-norm transformer blocks (attention, then a 4x GELU MLP) over (B, S, width) sequences. The blocks start
    as copies of one (as ``nn.TransformerEncoder`` builds them) and live at ``blocks.layers.i``, its names."""

    def __init__(self, width: int, depth: int, heads: int):
        super().__init__()
        block = Block(width, heads)
        self.blocks = nn.ModuleDict({"layers": nn.ModuleList([copy.deepcopy(block) for _ in range(depth)])})
        self.norm = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        for block in cast(nn.ModuleList, self.blocks["layers"]):
            x = block(x)
        return self.norm(x)


class TiTok(Tokenizer):
    """(B, P) channel-last pixels -> (B, K) tokens -> (B, P) decoder output."""

    cfg: TiTokConfig

    def __init__(self, cfg: TiTokConfig):
        cfg.check_shape()
        super().__init__(cfg, cosine=True)
        h, w = cfg.input_shape[:2]
        c = cfg.input_shape[2] if len(cfg.input_shape) == 3 else 1
        self.hwc = (h, w, c)
        p, width, k = cfg.patch, cfg.width, cfg.tokens
        n = (h // p) * (w // p)
        scale = width**-0.5
        self.patch_embed = nn.Linear(p * p * c, width)  # a stride-p conv, written on flattened patches
        self.patch_pos = nn.Parameter(scale * torch.randn(n, width))  # encoder: where each patch is
        self.latent_tokens = nn.Parameter(scale * torch.randn(k, width))  # the K learnable queries
        self.latent_pos = nn.Parameter(scale * torch.randn(k, width))
        self.encoder = ViT(width, cfg.depth, cfg.heads)
        self.to_code = nn.Linear(width, self.code_dim)
        self.from_code = nn.Linear(self.code_dim, width)
        self.mask_token = nn.Parameter(scale * torch.randn(width))  # one per patch position in the decoder
        self.decoder_patch_pos = nn.Parameter(scale * torch.randn(n, width))
        self.decoder_latent_pos = nn.Parameter(scale * torch.randn(k, width))
        self.decoder = ViT(width, cfg.depth, cfg.heads)
        self.to_pixels = nn.Linear(width, p * p * c)
        self.absent = nn.Parameter(torch.zeros(self.code_dim))  # a dropped token (nested dropout, prefixes)

    @property
    def grid(self) -> tuple[int, int]:
        """(H/p, W/p) patches: the size the bicubic baseline is measured at."""
        return self.cfg.grid

    @property
    def token_shape(self) -> tuple[int, ...]:
        return (self.cfg.tokens,)

    def _patches(self, x: Tensor) -> Tensor:
        """(B, P) -> (B, N, p*p*C), patches in raster order."""
        (h, w, c), p = self.hwc, self.cfg.patch
        img = x.reshape(-1, h // p, p, w // p, p, c)
        return img.permute(0, 1, 3, 2, 4, 5).reshape(x.shape[0], (h // p) * (w // p), p * p * c)

    def _unpatch(self, patches: Tensor) -> Tensor:
        """(B, N, p*p*C) -> (B, P) channel-last."""
        (h, w, c), p = self.hwc, self.cfg.patch
        img = patches.reshape(-1, h // p, w // p, p, p, c).permute(0, 1, 3, 2, 4, 5)
        return img.reshape(patches.shape[0], -1)

    def encode(self, x: Tensor) -> Tensor:
        """(B, P) pixels -> (B, K, D) encoder output."""
        b, k = x.shape[0], self.cfg.tokens
        patches = self.patch_embed(self._patches(x)) + self.patch_pos  # (B, N, width)
        latents = (self.latent_tokens + self.latent_pos).expand(b, -1, -1)  # (B, K, width)
        out = self.encoder(torch.cat([patches, latents], 1))  # (B, N + K, width)
        return self.to_code(out[:, -k:])  # (B, K, D)

    def decode(self, z_q: Tensor, keep: Tensor | None = None) -> Tensor:
        """(B, K, D) codes -> (B, P) decoder output. ``keep`` (B,): tokens at positions >= keep[i] are replaced
        by the absent vector (a prefix of each image's tokens is decoded)."""
        b, k = z_q.shape[:2]
        if keep is not None:
            dropped = torch.arange(k, device=z_q.device)[None, :] >= keep[:, None]  # (B, K)
            z_q = torch.where(dropped[..., None], self.absent.to(z_q.dtype), z_q)
        n = self.decoder_patch_pos.shape[0]
        tokens = self.from_code(z_q) + self.decoder_latent_pos  # (B, K, width)
        masks = (self.mask_token + self.decoder_patch_pos).expand(b, -1, -1)  # (B, N, width)
        out = self.decoder(torch.cat([masks, tokens], 1))[:, :n]  # (B, N, width): the mask tokens' outputs
        return self._unpatch(self.to_pixels(out))

    def forward(self, x: Tensor) -> TokenizerOutput:
        z_e = self.encode(x)
        q = self._quantize(z_e)
        keep = None
        if self.training and self.cfg.nested_dropout:
            k = self.cfg.tokens
            keep = torch.randint(1, k + 1, (x.shape[0],), device=x.device, generator=self._draws(x.device))
        return TokenizerOutput(self.decode(q.z_q, keep), z_e, q.z_q, q.indices, q.loss)

    def _draws(self, device: torch.device) -> torch.Generator | None:
        g = self.generator
        return g if g is not None and g.device == device else None

    @torch.no_grad()
    def decode_prefix(self, indices: Tensor, length: Tensor | int) -> Tensor:
        """(B, K) tokens and a prefix length (one, or (B,) per image) -> (B, *input_shape) images in [0, 1]."""
        self.eval()
        self.check_tokens(indices)
        keep = torch.as_tensor(length, device=indices.device).expand(indices.shape[0])
        return self.mean_image(self.decode(self.codes(indices), keep))
