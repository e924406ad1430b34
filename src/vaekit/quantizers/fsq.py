"""Finite Scalar Quantization (Mentzer et al. 2023, arXiv 2309.15505).

Each of the d channels is bounded with a scaled tanh to ``L_i`` levels and rounded with a straight-through
gradient; the code is the vector of rounded values, normalised to [-1, 1]. The implicit codebook has
prod(L_i) entries and needs no loss, no EMA and no restarts. Codes <-> integer indices is a mixed-radix
bijection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError


def round_ste(z: Tensor) -> Tensor:
    """Round to the nearest integer with a straight-through (identity) gradient."""
    return z + (torch.round(z) - z).detach()


@dataclass
class FSQOutput:
    z_q: Tensor  # (..., d) quantised codes in [-1, 1] (straight-through gradient to z)
    indices: Tensor  # (...) integer index of each code in [0, prod(levels))
    loss: Tensor  # () always 0: FSQ has no auxiliary loss


class FSQ(nn.Module):
    """Quantise (..., d) inputs, d = len(levels), onto the grid of prod(levels) codes."""

    def __init__(self, levels: tuple[int, ...] | list[int], eps: float = 1e-3):
        super().__init__()
        levels = tuple(int(v) for v in levels)
        if not levels or min(levels) < 2:
            raise ConfigError(f"FSQ levels must be integers >= 2, got {list(levels)}")
        self.levels = levels
        self.eps = eps
        lv = torch.tensor(levels, dtype=torch.float32)
        self._levels: Tensor
        self.register_buffer("_levels", lv, persistent=False)
        basis = torch.cumprod(torch.tensor([1, *levels[:-1]], dtype=torch.int64), 0)
        self._basis: Tensor
        self.register_buffer("_basis", basis, persistent=False)

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def bound(self, z: Tensor) -> Tensor:
        """tanh-bound each channel to (-(L-1)/2, (L-1)/2), shifted by half a step for even L."""
        half_l = (self._levels - 1) * (1 + self.eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def quantize(self, z: Tensor) -> Tensor:
        """Bound, round (straight-through) and normalise to [-1, 1]."""
        half_width = torch.div(self._levels, 2, rounding_mode="floor")
        return round_ste(self.bound(z)) / half_width

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        """(..., d) normalised codes -> (...) int64 indices (mixed radix)."""
        half_width = torch.div(self._levels, 2, rounding_mode="floor")
        digits = torch.round(codes * half_width + half_width).to(torch.int64)  # in [0, L_i)
        return (digits * self._basis).sum(-1)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """(...) int64 indices -> (..., d) normalised codes."""
        levels = self._levels.to(torch.int64)
        digits = (indices.unsqueeze(-1) // self._basis) % levels
        half_width = torch.div(self._levels, 2, rounding_mode="floor")
        return (digits.float() - half_width) / half_width

    def forward(self, z: Tensor) -> FSQOutput:
        z_q = self.quantize(z.float())  # quantisers compute in fp32
        return FSQOutput(z_q, self.codes_to_indices(z_q.detach()), z_q.new_zeros(()))
