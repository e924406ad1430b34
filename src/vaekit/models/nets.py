"""Building blocks for encoders and decoders: MLPs, a conv stack and its mirror, dual-path and fixed-sigma heads."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def conv_encoder(shape: Sequence[int], channels: Sequence[int], hidden: Sequence[int], out: int) -> nn.Sequential:
    """(B, H*W) pixels -> (B, out): two 4x4 stride-2 convolutions (H -> H/4), then dense layers ``hidden``."""
    (h, w), (c1, c2) = shape, channels
    return nn.Sequential(
        nn.Unflatten(1, (1, h, w)),
        nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(),  # (B, c1, H/2, W/2)
        nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),  # (B, c2, H/4, W/4)
        nn.Flatten(),
        mlp([c2 * (h // 4) * (w // 4), *hidden, out]),
    )  # fmt: skip


def conv_decoder(shape: Sequence[int], channels: Sequence[int], hidden: Sequence[int], latent: int) -> nn.Sequential:
    """(B, latent) -> (B, H*W): the mirror of ``conv_encoder`` with transposed convolutions."""
    (h, w), (c1, c2) = shape, channels
    return nn.Sequential(
        mlp([latent, *reversed(hidden), c2 * (h // 4) * (w // 4)]), nn.ReLU(),
        nn.Unflatten(1, (c2, h // 4, w // 4)),
        nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),  # (B, c1, H/2, W/2)
        nn.ConvTranspose2d(c1, 1, 4, 2, 1),  # (B, 1, H, W)
        nn.Flatten(),
    )  # fmt: skip


class DualPath(nn.Module):
    """Two separate networks read the same input: (B, P) -> [mu_net(x), logvar_net(x)], (B, 2D)."""

    def __init__(self, mu_net: nn.Module, logvar_net: nn.Module):
        super().__init__()
        self.mu_net, self.logvar_net = mu_net, logvar_net

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.mu_net(x), self.logvar_net(x)], dim=-1)


class FixedSigma(nn.Module):
    """A mean network with a fixed posterior scale: (B, P) -> [mu(x), 2 log sigma], (B, 2D); sigma is not learned."""

    def __init__(self, mu_net: nn.Module, sigma: float):
        super().__init__()
        self.mu_net, self.sigma, self.logvar = mu_net, sigma, 2.0 * math.log(sigma)

    def forward(self, x: Tensor) -> Tensor:
        mu = self.mu_net(x)
        return torch.cat([mu, torch.full_like(mu, self.logvar)], dim=-1)
