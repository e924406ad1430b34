"""Image tokenizers: what every tokenizer kind shares (:class:`Tokenizer`), and the convolutional grid tokenizer,
an (H, W, C) image -> a (H/f, W/f) grid of D-dim vectors -> quantizer -> decoder.

The quantizer is VQ (``vq``), FSQ (``fsq``) or multi-group VQ (``mgvq``); see ``vaekit.quantizers``. The
encoder and decoder are the layer plans of ``vaekit.arch`` (resnet layout: stride-2 convolutions, group norm,
residual blocks at the grid). A 28x28 image becomes 7x7 tokens at f = 4, a 64x64x3 emoji 8x8 at f = 8; the
decoder reads the quantised grid back into Bernoulli logits or Gaussian means, as ``likelihood`` says.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..arch import check_conv_shape, downsample_factor, tokenizer_decoder, tokenizer_encoder
from ..config import TOKENIZER_KINDS, QuantizedConfig, TokenizerConfig
from ..errors import ConfigError
from ..quantizers import FSQ, GaussianLatent, GroupedVQ, VectorQuantizer
from .nets import build


@dataclass
class TokenizerOutput:
    logits: Tensor  # (B, P) decoder output: Bernoulli logits, or the Gaussian mean
    z_e: Tensor  # (B, *T, D) encoder output; T = (h, w) for a grid, (K,) for 1-D tokens
    z_q: Tensor  # (B, *T, D) quantised (straight-through)
    indices: Tensor  # (B, *T) integer tokens, or (B, *T, G) for mgvq
    quant_loss: Tensor  # () codebook + commitment loss (0 for FSQ)
    # mgvq --nested-full, a training step that drops groups: the decoder output from the kept groups only (the
    # loss adds its reconstruction term; ``logits`` decodes every group)
    prefix_logits: Tensor | None = None


class Tokenizer(nn.Module, metaclass=ABCMeta):
    """What every tokenizer kind shares: the quantizer (VQ, FSQ or multi-group VQ, from ``cfg.quantizer``), the
    loss terms of a forward pass, tokens in and out. A kind supplies ``encode`` ((B, P) pixels -> (B, *T, D)),
    ``decode`` ((B, *T, D) codes -> (B, P) decoder output), ``token_shape`` and ``grid`` (the (h, w) at which
    the bicubic baseline is measured)."""

    cfg: QuantizedConfig

    def __init__(self, cfg: QuantizedConfig, cosine: bool = False):
        super().__init__()
        self.cfg = cfg
        dead = cfg.dead_after if cfg.dead_code_restart else 0
        vq_kw: dict[str, Any] = dict(beta=cfg.commitment, update=cfg.codebook_update, dead_after=dead)
        self.quantizer: FSQ | VectorQuantizer | GroupedVQ | GaussianLatent
        if cfg.quantizer == "fsq":
            self.quantizer = FSQ(cfg.levels)
            d = len(cfg.levels)
        elif cfg.quantizer == "gaussian":  # a continuous latent (the video VAE): no codes
            self.quantizer = GaussianLatent(cfg.code_dim)
            d = cfg.code_dim
        elif cfg.quantizer == "vq":
            self.quantizer = VectorQuantizer(cfg.codebook_size, cfg.code_dim, cosine=cosine, **vq_kw)
            d = cfg.code_dim
        else:
            assert isinstance(cfg, TokenizerConfig)
            paper = cfg.mgvq_paper  # l2-normalised codes, and nested training where asked
            per_image = cfg.nested_draw == "image"
            self.quantizer = GroupedVQ(cfg.group_sizes, cfg.code_dim, drop=cfg.drop_probs, per_image=per_image,
                                       cosine=paper, **vq_kw)  # fmt: skip
            d = cfg.code_dim
        self.code_dim = d
        self.generator: torch.Generator | None = None  # set by the trainer: k-means and restarts draw from it

    @property
    @abstractmethod
    def grid(self) -> tuple[int, int]:
        """(h, w): the size at which the bicubic baseline is measured."""

    @property
    @abstractmethod
    def token_shape(self) -> tuple[int, ...]:
        """The tokens of one image: (h, w), (h, w, G) or (K,)."""

    @abstractmethod
    def encode(self, x: Tensor) -> Tensor:
        """(B, P) channel-last pixels -> (B, *T, D) encoder output."""

    @abstractmethod
    def decode(self, z_q: Tensor) -> Tensor:
        """(B, *T, D) codes -> (B, P) decoder output, channel-last."""

    @property
    def discrete(self) -> bool:
        """False for a continuous Gaussian latent (a VAE with a grid latent), which has no codes or tokens."""
        return not isinstance(self.quantizer, GaussianLatent)

    def check_discrete(self) -> None:
        """A one-line ConfigError where tokens are asked of a continuous latent."""
        if not self.discrete:
            raise ConfigError("this run's latent is continuous (--video-quantizer gaussian): it has no tokens to "
                              "write, decode or model with a prior; sample it with `vaekit sample`")  # fmt: skip

    @property
    def codebook_size(self) -> int:
        """Codes per codebook (for mgvq: the largest group's; ``codebook_sizes`` has each group's)."""
        return max(self.codebook_sizes)

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """Codes per codebook: one entry, or one per group for mgvq."""
        self.check_discrete()
        q = self.quantizer
        if isinstance(q, GroupedVQ):
            return q.sizes
        return (q.codebook_size if isinstance(q, FSQ) else self.cfg.codebook_size,)

    def start_epoch(self, epoch: int, epochs: int) -> None:
        """Called by the trainer before each epoch (0-based) of ``epochs``: nested multi-group VQ keeps every
        group in its last ``finetune_epochs`` (the paper's second stage)."""
        q, cfg = self.quantizer, self.cfg
        if isinstance(q, GroupedVQ) and isinstance(cfg, TokenizerConfig) and cfg.nested_groups:
            q.nested = epoch < epochs - cfg.finetune_epochs

    def mean_image(self, out: Tensor) -> Tensor:
        """Decoder output -> expected image in [0, 1], shaped (B, *input_shape)."""
        img = torch.sigmoid(out) if self.cfg.likelihood == "bernoulli" else out.clamp(0, 1)
        return img.reshape(-1, *self.cfg.input_shape)

    def _quantize(self, z_e: Tensor, groups_used: int | None = None):
        if self.cfg.quantizer != "fsq":
            for q in self.quantizer.modules():
                if isinstance(q, VectorQuantizer | GroupedVQ | GaussianLatent):
                    q.generator = self.generator
        if groups_used is not None:
            assert isinstance(self.quantizer, GroupedVQ)
            return self.quantizer(z_e, groups_used)
        return self.quantizer(z_e)

    def forward(self, x: Tensor) -> TokenizerOutput:
        z_e = self.encode(x)
        grouped = self.quantizer
        if isinstance(grouped, GroupedVQ) and grouped.training and grouped.nested and self._nested_full:
            # every group quantised and decoded; a step that drops groups also decodes the kept prefix
            q = self._quantize(z_e, grouped.groups)
            keep = grouped.kept_groups(z_e.device)
            prefix = self.decode(grouped.keep_prefix(q.z_q, keep)) if keep < grouped.groups else None
            return TokenizerOutput(self.decode(q.z_q), z_e, q.z_q, q.indices, q.loss, prefix)
        q = self._quantize(z_e)
        return TokenizerOutput(self.decode(q.z_q), z_e, q.z_q, q.indices, q.loss)

    @property
    def _nested_full(self) -> bool:
        return isinstance(self.cfg, TokenizerConfig) and self.cfg.nested_full

    @torch.no_grad()
    def tokenize(self, x: Tensor) -> Tensor:
        """(B, P) images -> (B, h, w) int64 tokens, or (B, h, w, G) for mgvq."""
        self.check_discrete()
        self.eval()
        return self._quantize(self.encode(x)).indices

    def codes(self, indices: Tensor, groups_used: int | None = None) -> Tensor:
        """Tokens -> (B, h, w, D) code vectors (mgvq: groups from ``groups_used`` on are zeros)."""
        q = self.quantizer
        if isinstance(q, FSQ):
            return q.indices_to_codes(indices)
        if isinstance(q, VectorQuantizer):
            return q.vectors()[indices]
        assert isinstance(q, GroupedVQ)  # detokenize checks that the latent is discrete first
        return q.codes(indices, groups_used)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """A continuous latent's ``n`` draws from N(0, I) decoded: (n, *input_shape) in [0, 1]."""
        assert not self.discrete, "a discrete tokenizer samples through its token prior"
        self.eval()
        dev = next(self.parameters()).device
        z = torch.randn(n, *self.token_shape, self.code_dim, device=dev, generator=generator)
        return self.mean_image(self.decode(z))

    @torch.no_grad()
    def detokenize(self, indices: Tensor, groups_used: int | None = None) -> Tensor:
        """Tokens -> (B, *input_shape) images in [0, 1]; mgvq: from the first ``groups_used`` groups only."""
        self.check_discrete()
        self.eval()
        self.check_tokens(indices)
        return self.mean_image(self.decode(self.codes(indices, self.check_groups_used(groups_used))))

    def check_tokens(self, indices: Tensor) -> None:
        """A one-line ConfigError unless every token is a code index (of its group's codebook, for mgvq)."""
        sizes = self.codebook_sizes
        parts = [indices[..., g] for g in range(len(sizes))] if len(sizes) > 1 else [indices]
        for g, (n, part) in enumerate(zip(sizes, parts, strict=True)):
            if part.numel() and (part.min() < 0 or part.max() >= n):
                where = f" in group {g + 1}" if len(sizes) > 1 else ""
                raise ConfigError(f"tokens must lie in [0, {n}){where}, found [{int(part.min())}, {int(part.max())}]")

    def check_groups_used(self, groups_used: int | None) -> int | None:
        """``groups_used`` as given when this tokenizer has that many groups (a one-line ConfigError if not)."""
        if groups_used is None:
            return None
        q = self.quantizer
        if not isinstance(q, GroupedVQ) or not 1 <= groups_used <= len(q.sizes):
            what = f"1 ... {len(q.sizes)}" if isinstance(q, GroupedVQ) else "mgvq runs (multi-group VQ)"
            raise ConfigError(f"--groups-used applies to {what}; got {groups_used}")
        return groups_used

    @torch.no_grad()
    def reconstruct(self, x: Tensor, groups_used: int | None = None) -> Tensor:
        """(B, P) -> (B, *input_shape) reconstructions in [0, 1]; mgvq: from the first ``groups_used`` groups."""
        self.eval()
        if groups_used is None:
            return self.mean_image(self(x).logits)
        q = self._quantize(self.encode(x), self.check_groups_used(groups_used))
        return self.mean_image(self.decode(q.z_q))


class ConvTokenizer(Tokenizer):
    """Encoder (conv, stride f) -> quantizer on each grid position -> decoder (transposed conv)."""

    cfg: TokenizerConfig

    def __init__(self, cfg: TokenizerConfig):
        if cfg.kind not in TOKENIZER_KINDS:
            raise ConfigError(f"unknown tokenizer kind {cfg.kind!r}; choose one of {', '.join(TOKENIZER_KINDS)}")
        super().__init__(cfg)
        self.hwc = check_conv_shape(cfg, "tokenizer")  # (H, W, C)
        d = self.code_dim
        # FSQ: the encoder ends in a non-affine BatchNorm that normalises each channel over the batch before the
        # tanh bound: without it the encoder drifts into tanh's flat tails, where the straight-through gradient
        # vanishes and whole channels freeze on one level.
        self.encoder = build(tokenizer_encoder(cfg, d))
        self.decoder = build(tokenizer_decoder(cfg, d))
        if cfg.mgvq_paper:  # MGVQ: a grouped 1x1 convolution before and after the quantizer
            self.quant_conv = nn.Conv2d(d, d, 1, groups=cfg.groups)
            self.post_quant_conv = nn.Conv2d(d, d, 1, groups=cfg.groups)

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) tokens per image."""
        h, w, _ = self.hwc
        f = downsample_factor(self.cfg)
        return h // f, w // f

    @property
    def token_shape(self) -> tuple[int, ...]:
        """The tokens of one image: (h, w), or (h, w, G) for mgvq."""
        return (*self.grid, self.cfg.groups) if self.cfg.kind == "mgvq" else self.grid

    def encode(self, x: Tensor) -> Tensor:
        """(B, P) channel-last pixels -> (B, h, w, D) encoder output."""
        img = x.reshape(x.shape[0], *self.hwc).permute(0, 3, 1, 2)  # (B, C, H, W)
        z = self.encoder(img)
        if self.cfg.mgvq_paper:
            z = self.quant_conv(z)
        return z.permute(0, 2, 3, 1)

    def decode(self, z_q: Tensor) -> Tensor:
        """(B, h, w, D) codes -> (B, P) decoder output, channel-last."""
        z = z_q.permute(0, 3, 1, 2)
        if self.cfg.mgvq_paper:
            z = self.post_quant_conv(z)
        return self.decoder(z).permute(0, 2, 3, 1).reshape(z_q.shape[0], -1)
