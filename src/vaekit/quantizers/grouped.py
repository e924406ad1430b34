"""Multi-group vector quantisation: the channel vector is split into G groups, each with its own codebook.

A token is a G-tuple of indices, so G codebooks of K codes express K^G combinations with G*K vectors.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .vq import VectorQuantizer, VQOutput


class GroupedVQ(nn.Module):
    """Quantise (B, ..., D) by splitting D into ``groups`` equal parts, one VectorQuantizer per part."""

    def __init__(self, num_codes: int, dim: int, groups: int, **vq_kwargs):
        super().__init__()
        if groups < 1 or dim % groups:
            raise ConfigError(f"the code dimension {dim} must split evenly into {groups} groups")
        self.groups, self.dim = groups, dim
        self.quantizers = nn.ModuleList(VectorQuantizer(num_codes, dim // groups, **vq_kwargs) for _ in range(groups))

    @property
    def num_codes(self) -> int:
        return self.vqs[0].num_codes

    @property
    def vqs(self) -> list[VectorQuantizer]:
        """The per-group quantizers, typed."""
        return [q for q in self.quantizers if isinstance(q, VectorQuantizer)]

    def forward(self, z_e: Tensor) -> VQOutput:
        outs = [q(part) for q, part in zip(self.quantizers, z_e.chunk(self.groups, dim=-1), strict=True)]
        return VQOutput(
            torch.cat([o.z_q for o in outs], -1),
            torch.stack([o.indices for o in outs], -1),  # (B, ..., G)
            sum(o.loss for o in outs),
            sum(o.commitment for o in outs),
            sum(o.codebook for o in outs),
        )
