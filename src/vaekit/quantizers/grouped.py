"""Multi-group vector quantisation: the channel vector is split into G groups, each with its own codebook.

A token is a G-tuple of indices, so G codebooks of K codes express K^G combinations with G*K vectors. The
codebooks may differ in size (``sizes``: the lecture's 16, 64, 256, coarse to fine).

Nested training (MGVQ, Jia et al. 2025, arXiv 2507.07997; reference code MKJia/MGVQ,
``efficientvit/models/tokenizer/mgvq.py``): at each training step one uniform draw u decides, for every image
of the batch alike as in the reference code, how many groups are kept: group g >= 1 is dropped when u < p_g
for it or any earlier group, so what is dropped is always a suffix; a dropped group's codes are zeros and it
adds no loss. The first groups must then carry the coarse image. ``groups_used = k`` decodes from the first k
groups the same way (the rest zeros).

``per_image`` (vaekit's, not the paper's): each image of the batch draws its own u, with the same
probabilities, so every step trains the full image on most of the batch and a prefix on the rest. Every group
is then quantised for every image and the dropped groups' codes are zeroed afterwards; their codebook and
commitment losses still count (the encoder output exists; only the decoder does not see it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .vq import VectorQuantizer, VQOutput


class GroupedVQ(nn.Module):
    """Quantise (B, ..., D) by splitting D into ``len(sizes)`` equal parts, one VectorQuantizer of ``sizes[g]``
    codes per part."""

    def __init__(self, sizes: tuple[int, ...], dim: int, drop: tuple[float, ...] = (), per_image: bool = False,
                 **vq_kwargs):  # fmt: skip
        super().__init__()
        groups = len(sizes)
        if groups < 1 or dim % groups:
            raise ConfigError(f"the code dimension {dim} must split evenly into {groups} groups")
        self.groups, self.dim, self.sizes = groups, dim, tuple(sizes)
        self.drop = tuple(drop) or (0.0,) * groups
        self.nested = any(p > 0 for p in self.drop)  # the trainer turns it off for the fine-tuning epochs
        self.per_image = per_image  # one draw of kept groups per image instead of per step
        self.quantizers = nn.ModuleList(VectorQuantizer(k, dim // groups, **vq_kwargs) for k in sizes)
        self.generator: torch.Generator | None = None  # the draw of kept groups comes from it when set

    @property
    def vqs(self) -> list[VectorQuantizer]:
        """The per-group quantizers, typed."""
        return [q for q in self.quantizers if isinstance(q, VectorQuantizer)]

    def kept_groups(self, device: torch.device) -> int:
        """How many groups this training step keeps: G, or fewer under nested training (a suffix is dropped)."""
        if not (self.training and self.nested):
            return self.groups
        return int(self._kept(torch.rand(1, generator=self.generator, device=device))[0])

    def kept_per_image(self, n: int, device: torch.device) -> Tensor:
        """(n,) groups each image keeps in this training step: the rule of ``kept_groups``, one draw per image."""
        return self._kept(torch.rand(n, generator=self.generator, device=device))

    def _kept(self, u: Tensor) -> Tensor:
        """(n,) uniform draws -> (n,) groups kept: group g >= 1 is dropped when u < p_g or an earlier group's p,
        so the thresholds rise with g and every group from the first one dropped on is dropped too."""
        # in float64, so that u compares with each probability as the Python float it was given
        thresholds = torch.tensor(self.drop[1:], dtype=torch.float64, device=u.device).cummax(0).values  # (G-1,)
        return self.groups - (u.double()[:, None] < thresholds).sum(1)

    def forward(self, z_e: Tensor, groups_used: int | None = None) -> VQOutput:
        if groups_used is None and self.training and self.nested and self.per_image:
            full = self(z_e, self.groups)
            kept = self.kept_per_image(z_e.shape[0], z_e.device)
            return VQOutput(self.keep_prefix(full.z_q, kept), full.indices, full.loss, full.commitment, full.codebook)
        keep = self.kept_groups(z_e.device) if groups_used is None else groups_used
        parts = z_e.chunk(self.groups, dim=-1)
        outs = [q(part) for q, part in zip(self.quantizers[:keep], parts[:keep], strict=True)]
        zeros = [torch.zeros_like(part) for part in parts[keep:]]
        unused = [torch.zeros(part.shape[:-1], dtype=torch.long, device=z_e.device) for part in parts[keep:]]
        return VQOutput(
            torch.cat([o.z_q for o in outs] + zeros, -1),
            torch.stack([o.indices for o in outs] + unused, -1),  # (B, ..., G)
            sum(o.loss for o in outs),
            sum(o.commitment for o in outs),
            sum(o.codebook for o in outs),
        )

    def keep_prefix(self, z_q: Tensor, keep: int | Tensor) -> Tensor:
        """(B, ..., D) codes with the groups from ``keep`` on set to zeros, as a step that drops them has them;
        ``keep`` is one count for the batch or (B,), one per image."""
        group = torch.arange(self.dim, device=z_q.device) // (self.dim // self.groups)  # (D,) each channel's
        limit = keep.reshape(-1, *[1] * (z_q.dim() - 1)) if isinstance(keep, Tensor) else keep  # (B, 1.., 1)
        return torch.where(group < limit, z_q, torch.zeros((), dtype=z_q.dtype, device=z_q.device))

    def codes(self, indices: Tensor, groups_used: int | None = None) -> Tensor:
        """(B, ..., G) tokens -> (B, ..., D) code vectors; groups from ``groups_used`` on are zeros."""
        z_q = torch.cat([vq.vectors()[indices[..., g]] for g, vq in enumerate(self.vqs)], -1)
        return z_q if groups_used is None else self.keep_prefix(z_q, groups_used)
